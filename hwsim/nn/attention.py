"""Pre-LN Transformer-XL relative attention with per-head persistent key/value vectors (paper.md §2, S2 model).

For one layer with h heads of width d_h, N persistent vectors per head, segment T, memory m (<= M), L = T + m:
  x_hat = LN([mem ; x])                      (pre-LN over memory and current states, S2)
  q = x_hat[-T:] W_q, k = x_hat W_k, v = x_hat W_v, r = R[-L:] W_r      (no biases)
  context logits   (q + u) k^T + shift((q + v_b) r^T)
  persistent logits q (m_k * sqrt(d_h))^T    (raw q, no position term)
  a = softmax([context ; persistent] / sqrt(d_h))  (one joint softmax, fp32)
  y = a_ctx v + a_pers (m_v * sqrt(N))      -> times the head's gate -> W_o (+ b_o) -> dropout -> residual
The matrix products are exactly those of ``hwsim.workload.attention_gemms``; the relative shift is a gather.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.nn.gates import HardConcreteGate


def relative_shift(bd: torch.Tensor, memory_len: int) -> torch.Tensor:
    """Re-index position logits: column c of ``bd`` is distance L-1-c; output[i, j] is distance m + i - j.

    Pure data movement (gather), so the FlopCounter sees no work here. Entries for future keys (j > m + i) get an
    arbitrary valid column and must be masked by the caller.
    """
    t, length = bd.shape[-2], bd.shape[-1]
    i = torch.arange(t, device=bd.device).unsqueeze(1)
    j = torch.arange(length, device=bd.device).unsqueeze(0)
    index = (j + (t - 1) - i).clamp(max=length - 1)
    return torch.gather(bd, -1, index.expand(bd.shape))


def attention_mask(t: int, memory_len: int, max_memory: int, same_length: bool, device) -> torch.Tensor:
    """Bool (T, L) mask of *allowed* keys: query i sees memory and positions <= i (and at most M + 1 keys if same_length)."""
    i = torch.arange(t, device=device).unsqueeze(1)
    j = torch.arange(t + memory_len, device=device).unsqueeze(0)
    allowed = j <= memory_len + i
    if same_length:
        allowed &= j >= memory_len + i - max_memory
    return allowed


class RelativeAttention(nn.Module):
    """One attention sublayer with ``n_heads`` heads (0 heads: only the output bias survives pruning)."""

    def __init__(
        self,
        *,
        d_model: int,
        d_head: int,
        n_heads: int,
        n_persistent: int,
        full_heads: int,
        dropout_attn: float = 0.0,
        dropout_proj: float = 0.0,
        gated: bool = False,
        init_log_alpha: float = 2.0,
        output_scaling: bool = False,
        shared_uv: bool = False,
    ) -> None:
        super().__init__()
        self.d_model, self.d_head, self.n_heads, self.n_persistent = d_model, d_head, n_heads, n_persistent
        self.full_heads = full_heads  # H of the unpruned layer, for attention-output scaling H / heads-open
        self.output_scaling = output_scaling
        self.drop_attn = nn.Dropout(dropout_attn)
        self.drop_proj = nn.Dropout(dropout_proj)
        self.fixed_gate: torch.Tensor | None = None  # set by LanguageModel.set_head_mask
        if n_heads == 0:
            self.out_bias = nn.Parameter(torch.zeros(d_model))
            self.gate = None
            return
        width = n_heads * d_head
        self.norm = nn.LayerNorm(d_model)
        self.q_proj = nn.Linear(d_model, width, bias=False)
        self.k_proj = nn.Linear(d_model, width, bias=False)
        self.v_proj = nn.Linear(d_model, width, bias=False)
        self.r_proj = nn.Linear(d_model, width, bias=False)  # per-layer W_r (S2), no bias
        if shared_uv:  # nnlib style: the model's one u/v, indexed by the original head ids this layer still has
            self.register_buffer("head_index", torch.arange(n_heads, dtype=torch.long))
        else:
            self.u_bias = nn.Parameter(torch.zeros(n_heads, d_head))  # TXL "u", separate per layer (S2)
            self.v_bias = nn.Parameter(torch.zeros(n_heads, d_head))  # TXL "v"
        if n_persistent:
            self.mem_k = nn.Parameter(torch.zeros(n_heads, n_persistent, d_head))
            self.mem_v = nn.Parameter(torch.zeros(n_heads, n_persistent, d_head))
        self.out_proj = nn.Linear(width, d_model)
        self.gate = HardConcreteGate(n_heads, init_log_alpha) if gated else None

    def gate_values(self) -> torch.Tensor | None:
        """(h,) multipliers for the heads' outputs, or None (no gate, nothing fixed)."""
        if self.fixed_gate is not None:
            return self.fixed_gate
        if self.gate is not None:
            return self.gate()
        return None

    def forward(
        self, x: torch.Tensor, mem: torch.Tensor | None, pos: torch.Tensor, mask: torch.Tensor, uv=None
    ) -> torch.Tensor:
        """x (B, T, d), mem (B, m, d) or None, pos (L, d) rows of R for distances L-1..0, mask (T, L) allowed;
        ``uv`` = the model's shared (u, v), each (H, d_h), for a layer built with ``shared_uv``."""
        if self.n_heads == 0:
            return x + self.drop_proj(self.out_bias)
        b, t, _ = x.shape
        h, dh = self.n_heads, self.d_head
        full = x if mem is None else torch.cat([mem, x], dim=1)
        length = full.shape[1]
        full = self.norm(full)
        q = self.q_proj(full[:, -t:]).view(b, t, h, dh).transpose(1, 2)  # (B, h, T, dh)
        k = self.k_proj(full).view(b, length, h, dh).permute(0, 2, 3, 1)  # (B, h, dh, L)
        v = self.v_proj(full).view(b, length, h, dh).transpose(1, 2)  # (B, h, L, dh)
        r = self.r_proj(pos).view(length, h, dh).permute(1, 2, 0)  # (h, dh, L), once per segment
        u, v_b = (uv[0][self.head_index], uv[1][self.head_index]) if uv is not None else (self.u_bias, self.v_bias)
        content = torch.matmul(q + u.unsqueeze(1), k)  # (B, h, T, L)
        position = relative_shift(torch.matmul(q + v_b.unsqueeze(1), r), length - t)
        logits = (content + position).float().masked_fill(~mask, float("-inf"))
        parts = [logits]
        if self.n_persistent:
            keys = (self.mem_k * math.sqrt(dh)).transpose(1, 2)  # S2 reparameterisation: stored / sqrt(d_h)
            parts.append(torch.matmul(q, keys).float())  # (B, h, T, N), raw q, never masked
        probs = torch.softmax(torch.cat(parts, dim=-1) / math.sqrt(dh), dim=-1)
        probs = self.drop_attn(probs).to(v.dtype)
        out = torch.matmul(probs[..., :length], v)  # (B, h, T, dh)
        if self.n_persistent:
            values = self.mem_v * math.sqrt(self.n_persistent)  # S2 reparameterisation: stored / sqrt(N)
            out = out + torch.matmul(probs[..., length:], values)
        gate = self.gate_values()
        if gate is not None:
            out = out * gate.to(out.dtype).view(1, h, 1, 1)
            if self.output_scaling:
                # Shim et al. method 3: rescale the surviving heads by H / heads-open, detached (paper.md §2)
                open_heads = (gate.detach() > 0).sum().clamp(min=1)
                out = out * (self.full_heads / open_heads).to(out.dtype)
        out = out.transpose(1, 2).reshape(b, t, h * dh)
        return x + self.drop_proj(self.out_proj(out))


def sinusoid_positions(length: int, d_model: int, clamp_len: int = 0) -> torch.Tensor:
    """(length, d) Transformer-XL sinusoids for distances length-1..0 (Dai et al. 2019; Vaswani et al. 2017):
    row for distance k = [sin(k w_0..w_{d/2-1}), cos(k w_0..w_{d/2-1})], w_i = 10000^(-2i/d); distances above
    ``clamp_len`` (> 0) use clamp_len (nnlib/TXL ``clamp_len``)."""
    dist = torch.arange(length - 1, -1, -1, dtype=torch.float32)
    if clamp_len > 0:
        dist = dist.clamp(max=clamp_len)
    inv_freq = 1.0 / (10000 ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model))
    angles = dist.unsqueeze(1) * inv_freq.unsqueeze(0)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class FeedForward(nn.Module):
    """Transformer-XL FF block, pre-LN: x + drop(W2 relu(W1 LN(x) + b1) + b2)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.ff2 = nn.Linear(d_ff, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.ff2(self.drop(F.relu(self.ff1(self.norm(x))))))
