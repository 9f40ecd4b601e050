"""The ``seqbench`` command line: list, run, check, compare, export, plot, report."""

from __future__ import annotations

import enum
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

import architectures
import tasks
from bench.cli import results as cli_results
from bench.cli.common import UsageError, console, err_console
from bench.sweep.load import load_sweep, preset_description, presets
from seqbench import UserError

app = typer.Typer(
    help="seqbench: what each sequence architecture buys, and what it costs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: rich markup would eat "[default: …]" in help texts and show flags as <bool>.
    rich_markup_mode=None,
)


# Command-line parsing errors come from click, which typer >= 0.2x vendors as typer._click.
try:
    from typer._click.exceptions import UsageError as _ClickUsageError
except ImportError:
    from click.exceptions import UsageError as _ClickUsageError


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except _ClickUsageError as error:  # an unknown option, a missing or extra argument
        # typer validates choices through pydantic, whose messages start "Value error, ".
        message = error.format_message().replace("Value error, ", "")
        given = _given(getattr(error, "param", None))
        if given is not None and repr(given) not in message:
            message = f"{message.rstrip('.')} (got {given!r})"
        if not message:  # no command given: click has printed the help
            sys.exit(2)
        hint = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
        _fail(message + hint)
    except typer.Abort:  # Ctrl-C while parsing or prompting
        sys.exit(130)
    except UserError as error:
        _fail(str(error))
    sys.exit(code or 0)


def _given(param: Any) -> str | None:
    """What the command line gave for an option whose value was rejected."""
    args = sys.argv[1:]
    for name in getattr(param, "opts", None) or []:
        if not name.startswith("-"):
            continue
        for i, arg in enumerate(args):
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _fail(message: str) -> None:
    """The one line every user mistake gets, and exit status 2."""
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)


# --- list ----------------------------------------------------------------------------------


@app.command("list")
def list_() -> None:
    """Architectures (with backends usable here), tasks and presets."""
    with warnings.catch_warnings(record=True):
        found = {n: architectures.get(n).backends() for n in architectures.available()}
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


class Tracker(enum.StrEnum):
    wandb = "wandb"
    tensorboard = "tensorboard"


@app.command()
def run(
    source: Annotated[
        str, typer.Argument(help="a preset name or a path to a sweep .toml", metavar="SWEEP")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="results folder [default: results/<sweep name>]", metavar="DIR"),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="override a setting, TOML value; repeatable", metavar="KEY=VALUE"
        ),
    ] = None,
    device: Annotated[
        Literal["auto", "cpu", "cuda"] | None,
        typer.Option(help="where runs execute [default: the sweep's device, else auto]"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the grid and estimate; run nothing")
    ] = False,
    ray: Annotated[bool, typer.Option("--ray", help="send runs to a Ray cluster")] = False,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster: auto | HOST:PORT | ray://HOST:10001 [default: start a local one]",
            metavar="ADDRESS",
        ),
    ] = None,
    gpus_per_run: Annotated[
        float | None,
        typer.Option(help="Ray: GPUs per run [default: 1 on cuda, else 0]", metavar="N"),
    ] = None,
    cpus_per_run: Annotated[float, typer.Option(help="Ray: CPUs per run", metavar="N")] = 1.0,
    rerun: Annotated[
        bool,
        typer.Option(
            "--rerun", help="run finished runs again too, replacing their files as each ends"
        ),
    ] = False,
    rerun_changed: Annotated[
        bool,
        typer.Option(
            "--rerun-changed",
            help="run again the finished runs whose block, task or seqbench code has changed",
        ),
    ] = False,
    log: Annotated[
        list[Tracker] | None,
        typer.Option(
            help="also log each run to a tracker (pip install 'seqbench[track]'); repeatable",
            metavar="wandb|tensorboard",
        ),
    ] = None,
) -> None:
    """Run a sweep: train, evaluate and measure every run of its grid.

    On a terminal it shows progress bars; with output redirected it prints one line as
    each run starts and ends, with the time remaining. Each run leaves DIR/runs/<hash>.json
    and a log beside it.
    """
    from bench.compare.reference import reference_folder
    from bench.launch.runner import execute_sweep
    from bench.launch.tracking import open_trackers

    if not ray and (address is not None or gpus_per_run is not None):
        raise UsageError("--address and --gpus-per-run need --ray")
    if gpus_per_run is not None and gpus_per_run < 0:
        raise UsageError(f"--gpus-per-run {gpus_per_run:g} must be 0 or more")
    if cpus_per_run <= 0:
        raise UsageError(f"--cpus-per-run {cpus_per_run:g} must be more than 0")
    if rerun and rerun_changed:
        raise UsageError("--rerun already runs everything again; drop --rerun-changed")
    # With --ray the GPUs are on the cluster's nodes, not necessarily on this driver.
    sweep = load_sweep(source, set_ or [], device, check_device=not ray)
    out = out or Path("results") / sweep.name
    trackers = [] if dry_run else open_trackers([t.value for t in log or []], out, sweep.name)
    ray_options = None
    if ray:
        ray_options = {
            "address": address,
            "gpus_per_run": gpus_per_run,
            "cpus_per_run": cpus_per_run,
        }
    execute_sweep(
        sweep,
        out,
        dry_run=dry_run,
        ray_options=ray_options,
        console=console,
        rerun=rerun,
        rerun_changed=rerun_changed,
        trackers=trackers,
    )
    if not dry_run and (reference := reference_folder(sweep.name, out)) is not None:
        from bench.compare.reference import against_reference

        console.print(against_reference(reference, out))


# --- check ---------------------------------------------------------------------------------


@app.command()
def check(
    target: Annotated[
        str,
        typer.Argument(
            help="package.module:Class, or a registered architecture name",
            metavar="BLOCK",
        ),
    ],
    d_model: Annotated[int, typer.Option(help="width to test at", metavar="N")] = 64,
) -> None:
    """Run the block contract suite against one block; exit 0 only when every check passes.

    package.module:Class is imported with the current folder on the path, as it is in
    sweep files and --set.
    """
    from architectures.contract import run_contract

    cls = architectures.get(target)
    cls.Config(d_model=d_model)  # a width the block rejects is a usage error, not a failed check
    results = run_contract(cls, d_model=d_model)
    table = Table(title=f"contract: {cls.__module__}.{cls.__qualname__}", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("reason")
    for result in results:
        if result.skipped:
            verdict = "[yellow]skipped[/yellow]"
        else:
            verdict = "[green]pass[/green]" if result.passed else "[red]FAIL[/red]"
        table.add_row(result.check, verdict, result.reason)
    console.print(table)
    failed = [r for r in results if not r.passed]
    skipped = [r for r in results if r.passed and r.skipped]
    passed = len(results) - len(failed) - len(skipped)
    console.print(
        f"{passed}/{len(results)} checks passed, {len(skipped)} skipped here, {len(failed)} failed"
    )
    raise typer.Exit(1 if failed else 0)


# --- doctor --------------------------------------------------------------------------------


@app.command()
def doctor(
    device: Annotated[
        Literal["auto", "cpu", "cuda"], typer.Option(help="where the checks run")
    ] = "auto",
    out: Annotated[
        Path, typer.Option(help="folder for doctor.json (and scaling/ on CUDA)", metavar="DIR")
    ] = Path("results/doctor"),
    budget: Annotated[float, typer.Option(help="seconds for the whole run", metavar="S")] = 300.0,
) -> None:
    """What this machine can run, proved: versions, fused kernels, cuda-vs-torch agreement,
    the reference packages side by side and, on CUDA, a scaling sweep (docs/gpu.md)."""
    from .doctor import run_doctor

    raise typer.Exit(run_doctor(device, out, console, budget_s=budget))


# --- plot, report, compare and export: the results folder's commands (bench.cli.results) ---

for _command in (cli_results.plot, cli_results.report, cli_results.compare, cli_results.export):
    app.command()(_command)
