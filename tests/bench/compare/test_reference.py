"""The main job's last line: this machine's results against the committed reference."""

import json
import shutil
from pathlib import Path

from bench.compare.reference import against_reference, reference_folder

REFERENCE = Path(__file__).resolve().parents[3] / "results" / "reference" / "quick"


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    reference = tmp_path / "results" / "reference" / "quick"
    shutil.copytree(REFERENCE, reference)
    here = tmp_path / "results" / "quick"
    shutil.copytree(REFERENCE / "runs", here / "runs")
    return reference, here


def _edit_every_run(folder: Path, edit) -> None:
    for path in sorted((folder / "runs").glob("*.json")):
        record = json.loads(path.read_text())
        edit(record)
        path.write_text(json.dumps(record))


def test_the_same_runs_read_as_the_same_accuracies_at_the_same_speed(tmp_path):
    reference, here = _copy(tmp_path)
    line = against_reference(reference, here)
    assert "the same accuracy in all 25 paired cells" in line
    assert "1.00× the reference machine's tokens/s" in line


def test_another_machine_shows_its_speed_and_a_changed_accuracy_is_counted(tmp_path):
    reference, here = _copy(tmp_path)

    def slower(record):
        record["metrics"]["train_tokens_per_s"] /= 2

    _edit_every_run(here, slower)
    first = sorted((here / "runs").glob("*.json"))[0]
    record = json.loads(first.read_text())
    for point in record["points"]:
        if "accuracy" in point:
            point["accuracy"] = max(0.0, point["accuracy"] - 0.25)
    first.write_text(json.dumps(record))
    line = against_reference(reference, here)
    assert "0.50× the reference machine's tokens/s" in line
    assert "accuracy differs in 1 of 25 paired cells (largest |Δ| 0.250" in line


def test_the_reference_folder_is_found_by_name_and_never_compared_with_itself(
    tmp_path, monkeypatch
):
    _copy(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert reference_folder("quick", Path("results/quick")) == Path("results/reference/quick")
    assert reference_folder("quick", Path("results/reference/quick")) is None
    assert reference_folder("mqar", Path("results/mqar")) is None  # no reference committed
