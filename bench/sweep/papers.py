"""What papers report, as data: the ``[[paper]]`` tables of a sweep.

A paper preset carries its papers' results, one ``[[paper]]`` table each::

    [[paper]]
    paper = "Gu & Dao 2023 (Mamba)"
    source = "Table 1"
    setting = "selective copying, L=4096, 16 data tokens, vocabulary 16"
    says = "Mamba 99.8% (S4 18.3%, H3 57.0%)"    # what the paper reports, in its words
    value = 0.998                                 # its number, when it gives one
    claim = "Mamba solves selective copying"      # the finding this tests
    architecture = "mamba"                        # which runs measure it
    task = "selective_copy"
    expect = "solves"                             # solves | fails | above | below
    # at = "train" (default), "longest", or an evaluation length; cell = {d_model = 64}
    # than = {architecture = "lstm"} for above / below; threshold = 0.9
    # not_comparable = "why the scaled setting cannot be compared", when it cannot

``seqbench run`` writes a sweep's findings to ``DIR/findings.json`` beside its runs, so
``seqbench report DIR`` can set them against the measurements (``bench.analysis.findings``)
without the preset.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FILE = "findings.json"
SOLVED = 0.9  # token accuracy at or above which a task counts as solved


class Finding(BaseModel):
    """One result a paper reports, and which runs of the sweep measure it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    paper: str = Field(min_length=1)
    source: str = Field(min_length=1, description="table or figure")
    setting: str = Field(min_length=1, description="the paper's setting")
    says: str = Field(min_length=1, description="what the paper reports")
    value: float | None = None
    claim: str = Field(min_length=1, description="the finding, as a sentence")
    architecture: str
    task: str
    expect: Literal["solves", "fails", "above", "below"]
    at: int | Literal["train", "longest"] = "train"
    cell: dict[str, Any] = Field(default_factory=dict, description="column = value filters")
    than: dict[str, Any] | None = None
    threshold: float = Field(SOLVED, gt=0, le=1)
    metric: Literal["accuracy", "exact_match"] = "accuracy"
    not_comparable: str = ""

    @model_validator(mode="after")
    def _comparison_needs_than(self) -> Finding:
        if (self.than is None) == (self.expect in ("above", "below")):
            raise ValueError(
                f"expect={self.expect!r} "
                + ("needs than = {architecture = ...}" if self.than is None else "takes no than")
            )
        return self


def parse(tables: list[dict[str, Any]]) -> list[Finding]:
    """Validate ``[[paper]]`` tables; a mistake raises ValueError naming the table."""
    findings = []
    for number, table in enumerate(tables, 1):
        try:
            findings.append(Finding.model_validate(table))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "table"
            problem = first["msg"].removeprefix("Value error, ")
            raise ValueError(f"paper #{number} ({where}): {problem}") from None
    return findings


def check_against_grids(findings: list[Finding], grids: list[dict[str, Any]]) -> None:
    """Each finding (and what it compares with) names an architecture and a task some
    grid runs; a ValueError names the first that does not."""
    for number, finding in enumerate(findings, 1):
        for selector in (finding.model_dump(), finding.than or {}):
            for key in ("architecture", "task"):
                value = selector.get(key, getattr(finding, key))
                if not any(value in listed(grid.get(key)) for grid in grids):
                    raise ValueError(
                        f"paper #{number} names {key} {value!r}, which no grid runs; "
                        f"add it to a grid or fix the name"
                    )


def listed(values: Any) -> list[Any]:
    """A grid axis as a list (a single value is an axis of one)."""
    return values if isinstance(values, list) else [] if values is None else [values]
