"""RWKV-6 side by side with a transcription of RWKV-LM's x060 equations.

fla's ``RWKV6Attention`` layer is not in the ``fla-core`` package installed here (and its
kernels need a GPU), so the reference is written out below from BlinkDL/RWKV-LM,
``RWKV-v5/rwkv_v6_demo.py`` (``RWKV_Tmix_x060.jit_func`` / ``jit_func_2``,
``RWKV_CMix_x060.forward``, ``Block.forward``) and the recurrence its CUDA kernel
computes (``cuda/wkv6_cuda.cu``: y_t = Σ_j r_j (u_j k_j v + s_j), s_j ← s_j·w_j + k_j v,
with w = exp(−exp(w_raw))). It works on plain tensors in float64, one token at a time,
and shares no code with ``architectures/rwkv.py``; the block's parameters are loaded in by
their RWKV-LM names (``att.*`` = ``mixer.*``, ``ffn.*`` = ``mlp.*``).
"""

import pytest
import torch
import torch.nn.functional as F

from architectures.contract import randomize
from architectures.rwkv import RWKV6Block


def time_shift(x):  # nn.ZeroPad2d((0, 0, 1, -1)): x_{t-1}, zero before the first token
    return F.pad(x, (0, 0, 1, -1))


def tmix_x060(p, x, n_head):
    """RWKV_Tmix_x060.forward, with the CUDA kernel replaced by its recurrence."""
    B, T, C = x.size()
    xx = time_shift(x) - x
    xxx = x + xx * p["time_maa_x"]
    xxx = torch.tanh(xxx @ p["time_maa_w1"]).view(B * T, 5, -1).transpose(0, 1)
    xxx = torch.bmm(xxx, p["time_maa_w2"]).view(5, B, T, -1)
    mw, mk, mv, mr, mg = xxx.unbind(dim=0)
    xw = x + xx * (p["time_maa_w"] + mw)
    xk = x + xx * (p["time_maa_k"] + mk)
    xv = x + xx * (p["time_maa_v"] + mv)
    xr = x + xx * (p["time_maa_r"] + mr)
    xg = x + xx * (p["time_maa_g"] + mg)
    r = xr @ p["receptance.weight"].T
    k = xk @ p["key.weight"].T
    v = xv @ p["value.weight"].T
    g = F.silu(xg @ p["gate.weight"].T)
    ww = torch.tanh(xw @ p["time_decay_w1"]) @ p["time_decay_w2"]
    w = p["time_decay"] + ww
    y = wkv6_kernel_recurrence(r, k, v, w, p["time_faaaa"], n_head)
    y = F.group_norm(y.view(B * T, C), n_head, p["ln_x.weight"], p["ln_x.bias"], eps=64e-5)
    return (y.view(B, T, C) * g) @ p["output.weight"].T


def wkv6_kernel_recurrence(r, k, v, w, u, n_head):
    B, T, C = r.shape
    N = C // n_head
    r, k, v, w = (t.view(B, T, n_head, N) for t in (r, k, v, w))
    w = torch.exp(-torch.exp(w))
    u = u.view(n_head, N)
    state = torch.zeros(B, n_head, N, N, dtype=r.dtype)  # state[b, h, j (key), i (value)]
    y = torch.zeros(B, T, n_head, N, dtype=r.dtype)
    for t in range(T):
        x = k[:, t, :, :, None] * v[:, t, :, None, :]
        y[:, t] = (r[:, t, :, :, None] * (u[None, :, :, None] * x + state)).sum(2)
        state = state * w[:, t, :, :, None] + x
    return y.view(B, T, C)


def cmix_x060(p, x):
    xx = time_shift(x) - x
    xk = x + xx * p["time_maa_k"]
    xr = x + xx * p["time_maa_r"]
    k = torch.relu(xk @ p["key.weight"].T) ** 2
    kv = k @ p["value.weight"].T
    return torch.sigmoid(xr @ p["receptance.weight"].T) * kv


def layer_norm(p, prefix, x):
    return F.layer_norm(x, x.shape[-1:], p[f"{prefix}.weight"], p[f"{prefix}.bias"])


def block_x060(p, x, layer_id, n_head):
    """Block.forward of rwkv_v6_demo.py."""
    if layer_id == 0:
        x = layer_norm(p, "ln0", x)
    att = {k.removeprefix("att."): v for k, v in p.items() if k.startswith("att.")}
    ffn = {k.removeprefix("ffn."): v for k, v in p.items() if k.startswith("ffn.")}
    x = x + tmix_x060(att, layer_norm(p, "ln1", x), n_head)
    return x + cmix_x060(ffn, layer_norm(p, "ln2", x))


def rwkv_lm_params(block: RWKV6Block) -> dict[str, torch.Tensor]:
    """The block's parameters under RWKV-LM's names, float64, μ's as (1, 1, D)."""
    renamed = {}
    for name, p in block.state_dict().items():
        name = name.replace("mixer.", "att.").replace("mlp.", "ffn.")
        p = p.double()
        if (".time_maa_" in name and p.dim() == 1) or name.endswith(".time_decay"):
            p = p.view(1, 1, -1)
        renamed[name] = p
    return renamed


def _random_block(layer_idx: int, n_layers: int, d_head: int = 16) -> RWKV6Block:
    torch.manual_seed(0)
    block = RWKV6Block(
        RWKV6Block.Config(d_model=64, d_head=d_head, layer_idx=layer_idx, n_layers=n_layers)
    )
    return randomize(block)  # every adapter, gate and decay live (fresh ones are zero)


@pytest.mark.parametrize(
    ("layer_idx", "d_head"), [(0, 16), (1, 16), (1, 64)], ids=["layer-0", "layer-1", "one-head"]
)
def test_block_equals_rwkv_lm_x060(layer_idx, d_head) -> None:
    block = _random_block(layer_idx, 2, d_head).double()
    x = torch.randn(2, 45, 64, dtype=torch.float64)
    reference = block_x060(rwkv_lm_params(block), x, layer_idx, 64 // d_head)
    with torch.no_grad():
        ours = block(x)
    torch.testing.assert_close(ours, reference, atol=1e-10, rtol=1e-10)


def test_float32_block_follows_the_float64_reference() -> None:
    block = _random_block(1, 2)
    x = torch.randn(2, 100, 64)
    reference = block_x060(rwkv_lm_params(block), x.double(), 1, 4)
    with torch.no_grad():
        ours = block(x)
    err = (ours.double() - reference).abs().max() / reference.abs().max()
    assert err < 1e-5


def test_time_mix_and_channel_mix_each_equal_rwkv_lm() -> None:
    block = _random_block(1, 2).double()
    p = rwkv_lm_params(block)
    att = {k.removeprefix("att."): v for k, v in p.items() if k.startswith("att.")}
    ffn = {k.removeprefix("ffn."): v for k, v in p.items() if k.startswith("ffn.")}
    x = torch.randn(3, 20, 64, dtype=torch.float64)
    with torch.no_grad():
        ours_att = block.mixer(x, "torch")
        ours_ffn = block.mlp(x, F.pad(x, (0, 0, 1, -1)))
    torch.testing.assert_close(ours_att, tmix_x060(att, x, 4), atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(ours_ffn, cmix_x060(ffn, x), atol=1e-10, rtol=1e-10)
    assert ours_att.abs().max() > 0.1 and ours_ffn.abs().max() > 0.1  # not vacuous


def test_step_equals_rwkv_lm_token_by_token() -> None:
    block = _random_block(0, 1).double()
    x = torch.randn(2, 12, 64, dtype=torch.float64)
    reference = block_x060(rwkv_lm_params(block), x, 0, 4)
    state, outputs = block.init_state(2), []
    with torch.no_grad():
        for t in range(12):
            y, state = block.step(x[:, t], state)
            outputs.append(y)
    torch.testing.assert_close(torch.stack(outputs, 1), reference, atol=1e-10, rtol=1e-10)
