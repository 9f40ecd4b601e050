"""Run a sweep's pending runs as Ray tasks; the driver writes every result.

Each pending run becomes one Ray task that asks for the resources it needs (one GPU when
the run's device is CUDA unless ``gpus_per_run`` says otherwise, and ``cpus_per_run``
CPUs) and calls ``bench.run.executor.execute_run`` on the worker, as a local run does.
Records come back to the driver in completion order and are written there with
``bench.run.executor.save``, so the results folder needs no shared file system and looks
exactly like a local run's.

Failures: a worker or node that dies is retried once by Ray (``max_retries=1``); a run
that still fails becomes an ``error`` record naming the cause (laid out by
``bench.store.run_record``, as every record is), and the sweep goes on.
Ctrl-C cancels what is still queued or running, keeps every run already finished, shuts
down a cluster this module started, and re-raises so the runner prints the resume hint.

Ray is an optional extra (``seqbench[ray]``) and is imported only inside functions.
Workers import ``bench``, ``architectures`` and ``tasks``: on a local cluster they share
the driver's environment; on a remote cluster seqbench must be installed on every node.
"""

from __future__ import annotations

import logging
import socket
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.run.executor import RecordCallback, SweepStepCallback, execute_run, save
from bench.store.records import run_record
from bench.sweep.config import RunConfig
from seqbench import UserError

INSTALL_HINT = "--ray needs Ray: pip install 'seqbench[ray]'"
CONNECT_TIMEOUT_S = 5.0  # Ray itself retries an unreachable address for minutes
MAX_RETRIES = 1  # system failures (worker crash, node lost) are retried once

Worker = Callable[[dict[str, Any]], dict[str, Any]]


class RayError(UserError):
    """Ray is missing, the cluster cannot be reached, or it cannot hold a run."""


def check_ray_installed() -> Any:
    """The ``ray`` module; ``RayError`` with the install command when it is missing."""
    try:
        import ray
    except ImportError:
        raise RayError(INSTALL_HINT) from None
    return ray


def execute_on_worker(config: dict[str, Any]) -> dict[str, Any]:
    """The body of every Ray task: rebuild the run and execute it, as a local run would
    (with the fingerprint of the worker's code)."""
    return execute_run(RunConfig.from_dict(config))


# --- connecting ---------------------------------------------------------------------------


def _probe(address: str) -> None:
    """Fail fast on a HOST:PORT nothing listens on (``ray.init`` would wait for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RayError(f"--address {address!r} must be auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise RayError(
            f"cannot reach a Ray cluster at {address} ({error.strerror or error}); "
            "start one with `ray start --head` or check the address"
        ) from None


def connect(address: str | None) -> bool:
    """Join the cluster at ``address``, or start a local one; True when this call started it.

    A Ray session already open in this process (a test fixture, a notebook) is reused.
    """
    ray = check_ray_installed()
    if ray.is_initialized():
        return False
    if address not in (None, "auto"):
        _probe(address)
    try:
        ray.init(
            # "local" always starts a fresh instance, never one another user left running
            address=address or "local",
            include_dashboard=False if address is None else None,
            log_to_driver=False,  # keep the progress bar clean; failures come back as records
            logging_level=logging.ERROR,  # not the token-auth notice on every local start
        )
    except (ConnectionError, ValueError, RuntimeError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise RayError(
            f"cannot connect to Ray at {address or 'a new local cluster'}: {message}"
        ) from None
    return address is None


def _check_feasible(ray: Any, cpus: float, gpus: float) -> None:
    """A run no node can hold would wait forever; say so instead."""
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    if any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in nodes):
        return
    largest = max(nodes, key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)), default={})
    raise RayError(
        f"each run needs {cpus:g} CPU and {gpus:g} GPU but the largest Ray node has "
        f"{largest.get('CPU', 0):g} CPU and {largest.get('GPU', 0):g} GPU; "
        "lower --cpus-per-run / --gpus-per-run or add nodes"
    )


# --- results ------------------------------------------------------------------------------


def _cause(error: BaseException) -> BaseException:
    """The worker's own exception inside a ``RayTaskError``, else the error itself."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


def error_record(
    run: RunConfig, error: BaseException, code: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The record of a run Ray could not finish, laid out as a local failure's
    (``bench.store.run_record``); ``code``: the fingerprint to keep in it."""
    from bench.run.measure import environment

    cause = _cause(error)
    lines = str(cause).strip().splitlines()
    message = f"{type(cause).__name__}: {lines[0] if lines else ''}"[:500]
    if cause is not error:
        message = f"{type(error).__name__} ← {message}"[:500]
    env = environment("cpu")  # the driver's: the worker that ran it is gone
    env.update(device=run.device, device_name="", hostname="", torch_threads="")
    return run_record(
        run,
        env,
        status="error",
        error=f"on Ray after {MAX_RETRIES} retry: {message}",
        traceback="".join(traceback.format_exception(error, limit=8))[-4000:],
        code=code,
    )


def _collect(ray: Any, ref: Any, run: RunConfig) -> tuple[dict[str, Any], bool]:
    """(record, whether the worker produced it) for a finished task. A run the worker did
    not finish gets the driver's code fingerprint: the worker that ran it is gone."""
    try:
        return ray.get(ref), True
    except Exception as error:  # RayError subclasses: worker crashed, node died, cancelled …
        from bench.run.fingerprint import fingerprint

        return error_record(run, error, code=fingerprint(run)), False


# --- the sweep ----------------------------------------------------------------------------


def run_ray(
    runs: Iterable[RunConfig],
    sweep_name: str,
    out: Path,
    on_record: RecordCallback,
    on_step: SweepStepCallback | None = None,
    *,
    address: str | None = None,
    gpus_per_run: float | None = None,
    cpus_per_run: float = 1.0,
    worker: Worker = execute_on_worker,
    select: Sequence[str] = (),
) -> None:
    """Execute ``runs`` as Ray tasks and save each record as it arrives.

    ``on_step`` is not called: per-step progress stays on the workers. ``worker`` is the
    function each task runs (tests pass one that crashes its process).
    """
    runs = list(runs)
    if not runs:
        return
    ray = check_ray_installed()
    started = connect(address)
    pending: dict[Any, RunConfig] = {}
    try:
        remote = ray.remote(worker)
        checked: set[float] = set()
        for run in runs:
            gpus = gpus_per_run if gpus_per_run is not None else (1 if run.device == "cuda" else 0)
            if gpus not in checked:
                _check_feasible(ray, cpus_per_run, gpus)
                checked.add(gpus)
            ref = remote.options(
                num_cpus=cpus_per_run,
                num_gpus=gpus,
                max_retries=MAX_RETRIES,
                retry_exceptions=False,  # execute() returns the run's own failures
                name=f"seqbench {run.label()}",
            ).remote(run.to_dict())
            pending[ref] = run
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                run = pending.pop(ref)
                record, _ = _collect(ray, ref, run)
                save(out, sweep_name, record, select)
                on_record(run, record)
    except BaseException:
        _stop(ray, out, sweep_name, pending, select)
        raise
    finally:
        if started:
            ray.shutdown()


def _stop(
    ray: Any, out: Path, sweep_name: str, pending: dict[Any, RunConfig], select: Sequence[str]
) -> None:
    """On Ctrl-C: keep what already finished, cancel the rest."""
    if not pending:
        return
    ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
    for ref in ready:
        record, from_worker = _collect(ray, ref, pending.pop(ref))
        if from_worker:  # a run killed along with the interrupt stays pending
            save(out, sweep_name, record, select)
    for ref in pending:
        ray.cancel(ref, force=True)
    deadline = time.monotonic() + 5  # let cancellations land before the cluster goes
    while pending and time.monotonic() < deadline:
        _, rest = ray.wait(list(pending), num_returns=len(pending), timeout=0.2)
        pending = {ref: pending[ref] for ref in rest}
