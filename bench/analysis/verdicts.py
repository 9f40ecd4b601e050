"""Verdicts decided by intervals, and the statistics that give the intervals.

A claim (``bench.analysis.claims``) or a paper finding (``bench.analysis.findings``) gets ``holds`` or
``does not hold`` only when the whole 95 % interval of the measured figure lies on one
side of its boundary; ``inconclusive`` when the interval straddles the boundary (or the
data cannot show the regime the claim is about); ``unknown`` when the results hold no
data for it. Every verdict is a ``Claim``: the statement, the verdict, the evidence with
its intervals, the boundary and why, and how the interval was computed.

**Cost slopes.** The exponent s of time ∝ L^s is the least-squares slope of the
per-length median log-time on log L, over the longest half of the measured lengths (at
least 3). Its interval is a percentile bootstrap over repeats: each length's timed calls
are resampled with replacement 2,000 times, each resample gives a slope, and the
interval runs from the 2.5th to the 97.5th percentile. The median, not the mean, because
the noise on a shared machine is one-sided: another process only ever makes a call
slower. With fewer than 3 calls per length (results from before seqbench kept every
call) it falls back to the regression interval of the same fit through the per-length
medians (slope ± t(0.975, n−2) · standard error), far wider with three lengths.

**Accuracy.** Mean over seeds with a t interval, mean ± t(0.975, n−1) · sd / √n, clipped
to [0, 1]. One seed gives no interval, and no margin from a boundary is safe without one,
so a verdict resting on one seed is inconclusive until more seeds are run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from bench.store.formats import format_length

HOLDS, FAILS, INCONCLUSIVE, UNKNOWN = "holds", "does not hold", "inconclusive", "unknown"
LEVEL = 0.95
RESAMPLES = 2000
MIN_REPEATS = 3  # per length, for a bootstrap over repeats
L2_PRESENT = 0.01  # an L² term below 1 % of the linear one at the longest length is absent


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def text(self, digits: int = 2) -> str:
        return f"{self.low:.{digits}f}–{self.high:.{digits}f}"


@dataclass(frozen=True)
class Claim:
    key: str
    statement: str
    verdict: str  # HOLDS, FAILS, INCONCLUSIVE or UNKNOWN
    evidence: str  # the measured figures, their intervals and where they come from
    detail: str = ""  # the verdict's parenthesis: an interval, "lengths too short", ...
    boundary: str = ""  # what is tested, and why there
    method: str = ""  # how the interval was computed
    paper: str = ""  # for a paper's finding: the paper and its table or figure
    says: str = ""  # ... and what it reports there

    @property
    def label(self) -> str:
        """The verdict as the report shows it: ``inconclusive (interval 1.42–1.53)``."""
        return f"{self.verdict} ({self.detail})" if self.detail else self.verdict


def decide(interval: Interval | None, low: float = -math.inf, high: float = math.inf) -> str:
    """HOLDS if ``interval`` lies inside [low, high], FAILS if wholly outside, else INCONCLUSIVE."""
    if interval is None:
        return INCONCLUSIVE
    if low <= interval.low and interval.high <= high:
        return HOLDS
    if interval.high < low or interval.low > high:
        return FAILS
    return INCONCLUSIVE


def any_of(verdicts: Sequence[str]) -> str:
    """At least one of several alternatives: HOLDS if any holds, FAILS if all fail."""
    if HOLDS in verdicts:
        return HOLDS
    if verdicts and all(v == FAILS for v in verdicts):
        return FAILS
    return INCONCLUSIVE


def all_of(verdicts: Sequence[str]) -> str:
    """All parts of a claim together: FAILS if any part fails, HOLDS if all hold."""
    if FAILS in verdicts:
        return FAILS
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    return INCONCLUSIVE


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Slope:
    """Exponent s of time ∝ L^s over ``lengths``, with its interval."""

    value: float
    interval: Interval
    lengths: tuple[int, ...]
    repeats: tuple[int, ...]  # timed calls per fitted length (1: only a median is known)
    method: str
    variable: str = "L"  # what the keys are: lengths (L), or widths (d)

    def text(self) -> str:
        span = ", ".join(format_length(v) for v in self.lengths)
        counts = sorted(set(self.repeats))
        each = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
        calls = "medians only" if counts == [1] else f"{each} repeats each"
        v = self.variable
        return f"{v}^{self.value:.2f} ({self.interval.text()}) over {v}={span} ({calls})"


def _bootstrap_medians(
    logs: Sequence[np.ndarray], rng: np.random.Generator, resamples: int
) -> np.ndarray:
    """(resamples, lengths): the median of each length's repeats, resampled with replacement."""
    columns = [np.median(x[rng.integers(0, len(x), (resamples, len(x)))], axis=1) for x in logs]
    return np.column_stack(columns)


def fit_slope(
    seconds: Mapping[int, np.ndarray],
    rng: np.random.Generator,
    *,
    long_end: bool = True,
    resamples: int = RESAMPLES,
) -> Slope | None:
    """Log-log slope of time on length with its 95 % interval; None below 3 lengths.

    ``seconds`` maps each length to every timed call's seconds there. With ``long_end``
    only the longest half of the lengths (at least 3) is fitted. Bootstrap over repeats
    when every fitted length has ``MIN_REPEATS`` calls, else the regression interval
    through the per-length medians (see the module docstring).
    """
    lengths = sorted(length for length, s in seconds.items() if len(s))
    if len(lengths) < 3:
        return None
    if long_end:
        lengths = lengths[-max(3, math.ceil(len(lengths) / 2)) :]
    x = np.log(np.asarray(lengths, float))
    xc = x - x.mean()
    sxx = float(xc @ xc)
    logs = [np.log(np.asarray(seconds[length], float)) for length in lengths]
    medians = np.array([np.median(v) for v in logs])
    value = float(xc @ medians / sxx)
    repeats = tuple(len(v) for v in logs)
    tail = (1 - LEVEL) / 2
    if min(repeats) >= MIN_REPEATS:
        slopes = _bootstrap_medians(logs, rng, resamples) @ xc / sxx
        low, high = np.quantile(slopes, [tail, 1 - tail])
        method = (
            f"bootstrap over repeats: each length's timed calls resampled {resamples:,} times; "
            "slope of the per-length median log-time on log L; 2.5th–97.5th percentile"
        )
    else:
        residual = medians - medians.mean() - value * xc
        dof = len(lengths) - 2
        se = math.sqrt(float(residual @ residual) / dof / sxx)
        half = float(stats.t.ppf(1 - tail, dof)) * se
        low, high = value - half, value + half
        why = (
            "these results keep no per-call times (recorded before seqbench kept them)"
            if max(repeats) == 1
            else f"fewer than {MIN_REPEATS} repeats at some length"
        )
        method = (
            f"regression interval through the per-length medians (t, {dof} df), "
            f"wide with few lengths: {why}"
        )
    return Slope(value, Interval(float(low), float(high)), tuple(lengths), repeats, method)


def exact_slope(
    values: Mapping[int, float], *, long_end: bool = True
) -> tuple[float, tuple[int, ...]] | None:
    """Log-log least-squares slope of exact values (counted FLOPs) on their keys (lengths
    or widths), over the largest half of the keys (at least 3) with ``long_end``; None
    below 3 keys. Counts have no noise, so the slope needs no interval."""
    keys = sorted(k for k, v in values.items() if v is not None and np.isfinite(v) and v > 0)
    if len(keys) < 3:
        return None
    if long_end:
        keys = keys[-max(3, math.ceil(len(keys) / 2)) :]
    x = np.log(np.asarray(keys, float))
    y = np.log(np.asarray([values[k] for k in keys], float))
    xc = x - x.mean()
    return float(xc @ (y - y.mean()) / (xc @ xc)), tuple(keys)


def quadratic_share(
    seconds: Mapping[int, np.ndarray], rng: np.random.Generator, resamples: int = RESAMPLES
) -> tuple[float, float | None]:
    """Where an L² term catches up with the linear ones, and how sure that it is there.

    Fits time ≈ c + a·L + b·L² (non-negative, on relative error so every length counts
    alike) through the per-length medians of all lengths. Returns L* = a / b of that fit
    (inf when it needs no L² term) and the share of bootstrap resamples of the medians
    whose fit has an L² term (one reaching ``L2_PRESENT`` of the linear term by the
    longest length); the share is None without ``MIN_REPEATS`` calls at every length.
    """
    lengths = sorted(length for length, s in seconds.items() if len(s))
    scaled = np.asarray(lengths, float) / lengths[-1]
    design = np.column_stack([np.ones_like(scaled), scaled, scaled**2])
    logs = [np.log(np.asarray(seconds[length], float)) for length in lengths]

    def ratio(log_medians: np.ndarray) -> float:
        """The L² term over the linear one at the longest length."""
        times = np.exp(log_medians)
        (_, a, b), _ = optimize.nnls(design / times[:, None], np.ones(len(times)))
        return b / a if a > 0 else (math.inf if b > 0 else 0.0)

    point = ratio(np.array([np.median(v) for v in logs]))
    crossover = lengths[-1] / point if point > 0 else math.inf
    if min(len(v) for v in logs) < MIN_REPEATS:
        return crossover, None
    ratios = np.array([ratio(row) for row in _bootstrap_medians(logs, rng, resamples)])
    return crossover, float(np.mean(ratios >= L2_PRESENT))


def mean_interval(
    values: Sequence[float], low: float = -math.inf, high: float = math.inf
) -> tuple[float, Interval | None]:
    """Mean and its t interval (clipped to [low, high]); no interval from one value."""
    values = np.asarray(values, float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, None
    half = float(stats.t.ppf(1 - (1 - LEVEL) / 2, len(values) - 1)) * values.std(ddof=1)
    half /= math.sqrt(len(values))
    return mean, Interval(max(low, mean - half), min(high, mean + half))
