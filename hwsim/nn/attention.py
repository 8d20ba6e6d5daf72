"""Pre-LN Transformer-XL relative attention with per-head persistent key/value vectors (paper.md §2, S2 model).

For one layer with h heads of width d_h, N persistent vectors per head, segment T, memory m (<= M), L = T + m:
  x_hat = LN([mem ; x])                      (pre-LN over memory and current states, S2)
  q = x_hat[-T:] W_q, k = x_hat W_k, v = x_hat W_v, r = R[-L:] W_r      (no biases)
  context logits   (q + u) k^T + shift((q + v_b) r^T)
  persistent logits q (m_k * sqrt(d_h))^T    (raw q, no position term)
  a = softmax([context ; persistent] / sqrt(d_h))  (one joint softmax)
  y = a_ctx v + a_pers (m_v * sqrt(N))      -> times the head's gate -> W_o (+ b_o) -> dropout -> residual
The scores, softmax and a [v ; m_v] run as one ``F.scaled_dot_product_attention`` call (queries q + u, the position
logits and the persistent keys' -u . m_k as an additive bias; see ``RelativeAttention._attend``): on CUDA a fused
kernel that keeps them on chip, on the CPU the same arithmetic in float32. The matrix products are exactly those of
``hwsim.workload.attention_gemms``; the relative shift is a gather.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.nn.gates import HardConcreteGate
from hwsim.nn.quant import NumericLinear, active, qmatmul, quantize, times_quantized


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
        self.numerics = None  # hwsim.numerics.Numerics, set by LanguageModel.set_numerics: evaluate at those widths
        if n_heads == 0:
            self.out_bias = nn.Parameter(torch.zeros(d_model))
            self.gate = None
            return
        width = n_heads * d_head
        self.norm = nn.LayerNorm(d_model)
        self.q_proj = NumericLinear(d_model, width, bias=False)
        self.k_proj = NumericLinear(d_model, width, bias=False)
        self.v_proj = NumericLinear(d_model, width, bias=False)
        self.r_proj = NumericLinear(d_model, width, bias=False)  # per-layer W_r (S2), no bias
        if shared_uv:  # nnlib style: the model's one u/v, indexed by the original head ids this layer still has
            self.register_buffer("head_index", torch.arange(n_heads, dtype=torch.long))
        else:
            self.u_bias = nn.Parameter(torch.zeros(n_heads, d_head))  # TXL "u", separate per layer (S2)
            self.v_bias = nn.Parameter(torch.zeros(n_heads, d_head))  # TXL "v"
        if n_persistent:
            self.mem_k = nn.Parameter(torch.zeros(n_heads, n_persistent, d_head))
            self.mem_v = nn.Parameter(torch.zeros(n_heads, n_persistent, d_head))
        self.out_proj = NumericLinear(width, d_model)
        self.gate = HardConcreteGate(n_heads, init_log_alpha) if gated else None

    def gate_values(self) -> torch.Tensor | None:
        """(h,) multipliers for the heads' outputs, or None (no gate, nothing fixed)."""
        if self.fixed_gate is not None:
            return self.fixed_gate
        if self.gate is not None:
            return self.gate()
        return None

    def _attend(self, q, k, v, u, v_b, r, mask: torch.Tensor, memory_len: int) -> torch.Tensor:
        """(B, h, T, d_h) attention output over the context keys and the persistent vectors, one joint softmax.

        One ``F.scaled_dot_product_attention`` call over keys [k ; m_k sqrt(d_h)] and values [v ; m_v sqrt(N)] with
        queries q + u: its fused kernels on CUDA never write the B x h x T x (L + N) scores and probabilities to
        memory (with N = 2,048 they made training memory-bound: docs/trainsweep.md). What differs from (q + u) k^T
        goes into the additive bias, pre-divided by sqrt(d_h) as SDPA scales only q K^T: the relative-position
        logits (masked with -inf) for context keys, and -u . m_k for persistent keys, which S2 scores with the raw
        q. Attention dropout is SDPA's, on the probabilities as before."""
        if active(self.numerics):
            return self._attend_quantized(q, k, v, u, v_b, r, mask, memory_len)
        b, h, t, dh = q.shape
        scale = 1.0 / math.sqrt(dh)
        position = relative_shift(torch.matmul(q + v_b.unsqueeze(1), r), memory_len)  # (B, h, T, L)
        bias = (position * scale).masked_fill(~mask, float("-inf"))
        keys, values = k, v  # (B, h, L, d_h) each
        if self.n_persistent:
            mem_k = self.mem_k * math.sqrt(dh)  # S2 reparameterisation: stored / sqrt(d_h)
            mem_v = self.mem_v * math.sqrt(self.n_persistent)  # stored / sqrt(N)
            keys = torch.cat([keys, mem_k.to(keys.dtype).unsqueeze(0).expand(b, -1, -1, -1)], dim=2)
            values = torch.cat([values, mem_v.to(values.dtype).unsqueeze(0).expand(b, -1, -1, -1)], dim=2)
            # a per-key constant, element-wise (not a GEMM of the workload: it does not depend on the tokens)
            pers = (-(u.unsqueeze(1) * mem_k).sum(-1) * scale).to(bias.dtype)  # (h, N)
            bias = torch.cat([bias, pers.unsqueeze(0).unsqueeze(2).expand(b, -1, t, -1)], dim=-1)
        dropout = self.drop_attn.p if self.training else 0.0
        query = (q + u.unsqueeze(1)).to(keys.dtype)  # u is a float32 parameter: keep autocast's dtype
        return F.scaled_dot_product_attention(query, keys, values, attn_mask=bias.to(keys.dtype), dropout_p=dropout,
                                              scale=scale)  # fmt: skip

    def _attend_quantized(self, q, k, v, u, v_b, r, mask: torch.Tensor, memory_len: int) -> torch.Tensor:
        """The same attention as the workload's five per-head GEMMs on the array at ``self.numerics``: (q + u) k^T,
        (q + v) r^T (then the shift), q m_k^T, probabilities x [v ; m_v]; the joint softmax in float."""
        n, dh = self.numerics, q.shape[-1]
        scale = 1.0 / math.sqrt(dh)
        content = qmatmul(q + u.unsqueeze(1), k.transpose(-1, -2), n, b_is_weight=False)
        position = relative_shift(qmatmul(q + v_b.unsqueeze(1), r, n, b_is_weight=False), memory_len)
        logits = ((content + position) * scale).masked_fill(~mask, float("-inf"))
        if self.n_persistent:
            mem_k = (self.mem_k * math.sqrt(dh)).transpose(-1, -2).unsqueeze(0)  # (1, h, d_h, N)
            persistent = qmatmul(q, mem_k, n, b_is_weight=True) * scale
            logits = torch.cat([logits, persistent.to(logits.dtype)], dim=-1)
        probs = torch.softmax(logits.float(), dim=-1).to(q.dtype)
        qp, sp = quantize(probs, n.act_bits, dim=-1)  # one scale per row: it spans context and persistent keys
        length = k.shape[2]
        out = times_quantized(qp[..., :length], sp, v, n, b_is_weight=False)
        if self.n_persistent:
            mem_v = (self.mem_v * math.sqrt(self.n_persistent)).unsqueeze(0)  # (1, h, N, d_h)
            out = out + times_quantized(qp[..., length:], sp, mem_v, n, b_is_weight=True)
        return out

    def position_keys(self, pos: torch.Tensor) -> torch.Tensor:
        """(h, d_h, L) position keys r = R W_r for the L rows of ``pos`` (distances L-1..0)."""
        return self.r_proj(pos).view(pos.shape[0], self.n_heads, self.d_head).permute(1, 2, 0)

    def forward(
        self, x: torch.Tensor, mem: torch.Tensor | None, pos: torch.Tensor | None, mask: torch.Tensor, uv=None,
        *, cache=None, position_keys: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, T, d), mem (B, m, d) or None, pos (L, d) rows of R for distances L-1..0, mask (T, L) allowed;
        ``uv`` = the model's shared (u, v), each (H, d_h), for a layer built with ``shared_uv``.

        Incremental decoding (``hwsim.nn.decode``) passes ``cache``, an object whose ``extend(k, v)`` appends the
        new tokens' keys and values (B, h, T, d_h) to the cached ones and returns all of them, instead of ``mem``;
        and ``position_keys`` (h, d_h, L) computed once (:meth:`position_keys`) instead of ``pos``. The scores,
        softmax, gates and output are the same code either way."""  # fmt: skip
        if self.n_heads == 0:
            return x + self.drop_proj(self.out_bias)
        b, t, _ = x.shape
        h, dh = self.n_heads, self.d_head
        if cache is None:
            full = x if mem is None else torch.cat([mem, x], dim=1)
            length = full.shape[1]
            full = self.norm(full)
            q = self.q_proj(full[:, -t:]).view(b, t, h, dh).transpose(1, 2)  # (B, h, T, dh)
            k = self.k_proj(full).view(b, length, h, dh).transpose(1, 2)  # (B, h, L, dh)
            v = self.v_proj(full).view(b, length, h, dh).transpose(1, 2)  # (B, h, L, dh)
        else:  # LayerNorm is per token, so the cached keys/values equal those the segment pass recomputes
            new = self.norm(x)
            q = self.q_proj(new).view(b, t, h, dh).transpose(1, 2)
            k, v = cache.extend(self.k_proj(new).view(b, t, h, dh).transpose(1, 2),
                                self.v_proj(new).view(b, t, h, dh).transpose(1, 2))  # fmt: skip
            length = k.shape[2]
        r = self.position_keys(pos) if position_keys is None else position_keys[..., -length:]  # once per segment
        u, v_b = (uv[0][self.head_index], uv[1][self.head_index]) if uv is not None else (self.u_bias, self.v_bias)
        out = self._attend(q, k, v, u, v_b, r, mask, length - t)
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
        self.ff1 = NumericLinear(d_model, d_ff)
        self.ff2 = NumericLinear(d_ff, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.ff2(self.drop(F.relu(self.ff1(self.norm(x))))))
