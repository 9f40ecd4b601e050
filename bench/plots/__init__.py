"""Figures from a results folder (seaborn), one module per family of figures; the
only room that imports matplotlib."""
