"""The RWKV-4 WKV operator: a chunked pure-PyTorch form and one recurrent step.

Per channel, with key k_t, value v_t, log decay w < 0 and bonus u (Peng et al. 2023, "RWKV:
Reinventing RNNs for the Transformer Era", the time-mix's WKV; RWKV-LM's parameters are
w = −exp(time_decay) and u = time_first):

    wkv_t = (Σ_{s<t} e^{(t−1−s)w + k_s} v_s + e^{u + k_t} v_t) / (Σ_{s<t} e^{(t−1−s)w + k_s} + e^{u + k_t})

Both sums range over many orders of magnitude (k is unbounded, w may be −1e20), so each is
held as a triple (n, d, r): numerator n·e^r, denominator d·e^r, and r the largest exponent
in it. That is the form of RWKV-LM's CUDA kernel (``RWKV-v4/cuda/wkv_cuda.cu``,
``kernel_forward``: p, q, o) and of its RNN mode (``RWKV-v4neo/src/model_run.py``,
``RWKV_RNN.SA``: aa, bb, pp). Adding two sums rescales both to the larger exponent: nothing
overflows, and the largest term keeps d ≥ 1, so nothing that matters underflows. The
recurrent state after token t is A_t = Σ_{s≤t} e^{(t−s)w + k_s} (v_s, 1) in this form, and
``wkv4_step`` is the kernel's recurrence.

Chunked form (``wkv4``). Inside a chunk the pairs s < t are split by the highest bit in
which their positions differ, as in ``wkv.py``: at level b = 1, 2, 4, … s lies in one
block of b tokens and t in the next. The first block's sum, taken at its last token ρ,
reaches t decayed by (t − 1 − ρ)·w; a level-2b block sum is two level-b sums added. So
each token adds log₂(chunk) sums to its bonus term, then the state entering its chunk
decayed by its position; a loop over chunks carries that state. Every decay is a product
(a distance times w), never a difference of sums, so w = −1e20 beside w = −1e-3 stays
exact in float32. Work and memory are O(T·D·log chunk).

The reference exponents r are constants to autograd: a sum's value does not depend on
them, so its gradient flows through n and d alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

CHUNK = 64  # tokens per carried state: a power of two; fewer loop steps vs. more levels
EMPTY = -1e38  # exponent of an empty sum: RWKV-LM's MIN_VALUE (wkv_cuda.cu)

Sum = tuple[Tensor, Tensor, Tensor]  # (n, d, r): numerator n·e^r, denominator d·e^r


def _terms(exponent: Tensor, v: Tensor) -> Sum:
    """One-term sums e^exponent · (v, 1), each referred to its own exponent."""
    r = exponent.detach()
    scale = (exponent - r).exp()  # exactly 1; carries the gradient of the exponent
    return v * scale, scale, r


def _add(x: Sum, y: Sum, decay: Tensor | float = 0.0) -> Sum:
    """x·e^decay + y, referred to the larger exponent (decay: a log factor, broadcast)."""
    (n_x, d_x, r_x), (n_y, d_y, r_y) = x, y
    r = torch.maximum(r_x + decay, r_y).detach()
    # (r_x − r) + decay, not (r_x + decay) − r: the decay is not rounded to the scale of
    # r_x, so a weak decay (w = −1e-3 beside r = 10) stays exact over many additions.
    c_x, c_y = ((r_x - r) + decay).exp(), (r_y - r).exp()  # c_x carries the decay's gradient
    return n_x * c_x + n_y * c_y, d_x * c_x + d_y * c_y, r


def _map(fn, x: Sum) -> Sum:
    return tuple(fn(t) for t in x)


def empty_state(batch_size: int, d_model: int, **factory) -> Sum:
    """The state before the first token: (aa, bb, pp) = (0, 0, EMPTY), each (B, D)."""
    zeros = torch.zeros(batch_size, d_model, **factory)
    return zeros, zeros.clone(), torch.full_like(zeros, EMPTY)


def wkv4(
    w: Tensor,
    u: Tensor,
    k: Tensor,
    v: Tensor,
    state: Sum | None = None,
    chunk_size: int = CHUNK,
) -> tuple[Tensor, Sum]:
    """Chunked WKV-4: w (log decay, finite, ≤ 0), u (D,); k, v (B, T, D); state (aa, bb, pp).

    Returns ``(wkv (B, T, D) in k's dtype, state after the last token)``; computes in float32
    (float64 for float64 inputs), and returns the state in that dtype. ``state=None`` starts
    from the empty state.
    """
    if chunk_size < 1 or chunk_size & (chunk_size - 1):
        raise ValueError(f"chunk_size={chunk_size} must be a power of two")
    B, T, D = k.shape
    out_dtype = k.dtype
    dtype = torch.float64 if k.dtype == torch.float64 else torch.float32
    w, u, k, v = (t.to(dtype) for t in (w, u, k, v))
    if T == 0:
        return k.to(out_dtype), state or empty_state(B, D, device=k.device, dtype=dtype)
    C = min(chunk_size, 1 << (T - 1).bit_length())  # short inputs: one small chunk
    pad = -T % C
    # Padding goes before the first token, as empty sums, so the last chunk ends at token T−1.
    real = torch.arange(T + pad, device=k.device)[:, None] >= pad  # (T', 1)
    k, v = (F.pad(t, (0, 0, pad, 0)) for t in (k, v))  # (B, T', D)
    blocks = tuple(
        torch.where(real, t, fill) for t, fill in zip(_terms(k, v), (0.0, 0.0, EMPTY), strict=True)
    )
    own = _terms(u + k, v)  # each token's own term, with the bonus
    blocks, own = (
        _map(lambda t: rearrange(t, "b (n c) d -> b n c d", c=C), s) for s in (blocks, own)
    )
    b = 1
    while b < C:  # level b: block 2j (the keys) reaches every token of block 2j + 1
        # block sums, each (B, N, C / 2b, D); the tokens' sums, each (B, N, C / 2b, b, D)
        keys, nexts = zip(*(t.unflatten(2, (-1, 2)).unbind(3) for t in blocks), strict=True)
        own_k, own_q = zip(*(t.unflatten(2, (-1, 2, b)).unbind(3) for t in own), strict=True)
        distance = torch.arange(b, device=k.device, dtype=dtype)[:, None]  # t − 1 − ρ, (b, 1)
        own_q = _add(_map(lambda t: t[..., None, :], keys), own_q, distance * w)
        own = tuple(torch.stack(h, dim=3).flatten(2, 4) for h in zip(own_k, own_q, strict=True))
        blocks = _add(keys, nexts, b * w)  # level-2b block sums, at the block's last token
        b *= 2
    chunks = _map(lambda t: t[:, :, 0], blocks)  # each chunk's sum at its last token, (B, N, D)

    carried = empty_state(B, D, device=k.device, dtype=dtype)
    entering = []
    for i in range(chunks[0].shape[1]):
        entering.append(carried)
        carried = _add(carried, _map(lambda t, i=i: t[:, i], chunks), C * w)
    entering = tuple(torch.stack(s, dim=1)[:, :, None] for s in zip(*entering, strict=True))
    # (B, N, 1, D): the state before each chunk reaches its token at position i decayed by i·w
    position = torch.arange(C, device=k.device, dtype=dtype)[:, None]  # (C, 1)
    own = _add(entering, own, position * w)  # (B, N, C, D)
    own = _map(lambda t: rearrange(t, "b n c d -> b (n c) d")[:, pad:], own)  # (B, T, D)
    if state is not None:  # decayed from before token 0: t·w at token t, T·w at the end
        initial = _map(lambda t: t.to(dtype), state)
        steps = torch.arange(T, device=k.device, dtype=dtype)[:, None]
        own = _add(_map(lambda t: t[:, None], initial), own, steps * w)
        carried = _add(initial, carried, T * w)
    n, d, _ = own
    return (n / d).to(out_dtype), carried


def wkv4_step(w: Tensor, u: Tensor, k: Tensor, v: Tensor, state: Sum) -> tuple[Tensor, Sum]:
    """One token: w, u (D,); k, v (B, D); state (aa, bb, pp) -> (wkv (B, D), state).

    RWKV-LM's recurrence (``wkv_cuda.cu``, ``kernel_forward``): the output adds the token
    with its bonus to the state; the state decays by w and adds the token.
    """
    n, d, _ = _add(state, _terms(u + k, v))
    return n / d, _add(state, _terms(k, v), w)
