"""Harness overhead: `bench.run.train.train` against a bare PyTorch loop on the same model.

Both loops sample fresh batches, run forward, loss, backward, clipping, AdamW and the
schedule; the harness adds its progress callback, on-device accuracy bookkeeping and a
log every `log_every` steps. Target: at most 5% slower.
"""

import copy

import pytest
import torch
import torch.nn.functional as F

import tasks
from architectures import SequenceModel
from bench.run.train import train
from bench.sweep.load import build_sweep

STEPS = 60
RAW = {
    "name": "overhead",
    "grid": {"architecture": ["transformer"], "task": ["copy"]},
    "model": {"d_model": 64, "n_layers": 2},
    "train": {
        "seq_len": 64,
        "steps": STEPS,
        "batch_size": 32,
        "early_stop": None,
        "max_time_s": 1e9,
        "warmup": 5,
    },
}


def _setup():
    run = build_sweep(copy.deepcopy(RAW)).runs[0]
    task = tasks.create("copy")
    torch.manual_seed(0)
    model = SequenceModel("transformer", task.vocab_size, 64, 2)
    return run, task, model


def bare_loop():
    _, task, model = _setup()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 5))
    generator = torch.Generator().manual_seed(0)
    for _ in range(STEPS):
        batch = task.sample(32, 64, generator)
        logits = model(batch.inputs)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()


def harness_loop():
    run, task, model = _setup()
    train(model, task, run, torch.device("cpu"), on_step=lambda step, total: None)


@pytest.mark.parametrize(
    "loop", [bare_loop, harness_loop], ids=["bare-pytorch", "seqbench-harness"]
)
def test_training_loop_overhead(benchmark, loop):
    benchmark.group = f"training loop, {STEPS} steps"
    benchmark.pedantic(loop, rounds=5, warmup_rounds=1)
