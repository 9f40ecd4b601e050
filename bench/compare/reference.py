"""The main job's last line: this machine's results against the committed reference.

``seqbench run quick`` trains and measures here, into ``results/quick``. The project
keeps the same preset's results, measured on its own machine, in
``results/reference/quick``. The protocol promises the same accuracies from the same
config hashes on any machine (docs/measurement.md); speed and memory belong to the
machine. So the comparison says two things: whether every paired cell's accuracy is the
same, and this machine's training throughput as a ratio of the reference's.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.compare.folders import compare_folders
from bench.compare.stats import CompareError

REFERENCE_ROOT = Path("results") / "reference"
SAME = 1e-9  # accuracies are fractions of the same scored tokens: equal, or not


def reference_folder(sweep_name: str, out: Path) -> Path | None:
    """The committed reference for ``sweep_name``, unless ``out`` is that folder itself."""
    reference = REFERENCE_ROOT / sweep_name
    if not (reference / "runs").is_dir() or reference.resolve() == Path(out).resolve():
        return None
    return reference


def against_reference(reference: Path, out: Path) -> str:
    """One line: accuracies paired with the reference's, and this machine's speed."""
    try:
        comparison = compare_folders(reference, out)
    except CompareError as error:
        return f"Not comparable with {reference}: {error}"
    cells = comparison.cells
    where = _machine(reference)
    parts = []
    if "acc_train_delta" in cells:
        deltas = cells["acc_train_delta"].dropna()
        same = int((deltas.abs() <= SAME).sum())
        if same == len(deltas):
            parts.append(f"the same accuracy in all {len(deltas)} paired cells")
        else:
            worst = deltas.abs().max()
            parts.append(
                f"accuracy differs in {len(deltas) - same} of {len(deltas)} paired cells "
                f"(largest |Δ| {worst:.3f}; `seqbench compare {reference} {out}` lists them)"
            )
    if "train_tokens_per_s_delta" in cells:
        ratios = cells["train_tokens_per_s_delta"].dropna() + 1  # stored as NEW/BASE − 1
        if len(ratios):
            median = math.exp(float(ratios.map(math.log).median()))
            parts.append(
                f"training here runs at {median:.2f}× the reference machine's tokens/s "
                f"(median over cells, {ratios.min():.2f}–{ratios.max():.2f})"
            )
    return f"Against {reference}{where}: " + "; ".join(parts) + "."


def _machine(reference: Path) -> str:
    from bench import store

    frame = store.load(reference)
    if "device_name" not in frame or frame["device_name"].dropna().empty:
        return ""
    return f" (measured on {frame['device_name'].dropna().iloc[0]})"
