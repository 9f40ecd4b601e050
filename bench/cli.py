"""The ``seqbench`` command line: list, run, check, plot, report."""

from __future__ import annotations

import contextlib
import importlib
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import architectures
import tasks

from . import store
from .config import SweepConfigError, load_sweep, preset_description, presets

app = typer.Typer(
    help="seqbench: what each sequence architecture buys, and what it costs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Tables stay readable when output is piped or captured (rich assumes 80 columns there).
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


class UsageError(ValueError):
    """A user mistake caught by the CLI itself."""


def _user_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [
        UsageError,
        SweepConfigError,
        architectures.ConfigError,
        tasks.TaskConfigError,
        store.StoreError,
    ]
    for module, name in (("bench.plots", "PlotError"), ("bench.ray_launch", "RayError")):
        with contextlib.suppress(ImportError, AttributeError):
            errors.append(getattr(importlib.import_module(module), name))
    return tuple(errors)


# Command-line parsing errors come from click, which typer >= 0.2x vendors as typer._click.
try:
    from typer._click.exceptions import UsageError as _ClickUsageError
except ImportError:
    from click.exceptions import UsageError as _ClickUsageError


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except _ClickUsageError as error:  # an unknown option, a missing or extra argument
        message = error.format_message()
        if not message:  # no command given: click has printed the help
            sys.exit(2)
        hint = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
        _fail(message + hint)
    except typer.Abort:  # Ctrl-C while parsing or prompting
        sys.exit(130)
    except _user_errors() as error:
        _fail(str(error))
    sys.exit(code or 0)


def _fail(message: str) -> None:
    """The one line every user mistake gets, and exit status 2."""
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)


# --- list ----------------------------------------------------------------------------------


@app.command("list")
def list_() -> None:
    """Architectures (with backends usable here), tasks and presets."""
    with warnings.catch_warnings(record=True):
        found = architectures.available()
    table = Table(title="architectures", title_justify="left")
    table.add_column("name")
    table.add_column("backends here")
    table.add_column("defined in")
    for name, backends in found.items():
        cls = architectures.get(name)
        table.add_row(name, ", ".join(backends), cls.__module__)
    for source, error in architectures.plugin_errors().items():
        table.add_row(f"[red]{source}[/red]", "[red]failed to load[/red]", error)
    console.print(table)

    table = Table(title="tasks", title_justify="left")
    for column in ("name", "vocab", "min length", "settings"):
        table.add_column(column)
    for name in tasks.available():
        task = tasks.create(name)
        settings = ", ".join(f"{k}={v}" for k, v in tasks.config_fields(name).items())
        table.add_row(name, str(task.vocab_size), str(task.min_seq_len), settings)
    console.print(table)

    table = Table(title="presets", title_justify="left")
    table.add_column("name")
    table.add_column("description")
    for name, path in presets().items():
        table.add_row(name, preset_description(path))
    console.print(table)


# --- run -----------------------------------------------------------------------------------


@app.command()
def run(
    source: Annotated[str, typer.Argument(help="a preset name or a path to a sweep .toml")],
    out: Annotated[
        Path | None, typer.Option(help="results folder [default: results/<name>]")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override: KEY=VALUE (TOML value)")
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the grid and estimate; run nothing")
    ] = False,
    ray: Annotated[bool, typer.Option("--ray", help="send runs to a Ray cluster")] = False,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster: auto | HOST:PORT | ray://HOST:10001 [default: start a local one]"
        ),
    ] = None,
    gpus_per_run: Annotated[
        float | None, typer.Option(help="Ray: GPUs per run [default: 1 on cuda, else 0]")
    ] = None,
    cpus_per_run: Annotated[float, typer.Option(help="Ray: CPUs per run")] = 1.0,
    rerun: Annotated[
        bool,
        typer.Option(
            "--rerun", help="run finished runs again too, replacing their files as each ends"
        ),
    ] = False,
) -> None:
    """Run a sweep: train, evaluate and measure every run of its grid."""
    from .runner import execute_sweep

    if device is not None and device not in ("auto", "cpu", "cuda"):
        raise UsageError(f"--device {device!r} is not one of auto, cpu, cuda")
    if not ray and (address is not None or gpus_per_run is not None):
        raise UsageError("--address and --gpus-per-run need --ray")
    if gpus_per_run is not None and gpus_per_run < 0:
        raise UsageError(f"--gpus-per-run {gpus_per_run:g} must be 0 or more")
    if cpus_per_run <= 0:
        raise UsageError(f"--cpus-per-run {cpus_per_run:g} must be more than 0")
    # With --ray the GPUs are on the cluster's nodes, not necessarily on this driver.
    sweep = load_sweep(source, set_ or [], device, check_device=not ray)
    out = out or Path("results") / sweep.name
    ray_options = None
    if ray:
        ray_options = {
            "address": address,
            "gpus_per_run": gpus_per_run,
            "cpus_per_run": cpus_per_run,
        }
    execute_sweep(
        sweep, out, dry_run=dry_run, ray_options=ray_options, console=console, rerun=rerun
    )


# --- check ---------------------------------------------------------------------------------


def _resolve_block(target: str) -> type[architectures.Block]:
    if ":" not in target:
        return architectures.get(target)
    module_name, _, class_name = target.partition(":")
    sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise UsageError(
            f"cannot import {module_name!r}: {type(error).__name__}: {error}"
        ) from None
    finally:
        sys.path.pop(0)
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, architectures.Block)):
        raise UsageError(f"{target!r} is not a seqbench Block subclass")
    return cls


@app.command()
def check(
    target: Annotated[str, typer.Argument(help="module:Class, or a registered architecture name")],
    d_model: Annotated[int, typer.Option(help="width to test at")] = 64,
) -> None:
    """Run the block contract suite against one block; exit 0 only when every check passes."""
    from architectures.contract import run_contract

    cls = _resolve_block(target)
    cls.Config(d_model=d_model)  # a width the block rejects is a usage error, not a failed check
    results = run_contract(cls, d_model=d_model)
    table = Table(title=f"contract: {cls.__module__}.{cls.__qualname__}", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("reason")
    for result in results:
        verdict = "[green]pass[/green]" if result.passed else "[red]FAIL[/red]"
        table.add_row(result.check, verdict, result.reason)
    console.print(table)
    failed = [r for r in results if not r.passed]
    console.print(f"{len(results) - len(failed)}/{len(results)} checks passed")
    raise typer.Exit(1 if failed else 0)


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


@app.command()
def plot(
    directory: Annotated[Path, typer.Argument(help="a results folder")],
    out: Annotated[Path | None, typer.Option(help="figure folder [default: DIR/plots]")] = None,
    format_: Annotated[
        str, typer.Option("--format", help="comma-separated: png, svg, pdf")
    ] = "png",
) -> None:
    """Comparison figures from a results folder."""
    results, curves = _load_results(directory)
    from .plots import make_plots

    formats = [f.strip() for f in format_.split(",") if f.strip()]
    summary = make_plots(results, curves, out or directory / "plots", formats)
    for figure, paths in summary.written.items():
        console.print(f"{figure}: {', '.join(str(p) for p in paths)}")
    for figure, reason in summary.skipped.items():
        console.print(f"[yellow]skipped[/yellow] {figure}: {reason}")


@app.command()
def report(
    directory: Annotated[Path, typer.Argument(help="a results folder")],
    out: Annotated[Path | None, typer.Option(help="HTML file [default: DIR/report.html]")] = None,
) -> None:
    """A self-contained HTML report, and a Markdown summary on the terminal."""
    results, curves = _load_results(directory)
    from .report import markdown_summary, write_report

    path = write_report(results, curves, out or directory / "report.html")
    print(markdown_summary(results))
    console.print(f"report written to {path}")


if __name__ == "__main__":
    main()
