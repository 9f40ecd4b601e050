"""The ``seqbench`` commands that read a results folder: plot, report, compare, export.

Plain functions with typer annotations; ``bench.cli`` registers them on its app.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape

from bench import store
from bench.cli.common import UsageError, console, err_console

# --- plot and report -----------------------------------------------------------------------


def _load_results(directory: Path) -> tuple[Any, Any]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = store.load(directory)
        curves = store.load_curves(directory)
    for warning in caught:
        err_console.print(
            f"[yellow]warning:[/yellow] {escape(str(warning.message))}", highlight=False
        )
    if results.empty:
        raise store.StoreError(f"{str(directory)!r} has no readable run files in runs/")
    return results, curves


def plot(
    directory: Annotated[Path, typer.Argument(help="a results folder", metavar="DIR")],
    out: Annotated[
        Path | None, typer.Option(help="figure folder [default: DIR/plots]", metavar="DIR")
    ] = None,
    format_: Annotated[
        str,
        typer.Option("--format", help="comma-separated: png, svg, pdf", metavar="FORMATS"),
    ] = "png",
) -> None:
    """Comparison figures from a results folder."""
    results, curves = _load_results(directory)
    from bench.plots.figures import make_plots

    formats = [f.strip() for f in format_.split(",") if f.strip()]
    summary = make_plots(results, curves, out or directory / "plots", formats)
    for figure, paths in summary.written.items():
        console.print(f"{figure}: {', '.join(str(p) for p in paths)}")
    for figure, reason in summary.skipped.items():
        console.print(f"[yellow]skipped[/yellow] {figure}: {reason}")


def report(
    directory: Annotated[Path, typer.Argument(help="a results folder", metavar="DIR")],
    out: Annotated[
        Path | None, typer.Option(help="HTML file [default: DIR/report.html]", metavar="FILE")
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option(
            help="a results folder to compare DIR against (as BASE → DIR), in the report",
            metavar="BASE",
        ),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option(
            help="write Markdown instead: DIR's results, or, for a folder of results folders "
            "(results/reference), the results document (docs/results.md)",
            metavar="FILE",
        ),
    ] = None,
    readme: Annotated[
        Path | None,
        typer.Option(
            help="with --markdown on a folder of results folders: also refresh this README's "
            "generated main-job table from its quick folder",
            metavar="FILE",
        ),
    ] = None,
) -> None:
    """A self-contained HTML report, and a Markdown summary on the terminal."""
    if readme is not None and markdown is None:
        raise UsageError("--readme goes with --markdown")
    if markdown is not None:
        _write_markdown(directory, markdown, readme, compare)
        return
    results, curves = _load_results(directory)
    from bench.report.html import write_report
    from bench.report.markdown import markdown_summary

    path = out or directory / "report.html"
    paper = store.load_findings(directory)  # what the sweep's papers report, if it declared any
    if compare is None:
        write_report(results, curves, path, paper=paper)
    else:
        from bench.compare import folders as comparing
        from bench.report.html import render_html

        section = comparing.html_section(comparing.compare_folders(compare, directory))
        page = comparing.insert_section(render_html(results, curves, paper=paper), section)
        store.write_atomic(path, page.encode())
    print(markdown_summary(results, paper))
    console.print(f"report written to {path}")


def _write_markdown(directory: Path, out: Path, readme: Path | None, base: Path | None) -> None:
    from bench.report.markdown import markdown_summary, readme_with_table, results_document

    if base is not None:
        raise UsageError("--compare goes into the HTML report; drop it with --markdown")
    collection = not (directory / "runs").is_dir() and directory.is_dir()
    if collection:
        if not any((p / "runs").is_dir() for p in directory.iterdir()):
            raise store.StoreError(
                f"{str(directory)!r} holds no results folders (folders with runs/ inside)"
            )
        text = results_document(directory)
    else:
        if readme is not None:
            raise UsageError("--readme needs a folder of results folders (e.g. results/reference)")
        results, _ = _load_results(directory)
        text = markdown_summary(results, store.load_findings(directory))
    if readme is not None:
        quick = directory / "quick"
        if not (quick / "runs").is_dir():
            raise store.StoreError(f"{str(directory)!r} has no quick/ folder for the README")
        page = readme_with_table(readme.read_text(), store.load(quick))
        store.write_atomic(readme, page.encode())
        console.print(f"README table refreshed in {readme}")
    store.write_atomic(out, text.encode())
    console.print(f"Markdown written to {out}")


# --- compare and export --------------------------------------------------------------------


def compare(
    base: Annotated[
        Path,
        typer.Argument(help="BASE results folder (or the one folder with --axis)", metavar="BASE"),
    ],
    new: Annotated[
        Path | None,
        typer.Argument(help="NEW results folder [default: none, with --axis]", metavar="NEW"),
    ] = None,
    axis: Annotated[
        str | None,
        typer.Option(
            help="compare two values of one setting within BASE: KEY=BASE,NEW, "
            "e.g. train.lr=0.001,0.003 or architecture=transformer,mamba",
            metavar="KEY=BASE,NEW",
        ),
    ] = None,
    fail_below: Annotated[
        float | None,
        typer.Option(
            help="exit 1 when NEW's accuracy at the training length minus BASE's is below "
            "DELTA beyond the 95% interval (e.g. -0.02), or NEW failed runs BASE finished",
            metavar="DELTA",
        ),
    ] = None,
) -> None:
    """Accuracy and cost differences BASE → NEW, paired by seed, with 95% intervals.

    Runs pair when they agree on architecture, task, seed and every setting but the
    compared one: the folder, or the --axis setting.
    """
    from bench.compare import folders as comparing

    if axis is None and new is None:
        raise UsageError("give two results folders (BASE NEW), or one with --axis KEY=BASE,NEW")
    if axis is not None and new is not None:
        raise UsageError("--axis compares two values within one folder; give one folder")
    if axis is not None:
        result = comparing.compare_axis(base, axis)
    else:
        result = comparing.compare_folders(base, new)
    console.print(comparing.rich_table(result, fail_below))
    for note in result.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    if fail_below is None:
        return
    failures = result.failures(fail_below)
    for cell, why in failures:
        console.print(f"[red]FAIL[/red] {escape(cell)}: {escape(why)}", highlight=False)
    if failures:
        raise typer.Exit(1)
    console.print(f"no cell is worse than {fail_below:+g} beyond its interval", highlight=False)


def export(
    directory: Annotated[Path, typer.Argument(help="a results folder", metavar="DIR")],
    format_: Annotated[
        Literal["csv", "parquet"], typer.Option("--format", help="file format")
    ] = "csv",
    out: Annotated[
        Path | None, typer.Option(help="folder to write to [default: DIR]", metavar="DIR")
    ] = None,
) -> None:
    """Write a results folder as tables: results.<format> and curves.<format>.

    results has the columns of bench.store.load (docs/results-schema.md), one row per
    (run, evaluation length); curves one row per logged training step.
    """
    from bench.store.export import export as write

    for path in write(directory, format_, out):
        console.print(f"wrote {escape(str(path))}", highlight=False)
