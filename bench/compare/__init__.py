"""Two results folders (or two values of one axis) side by side: paired intervals of
the differences, rendered for the terminal."""
