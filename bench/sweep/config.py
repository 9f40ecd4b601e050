"""What a sweep and a run are: the schema every setting is checked against.

    SweepConfig   one sweep file, validated section by section (grid, model, task,
                  train, eval, measure, reach, select)
    RunConfig     one run, resolved: frozen sections read as attributes
                  (``run.train.seq_len``), hashed to name its result file
    Sweep         a sweep's name, its runs and the config they came from

Reading a TOML file into these is ``bench.sweep.load``, and which setting wins
``bench.sweep.runs``; the comparison protocol the settings serve is in docs/design.md.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bench.sweep.frozen import Frozen, freeze
from seqbench import UserError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class SweepConfigError(UserError):
    """A mistake in a sweep config or a command-line setting."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)  # extras: per-architecture tables

    d_model: int = Field(64, gt=0)
    n_layers: int = Field(2, gt=0)
    params: int | None = Field(None, gt=0, description="match parameter counts to this")
    params_tolerance: float = Field(
        0.05, gt=0, lt=1, description="how far a matched count may be from model.params"
    )


class TrainSection(_Section):
    seq_len: int = Field(64, gt=0)
    steps: int = Field(300, ge=0)
    batch_size: int = Field(32, gt=0)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(0.1, ge=0)
    warmup: int = Field(30, ge=0)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    grad_clip: float = Field(1.0, ge=0, description="0 disables clipping")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    # The budget is ``steps`` (the same for every architecture of a task); the clock is a
    # safety cap only, off by default, because a time budget gives a fast block more
    # examples than a slow one and makes the numbers depend on the machine.
    max_time_s: float | None = Field(
        None, gt=0, description="safety cap: stop training after this many seconds (off)"
    )
    early_stop: float | None = Field(
        0.99, gt=0, le=1, description="stop at this batch accuracy; false: never (text)"
    )
    log_every: int = Field(10, gt=0)

    @field_validator("early_stop", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        # TOML has no null: ``early_stop = false`` turns it off, for tasks such as text
        # whose batches never reach an accuracy threshold (their budget is the steps).
        return None if value is False else value


class EvalSection(_Section):
    seq_lens: list[int] = Field(default_factory=list, description="default: the training length")
    n: int = Field(256, gt=0)
    val_n: int = Field(
        256, gt=0, description="validation examples (at the training length) for selection"
    )
    batch_size: int = Field(64, gt=0)
    depths: list[float] | None = Field(None, description="needle depths; default: the task's grid")

    @model_validator(mode="after")
    def _check(self) -> EvalSection:
        for length in self.seq_lens:
            if length <= 0:
                raise ValueError(f"eval.seq_lens contains {length}; lengths must be positive")
        for depth in self.depths or []:
            if not 0 <= depth <= 1:
                raise ValueError(f"eval.depths contains {depth}; depths must be in [0, 1]")
        return self


class GenerateSection(_Section):
    """Generation throughput (``bench.run.generate``): a prompt, then tokens one by one,
    at growing batch sizes. Defaults are Gu & Dao's (2023, §4.5): prompt 2048, 128 new."""

    prompt_len: int = Field(2048, gt=0)
    new_tokens: int = Field(128, gt=0)
    batch_sizes: list[int] = Field(default_factory=lambda: [2**i for i in range(8)])
    max_memory_gb: float | None = Field(
        None, gt=0, description="larger batches are not tried once one's peak passes this"
    )
    # Inference weights and states in this dtype (a copy of the model; the paper: fp16).
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"

    @model_validator(mode="after")
    def _check(self) -> GenerateSection:
        sizes = self.batch_sizes
        if not sizes or any(b <= 0 for b in sizes) or sizes != sorted(set(sizes)):
            raise ValueError(
                f"batch_sizes={sizes} must be positive, increasing and not empty, e.g. [1, 2, 4]"
            )
        return self


class MeasureSection(_Section):
    cost: bool = Field(True, description="measure throughput and memory of trained runs")
    seq_lens: list[int] = Field(default_factory=list, description="lengths of a cost-only sweep")
    batch_size: int = Field(8, gt=0)
    repeats: int = Field(5, gt=0)
    warmup: int = Field(2, ge=0)
    decode_steps: int = Field(16, gt=0)
    vocab_size: int = Field(256, gt=1, description="vocabulary of cost-only models")
    max_time_s: float = Field(
        60.0, gt=0, description="skip longer lengths once a point takes this long"
    )
    # Set: a cost-only run measures generation instead of cost by length.
    generate: GenerateSection | None = None
    # The attention kernel every forward of the run is pinned to (bench.run.attention).
    attention: Literal["auto", "math", "flash", "efficient", "cudnn"] = "auto"

    def to_dict(self) -> dict[str, Any]:
        """The section as the config (and its hash) holds it: the two settings added with
        generation and attention pinning only when set, so every other run's hash is what
        it was before they existed."""
        unset = {"generate": None, "attention": "auto"}
        return self.model_dump(exclude={k for k, v in unset.items() if getattr(self, k) == v})


class ReachSection(_Section):
    """Influence by distance of a trained model (``bench.run.reach``), and of the same
    model at initialisation: an optional section, in a run's config (and so its hash)
    only when the sweep asks for it, so every run that does not measure reach keeps the
    hash it has always had."""

    seq_len: int | None = Field(None, gt=1, description="default: the training length")
    n_sequences: int = Field(8, gt=0, description="input sequences (the task's own)")
    targets: int = Field(4, gt=0, description="output positions measured: the last few")
    probes: int = Field(
        16, ge=0, description="Rademacher probes per target; 0: exact (d_model rows each)"
    )
    threshold: float = Field(1e-3, gt=0, lt=1, description="decay distance: influence below this")
    init: bool = Field(True, description="also measure the same model at initialisation")

    @model_validator(mode="after")
    def _check(self) -> ReachSection:
        if self.seq_len is not None and self.targets > self.seq_len:
            raise ValueError(f"targets={self.targets} must be at most seq_len={self.seq_len}")
        return self


class SweepConfig(_Section):
    name: str = Field(min_length=1)
    description: str = ""
    kind: Literal["train", "cost"] = "train"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # One grid (a table of axes), or several ([[grid]]): the runs are the union of the
    # products, so one sweep can hold experiments with different axes.
    grid: dict[str, Any] | list[dict[str, Any]]
    # Grid axes to select over (e.g. ["train.lr"]): for each remaining cell the report
    # keeps the value with the best mean validation accuracy (docs/design.md, protocol).
    select: list[str] = Field(default_factory=list)
    model: dict[str, Any] = Field(default_factory=dict)
    task: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # train, eval and measure may hold a table per task ([train.copy] seq_len = 34) that
    # overrides the shared settings for that task; they are validated per run, after the
    # grid and --set are laid over them (bench.sweep.runs says which wins).
    train: dict[str, Any] = Field(default_factory=dict)
    eval: dict[str, Any] = Field(default_factory=dict)
    measure: dict[str, Any] = Field(default_factory=dict)
    # Influence by distance after training (ReachSection): measured for every trained run
    # when the sweep has a [reach] table with keys of its own or none at all, for one task's
    # runs when it holds only [reach.<task>] tables, and for the runs of a grid that has a
    # reach.<key> axis or of a --set reach.<key>=...; absent (None), for no run.
    reach: dict[str, Any] | None = None
    # What papers report for the experiments in this sweep, checked by the report against
    # what the sweep measures ([[paper]] tables; schema in bench.analysis.findings).
    paper: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def grids(self) -> list[dict[str, Any]]:
        """The grid tables, one per experiment (a single ``[grid]`` is a list of one)."""
        return [self.grid] if isinstance(self.grid, dict) else list(self.grid)


@dataclass(frozen=True)
class RunModel:
    """The model of one run, resolved: the width parameter matching picked, and the
    settings of this run's architecture only (not every ``[model.<arch>]`` table)."""

    d_model: int
    n_layers: int
    params: int | None = None
    # Set only when ``params`` is: a run without matching keeps it out of its config (and
    # so out of its hash), as records on disk have always done.
    params_tolerance: float | None = None
    arch: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        tolerance = (
            {} if self.params_tolerance is None else {"params_tolerance": self.params_tolerance}
        )
        return {
            "d_model": self.d_model,
            "n_layers": self.n_layers,
            "params": self.params,
            **tolerance,
            "arch": dict(self.arch),
        }


@dataclass(frozen=True)
class RunConfig:
    """One run: everything that determines its result, normalized and hashable.

    The sections are the validated, frozen section models, read as attributes
    (``run.train.seq_len``). A cost-only run (``kind == "cost"``) trains and evaluates
    nothing: its ``train`` and ``eval`` are ``None`` (``{}`` in ``to_dict``, so its
    hash is what it has always been); a training run has both. ``eval.seq_lens`` is
    never empty in a run: it defaults to the training length.
    """

    kind: Literal["train", "cost"]
    architecture: str
    task: str  # "none" for cost-only runs
    seed: int
    device: str
    model: RunModel
    task_config: dict[str, Any]  # the task's own settings, passed to tasks.create
    train: TrainSection | None
    eval: EvalSection | None
    measure: MeasureSection
    # Only in runs that measure reach: None leaves it out of to_dict, and so of the hash.
    reach: ReachSection | None = None

    def __post_init__(self) -> None:
        trains = self.kind == "train"
        if (self.train is not None, self.eval is not None) != (trains, trains):
            raise ValueError(
                f"a {self.kind!r} run must have train and eval sections "
                + ("set" if trains else "None (a cost-only run trains nothing)")
            )
        if self.reach is not None and not trains:
            raise ValueError("a 'cost' run measures no reach: it trains no model")

    @property
    def dtype(self) -> str:
        """The dtype the model runs in: ``train.dtype``; float32 for a cost-only run."""
        return self.train.dtype if self.train is not None else "float32"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "architecture": self.architecture,
            "task": self.task,
            "seed": self.seed,
            "device": self.device,
            "model": self.model.to_dict(),
            "task_config": self.task_config,
            "train": self.train.model_dump() if self.train is not None else {},
            "eval": self.eval.model_dump() if self.eval is not None else {},
            "measure": self.measure.to_dict(),
            **({"reach": self.reach.model_dump()} if self.reach is not None else {}),
        }

    @property
    def hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """The inverse of ``to_dict``: a record's ``config`` read back (same hash)."""
        return cls(
            kind=d["kind"],
            architecture=d["architecture"],
            task=d["task"],
            seed=d["seed"],
            device=d["device"],
            model=RunModel(**d["model"]),
            task_config=dict(d["task_config"]),
            train=TrainSection.model_validate(d["train"]) if d["train"] else None,
            eval=EvalSection.model_validate(d["eval"]) if d["eval"] else None,
            measure=MeasureSection.model_validate(d["measure"]),
            reach=ReachSection.model_validate(d["reach"]) if d.get("reach") else None,
        )

    def label(self) -> str:
        return f"{self.architecture} · {self.task} · seed {self.seed}"


@dataclass(frozen=True)
class Sweep:
    name: str
    runs: list[RunConfig]
    config: SweepConfig
    # The [[paper]] tables, validated (bench.sweep.papers.Finding); saved beside the results.
    findings: list[Any] = field(default_factory=list)

    @property
    def select(self) -> list[str]:
        return list(self.config.select)

    def varying_axes(self) -> list[str]:
        """Grid axes with more than one value (seed included), in grid order. With several
        grids, an axis that only some of them set varies too (the others use the default)."""
        grids = self.config.grids
        values: dict[str, set[Frozen]] = {}
        for grid in grids:
            for axis, value in grid.items():
                listed = value if isinstance(value, list) else [value]
                values.setdefault(axis, set()).update(freeze(v) for v in listed)
        return [
            axis
            for axis, seen in values.items()
            if len(seen) > 1 or not all(axis in grid for grid in grids)
        ]
