"""Selective scan of Mamba (Gu & Dao 2023, Algorithm 2) in plain PyTorch, fast on a CPU.

For every channel d and state index n, with the discretisation of Mamba's eq. (4):

    h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t u_t        (zero-order hold on A, Euler on B)
    y_t = C_t · h_t + D u_t,   then  y_t ⊙ SiLU(z_t) when a gate z is given

The signature and layouts follow mamba_ssm's ``selective_scan_fn`` — u, Δ, z: (B, d, L);
A: (d, N); B, C: (B, N, L) — so the block calls either one with the same arguments.

Chunked scan. Time is cut into chunks of ``chunk_size``; a Python loop runs over the
chunks, carrying the state h (B, d, N) from one to the next. Inside a chunk, with the
log-decay accumulated from the chunk start a_t = A · Σ_{s≤t} Δ_s, the recurrence is
closed-form and parallel over time (one cumulative sum):

    h_t = exp(a_t) ⊙ (h_0 + Σ_{s≤t} exp(-a_s) ⊙ Δ_s B_s u_s)

exp(-a_s) overflows when a chunk decays by more than ``_LOG_RANGE`` in log space (a
large Δ or a very negative A); such a chunk takes the stable path instead, a doubling
(Hillis–Steele) scan over per-step decays that never divides by a decay. Both paths give
the same numbers; the choice is made per chunk from one (B, d) reduction.

Memory. Forward and backward are one ``autograd.Function``: forward keeps only its
inputs and the state entering each chunk (B, L/chunk, d, N); backward recomputes each
chunk's states and runs the adjoint recurrence g_t = C_t y'_t + exp(Δ_{t+1} A) g_{t+1}
backwards with the same two paths. Peak memory is a few chunk buffers (B, d, N, chunk)
on top of the inputs, never the (B, L, d, N) of all states.

Short inputs. When all the states number fewer than ``keep_states_below`` and every chunk
takes the fast path, forward writes each chunk's states and decays into tensors it keeps
for backward, which then skips the recomputation: 24 passes over a chunk's (B, d, N, chunk)
numbers instead of 30. The chunk loop stays: a chunk's buffers fit in the CPU's cache
where all of (B, d, N, L) would not, and computing all chunks at once measured no faster.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

_LOG2_E = 1.4426950408889634
_LOG_RANGE = 60.0  # exp(±60) stays far inside fp32's exp(±88), with room for |Δ B u| to 1e12
KEEP_STATES_BELOW = 1 << 23  # numbers in (B, d, N, L), 32 MiB in fp32: kept for backward


def selective_scan(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    chunk_size: int = 16,
    keep_states_below: int = KEEP_STATES_BELOW,
) -> Tensor | tuple[Tensor, Tensor]:
    """y (B, d, L) of the selective scan; with ``return_last_state`` also h_L (B, d, N)."""
    dtype = u.dtype
    compute = torch.promote_types(dtype, torch.float32)  # bf16 / fp16 inputs scan in fp32
    u, delta, A, B, C = (t.to(compute) for t in (u, delta, A, B, C))
    if delta_bias is not None:
        delta = delta + delta_bias.to(compute)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    keep = u.shape[0] * u.shape[1] * A.shape[1] * u.shape[2] < keep_states_below
    y, last_state = _SelectiveScan.apply(u, delta, A, B, C, chunk_size, keep)
    if D is not None:
        y = y + D.to(compute)[:, None] * u
    if z is not None:
        y = y * F.silu(z.to(compute))
    y = y.to(dtype)
    return (y, last_state) if return_last_state else y


def selective_scan_reference(u, delta, A, B, C, D=None, z=None, h0=None):
    """The recurrence one step at a time, in the inputs' dtype: a slow oracle for tests."""
    h = torch.zeros(*u.shape[:2], A.shape[1], dtype=u.dtype) if h0 is None else h0
    ys = []
    for t in range(u.shape[-1]):
        decay = torch.exp(delta[:, :, t, None] * A)  # (B, d, N)
        h = decay * h + (delta[:, :, t] * u[:, :, t])[:, :, None] * B[:, None, :, t]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))
    y = torch.stack(ys, dim=-1)  # (B, d, L)
    if D is not None:
        y = y + D[:, None] * u
    return (y if z is None else y * F.silu(z)), h


class _SelectiveScan(torch.autograd.Function):
    """y_t = C_t · h_t over chunks; saves the state entering each chunk, recomputes the rest.

    Per-time tensors are laid out chunk-major, (chunks, B, ·, chunk), so every chunk is
    one contiguous block; chunk-sized scratch lives in ``_Buffers``. With ``keep`` (and
    every chunk fast) the states and decays of all chunks are kept for backward.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, chunk_size, keep):
        u, dt, B, C = (_to_chunks(t, chunk_size) for t in (u, delta, B, C))
        du = dt * u
        fast = _fast_chunks(dt, A)
        h = u.new_zeros(*u.shape[1:3], A.shape[1])  # (B, d, N)
        entering = u.new_empty(len(fast), *h.shape)  # (chunks, B, d, N)
        y = torch.empty_like(u)
        work = _Buffers(h, chunk_size)
        kept = u.new_empty(2, len(fast), *work.states.shape) if keep and all(fast) else None
        for k in range(len(fast)):
            entering[k] = h
            if kept is not None:  # this chunk's states and decays land in the kept tensors
                work.states, work.decay = kept[0, k], kept[1, k]
            states, _ = _chunk_states(dt[k], du[k], B[k], A, h, fast[k], work)
            torch.sum(torch.mul(states, C[k, :, None], out=work.scratch), 2, out=y[k])
            h = states[..., -1].clone()
        kept = () if kept is None else (kept,)
        ctx.save_for_backward(u, dt, A, B, C, entering, *kept)
        ctx.length, ctx.fast = delta.shape[-1], fast
        return _from_chunks(y, ctx.length), h

    @staticmethod
    def backward(ctx, dy, dh_last):
        u, dt, A, B, C, entering, *kept = ctx.saved_tensors
        batch, d_inner, d_state, c = (*entering.shape[1:], u.shape[-1])
        dy = _to_chunks(dy.to(u.dtype), c)
        du = dt * u
        d_du, d_dt, dB, dC = (torch.empty_like(t) for t in (du, du, B, C))
        dA = torch.zeros_like(A)
        carry = dh_last.to(u.dtype).clone()  # gradient reaching the state after the chunk
        work = _Buffers(carry, c)
        for k in reversed(range(len(entering))):
            if kept:  # forward's states and decays; Δ_t B_t u_t is one product
                states, decay = kept[0][0, k], kept[0][1, k]
                torch.mul(du[k][:, :, None], B[k][:, None], out=work.inputs)
            else:
                states, decay = _chunk_states(dt[k], du[k], B[k], A, entering[k], ctx.fast[k], work)
            torch.sum(torch.mul(states, dy[k, :, :, None], out=work.scratch), 1, out=dC[k])
            # g_t: gradient reaching h_t from y_t and from all later states.
            g = _chunk_adjoints(dt[k], dy[k], C[k], A, carry, decay, work)
            # g_t ⊙ exp(Δ_t A) h_{t-1}, in the inputs' buffer: kept states stay as they are
            decayed = torch.sub(states, work.inputs, out=work.inputs).mul_(g)
            torch.sum(torch.mul(decayed, A[..., None], out=work.scratch), 2, out=d_dt[k])
            rows = batch * d_inner  # Σ_{b,t} Δ_t g_t ⊙ exp(Δ_t A) h_{t-1}, as one bmm
            dA += (
                torch.bmm(decayed.view(rows, d_state, c), dt[k].view(rows, c, 1))
                .view(batch, d_inner, d_state)
                .sum(0)
            )
            torch.sum(torch.mul(g, B[k, :, None], out=work.scratch), 2, out=d_du[k])
            torch.sum(torch.mul(g, du[k, :, :, None], out=work.scratch), 1, out=dB[k])
            carry = torch.exp(dt[k, :, :, None, 0] * A) * g[..., 0]  # through step 0's decay
        d_u, d_dt = d_du * dt, d_dt.add_(d_du * u)
        grads = (_from_chunks(t, ctx.length) for t in (d_u, d_dt))
        return *grads, dA, _from_chunks(dB, ctx.length), _from_chunks(dC, ctx.length), None, None


class _Buffers:
    """Chunk-sized scratch tensors, reused across chunks so no step allocates (B, d, N, c)."""

    def __init__(self, h: Tensor, chunk_size: int) -> None:
        shape = (*h.shape, chunk_size)  # (B, d, N, chunk)
        self.decay, self.inputs, self.states, self.adjoints, self.scratch = (
            h.new_empty(shape) for _ in range(5)
        )
        # suffix[s, t] = 1 where s >= t: ``x @ suffix`` sums each row from t to its end.
        self.suffix = torch.ones(chunk_size, chunk_size, device=h.device, dtype=h.dtype).tril()


def _to_chunks(t: Tensor, chunk_size: int) -> Tensor:
    """(B, x, L) -> (chunks, B, x, chunk), zero-padded: Δ = 0, u = 0 leave the state alone."""
    t = F.pad(t, (0, -t.shape[-1] % chunk_size))
    return rearrange(t, "b x (k c) -> k b x c", c=chunk_size).contiguous()


def _from_chunks(t: Tensor, length: int) -> Tensor:
    return rearrange(t, "k b x c -> b x (k c)")[..., :length]  # (B, x, L)


def _fast_chunks(dt: Tensor, A: Tensor) -> list[bool]:
    """Per chunk: does its log-decay stay within 2·_LOG_RANGE for every channel?"""
    worst = (dt.sum(-1) * A.abs().amax(-1)).amax(dim=(1, 2))  # (chunks,)
    return (worst <= 2 * _LOG_RANGE).tolist()


def _chunk_states(dt, du, B, A, h0, fast: bool, work: _Buffers):
    """All states h_t (B, d, N, c) of one chunk from the state h0 entering it.

    Leaves Δ_t B_t u_t in ``work.inputs``. On the fast path also returns the decay
    exp(a_t - m), centred on half the chunk's log-decay m = a_c / 2 so that it and its
    inverse both stay within exp(±_LOG_RANGE); on the stable path None.
    """
    inputs = torch.mul(du[:, :, None], B[:, None], out=work.inputs)  # (B, d, N, c)
    if not fast:
        decay = torch.exp(dt[:, :, None] * A[..., None])  # per step, (B, d, N, c)
        return _doubling_scan(decay, inputs.clone(), h0), None
    cum = dt.cumsum(-1)  # Σ_{s≤t} Δ_s, (B, d, c)
    half = cum[..., -1:] / 2
    # exp2 of a pre-scaled exponent is ~2.5x faster than exp on CPU, same accuracy.
    log2_decay = torch.mul((cum - half)[:, :, None], (A * _LOG2_E)[..., None], out=work.decay)
    decay = log2_decay.exp2_()
    states = torch.div(inputs, decay, out=work.states).cumsum_(-1)
    h0 = torch.exp(half * A) * h0  # exp(m) h0, (B, d, N)
    return states.add_(h0[..., None]).mul_(decay), decay


def _chunk_adjoints(dt, dy, C, A, carry, decay: Tensor | None, work: _Buffers) -> Tensor:
    """g_t = C_t dy_t + exp(Δ_{t+1} A) g_{t+1} in one chunk, g beyond it given by ``carry``.

    ``decay`` is the centred exp(a_t - m) of ``_chunk_states`` (fast path) or None.
    """
    outer = torch.mul(dy[:, :, None], C[:, None], out=work.scratch)  # (B, d, N, c)
    if decay is None:
        # Backwards in time the decay that reaches g_t is step t+1's; the carry has its own.
        decay = torch.exp(dt[:, :, None, 1:] * A[..., None]).flip(-1)
        decay = F.pad(decay, (1, 0), value=1.0)
        return _doubling_scan(decay, outer.flip(-1), carry).flip(-1)
    # g_t = exp(-a_t) (Σ_{s≥t} exp(a_s) C_s dy_s + exp(a_c) carry); the centring m cancels.
    tail = torch.matmul(outer.mul_(decay), work.suffix, out=work.adjoints)
    return tail.add_((decay[..., -1] * carry)[..., None]).div_(decay)


def _doubling_scan(decay: Tensor, inputs: Tensor, h0: Tensor) -> Tensor:
    """h_t = decay_t h_{t-1} + inputs_t along the last dim in log2(c) parallel steps.

    Stable for any decay in [0, 1]: it only multiplies decays, never divides by them.
    ``decay`` and ``inputs`` are overwritten.
    """
    inputs[..., 0] += decay[..., 0] * h0
    step = 1
    while step < inputs.shape[-1]:
        inputs[..., step:] += decay[..., step:] * inputs[..., :-step]
        decay[..., step:] = decay[..., step:] * decay[..., :-step]
        step *= 2
    return inputs
