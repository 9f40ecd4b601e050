"""FLOPs per token: counted by torch, analytic where it is blind (bench.run.flops)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import architectures
from architectures import SequenceModel
from bench.run import flops

EXPECTED_KERNELS = {
    "transformer": (),
    "lstm": ("lstm",),
    "rwkv": ("wkv6",),
    "rwkv4": ("wkv4",),
    "monarch": ("fft_conv",),
    "mamba": ("selective_scan",),
}


def _model(arch, d_model=32, n_layers=2, vocab=64, **settings):
    if arch == "rwkv":
        settings.setdefault("d_head", 16)
    torch.manual_seed(0)
    return SequenceModel(arch, vocab, d_model, n_layers, **settings)


def test_every_registered_block_is_listed_here():
    assert set(EXPECTED_KERNELS) == set(architectures.names())


def test_a_matmul_only_model_gives_the_analytic_count_exactly():
    V, d, h, L = 50, 24, 40, 17
    model = nn.Sequential(nn.Embedding(V, d), nn.Linear(d, h, bias=False), nn.Linear(h, V))
    counted = flops.count_model(model, L, V)
    forward = 2 * (d * h + h * V)  # per token: two matrix products, 2 FLOPs per multiply-add
    assert counted.forward == forward
    # backward: weight and input gradients of both layers (the embedding's output needs one)
    assert counted.train == 3 * forward
    assert counted.analytic == () and counted.mlp is None and counted.blocks == 0


def _attention_core(model, seq_len):
    """Forward FLOPs of attention itself (the mixer less its projections), every layer."""
    tokens = torch.zeros(1, seq_len, dtype=torch.long)
    counted = flops.count(lambda: model(tokens).sum(), backward=False)
    by = counted.forward_by_module
    return sum(
        by[f"SequenceModel.blocks.{i}.mixer"]
        - by[f"SequenceModel.blocks.{i}.mixer.in_proj"]
        - by[f"SequenceModel.blocks.{i}.mixer.out_proj"]
        for i in range(len(model.blocks))
    )


def test_attention_forward_flops_quadruple_when_the_length_doubles():
    model = _model("transformer", d_model=32, n_layers=2)
    for L in (32, 64, 128):
        core, doubled = _attention_core(model, L), _attention_core(model, 2 * L)
        assert doubled == 4 * core
        assert core == 2 * 4 * L * L * 32  # QKᵀ and PV over every (query, key), per layer


def test_attention_on_a_cpu_is_counted_where_the_counter_alone_sees_nothing():
    # torch 2.13's counter has no formula for the CPU attention kernel: a naive count of
    # attention is 0, and of a Transformer block it only doubles when L doubles.
    q = torch.randn(2, 4, 64, 8, requires_grad=True)
    with FlopCounterMode(display=False) as naive:
        F.scaled_dot_product_attention(q, q, q, is_causal=True).sum().backward()
    counted = flops.count(lambda: F.scaled_dot_product_attention(q, q, q, is_causal=True).sum())
    forward = 4 * 2 * 4 * 64 * 64 * 8
    assert counted.forward == forward and counted.backward == 2 * forward
    assert naive.get_total_flops() in (0, counted.forward + counted.backward)

    model = _model("transformer")
    per_token = [flops.count_model(model, L, 64).blocks for L in (256, 512)]
    linear = 2 * (2 * 32 * 96 + 2 * 32 * 32 + 3 * 2 * 32 * 88)  # projections + SwiGLU, 2 layers
    assert [p - linear for p in per_token] == [2 * 4 * L * 32 for L in (256, 512)]
    assert per_token[1] * 512 / (per_token[0] * 256) > 2.5  # a naive count gives 2.00


@pytest.mark.parametrize("arch", sorted(EXPECTED_KERNELS))
def test_every_block_is_counted_with_its_kernels_named(arch):
    model = _model(arch)
    counted = flops.count_model(model, 64, 64)
    assert counted.analytic == EXPECTED_KERNELS[arch]
    assert counted.on == "meta"
    assert counted.forward > counted.blocks > 0
    assert 2.9 < counted.train / counted.forward < 3.1  # backward ≈ 2 forward
    columns = counted.columns()
    assert columns["flops_method"].startswith("counted")
    assert set(EXPECTED_KERNELS[arch]) <= set(columns["flops_method"].replace(",", " ").split())


@pytest.mark.parametrize("arch", sorted(EXPECTED_KERNELS))
def test_the_meta_count_equals_the_count_of_the_real_model_on_a_cpu(arch):
    model = _model(arch)
    on_meta = flops._count_on_meta(model, 48, 64)
    on_cpu = flops._count_on_device(model, 48, 64)
    assert on_meta.forward == pytest.approx(on_cpu.forward, rel=1e-9)
    assert on_meta.backward == pytest.approx(on_cpu.backward, rel=1e-9)
    assert all(p.grad is None for p in model.parameters())


def test_the_lstm_count_is_what_the_counter_counts_when_the_lstm_decomposes(monkeypatch):
    model = _model("lstm", d_model=16, n_layers=1)
    analytic = flops._count_on_meta(model, 12, 64)
    monkeypatch.delitem(flops.KERNELS, "lstm")  # on meta nn.LSTM decomposes into matmuls
    decomposed = flops._count_on_meta(model, 12, 64)
    assert analytic.forward == decomposed.forward
    assert analytic.backward == pytest.approx(decomposed.backward, rel=0.02)


def test_a_grouped_convolution_backward_costs_twice_its_forward():
    conv = nn.Conv1d(16, 16, 4, groups=16)
    x = torch.randn(2, 16, 32, requires_grad=True)
    counted = flops.count(lambda: conv(x).sum())
    assert counted.forward == 2 * 2 * 16 * 29 * 4  # batch · channels · outputs · taps
    assert counted.backward == 2 * counted.forward  # torch 2.13 alone: 16 times more


@pytest.mark.parametrize("arch", ["lstm", "rwkv", "rwkv4"])
def test_a_recurrent_block_costs_the_same_per_token_at_every_length(arch):
    model = _model(arch)
    assert len({flops.count_model(model, L, 64).forward for L in (64, 256, 1024)}) == 1


def test_the_selective_scan_is_counted_as_mambas_recurrence():
    model = _model("mamba", d_model=32, n_layers=1)
    counted = flops._count_on_meta(model, 64, 64)
    d_inner, N = 64, 16
    assert counted.analytic_forward == {"selective_scan": 64 * (9 * d_inner * N + 2 * d_inner)}
    assert counted.analytic_backward == {
        "selective_scan": flops.BACKWARD_RATIO * counted.analytic_forward["selective_scan"]
    }


def test_counting_leaves_the_kernels_and_the_model_as_they_were():
    import architectures.mamba as mamba

    original = mamba.selective_scan
    lstm_forward = nn.LSTM.forward
    model = _model("mamba")
    model(torch.zeros(1, 8, dtype=torch.long))
    used = [block.backend_used for block in model.blocks]
    flops.count_model(model, 32, 64)
    assert mamba.selective_scan is original and nn.LSTM.forward is lstm_forward
    assert [block.backend_used for block in model.blocks] == used


def test_every_analytic_target_exists():
    for kernel in flops.KERNELS.values():
        for target in kernel.targets:
            flops._resolve(target)  # raises when a block renamed its kernel


def test_the_channel_mixer_is_counted_apart():
    d = 64
    dense = flops.count_model(_model("transformer", d_model=d), 32, 64).mlp
    hidden = 176  # SwiGLU 8/3·64 rounded up to a multiple of 8
    assert dense == 2 * (2 * d * 2 * hidden + 2 * hidden * d)  # 2 layers: in (2h) and out (h)
    blockdiag = flops.count_model(_model("monarch", d_model=d), 32, 64).mlp
    assert blockdiag < dense
    assert flops.count_model(_model("mamba", d_model=d), 32, 64).mlp is None


@pytest.mark.parametrize("arch", sorted(EXPECTED_KERNELS))
def test_counting_leaves_every_parameter_where_it_was(arch):
    model = _model(arch)
    before = {n: p.clone() for n, p in model.named_parameters(remove_duplicate=False)}
    flops.count_model(model, 16, 64)
    after = dict(model.named_parameters(remove_duplicate=False))
    assert all(
        after[n].device.type == "cpu" and torch.equal(after[n], p) for n, p in before.items()
    )


def test_counting_calls_no_hook_of_the_model():
    model = _model("transformer")
    calls = []
    model.register_forward_pre_hook(lambda module, args: calls.append(args[0].device))
    model.blocks[0].register_forward_hook(lambda *args: calls.append("block"))
    flops.count_model(model, 16, 64)
    assert calls == []
