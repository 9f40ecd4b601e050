"""On CUDA, the ``scaling`` preset as a normal results folder, ``DIR/scaling``, with plots
and report: each architecture from 2^10 to 2^16 tokens, as memory and the time budget
allow."""

from __future__ import annotations

import time
from pathlib import Path

from bench import store

from .journal import Failed, Journal, Skip

SCALING_LENGTHS = (1024, 4096, 16384, 65536)


def scaling_run(run, out: Path) -> dict:
    from bench.launch.local import run_local

    records = []
    run_local([run], "scaling", out, lambda _run, record: records.append(record))
    record = records[0]
    keep = (
        "seq_len",
        "status",
        "train_tokens_per_s",
        "prefill_tokens_per_s",
        "decode_tokens_per_s",
        "peak_memory_train_bytes",
    )
    points = [{k: p.get(k) for k in keep} for p in record.get("points") or []]
    ok = [p["seq_len"] for p in points if p["status"] == "ok"]
    figures = {
        "status": record["status"],
        "points": points,
        "summary": f"ok to L={max(ok)}" if ok else "no length measured",
    }
    if record["status"] not in ("ok", "oom"):
        raise Failed(f"{record['status']}: {record.get('error', '')}", figures)
    return figures


def scaling_report(out: Path) -> dict:
    from bench.plots.figures import make_plots
    from bench.report.html import write_report

    results, curves = store.load(out), store.load_curves(out)
    if results.empty:
        raise Skip("no scaling run finished")
    written = make_plots(results, curves, out / "plots").written
    write_report(results, curves, out / "report.html")
    ok = results[results["status"] == "ok"]
    longest = ok.groupby("architecture")["seq_len"].max().to_dict()
    return {
        "longest_ok": longest,
        "plots": sorted(written),
        "report": str(out / "report.html"),
        "summary": ", ".join(f"{a} to L={n}" for a, n in sorted(longest.items())),
    }


def scaling_checks(journal: Journal, out: Path, lengths: tuple[int, ...]) -> None:
    """The plan, one check per architecture's run, then the plots and the report of what
    was measured (30 s of the budget are kept for them)."""
    sweep = None

    def plan() -> dict:
        nonlocal sweep
        from bench.sweep.load import load_sweep

        # A length projected to take longer than this is not attempted, nor are longer ones.
        per_length = max(5.0, min(30.0, (journal.deadline - time.monotonic()) / 12))
        overrides = [
            f"measure.seq_lens={list(lengths)}",
            "measure.repeats=3",
            "measure.warmup=1",
            "measure.decode_steps=4",
            f"measure.max_time_s={per_length:.0f}",
        ]
        sweep = load_sweep("scaling", overrides, device="cuda")
        return {"overrides": overrides, "summary": f"{len(sweep.runs)} runs, L = {list(lengths)}"}

    journal.check("scaling", "plan", plan)
    if sweep is None:
        return
    journal.deadline -= 30  # kept for the plots and the report of what was measured
    for run in sweep.runs:
        journal.check("scaling", run.architecture, lambda r=run: scaling_run(r, out))
    journal.deadline += 30
    journal.check("scaling", "plots and report", lambda: scaling_report(out), always=True)
