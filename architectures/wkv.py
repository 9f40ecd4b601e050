"""The RWKV-6 WKV operator: a chunked pure-PyTorch reference and one recurrent step (fla's
fused kernel is called through ``_fused.rwkv6_chunk`` with the same arguments).

Per head, with receptance r_t, key k_t (K wide), value v_t (V wide), log decay w_t ≤ 0
and bonus u (Peng et al. 2024, "Eagle and Finch", the Finch time-mix):

    o_t = r_t · (S_{t-1} + diag(u) k_tᵀ v_t)
    S_t = diag(exp(w_t)) S_{t-1} + k_tᵀ v_t                      S: (K, V)

Layout and meaning follow ``fla.ops.rwkv6.chunk_rwkv6``: r, k, w (B, T, H, K), v (B, T, H, V),
u (H, K), states (B, H, K, V); ``scale`` multiplies r.

Chunked form. Unrolled over a chunk, with S_0 the state entering it,

    o_t = (r_t ⊙ e^{Σ_{j<t} w_j}) S_0 + Σ_{s<t} (r_t ⊙ e^{Σ_{s<j<t} w_j}) · k_s v_s + (r_t ⊙ u ⊙ k_t) v_t
    S_C = diag(e^{Σ_j w_j}) S_0 + Σ_s (k_s ⊙ e^{Σ_{j>s} w_j})ᵀ v_s          (sums inside the chunk)

Every exponent is ≤ 0. The pair term is the hard one: with b_t the running sum of w,
factoring its decay e^{b_{t−1} − b_s} into e^{b_{t−1} − ρ} · e^{ρ − b_s} turns it into matrix
products, but one factor overflows unless the reference ρ lies between s and t. So the pairs (s < t) of a chunk are split by the highest bit in
which their positions differ: at level b = 1, 2, 4, … they lie in adjacent blocks of b
tokens, s in the first and t in the second, and the block boundary is a ρ between them for
every such pair, making both factors ≤ 1 (underflow to 0 is harmless). Each level is
O(T·K) elementwise work plus small matrix products; the state between chunks is carried by
a loop over chunks. Decay sums run from the block edge (cumsum, or reversed cumsum), so their
error scales with the sum itself: weak decays next to w = −20 stay accurate in fp32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

CHUNK = 64  # tokens per carried state: a power of two; fewer loop steps vs. more pair work
SMALL = 4  # blocks this small pair up elementwise; larger ones through matrix products


def _exclusive_cumsum(w: Tensor, reverse: bool = False) -> Tensor:
    """Σ of w over the earlier (or, reversed, the later) tokens of its block, along dim -2.

    Summing from the block edge keeps the error proportional to the sum itself, so a small
    decay is exact even beside strong ones. The sum is shifted by one token rather than
    taken as ``cumsum − w``: that subtraction cancels catastrophically when w is large
    (relative error 1.5e-4 at w = −1e4, 17% at −1e8) and gives NaN at w = −inf.
    """
    if reverse:
        return _exclusive_cumsum(w.flip(-2)).flip(-2)
    return F.pad(w[..., :-1, :], (0, 0, 1, 0)).cumsum(-2)  # [0, w_0, w_0 + w_1, …]


def _add_pairs_within_chunks(
    o: Tensor, r: Tensor, k: Tensor, v: Tensor, w: Tensor, chunk: int
) -> Tensor:
    """o + Σ_{s<t in t's chunk} (r_t ⊙ e^{Σ_{s<j<t} w_j}) · k_s v_s; r, k, w (B, H, T, K)."""
    b = 1
    while b < chunk:  # level b: keys in block 2j, queries in block 2j + 1, each b tokens
        (_, r_q), (k_k, _), (v_k, _), (w_k, w_q), (o_k, o_q) = (
            rearrange(t, "b h (j two c) d -> b h j two c d", two=2, c=b).unbind(3)
            for t in (r, k, v, w, o)
        )  # each (B, H, T / 2b, b, K or V); unbind, not indexing, keeps backward cheap
        q = r_q * _exclusive_cumsum(w_q).exp()  # decay from the block boundary to t
        key = k_k * _exclusive_cumsum(w_k, reverse=True).exp()  # from s to the boundary
        if b <= SMALL:
            scores = (q[..., :, None, :] * key[..., None, :, :]).sum(-1)  # (.., b, b)
        else:
            scores = q @ key.transpose(-1, -2)  # (B, H, T / 2b, b, b)
        o = torch.stack([o_k, o_q + scores @ v_k], dim=3)  # only the query half receives
        o = rearrange(o, "b h j two c v -> b h (j two c) v")
        b *= 2
    return o


def wkv6(
    r: Tensor,
    k: Tensor,
    v: Tensor,
    w: Tensor,
    u: Tensor,
    scale: float = 1.0,
    initial_state: Tensor | None = None,
    output_final_state: bool = False,
    chunk_size: int = CHUNK,
) -> tuple[Tensor, Tensor | None]:
    """Chunked WKV-6 in pure PyTorch: ``(o (B, T, H, V), final state (B, H, K, V) or None)``.

    Computes in float32 (float64 for float64 inputs); ``o`` has the dtype of ``r``, the
    final state the compute dtype, as in fla.
    """
    if chunk_size < 1 or chunk_size & (chunk_size - 1):
        raise ValueError(f"chunk_size={chunk_size} must be a power of two")
    B, T, H, K = r.shape
    V = v.shape[-1]
    out_dtype = r.dtype
    dtype = torch.float64 if r.dtype == torch.float64 else torch.float32
    C = min(chunk_size, 1 << max(T - 1, 0).bit_length())  # short inputs: one small chunk
    pad = -T % C
    # Padded tokens have k = 0 and w = 0: they change neither the outputs nor the state.
    r, k, v, w = (
        rearrange(F.pad(t.to(dtype), (0, 0, 0, 0, 0, pad)), "b t h k -> b h t k")
        for t in (r, k, v, w)
    )  # (B, H, T', K) and (B, H, T', V)
    r = r * scale

    # Between chunks: S_n = diag(e^{Σw}) S_{n-1} + Σ_s (k_s ⊙ e^{Σ_{j>s} w_j})ᵀ v_s.
    r_c, k_c, w_c = (rearrange(t, "b h (n c) k -> b h n c k", c=C) for t in (r, k, w))
    v_c = rearrange(v, "b h (n c) v -> b h n c v", c=C)  # (B, H, N, C, V)
    key = k_c * _exclusive_cumsum(w_c, reverse=True).exp()
    dS = key.transpose(-1, -2) @ v_c  # (B, H, N, K, V)
    decay = rearrange(w_c.sum(-2), "b h n k -> b h n k 1").exp()
    S = r.new_zeros(B, H, K, V) if initial_state is None else initial_state.to(dtype)
    starts = []
    for decay_n, dS_n in zip(decay.unbind(2), dS.unbind(2), strict=True):
        starts.append(S)
        S = decay_n * S + dS_n
    S_start = torch.stack(starts, dim=2)  # state entering each chunk, (B, H, N, K, V)
    o = (r_c * _exclusive_cumsum(w_c).exp()) @ S_start  # (B, H, N, C, V)
    o = rearrange(o, "b h n c v -> b h (n c) v")
    o = o + (r * u.to(dtype)[None, :, None] * k).sum(-1, keepdim=True) * v  # the bonus
    o = _add_pairs_within_chunks(o, r, k, v, w, C)
    o = rearrange(o[:, :, :T], "b h t v -> b t h v")
    return o.to(out_dtype), (S if output_final_state else None)


def wkv6_step(
    r: Tensor, k: Tensor, v: Tensor, w: Tensor, u: Tensor, state: Tensor, scale: float = 1.0
) -> tuple[Tensor, Tensor]:
    """One token: r, k, w (B, H, K), v (B, H, V), state (B, H, K, V) -> (o (B, H, V), state)."""
    kv = k[..., :, None] * v[..., None, :]  # (B, H, K, V)
    o = torch.einsum("bhk,bhkv->bhv", r * scale, state + u[..., None] * kv)
    return o, w.exp()[..., None] * state + kv
