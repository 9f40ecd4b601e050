"""The models learn what they are known to learn, at the `quick` preset's sizes.

Each run here is the quick preset's own run, with its own step budget, so the result is
deterministic and the same on any CPU. These tests guard
the modelling choices the preset's orderings depend on (embedding scale, initialisation,
optimiser): a change that stops attention from forming its recall circuit fails here,
not silently in a results table.
"""

import torch

import tasks
from bench.run.train import build_model, evaluate, train
from bench.sweep.load import load_sweep


def _quick_run(architecture: str, task: str):
    sweep = load_sweep("quick", [f'grid.architecture=["{architecture}"]', f'grid.task=["{task}"]'])
    (run,) = sweep.runs
    assert run.train.max_time_s is None  # the step budget, not the clock, ends training
    return run


def _train_and_evaluate(architecture: str, task_name: str) -> tuple[dict, float]:
    run = _quick_run(architecture, task_name)
    task = tasks.create(run.task, **run.task_config)
    model = build_model(run, task.vocab_size)
    torch.manual_seed(run.seed)
    stats = train(model, task, run, torch.device("cpu"))
    accuracy = evaluate(model, task, run, torch.device("cpu"), run.train.seq_len)["accuracy"]
    return stats, accuracy


def test_attention_solves_mqar_and_the_lstm_does_not():
    # MQAR at L=64, K=4 pairs, vocab 64 (measured: attention 0.98 after ~250 steps,
    # LSTM 0.29 after 1000). Chance among the 4 values in context is 0.25.
    stats, attention = _train_and_evaluate("transformer", "mqar")
    assert attention >= 0.9, (attention, stats["curve"][-3:])
    assert stats["stop_reason"] == "early_stop"
    _, lstm = _train_and_evaluate("lstm", "mqar")
    assert lstm < 0.5, lstm


def test_attention_copies_and_the_lstm_does_not():
    # Measured at quick's 400-step budget: attention 1.00 after 60 steps, the LSTM 0.43
    # (chance is 1/26): it gets some symbols right, never whole strings (exact match 0).
    _, attention = _train_and_evaluate("transformer", "copy")
    _, lstm = _train_and_evaluate("lstm", "copy")
    assert attention >= 0.95 and lstm < 0.6, (attention, lstm)
