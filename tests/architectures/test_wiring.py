"""Wiring tests: the blocks' ``cuda`` branches on a CPU, against stand-ins for the kernels.

These test the arguments, not the kernels. Each stand-in below has its kernel's exact
signature, checks every argument as the kernel's entry point reads it (shape and layout,
dtype, contiguity, what the argument means: a log decay, a scale) and then computes with
the torch reference, so a block's ``cuda`` branch run on CPU tensors must reproduce its
``torch`` branch. A layout mistake, a missing cast or a swapped argument fails here,
without a GPU. They say nothing about whether the real kernels agree: that is
``seqbench doctor --device cuda`` and the ``gpu``-marked tests, which also check these
stand-ins against the kernels they stand for.

The stand-ins are installed where the code looks the kernels up (the kernel's module), so
they serve ``architectures._fused.load_kernel`` and any look-up a block still makes itself.
"""

from __future__ import annotations

import math
import sys

import pytest
import torch
import torch.nn.functional as F
from _kernel_stand_ins import STAND_INS, WiringError, chunk_rwkv6, replace_kernel
from einops import rearrange

import architectures
from architectures import _fused
from architectures.base import BackendError
from architectures.contract import randomize
from architectures.selective_scan import selective_scan
from architectures.wkv import wkv6

# --- a block's cuda branch against its torch branch -----------------------------------------

CONFIGS = {  # small, with every length distinct: L=37, d_state=16, d_inner=64; heads=4, d_head=16
    "mamba": {"d_model": 32},
    "rwkv": {"d_model": 64, "d_head": 16},
}
LENGTH = 37
PRECISIONS = {  # name: (weights dtype, autocast dtype or None, tolerance on ‖a − b‖ / ‖b‖)
    "fp32": (torch.float32, None, 1e-5),
    "bf16-autocast": (torch.float32, torch.bfloat16, 3e-2),  # what train.dtype="bfloat16" runs
    "bf16-weights": (torch.bfloat16, None, 3e-2),
}


def force_cuda_branch(monkeypatch, block) -> None:
    """Make ``block`` take its ``cuda`` branch on CPU tensors (select_backend refuses that)."""

    def select(x):
        block.backend_used = "cuda"
        return "cuda"

    monkeypatch.setattr(block, "select_backend", select)


def twins(name: str, weights: torch.dtype):
    """A randomised block with backend="cuda" and its copy with backend="torch"."""
    torch.manual_seed(0)
    fused = randomize(architectures.create(name, backend="cuda", **CONFIGS[name]))
    reference = architectures.create(name, backend="torch", **CONFIGS[name])
    reference.load_state_dict(fused.state_dict())
    return fused.to(weights), reference.to(weights)


def forward_backward(block, x, dy, autocast):
    x = x.clone().requires_grad_()
    with torch.autocast("cpu", dtype=autocast or torch.bfloat16, enabled=autocast is not None):
        y = block(x)
    (y.float() * dy).sum().backward()
    grads = {"x": x.grad, **{n: p.grad for n, p in block.named_parameters()}}
    return y, grads


def rel_err(a, b) -> float:
    a, b = a.detach().double(), b.detach().double()
    error = float((a - b).norm() / b.norm().clamp_min(1e-30))
    return error if math.isfinite(error) else math.inf  # NaN must not hide behind max()


def check_cuda_branch(monkeypatch, fused, reference, precision: str) -> None:
    """Run ``fused`` through its cuda branch (first, so a wiring error surfaces before the
    reference runs) and ``reference`` through torch; outputs and every gradient agree."""
    weights, autocast, tol = PRECISIONS[precision]
    force_cuda_branch(monkeypatch, fused)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, LENGTH, fused.config.d_model, generator=g).to(weights)
    dy = torch.randn(2, LENGTH, fused.config.d_model, generator=g)
    y_fused, grads_fused = forward_backward(fused, x, dy, autocast)
    y_ref, grads_ref = forward_backward(reference, x, dy, autocast)
    assert fused.backend_used == "cuda" and reference.backend_used == "torch"
    assert y_fused.dtype == y_ref.dtype
    errors = {"y": rel_err(y_fused, y_ref)}
    errors.update({n: rel_err(grads_fused[n], grads_ref[n]) for n in grads_ref})
    worst = max(errors, key=errors.get)
    assert errors[worst] <= tol, f"{worst}: relative error {errors[worst]:.2e} > {tol:g}"


@pytest.mark.parametrize("precision", list(PRECISIONS))
@pytest.mark.parametrize("name", list(CONFIGS))
def test_cuda_branch_reproduces_the_torch_branch(monkeypatch, stand_ins, name, precision):
    fused, reference = twins(name, PRECISIONS[precision][0])
    check_cuda_branch(monkeypatch, fused, reference, precision)
    expected = {"mamba": {"selective_scan_fn", "causal_conv1d_fn"}, "rwkv": {"chunk_rwkv6"}}
    assert set(stand_ins) == expected[name]  # the kernels were called, not the torch code


def test_mamba_cuda_branch_without_causal_conv1d_scans_fused_and_convolves_in_torch(
    monkeypatch, stand_ins
):
    monkeypatch.setitem(sys.modules, "causal_conv1d", None)  # "not installed"
    _fused.import_error.cache_clear()
    fused, reference = twins("mamba", torch.float32)
    check_cuda_branch(monkeypatch, fused, reference, "fp32")
    assert set(stand_ins) == {"selective_scan_fn"}


# --- a deliberately mis-laid argument fails ---------------------------------------------------


def test_B_laid_out_as_batch_length_state_fails(monkeypatch, stand_ins):
    import architectures.mamba as mamba

    def forgetful(t, pattern, **axes):  # the block "forgets" to move the state axis forward
        return t if pattern == "b l n -> b n l" else rearrange(t, pattern, **axes)

    monkeypatch.setattr(mamba, "rearrange", forgetful)
    fused, reference = twins("mamba", torch.float32)
    with pytest.raises(WiringError, match=r"selective_scan_fn: B must be \(2, 16, 37\)"):
        check_cuda_branch(monkeypatch, fused, reference, "fp32")


def test_a_non_contiguous_argument_fails(monkeypatch, stand_ins):
    fused, reference = twins("mamba", torch.float32)
    # Every .contiguous() on the way to the kernels becomes a no-op: views arrive as they are.
    monkeypatch.setattr(torch.Tensor, "contiguous", lambda self, *args, **kwargs: self)
    with pytest.raises(WiringError, match="must be contiguous"):
        check_cuda_branch(monkeypatch, fused, reference, "fp32")


def test_B_and_C_swapped_pass_every_shape_check_and_fail_on_the_numbers(monkeypatch, stand_ins):
    fused, reference = twins("mamba", torch.float32)
    honest = fused.mixer._delta_b_c

    def swapped(x):
        delta, B, C = honest(x)
        return delta, C, B

    monkeypatch.setattr(fused.mixer, "_delta_b_c", swapped)
    with pytest.raises(AssertionError, match="relative error") as failure:
        check_cuda_branch(monkeypatch, fused, reference, "fp32")
    assert not isinstance(failure.value, WiringError)


def test_heads_before_time_fails(monkeypatch, stand_ins):
    import architectures.rwkv as rwkv

    def heads_first(t, pattern, **axes):  # (B, H, T, K): fla's long-removed head_first layout
        if pattern == "b l (h k) -> b l h k":
            pattern = "b l (h k) -> b h l k"
        return rearrange(t, pattern, **axes)

    monkeypatch.setattr(rwkv, "rearrange", heads_first)
    fused, reference = twins("rwkv", torch.float32)
    with pytest.raises(WiringError, match=r"chunk_rwkv6: r must be \(batch, time, heads"):
        check_cuda_branch(monkeypatch, fused, reference, "fp32")


def test_a_decay_passed_instead_of_its_log_fails(monkeypatch, stand_ins):
    fused, reference = twins("rwkv", torch.float32)
    honest = fused.mixer.project

    def decay_not_log(x, x_prev):
        r, k, v, w, g = honest(x, x_prev)
        return r, k, v, w.exp(), g

    monkeypatch.setattr(fused.mixer, "project", decay_not_log)
    with pytest.raises(WiringError, match="w must be the log decay"):
        check_cuda_branch(monkeypatch, fused, reference, "fp32")


def test_an_omitted_scale_would_show_as_fla_scales_by_default():
    """The stand-in scales as fla does when ``scale`` is left out (K^-½), so a call that
    forgot RWKV's scale of 1 fails on the numbers; fla's own reference op agrees."""
    naive = pytest.importorskip("fla.ops.rwkv6.recurrent_naive").naive_recurrent_rwkv6
    g = torch.Generator().manual_seed(0)
    r, k, v = (torch.randn(2, 9, 3, 8, generator=g) for _ in range(3))
    w = -torch.rand(2, 9, 3, 8, generator=g).exp()
    u = torch.randn(3, 8, generator=g)
    default, _ = chunk_rwkv6(r, k, v, w, u)
    heads_first = [t.transpose(1, 2) for t in (r, k, v, w)]
    fla_default, _ = naive(*heads_first, u)  # scale=None: fla's default
    torch.testing.assert_close(default, fla_default.transpose(1, 2), atol=1e-5, rtol=1e-4)
    assert rel_err(default, wkv6(r, k, v, w, u, scale=1.0)[0]) > 0.1


# --- the seam itself ---------------------------------------------------------------------------


def test_mamba_seam_hands_the_kernel_dense_tensors_in_its_dtypes(stand_ins):
    g = torch.Generator().manual_seed(0)
    u = torch.randn(2, 37, 6, generator=g).transpose(1, 2).bfloat16()  # a (B, d, L) view
    delta = torch.randn(2, 37, 6, generator=g).transpose(1, 2)  # fp32 beside bf16 u
    A = -torch.rand(6, 4, generator=g, dtype=torch.float64)
    B, C = (torch.randn(2, 37, 4, generator=g).transpose(1, 2) for _ in range(2))
    D, bias = torch.randn(6).bfloat16(), torch.randn(6).bfloat16()
    z = torch.randn(2, 37, 6, generator=g).transpose(1, 2)
    y = _fused.mamba_selective_scan(u, delta, A, B, C, D, z, bias, delta_softplus=True)
    assert stand_ins == ["selective_scan_fn"] and y.dtype == torch.bfloat16
    as_kernel = (delta.bfloat16(), A.float(), B.bfloat16(), C.bfloat16(), D.float(), z.bfloat16())
    expected = selective_scan(u, *as_kernel, bias.float(), True)
    torch.testing.assert_close(y, expected)


@pytest.mark.parametrize("width", [2, 4, 5], ids=lambda w: f"d_conv={w}")
def test_mamba_conv_uses_the_kernel_for_widths_2_to_4_and_the_module_beyond(stand_ins, width):
    conv = torch.nn.Conv1d(6, 6, width, groups=6, padding=width - 1)
    x = torch.randn(2, 37, 6).transpose(1, 2)
    y = _fused.mamba_causal_conv(x, conv)
    assert stand_ins == (["causal_conv1d_fn"] if width <= 4 else [])
    torch.testing.assert_close(y, F.silu(conv(x)[..., :37]), atol=1e-6, rtol=1e-5)


def test_rwkv_seam_passes_scale_one_a_dense_fp32_state_and_matches_wkv6(stand_ins):
    g = torch.Generator().manual_seed(0)
    r, k, v = (torch.randn(2, 4, 37, 8, generator=g).transpose(1, 2) for _ in range(3))
    w = -torch.rand(2, 37, 4, 8, generator=g).exp()
    u = torch.randn(4, 8, generator=g)
    state = torch.randn(2, 4, 8, 8, generator=g).bfloat16()
    o, final = _fused.rwkv6_chunk(r, k, v, w, u, initial_state=state, output_final_state=True)
    expected, expected_final = wkv6(r, k, v, w, u, 1.0, state.float(), output_final_state=True)
    assert stand_ins == ["chunk_rwkv6"]
    torch.testing.assert_close(o, expected)
    torch.testing.assert_close(final, expected_final)


@pytest.mark.parametrize("seam", ["mamba", "rwkv"])
def test_seams_refuse_float64_in_one_line(stand_ins, seam):
    u, B = torch.randn(1, 2, 8, dtype=torch.float64), torch.randn(1, 3, 8, dtype=torch.float64)
    r = torch.randn(1, 8, 2, 4, dtype=torch.float64)
    with pytest.raises(BackendError, match=r"bfloat16 inputs, got torch\.float64; use backend"):
        if seam == "mamba":
            _fused.mamba_selective_scan(u, u, -torch.ones(2, 3), B, B)
        else:
            _fused.rwkv6_chunk(r, r, r, -r.abs(), torch.zeros(2, 4))
    assert stand_ins == []


def test_import_error_names_why_a_kernel_does_not_import(monkeypatch, tmp_path):
    (tmp_path / "seqbench_broken_kernel.py").write_text(
        "raise OSError('libcudart.so.12: not found')"
    )
    monkeypatch.syspath_prepend(tmp_path)
    for name, module in (
        ("missing", "seqbench_no_such_module"),
        ("broken", "seqbench_broken_kernel"),
    ):
        monkeypatch.setitem(_fused.KERNELS, name, _fused.Kernel(module, "f", "-", "-", True))
    _fused.import_error.cache_clear()
    try:
        assert _fused.import_error("missing").startswith("ModuleNotFoundError: No module named")
        assert _fused.import_error("broken") == "OSError: libcudart.so.12: not found"
        assert not _fused.importable("broken")
    finally:
        _fused.import_error.cache_clear()


# --- on a GPU: the stand-ins against the kernels they stand for -------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(STAND_INS))
def test_stand_ins_accept_what_the_kernels_get_and_agree_with_them(monkeypatch, name):
    """The arguments a block's cuda branch hands each real kernel pass its stand-in's checks,
    and the stand-in computes what the kernel computes: the CPU wiring tests hold the
    blocks to what the kernels really take."""
    if not _fused.importable(name):
        pytest.skip(f"{name}: {_fused.import_error(name)}")
    kernel, real = _fused.KERNELS[name], _fused.load_kernel(name)
    errors = []

    def both(*args, **kwargs):
        out = real(*args, **kwargs)
        mine = STAND_INS[name](*args, **kwargs)
        first = out[0] if isinstance(out, tuple) else out
        mine = mine[0] if isinstance(mine, tuple) else mine
        errors.append(rel_err(mine.detach(), first.detach()))
        return out

    replace_kernel(monkeypatch, kernel.module, kernel.attribute, both)
    torch.manual_seed(0)
    block = randomize(architectures.create(kernel.block, backend="cuda", d_model=256)).cuda()
    with torch.no_grad():
        block(torch.randn(2, 300, 256, device="cuda"))
    # fp32 throughout; fla's Triton dots may run in TF32 (about 1e-3 relative).
    assert errors and max(errors) < 5e-3, errors
