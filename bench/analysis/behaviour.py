"""The behaviour claims: prompt order, reach over distance, accuracy against distance.

    behaviour_claims(results) -> list[Claim]     # (j) order, (k) reach, (l) distance

Each is decided like the report's other claims (``bench.analysis.verdicts``): a figure per
seed, a t interval over the seeds (one seed gives none, so no verdict), and "holds" or
"does not hold" only when the whole interval is on one side of the boundary. A claim is
only checked where the results hold its kind of data (runs in both orders, reach metrics,
a task's ``distance`` setting), so a folder without it shows none of them.

(j) **Order** (Arora et al. 2024, *Just read twice*, Fig. 2; the RWKV paper, App. L): a
    fixed-size state must keep what it reads before it knows what will be asked, so it
    does better when the small set (set disjointness) or the question (MQAR) comes first;
    attention reads everything again at the answer and does not care. Per block and
    task: accuracy in the easy order minus the hard order, paired by seed.
(k) **Reach** (Vaswani et al. 2017, Table 1: path length O(1) for attention, O(n) for a
    recurrence; Pascanu et al. 2013): the fitted exponential decay rate of a trained
    model's influence by distance (``bench.run.reach``), per run; attention does not decay,
    the LSTM decays, RWKV and Mamba lie between.
(l) **Distance** (Bahdanau et al. 2015, Fig. 2: a fixed-length summary loses what lies far
    back): the change of accuracy per doubling of the distance bridged, per seed, from
    runs trained and tested at each distance (a task's ``distance`` setting, e.g.
    induction's); the LSTM's falls, attention's does not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from bench.analysis.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    UNKNOWN,
    Claim,
    Interval,
    all_of,
    mean_interval,
)
from bench.store import cells
from bench.store.formats import architecture_order, per_run_accuracy
from bench.sweep.papers import SOLVED

ATTENTION = ("transformer",)
FIXED_STATE = ("lstm", "rwkv", "rwkv4", "mamba")  # a state of the same size at every length
BETWEEN = ("rwkv", "rwkv4", "mamba")  # reach: placed between the LSTM and attention
# task -> (the order option, its value in the easy order, its default when not set).
ORDER_OPTIONS = {
    "set_disjointness": ("small_first", True, True),
    "mqar": ("question_first", True, False),
}
ORDER_WORDS = {
    "set_disjointness": ("small set first", "large set first"),
    "mqar": ("question first", "question after"),
}
ORDER_MARGIN = 0.05  # accuracy: an order gap smaller than this is none
DISTANCE_MARGIN = 0.02  # accuracy per doubling of the distance: a smaller fall is none
NOT_LEARNED = 0.2  # mean accuracy below this: the setting was not learned at all
DECADE = math.log(10)  # reach: "decays" = falls by more than 10× over the distances measured
T_METHOD = "t interval over seeds (mean ± t(0.975, n−1)·sd/√n)"


# --------------------------------------------------------------------------- the runs


def _runs(results: pd.DataFrame) -> pd.DataFrame:
    """One row per ok trained run at its training length, with its config as a dict
    (none when the results carry no configs)."""
    if "config_json" not in results.columns:
        return pd.DataFrame()
    accuracy = per_run_accuracy(cells.prepare(results))
    accuracy = accuracy[accuracy["eval_seq_len"] == accuracy["train_seq_len"]]
    accuracy = accuracy.dropna(subset=["accuracy"])
    extra = results.drop_duplicates("config_hash").set_index("config_hash")
    keep = [c for c in ("config_json", "sweep", "select") if c in extra.columns]
    runs = accuracy.join(extra[keep], on="config_hash")
    runs = runs[runs["config_json"].notna()].copy()
    runs["config"] = runs["config_json"].map(json.loads)
    return runs


def _setting_key(run: pd.Series, drop: Callable[[dict], None]) -> str:
    """What a run shares with the runs it is paired with: its config without the seed, the
    selected axes (each cell keeps its own choice), the reach measured after training
    (it changes nothing the run learns; ``drop`` may keep it) and whatever ``drop`` removes."""
    config = json.loads(json.dumps(run["config"]))  # a copy
    config.pop("seed", None)
    reach = config.pop("reach", None)
    if drop is _reach_setting:
        config["reach"] = reach
    for axis in json.loads(run.get("select") or "[]"):
        section, _, key = axis.partition(".")
        if isinstance(config.get(section), dict):
            config[section].pop(key, None)
    drop(config)
    return json.dumps([run.get("sweep", ""), config], sort_keys=True)


def _seeds(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"


def _signed(mean: float, interval: Interval | None, n: int, digits: int = 2) -> str:
    spread = (
        f"{interval.low:+.{digits}f}–{interval.high:+.{digits}f}" if interval else "no interval"
    )
    return f"{mean:+.{digits}f} ({spread}, {_seeds(n)})"


def _missing(key: str, statement: str, needs: str, boundary: str, method: str) -> Claim:
    return Claim(key, statement, UNKNOWN, needs, "no data", boundary, method)


# --------------------------------------------------------------------------- (j) order


def _order_value(task: str, config: dict) -> bool:
    option, _, default = ORDER_OPTIONS[task]
    return bool(config.get("task_config", {}).get(option, default))


def _order_tasks(runs: pd.DataFrame) -> list[str]:
    """The tasks whose order these runs test: set disjointness, whose point it is, and a
    task whose order option some run sets (MQAR's question_first); not every MQAR run."""
    out = []
    for task, (option, _, _) in ORDER_OPTIONS.items():
        configs = runs.loc[runs["task"] == task, "config"]
        if len(configs) and (
            task == "set_disjointness" or any(option in c.get("task_config", {}) for c in configs)
        ):
            out.append(task)
    return out


def _order_gaps(runs: pd.DataFrame) -> list[dict]:
    """Per (task, architecture, setting): the easy-minus-hard accuracy, paired by seed."""
    gaps = []
    for task in _order_tasks(runs):
        option, easy, _ = ORDER_OPTIONS[task]
        rows = runs[runs["task"] == task]
        rows = rows.assign(easy=[_order_value(task, c) == easy for c in rows["config"]])

        def without_order(config: dict, option: str = option) -> None:
            config.get("task_config", {}).pop(option, None)

        rows = rows.assign(key=[_setting_key(r, without_order) for _, r in rows.iterrows()])
        for (architecture, _), group in rows.groupby(["architecture", "key"], sort=False):
            first = group[group["easy"]].groupby("seed")["accuracy"].mean()
            second = group[~group["easy"]].groupby("seed")["accuracy"].mean()
            seeds = first.index.intersection(second.index)
            if not len(seeds):
                continue
            differences = (first[seeds] - second[seeds]).to_numpy()
            mean, interval = mean_interval(differences)
            gaps.append(
                {
                    "task": task,
                    "architecture": architecture,
                    "gap": mean,
                    "interval": interval,
                    "seeds": len(seeds),
                    "easy": float(first[seeds].mean()),
                    "hard": float(second[seeds].mean()),
                }
            )
    return gaps


def order_verdict(gap: dict) -> tuple[str, str]:
    """One block's part of claim (j): its verdict and, when inconclusive, what would decide."""
    interval, name = gap["interval"], gap["architecture"]
    if interval is None:
        return INCONCLUSIVE, f"{name}: 1 seed, run ≥ 3"
    if name in ATTENTION:  # no order effect: the interval holds 0, or lies within ±margin
        within = interval.low > -ORDER_MARGIN and interval.high < ORDER_MARGIN
        return (HOLDS, "") if interval.low <= 0 <= interval.high or within else (FAILS, "")
    if interval.low > 0:
        return HOLDS, ""
    if min(gap["easy"], gap["hard"]) >= SOLVED:
        return INCONCLUSIVE, f"{name}: both orders solved, larger sets would decide"
    if max(gap["easy"], gap["hard"]) < NOT_LEARNED:
        return INCONCLUSIVE, f"{name}: neither order learned, more steps would decide"
    if interval.high < ORDER_MARGIN:  # no gap of the margin, or the hard order better
        return FAILS, ""
    return INCONCLUSIVE, f"{name}: interval crosses 0, more seeds would decide"


def _claim_order(runs: pd.DataFrame) -> Claim | None:
    statement = (
        "A fixed-state block's accuracy depends on the prompt order (the small set or the "
        "question first); attention's does not"
    )
    boundary = (
        "the accuracy in the easy order minus the hard one, paired by seed: a fixed-state "
        f"block ({', '.join(FIXED_STATE)}) holds when the interval lies above 0 and fails "
        f"when it lies below {ORDER_MARGIN} (no gap, or the hard order better); attention "
        f"holds when its interval includes 0 or lies within ±{ORDER_MARGIN}, and fails "
        "otherwise. A setting both orders solve (≥ {SOLVED}) or neither learns "
        f"(< {NOT_LEARNED}) cannot show a gap: inconclusive. Just read twice, Fig. 2: a "
        "recurrent state needs less memory when the small set comes first; attention is "
        "indifferent"
    )
    method = f"{T_METHOD} of the paired differences"
    tasks = _order_tasks(runs)
    if not tasks:
        return None
    gaps = _order_gaps(runs)
    if not gaps:
        return _missing(
            "j",
            statement,
            f"needs runs of {', '.join(sorted(tasks))} in both orders with matching seeds",
            boundary,
            method,
        )
    parts, verdicts, details = [], [], []
    kinds = {"attention": False, "fixed": False}
    rank = {n: i for i, n in enumerate(architecture_order({g["architecture"] for g in gaps}))}
    for task in sorted({g["task"] for g in gaps}):
        easy, hard = ORDER_WORDS[task]
        texts = []
        for gap in sorted(
            (g for g in gaps if g["task"] == task), key=lambda g: rank[g["architecture"]]
        ):
            name = gap["architecture"]
            text = (
                f"{name} {_signed(gap['gap'], gap['interval'], gap['seeds'])}; "
                f"{gap['easy']:.2f} vs {gap['hard']:.2f}"
            )
            if name in ATTENTION or name in FIXED_STATE:
                kinds["attention" if name in ATTENTION else "fixed"] = True
                verdict, why = order_verdict(gap)
                verdicts.append(verdict)
                details += [why] if why else []
                text += f" → {verdict}"
            else:
                text += " (not fixed-state: shown, not decided)"
            texts.append(text)
        parts.append(f"{task}, {easy} − {hard}: " + "; ".join(texts))
    evidence = " | ".join(parts)
    if not all(kinds.values()):
        lacking = "attention" if not kinds["attention"] else "a fixed-state block"
        return Claim(
            "j",
            statement,
            INCONCLUSIVE,
            evidence,
            f"needs {lacking} in both orders",
            boundary,
            method,
        )
    verdict = all_of(verdicts)
    detail = "; ".join(details) if verdict == INCONCLUSIVE else ""
    return Claim("j", statement, verdict, evidence, detail, boundary, method)


# --------------------------------------------------------------------------- (k) reach


def _reach_runs(results: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Trained runs with a fitted decay rate, with their reach columns."""
    columns = [c for c in results.columns if c.startswith("reach_") and c != "reach_error"]
    if "reach_rate" not in columns:
        return runs.iloc[0:0]
    first = results.drop_duplicates("config_hash").set_index("config_hash")[columns]
    out = runs.join(first, on="config_hash")
    return out[out["reach_influence"].map(lambda v: isinstance(v, list | np.ndarray))]


def _reach_setting(config: dict) -> None:
    """A reach run's setting across architectures: the task and how it was trained."""
    for key in [k for k in config if k not in ("task", "task_config", "train", "eval", "reach")]:
        config.pop(key)


def _reach_key(rows: pd.DataFrame) -> str:
    """The setting most blocks were measured in (then the longest reach length, then the
    first in sorted order): claim (k) compares blocks trained alike, never across tasks."""
    spread = rows.groupby("key").agg(
        blocks=("architecture", "nunique"), length=("reach_seq_len", "max")
    )
    spread = spread.sort_values(["blocks", "length"], ascending=False, kind="stable")
    return spread.index[0]


def _claim_reach(results: pd.DataFrame, runs: pd.DataFrame) -> Claim | None:
    statement = (
        "Attention's influence does not decay with distance; the LSTM's decays exponentially, "
        "with RWKV and Mamba between"
    )
    if "reach_rate" not in results.columns:
        return None
    rows = _reach_runs(results, runs)
    boundary_text = (
        "the fitted rate r of ln influence(d) per token over distances 1 … D of the trained "
        "model (bench/run/reach.py), against r* = −ln 10 / D, a fall of 10× over the D "
        "distances measured: attention holds when its interval lies above r*, the LSTM when "
        "its interval lies below; RWKV-6, RWKV-4 and Mamba when their rate exceeds the LSTM's "
        "and falls short of attention's (differences paired by seed, intervals above 0). "
        "Vaswani et al. 2017, Table 1: path length O(1) for attention, O(n) for a recurrence"
    )
    method = f"{T_METHOD} of each run's fitted rate; differences paired by seed"
    if rows.empty:
        return _missing(
            "k", statement, "needs trained runs with reach measured", boundary_text, method
        )
    rows = rows.assign(key=[_setting_key(r, _reach_setting) for _, r in rows.iterrows()])
    key = _reach_key(rows)
    rows = rows[rows["key"] == key]
    rows = rows[rows["reach_rate"].notna()]
    distances = int(rows["reach_influence"].map(len).min()) - 1
    bound = -DECADE / max(distances, 1)
    task, setting = _describe_setting(key)
    boundary = boundary_text + f". Here D = {distances}, r* = {bound:.3f}"
    rates = {}
    for name, group in rows.groupby("architecture"):
        per_seed = group.groupby("seed")["reach_rate"].mean()
        rates[name] = per_seed
    needed = [n for n in ("transformer", "lstm") if n not in rates]
    parts = []
    for name in architecture_order(rates):
        group = rows[rows["architecture"] == name]
        mean, interval = mean_interval(rates[name].to_numpy())
        distance = group["reach_decay_from_1"].dropna()
        parts.append(
            f"{name} r {_signed(mean, interval, len(rates[name]), 3)}, R² "
            f"{group['reach_r2'].mean():.2f}, far/near {group['reach_far_to_near'].mean():.2g}"
            + (f", below 1e-3 of d=1 from d={distance.median():.0f}" if len(distance) else "")
        )
    evidence = f"{task} ({setting}), D={distances}: " + "; ".join(parts)
    if needed:
        return Claim(
            "k",
            statement,
            UNKNOWN,
            evidence,
            f"needs {' and '.join(needed)} with reach",
            boundary,
            method,
        )
    verdicts, details = [], []
    _, attention = mean_interval(rates["transformer"].to_numpy())
    _, lstm = mean_interval(rates["lstm"].to_numpy())
    for name, interval, holds in (
        ("transformer", attention, lambda i: i.low > bound),
        ("lstm", lstm, lambda i: i.high < bound),
    ):
        if interval is None:
            verdicts.append(INCONCLUSIVE)
            details.append(f"{name}: 1 seed, run ≥ 3")
        elif holds(interval):
            verdicts.append(HOLDS)
        elif interval.low <= bound <= interval.high:
            verdicts.append(INCONCLUSIVE)
            details.append(f"{name}: interval crosses r*, more seeds or longer reach would decide")
        else:
            verdicts.append(FAILS)
    between = []
    for name in [n for n in BETWEEN if n in rates]:
        above = _paired(rates[name], rates["lstm"])
        below = _paired(rates["transformer"], rates[name])
        part = all_of([_above_zero(above), _above_zero(below)])
        if part == INCONCLUSIVE:
            details.append(f"{name}: a paired interval crosses 0, more seeds would decide")
        verdicts.append(part)
        between.append(
            f"{name} − lstm {_signed(*above, 3)}, transformer − {name} {_signed(*below, 3)}"
        )
    if between:
        evidence += " | between: " + "; ".join(between)
    verdict = all_of(verdicts)
    detail = "; ".join(details) if verdict == INCONCLUSIVE else ""
    return Claim("k", statement, verdict, evidence, detail, boundary, method)


def _paired(a: pd.Series, b: pd.Series) -> tuple[float, Interval | None, int]:
    seeds = a.index.intersection(b.index)
    mean, interval = (
        mean_interval((a[seeds] - b[seeds]).to_numpy()) if len(seeds) else (math.nan, None)
    )
    return mean, interval, len(seeds)


def _above_zero(paired: tuple[float, Interval | None, int]) -> str:
    _, interval, _ = paired
    if interval is None:
        return INCONCLUSIVE
    if interval.low > 0:
        return HOLDS
    return FAILS if interval.high < 0 else INCONCLUSIVE


def _describe_setting(key: str) -> tuple[str, str]:
    _, config = json.loads(key)
    task_config = ", ".join(f"{k}={v}" for k, v in sorted(config.get("task_config", {}).items()))
    length = config.get("train", {}).get("seq_len")
    return config.get("task", "?"), ", ".join(p for p in (task_config, f"L={length}") if p)


# --------------------------------------------------------------------------- (l) distance


def _distance_of(config: dict) -> float | None:
    value = config.get("task_config", {}).get("distance")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _without_distance(config: dict) -> None:
    """Runs at different distances may train at lengths laid out to fit them."""
    config.get("task_config", {}).pop("distance", None)
    config.get("train", {}).pop("seq_len", None)
    config.get("eval", {}).pop("seq_lens", None)
    config.get("model", {}).get("arch", {}).pop("l_max", None)  # laid out over the length


def per_doubling(distances: np.ndarray, accuracy: np.ndarray) -> float:
    """Least-squares slope of accuracy on log2 distance: the change per doubling."""
    x = np.log2(distances)
    xc = x - x.mean()
    return float(xc @ (accuracy - accuracy.mean()) / (xc @ xc))


def _distance_slopes(runs: pd.DataFrame) -> list[dict]:
    rows = runs.assign(distance=[_distance_of(c) for c in runs["config"]])
    rows = rows[rows["distance"].notna()]
    out = []
    if rows.empty:
        return out
    rows = rows.assign(key=[_setting_key(r, _without_distance) for _, r in rows.iterrows()])
    for (architecture, task, _), group in rows.groupby(["architecture", "task", "key"], sort=False):
        by_distance = group.groupby("distance")["accuracy"].mean()
        if len(by_distance) < 2:
            continue
        slopes = []
        for _, seed_rows in group.groupby("seed"):
            points = seed_rows.groupby("distance")["accuracy"].mean()
            if len(points) >= 2:
                slopes.append(per_doubling(points.index.to_numpy(), points.to_numpy()))
        mean, interval = mean_interval(slopes)
        out.append(
            {
                "architecture": architecture,
                "task": task,
                "slope": mean,
                "interval": interval,
                "seeds": len(slopes),
                "by_distance": by_distance,
            }
        )
    return out


def distance_verdict(slope: dict) -> tuple[str, str]:
    """One block's part of claim (l): its verdict and, when inconclusive, what would decide."""
    interval, name, accuracy = slope["interval"], slope["architecture"], slope["by_distance"]
    if interval is None:
        return INCONCLUSIVE, f"{name}: 1 seed, run ≥ 3"
    margin = DISTANCE_MARGIN
    if name in ATTENTION:  # stays: no fall of the margin per doubling
        if interval.low >= -margin:
            return HOLDS, ""
        if interval.high < -margin:
            return FAILS, ""
        return INCONCLUSIVE, f"{name}: interval crosses −{margin}, more seeds would decide"
    if interval.high < -margin:
        return HOLDS, ""
    if accuracy.min() >= SOLVED:
        return INCONCLUSIVE, f"{name}: solved at every distance, longer distances would decide"
    if accuracy.iloc[0] < NOT_LEARNED:
        return (
            INCONCLUSIVE,
            f"{name}: not learned at the shortest distance, a shorter one would decide",
        )
    if interval.low >= -margin:
        return FAILS, ""
    return INCONCLUSIVE, f"{name}: interval crosses −{margin}, more seeds would decide"


def _claim_distance(runs: pd.DataFrame) -> Claim | None:
    statement = "The LSTM's accuracy falls with the distance bridged; attention's stays where it is"
    boundary = (
        "the change of token accuracy per doubling of the distance (the least-squares slope "
        "on log2 distance, per seed, over runs trained and tested at each distance): the LSTM "
        f"holds when the interval lies below −{DISTANCE_MARGIN} and fails when it lies above; "
        f"attention holds when its interval lies above −{DISTANCE_MARGIN} and fails when "
        "below. An "
        f"LSTM that solves every distance (≥ {SOLVED}) or learns not even the shortest "
        f"(< {NOT_LEARNED}) cannot show a fall: inconclusive. Bahdanau et al. 2015, Fig. 2: "
        "an encoder's fixed-length vector degrades with sentence length; attention does not"
    )
    method = f"{T_METHOD} of each seed's slope"
    has_distance = any(_distance_of(c) is not None for c in runs["config"])
    if not has_distance:
        return None
    slopes = _distance_slopes(runs)
    if not slopes:
        return _missing("l", statement, "needs runs at ≥ 2 distances", boundary, method)
    verdicts, details, parts = [], [], []
    seen = set()
    rank = {n: i for i, n in enumerate(architecture_order({s["architecture"] for s in slopes}))}
    for slope in sorted(slopes, key=lambda s: (s["task"], rank[s["architecture"]])):
        name = slope["architecture"]
        accuracy = ", ".join(f"{d:g}: {a:.2f}" for d, a in slope["by_distance"].items())
        text = f"{name} ({slope['task']}) {_signed(slope['slope'], slope['interval'], slope['seeds'])} per doubling [{accuracy}]"
        if name in ("lstm", *ATTENTION):
            seen.add(name)
            verdict, why = distance_verdict(slope)
            verdicts.append(verdict)
            details += [why] if why else []
            text += f" → {verdict}"
        parts.append(text)
    evidence = "; ".join(parts)
    lacking = [n for n in ("transformer", "lstm") if n not in seen]
    if lacking:
        return Claim(
            "l",
            statement,
            UNKNOWN,
            evidence,
            f"needs {' and '.join(lacking)} at ≥ 2 distances",
            boundary,
            method,
        )
    verdict = all_of(verdicts)
    detail = "; ".join(details) if verdict == INCONCLUSIVE else ""
    return Claim("l", statement, verdict, evidence, detail, boundary, method)


# --------------------------------------------------------------------------- for figures


def order_frame(results: pd.DataFrame) -> pd.DataFrame:
    """One row per run of a task with an order option: architecture, task, order (its
    words, easy order first), easy (bool), seed, accuracy at the training length."""
    runs = _runs(results)
    rows = []
    for run in runs[runs["task"].isin(_order_tasks(runs))].itertuples():
        _, easy, _ = ORDER_OPTIONS[run.task]
        is_easy = _order_value(run.task, run.config) == easy
        rows.append(
            {
                "architecture": run.architecture,
                "task": run.task,
                "order": ORDER_WORDS[run.task][0 if is_easy else 1],
                "easy": is_easy,
                "seed": run.seed,
                "accuracy": run.accuracy,
            }
        )
    return pd.DataFrame(rows, columns=["architecture", "task", "order", "easy", "seed", "accuracy"])


def distance_frame(results: pd.DataFrame) -> pd.DataFrame:
    """One row per run with a ``distance`` task setting: architecture, task, distance,
    seed, accuracy at the training length, train_seq_len, variant."""
    runs = _runs(results)
    columns = ["architecture", "task", "distance", "seed", "accuracy", "train_seq_len", "variant"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    runs = runs.assign(distance=[_distance_of(c) for c in runs["config"]])
    return runs[runs["distance"].notna()].reindex(columns=columns).reset_index(drop=True)


def reach_frame(results: pd.DataFrame) -> pd.DataFrame:
    """Long form of the reach the runs measured, in the setting claim (k) reads: one row per
    (run, model, distance) with architecture, seed, model ("trained" or "at init"),
    distance, relative influence, the setting's words, and the decay threshold's value."""
    columns = ["architecture", "seed", "model", "distance", "influence", "setting"]
    runs = _runs(results)
    rows = _reach_runs(results, runs) if not runs.empty else runs
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows = rows.assign(key=[_setting_key(r, _reach_setting) for _, r in rows.iterrows()])
    key = _reach_key(rows)
    task, setting = _describe_setting(key)
    out = []
    for run in rows[rows["key"] == key].itertuples():
        for model, column in (("trained", "reach_influence"), ("at init", "reach_init_influence")):
            values = getattr(run, column, None)
            if not isinstance(values, list | np.ndarray):
                continue
            out += [
                {
                    "architecture": run.architecture,
                    "seed": run.seed,
                    "model": model,
                    "distance": d,
                    "influence": float(v),
                    "setting": f"{task} ({setting})",
                }
                for d, v in enumerate(values)
            ]
    return pd.DataFrame(out, columns=columns)


# --------------------------------------------------------------------------- all three


def behaviour_claims(results: pd.DataFrame) -> list[Claim]:
    """Claims (j), (k), (l), each only where the results hold its kind of data."""
    runs = _runs(results)
    if runs.empty:
        return []
    claims = [_claim_order(runs), _claim_reach(results, runs), _claim_distance(runs)]
    return [claim for claim in claims if claim is not None]
