"""The doctor's journal: runs each check, records it in ``doctor.json`` and prints its line.

``doctor.json`` is rewritten (atomically) as every check starts and again as it ends, so a
crash or a kill keeps everything measured before it and leaves the check that was running
marked ``"running"``. A check ends ok, failed (``Failed``, or any other exception, with its
traceback) or skipped (``Skip``, or the time budget spent).
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape

from bench import store
from bench.run import measure


class Skip(Exception):
    """The check cannot run here; the message says why."""


class Failed(Exception):
    """The check ran and failed; ``figures`` holds what it measured."""

    def __init__(self, reason: str, figures: dict[str, Any]) -> None:
        super().__init__(reason)
        self.figures = figures


class Journal:
    """Runs checks, records each in ``doctor.json`` (rewritten after every change) and
    prints one line per check."""

    def __init__(self, out: Path, console: Console, deadline: float, header: dict) -> None:
        self.path = out / "doctor.json"
        self.console, self.deadline = console, deadline
        self.record: dict[str, Any] = {**header, "checks": [], "finished_at": None}
        self.budget_s = header["budget_s"]
        self.write()

    def write(self) -> None:
        text = json.dumps(_jsonable(self.record), indent=2)
        store.write_atomic(self.path, text.encode())

    def check(
        self, section: str, name: str, run: Callable[[], dict | None], always: bool = False
    ) -> dict:
        """Run one check; ``always``: even when the time budget is spent."""
        entry = {
            "section": section,
            "name": name,
            "status": "running",
            "reason": "",
            "figures": {},
            "seconds": 0.0,
        }
        self.record["checks"].append(entry)
        self.write()  # a hard crash leaves this check "running": the culprit
        started = time.perf_counter()
        if time.monotonic() > self.deadline and not always:
            entry.update(status="skipped", reason=f"time budget of {self.budget_s:g} s spent")
        else:
            try:
                entry.update(status="ok", figures=run() or {})
            except Skip as why:
                entry.update(status="skipped", reason=str(why))
            except Failed as failure:
                entry.update(status="failed", reason=str(failure), figures=failure.figures)
            except Exception as error:
                entry.update(status="failed", reason=measure.one_line(error))
                entry["traceback"] = traceback.format_exc(limit=-8)
            finally:
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
        entry["seconds"] = round(time.perf_counter() - started, 3)
        self.write()
        self._print(entry)
        return entry

    def _print(self, entry: dict) -> None:
        colour = {"ok": "green", "failed": "red", "skipped": "yellow"}[entry["status"]]
        detail = entry["reason"] or entry["figures"].get("summary", "")
        self.console.print(
            f"  [{colour}]{entry['status']:<8}[/{colour}] {entry['section']:<14}"
            f"{escape(entry['name']):<32} {escape(str(detail))} [dim]({entry['seconds']:.1f} s)[/dim]",
            highlight=False,
            soft_wrap=True,
        )

    def finish(self) -> int:
        counts = {"ok": 0, "failed": 0, "skipped": 0}
        for entry in self.record["checks"]:  # "running": interrupted
            counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        self.record.update(finished_at=now(), summary=counts)
        self.write()
        return 1 if counts["failed"] else 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
