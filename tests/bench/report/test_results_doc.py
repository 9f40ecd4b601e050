"""Docs that cannot drift: docs/results.md and the README's main-job table are generated
from the committed reference results, and must equal what the command writes now."""

from pathlib import Path

import pytest
from _cli import seqbench

ROOT = Path(__file__).resolve().parents[3]


def test_docs_results_and_the_readme_table_are_what_the_command_generates(
    tmp_path, monkeypatch, capsys
):
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text())
    out = tmp_path / "results.md"
    code, _, stderr = seqbench(
        monkeypatch, capsys, "report", str(ROOT / "results" / "reference"),
        "--markdown", str(out), "--readme", str(readme),
    )  # fmt: skip
    assert code == 0, stderr
    assert out.read_text() == (ROOT / "docs" / "results.md").read_text(), (
        "docs/results.md is stale: run `seqbench report results/reference --markdown "
        "docs/results.md --readme README.md` and commit"
    )
    assert readme.read_text() == (ROOT / "README.md").read_text(), "the README's table is stale"


def test_every_reference_folder_has_its_section_with_how_it_was_obtained():
    text = (ROOT / "docs" / "results.md").read_text()
    for folder in sorted((ROOT / "results" / "reference").iterdir()):
        assert f"## `{folder.name}`" in text
        assert f"`seqbench run {folder.name}`: " in text
    assert "| task | train length | batch | step budget | lr | stop reasons |" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--readme", "README.md"], "--readme goes with --markdown"),
        (["--markdown", "x.md", "--compare", "results/reference/quick"], "--compare goes into"),
    ],
)
def test_markdown_options_refuse_what_does_not_go_together(args, message, monkeypatch, capsys):
    folder = str(ROOT / "results" / "reference" / "quick")
    code, _, stderr = seqbench(monkeypatch, capsys, "report", folder, *args)
    assert code == 2 and message in stderr


def test_a_readme_without_the_generated_block_is_refused(tmp_path, monkeypatch, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# no table here\n")
    code, _, stderr = seqbench(
        monkeypatch, capsys, "report", str(ROOT / "results" / "reference"),
        "--markdown", str(tmp_path / "r.md"), "--readme", str(readme),
    )  # fmt: skip
    assert code == 2 and "README has no generated table block" in stderr
    assert not (tmp_path / "r.md").exists()
