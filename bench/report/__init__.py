"""One self-contained HTML report and a Markdown summary of a results folder."""
