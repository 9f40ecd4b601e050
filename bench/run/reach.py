"""Reach over distance: how much a block's output at position t depends on its input at s.

Why. Vaswani et al. (2017), "Attention Is All You Need", Table 1, rank layers by the
*maximum path length* between two positions: O(1) for self-attention, O(n) for a
recurrence, O(log_k n) for dilated convolutions. Short paths are argued to make long-range
dependencies easier to learn. Bahdanau et al. (2015), "Neural Machine Translation by
Jointly Learning to Align and Translate", saw an RNN encoder-decoder degrade with
sentence length because the whole source passes through one fixed-length context vector,
and added attention so that every output reaches every input directly. Pascanu, Mikolov &
Bengio (2013), "On the difficulty of training recurrent neural networks", show why: the
Jacobian ∂h_t/∂h_s of a recurrence is a product of t − s step Jacobians, so it shrinks
(or grows) exponentially with the distance. Path length is a property of the wiring; this
module measures the quantity behind it, the sensitivity of an output to a distant input.

What is measured. For a module f mapping embeddings x (B, L, D) to y (B, L, D) causally —
a registered block, any module with that signature, or a whole ``SequenceModel`` taken from
its embedding outputs to the residual stream that enters its final norm —

    J_{t,s} = ∂y_t / ∂x_s   (a D×D block of the Jacobian),   d = t − s
    influence(d) = sqrt( mean over (sequence, target t) of ‖J_{t,t−d}‖_F² )

the root-mean-square Frobenius norm of the Jacobian block at distance d, over a few random
input sequences and a few target positions t (by default the last four). Distances run
from 0 to the largest target; a distance beyond a target has no term from it
(``n_terms`` counts the terms). A future input (s > t, negative distance) is not reported:
its Jacobian block is computed anyway, and the largest norm found, ``acausal``, is 0 for a
causal module. Inputs are N(0, 1) per entry, the scale of ``SequenceModel``'s token
embeddings; for a ``SequenceModel`` they are the embeddings of uniform random tokens.

How (the estimator). Reverse mode gives a whole row of the Jacobian per backward pass:
for one target t and a probe vector v ∈ R^D, ∂(v · y_t)/∂x = vᵀ J_{t,s} for every s at
once. Then

    ‖J_{t,s}‖_F² = Σ_i ‖e_iᵀ J_{t,s}‖²        (exact: the D basis vectors e_i, the default)
                 = E_v ‖vᵀ J_{t,s}‖²          (unbiased: v Rademacher, E[v vᵀ] = I)

``probes=None`` uses the D basis vectors (exact up to rounding); ``probes=P`` averages
P Rademacher probes (Hutchinson's estimator of the trace of J Jᵀ, unbiased for the squared
norm; its relative spread is at most √(2/P)). Cost: one forward and backward per (sequence,
target, probe), never the (L·D)² Jacobian. Sequences of a batch never mix (every block
treats batch rows independently), so the (sequence, target, probe) triples are stacked
along the batch and run ``max_rows`` at a time.

Precision. The module and inputs are cast to ``dtype`` (float64 by default, on a copy: the
caller's module is untouched), so influence can be followed down to ~1e-13 of its value at
distance 0. ``fit_decay_rate`` stops where the profile meets that float noise.

Summaries. ``decay_distance``: the first distance whose influence is below ``threshold`` ×
influence(0). ``fit_decay_rate``: the slope of ln influence against distance (the
exponential decay rate per token), with a bootstrap interval over the random sequences,
the R² of the log-linear fit, and the far-to-near ratio of influence, which is ≈ 1 for a
block that does not decay.

Caveats.
- Distance 0 holds the residual path: every seqbench block adds its input to its output,
  so J_{t,t} = I + …, whose Frobenius norm is √D already. The identity reaches no other
  position, so it only sets the scale that ``relative_influence`` and ``decay_distance``
  divide by; ``subtract_input=True`` measures the block's update y − x instead.
- A nonlinear block's Jacobian depends on its input: the profile is one of typical random
  inputs, not of every input.
- At initialisation the profile reflects the init: RWKV-6 starts with its output layers at
  zero, so a fresh RWKV block is the identity (after ln0) and has no influence beyond
  distance 0 at all (``architectures.contract.randomize`` makes every path live). Mamba's
  short convolution reaches the last d_conv − 1 positions directly, and at init the scan
  behind it is much weaker: the profile steps down after distance d_conv − 1 (fit from
  ``start=d_conv`` for the scan alone); the scan's decays come from A = −(1, …, N) and
  Δ ∈ [dt_min, dt_max], so its slowest channels barely decay within a few hundred tokens
  and its log-profile is a mix of rates, curved rather than straight (low R²). Attention at
  init has small scores and nearly uniform weights: influence ≈ 1/(t + 1) at every distance
  (flat); rotary embedding lets a trained block make it local or keep it flat. Monarch's
  implicit filter decays over ``l_max`` positions:
  ``influence_of_architecture`` sets ``l_max`` to the measured length, as M2 sets it to the
  training length.
- Measure a trained block by passing it: the function takes any module.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

import architectures
from architectures import SequenceModel
from bench.run import lm

DEFAULT_TARGETS = 4  # the last four positions
NOISE_ULPS = 1e3  # fit_decay_rate stops where influence < NOISE_ULPS · eps · influence(0)


@dataclass(frozen=True, eq=False)
class ReachProfile:
    """Squared Jacobian norms ‖J_{t,t−d}‖_F² per (sequence, target) pair, and their summary.

    ``sq_norms[p, d]`` is the (exact or estimated) squared Frobenius norm for pair ``p`` at
    distance ``d``, NaN where ``d`` exceeds that pair's target. ``sequence[p]`` and
    ``target[p]`` say which input sequence and which output position the pair is.
    """

    sq_norms: np.ndarray  # (pairs, max target + 1)
    sequence: np.ndarray  # (pairs,)
    target: np.ndarray  # (pairs,)
    acausal: float  # largest ‖J_{t,s}‖_F over s > t: 0 for a causal module
    seq_len: int
    dtype: torch.dtype
    probes: int | None  # None: exact (the D basis vectors)

    @property
    def distance(self) -> np.ndarray:
        return np.arange(self.sq_norms.shape[1])

    @property
    def n_terms(self) -> np.ndarray:
        """Pairs that have a term at each distance."""
        return (~np.isnan(self.sq_norms)).sum(0)

    @property
    def influence(self) -> np.ndarray:
        """Root-mean-square ‖J_{t,t−d}‖_F over pairs, per distance d."""
        return np.sqrt(np.nanmean(self.sq_norms, axis=0))

    @property
    def relative_influence(self) -> np.ndarray:
        """influence(d) / influence(0)."""
        influence = self.influence
        return influence / influence[0]

    @property
    def n_sequences(self) -> int:
        return len(np.unique(self.sequence))

    def to_frame(self) -> pd.DataFrame:
        """One row per distance: distance, influence, relative_influence, n_terms."""
        return pd.DataFrame(
            {
                "distance": self.distance,
                "influence": self.influence,
                "relative_influence": self.relative_influence,
                "n_terms": self.n_terms,
            }
        )


# --- measuring -------------------------------------------------------------------------------


def influence_by_distance(
    module: nn.Module,
    seq_len: int | None = None,
    *,
    inputs: Tensor | None = None,
    n_sequences: int = 8,
    targets: int | Sequence[int] = DEFAULT_TARGETS,
    probes: int | None = None,
    dtype: torch.dtype = torch.float64,
    generator: torch.Generator | None = None,
    subtract_input: bool = False,
    max_rows: int = 128,
) -> ReachProfile:
    """Influence of the input at position s on the output at t, by distance t − s.

    ``module``: a block (or any causal (B, L, D) -> (B, L, D) module), or a
    ``SequenceModel``, measured from its embedding outputs to the residual stream entering
    its final norm. ``inputs``: the embeddings (n, L, D) to measure at — for a
    ``SequenceModel`` also tokens (n, L) — or None for ``n_sequences`` random ones of
    length ``seq_len`` (N(0, 1) entries; random tokens for a model). ``targets``: output
    positions t (negative counts from the end), or an int k for the last k. ``probes``:
    None for the exact Frobenius norm (D backward rows per target), P for P Rademacher
    probes. ``dtype``: module and inputs are cast to it, on a copy. ``generator`` (default:
    seed 0) draws the inputs and probes. ``subtract_input``: measure y − x (the residual
    branch alone). ``max_rows``: (sequence, target, probe) rows per forward pass.
    """
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    f = copy.deepcopy(module).to(dtype).eval()
    f.requires_grad_(False)  # gradients with respect to the inputs only
    device = next((p.device for p in f.parameters()), torch.device("cpu"))
    x0 = _inputs(f, seq_len, inputs, n_sequences, dtype, generator).to(device)
    n, length, d_model = x0.shape
    positions = _target_positions(targets, length)
    exact = probes is None
    if not exact and probes < 1:
        raise ValueError(f"probes={probes} must be a positive integer or None (exact)")
    n_probes = d_model if exact else probes

    # One row per (sequence, target, probe), sequence-major.
    seq_of_row = torch.arange(n).repeat_interleave(len(positions) * n_probes)
    pair_of_row = torch.arange(n * len(positions)).repeat_interleave(n_probes)
    t_of_row = torch.tensor(positions).repeat_interleave(n_probes).repeat(n)
    if exact:
        v = torch.eye(d_model, dtype=dtype).repeat(n * len(positions), 1)  # (rows, D)
    else:
        signs = torch.randint(0, 2, (len(seq_of_row), d_model), generator=generator)
        v = (2 * signs - 1).to(dtype)

    sq = torch.zeros(n * len(positions), length, dtype=dtype)  # Σ_probes ‖vᵀ J_{t,s}‖², by s
    run = _runner(f)
    with torch.enable_grad():
        for start in range(0, len(seq_of_row), max_rows):
            rows = slice(start, start + max_rows)
            x = x0[seq_of_row[rows]].clone().requires_grad_(True)  # (R, L, D)
            y = run(x)
            picked = torch.arange(x.shape[0], device=device)
            t = t_of_row[rows].to(device)
            out = y[picked, t] - x[picked, t] if subtract_input else y[picked, t]  # (R, D)
            (grad,) = torch.autograd.grad((out * v[rows].to(device)).sum(), x)
            sq.index_add_(0, pair_of_row[rows], grad.square().sum(-1).cpu())  # (R, L)
    if not exact:
        sq /= n_probes

    # Position s -> distance t − s; what lies after t is the acausal part.
    t_pair = torch.tensor(positions).repeat(n)  # (pairs,)
    s = torch.arange(length)
    future = s[None, :] > t_pair[:, None]
    acausal = float(sq[future].max().sqrt()) if future.any() else 0.0
    width = max(positions) + 1
    d = torch.arange(width)
    s_of = t_pair[:, None] - d[None, :]  # (pairs, width)
    by_distance = sq.gather(1, s_of.clamp(min=0)).numpy().astype(np.float64)
    by_distance[(s_of < 0).numpy()] = np.nan
    return ReachProfile(
        sq_norms=by_distance,
        sequence=torch.arange(n).repeat_interleave(len(positions)).numpy(),
        target=t_pair.numpy(),
        acausal=acausal,
        seq_len=length,
        dtype=dtype,
        probes=probes,
    )


def _inputs(
    f: nn.Module,
    seq_len: int | None,
    inputs: Tensor | None,
    n_sequences: int,
    dtype: torch.dtype,
    generator: torch.Generator,
) -> Tensor:
    """The embeddings (n, L, D) to measure at, in ``dtype``, detached."""
    is_model = isinstance(f, SequenceModel)
    if inputs is None:
        if seq_len is None or seq_len < 1:
            raise ValueError(f"seq_len={seq_len!r} must be a positive integer when inputs=None")
        if n_sequences < 1:
            raise ValueError(f"n_sequences={n_sequences} must be a positive integer")
        if is_model:
            vocab = f.embedding.num_embeddings
            inputs = torch.randint(0, vocab, (n_sequences, seq_len), generator=generator)
        else:
            d_model = getattr(getattr(f, "config", None), "d_model", None)
            if d_model is None:
                raise ValueError(
                    f"{type(f).__name__} has no config.d_model; pass inputs=(n, L, D) embeddings"
                )
            inputs = torch.randn(n_sequences, seq_len, d_model, generator=generator)
    if is_model and not inputs.is_floating_point():
        with torch.no_grad():
            inputs = f.embedding(inputs.to(f.embedding.weight.device))
    if inputs.dim() != 3:
        raise ValueError(f"inputs of shape {tuple(inputs.shape)} must be (n, L, D) embeddings")
    return inputs.detach().to(dtype)


def _target_positions(targets: int | Sequence[int], length: int) -> list[int]:
    if isinstance(targets, int):
        if not 1 <= targets <= length:
            raise ValueError(f"targets={targets} must lie in [1, seq_len={length}]")
        return list(range(length - targets, length))
    positions = sorted({t % length if -length <= t < length else t for t in targets})
    bad = [t for t in positions if not 0 <= t < length]
    if bad or not positions:
        raise ValueError(f"targets={list(targets)} must be positions in [-{length}, {length})")
    return positions


def _runner(f: nn.Module):
    """x (R, L, D) -> y (R, L, D): the module itself, or a model from embeddings to stream.

    A ``SequenceModel`` runs its own ``forward`` on placeholder tokens: a hook replaces the
    embedding's output with x, another keeps what enters the final norm.
    """
    if not isinstance(f, SequenceModel):
        return f

    def run(x: Tensor) -> Tensor:
        kept: list[Tensor] = []
        swap = f.embedding.register_forward_hook(lambda _m, _i, _o: x)
        keep = f.norm.register_forward_pre_hook(lambda _m, args: kept.append(args[0]))
        try:
            f(torch.zeros(x.shape[:2], dtype=torch.long, device=x.device))
        finally:
            swap.remove()
            keep.remove()
        return kept[0]

    return run


def influence_of_architecture(
    name: str,
    d_model: int = 64,
    seq_len: int = 256,
    seed: int = 0,
    *,
    device: torch.device | str = "cpu",
    overrides: dict[str, Any] | None = None,
    **measure: Any,
) -> ReachProfile:
    """The profile of a freshly initialised ``architectures.create(name, ...)`` block.

    The block is built with ``torch.manual_seed(seed)`` inside a forked RNG (the caller's
    global RNG is left as it was), as the lone layer of a one-layer model (``layer_idx=0,
    n_layers=1``, which ``overrides`` may change), with the pure-PyTorch reference kernels
    (``backend="torch"``: the fused ones do not take float64), and ``l_max = seq_len`` for a
    block that has that setting (Monarch's filter length, set to the training length as in
    M2). The inputs and probes come from a generator seeded with ``seed``. ``measure`` goes
    to ``influence_by_distance``.
    """
    settings: dict[str, Any] = {"backend": "torch"}
    if "l_max" in architectures.config_fields(name):
        settings["l_max"] = seq_len
    settings.update(overrides or {})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        block = architectures.create(name, d_model=d_model, **settings)
    generator = torch.Generator().manual_seed(seed)
    return influence_by_distance(block.to(device), seq_len, generator=generator, **measure)


# --- summaries -------------------------------------------------------------------------------


def decay_distance(
    profile: ReachProfile, threshold: float = 1e-3, reference: int = 0
) -> int | None:
    """First distance d whose influence is below ``threshold`` × influence(``reference``).

    None if there is none within the profile. ``reference=0`` measures against the
    position itself, residual identity included (√D of the Frobenius norm); ``reference=1``
    against the nearest other position, so it reads the mixing path alone: for attention,
    whose influence is ≈ 1/(t + 1) at every distance, the first is a few tokens, the
    second None. A flat profile that lies near ``threshold`` gives an arbitrary answer:
    read it beside ``fit_decay_rate``'s rate interval and far-to-near ratio.
    """
    influence = profile.influence
    below = np.flatnonzero(influence[reference:] < threshold * influence[reference])
    return int(below[0]) + reference if below.size else None


@dataclass(frozen=True)
class DecayFit:
    """Exponential fit influence(d) ≈ C · exp(rate · d) over distances ``start`` … ``stop``.

    ``rate`` (per token; negative: decays) is the least-squares slope of ln influence on
    the mean profile; ``low``, ``high`` the ``level`` percentile interval of that slope over
    bootstrap resamples of the input sequences (all of a sequence's targets together).
    ``r2`` is the fit's R² in log space: near 1 for a straight log-profile (a single rate),
    lower for a curved one (a mix of rates), where the rate depends on the fitted range.
    ``far_to_near`` = mean influence over the last quarter of the distances every target
    covers / mean over the first quarter (from distance 1), with its interval
    ``far_low``, ``far_high``: ≈ 1 for a block that does not decay, ≈ 0 for one that
    forgets. With fewer than two distances above the noise floor in the range (a block
    with no influence beyond distance 0: ``n_points`` is 0), rate, interval and R² are NaN.
    """

    rate: float
    low: float
    high: float
    r2: float
    start: int
    stop: int  # last distance fitted, inclusive
    n_points: int
    far_to_near: float
    far_low: float
    far_high: float
    level: float
    n_boot: int

    @property
    def decays(self) -> bool:
        """The interval of the rate lies below zero."""
        return bool(self.high < 0)

    @property
    def flat(self) -> bool:
        """The interval of the rate contains zero: no decay can be told from none."""
        return bool(self.low <= 0 <= self.high)

    @property
    def e_fold(self) -> float:
        """Distance over which influence falls by a factor e: −1 / rate (inf if rate ≥ 0)."""
        if math.isnan(self.rate):
            return math.nan
        return -1.0 / self.rate if self.rate < 0 else math.inf


def fit_decay_rate(
    profile: ReachProfile,
    start: int = 1,
    stop: int | None = None,
    *,
    noise: float | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> DecayFit:
    """Fit ln influence(d) = a + rate · d over ``start`` … ``stop`` (inclusive) and above noise.

    ``start=1`` leaves out distance 0, where the residual identity and the channel mixer sit.
    The range ends at ``stop`` (default: the largest distance every target covers) or just
    before the first distance whose relative influence is below ``noise`` (default
    NOISE_ULPS × the dtype's machine epsilon: 2e-13 in float64), whichever comes first: past
    that the profile is rounding error, not decay. The interval resamples the input
    sequences ``n_boot`` times with a generator seeded by ``seed``.
    """
    influence = profile.influence
    covered = int(np.flatnonzero(profile.n_terms == profile.n_terms[0]).max())  # all pairs
    stop = covered if stop is None else min(stop, len(influence) - 1)
    if not 0 <= start <= stop:
        raise ValueError(f"start={start} must lie in [0, stop={stop}]")
    noise = NOISE_ULPS * torch.finfo(profile.dtype).eps if noise is None else noise
    quiet = np.flatnonzero(profile.relative_influence[start : stop + 1] < noise)
    end = start + int(quiet[0]) - 1 if quiet.size else stop  # last distance above noise
    distances = np.arange(start, end + 1)

    boot = _bootstrap_influence(profile, n_boot, seed)  # (n_boot, distances)
    tail = (1 - level) / 2
    width = max(1, covered // 4)  # distances 1 … covered, a quarter at each end
    near, far = slice(1, 1 + width), slice(covered + 1 - width, covered + 1)
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN: no influence near
        ratio = influence[far].mean() / influence[near].mean()
        ratios = boot[:, far].mean(1) / boot[:, near].mean(1)
    far_low, far_high = np.quantile(ratios, [tail, 1 - tail])

    nan = float("nan")
    if len(distances) < 2:
        rate = low = high = r2 = nan
    else:
        log_i = np.log(influence[distances])
        rate, intercept = np.polyfit(distances, log_i, 1)
        residual = log_i - (intercept + rate * distances)
        spread = ((log_i - log_i.mean()) ** 2).sum()
        r2 = 1 - (residual**2).sum() / spread if spread > 0 else 1.0
        with np.errstate(divide="ignore"):
            log_boot = np.log(boot[:, distances])  # (n_boot, points)
        centred = distances - distances.mean()
        slopes = (log_boot - log_boot.mean(1, keepdims=True)) @ centred / (centred @ centred)
        low, high = np.quantile(slopes, [tail, 1 - tail])
    return DecayFit(
        rate=float(rate),
        low=float(low),
        high=float(high),
        r2=float(r2),
        start=start,
        stop=int(end),
        n_points=len(distances),
        far_to_near=float(ratio),
        far_low=float(far_low),
        far_high=float(far_high),
        level=level,
        n_boot=n_boot,
    )


def _bootstrap_influence(profile: ReachProfile, n_boot: int, seed: int) -> np.ndarray:
    """Influence by distance for ``n_boot`` resamples of the sequences, (n_boot, distances)."""
    ids = np.unique(profile.sequence)
    present = ~np.isnan(profile.sq_norms)
    sums = np.stack([np.nansum(profile.sq_norms[profile.sequence == i], 0) for i in ids])
    counts = np.stack([present[profile.sequence == i].sum(0) for i in ids])  # (sequences, d)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=n_boot)
    with np.errstate(invalid="ignore"):
        return np.sqrt((weights @ sums) / (weights @ counts))


def reach_table(
    names: Sequence[str] | None = None,
    d_model: int = 64,
    seq_len: int = 256,
    seed: int = 0,
    *,
    threshold: float = 1e-3,
    start: int = 1,
    overrides: dict[str, dict[str, Any]] | None = None,
    **measure: Any,
) -> pd.DataFrame:
    """One row per architecture at init: decay distances, fitted rate, far-to-near ratio.

    ``names`` defaults to every registered block; ``overrides`` maps a name to its settings;
    ``start`` is the first distance fitted; ``measure`` goes to ``influence_by_distance``.
    ``decay_distance`` is measured against distance 0, ``decay_from_1`` against distance 1.
    """
    rows = []
    for name in names if names is not None else architectures.names():
        profile = influence_of_architecture(
            name, d_model, seq_len, seed, overrides=(overrides or {}).get(name), **measure
        )
        fit = fit_decay_rate(profile, start)
        rows.append(
            {
                "architecture": name,
                "decay_distance": decay_distance(profile, threshold),
                "decay_from_1": decay_distance(profile, threshold, reference=1),
                "rate": fit.rate,
                "rate_low": fit.low,
                "rate_high": fit.high,
                "r2": fit.r2,
                "fit_stop": fit.stop,
                "far_to_near": fit.far_to_near,
                "far_low": fit.far_low,
                "far_high": fit.far_high,
                "influence_0": profile.influence[0],
                "acausal": profile.acausal,
            }
        )
    table = pd.DataFrame(rows)
    distances = ["decay_distance", "decay_from_1"]
    table[distances] = table[distances].astype("Int64")  # None stays <NA>, not a float NaN
    return table


# --- a run's models: the record's reach metrics ------------------------------------------------

# Generator seed offset of the sequences reach is measured on (training uses the run's seed,
# evaluation and validation bench.run.train's offsets): a stream of their own.
REACH_SEED = 3_000_017


def run_reach(
    model: SequenceModel, settings: Any, task: Any, train_seq_len: int, seed: int, prefix: str
) -> dict[str, Any]:
    """The reach metrics of one model of a run, its keys starting with ``prefix``.

    ``settings``: the run's ``ReachSection``. The model is measured on a CPU copy in float64
    (on CPU, ``backend="auto"`` runs the reference kernels, which take float64), from its
    embeddings to the residual stream entering its final norm, on ``n_sequences`` of the
    task's own sequences (a text task's validation split) at ``settings.seq_len`` (default:
    the training length), at its last ``targets`` positions, with ``probes`` Rademacher
    probes (0: exact). Returns the relative influence by distance (a list from distance 0),
    the fitted decay rate with its bootstrap interval over the sequences, its R², the
    far-to-near ratio with its interval, and the decay distances against distance 0 and 1.
    """
    length = settings.seq_len or train_seq_len
    generator = torch.Generator().manual_seed(REACH_SEED + seed)
    tokens = task.sample(settings.n_sequences, length, generator, **lm.split_args(task, "val"))
    profile = influence_by_distance(
        copy.deepcopy(model).cpu(),
        inputs=tokens.inputs,
        targets=settings.targets,
        probes=settings.probes or None,
        generator=generator,
    )
    fit = fit_decay_rate(profile, seed=seed)
    covered = int(np.flatnonzero(profile.n_terms == profile.n_terms[0]).max())
    relative = profile.relative_influence[: covered + 1]
    out = {
        "seq_len": length,
        "influence": [float(v) for v in relative],  # relative to distance 0, 0 … covered
        "influence_0": float(profile.influence[0]),
        "rate": fit.rate,
        "rate_low": fit.low,
        "rate_high": fit.high,
        "r2": fit.r2,
        "fit_stop": fit.stop,
        "far_to_near": fit.far_to_near,
        "far_low": fit.far_low,
        "far_high": fit.far_high,
        "decay_distance": decay_distance(profile, settings.threshold),
        "decay_from_1": decay_distance(profile, settings.threshold, reference=1),
    }
    return {f"{prefix}{key}": _finite_or_none(value) for key, value in out.items()}


def _finite_or_none(value: Any) -> Any:
    """NaN (no fit: a block without reach) as None, which JSON keeps."""
    return None if isinstance(value, float) and math.isnan(value) else value
