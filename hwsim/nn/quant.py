"""Evaluation at an accelerator's bit widths (``hwsim.numerics.Numerics``): every GEMM the workload puts on the array
gets quantised operands, integer accumulation and a float rescale; LayerNorm, softmax and the residual stay float.

Operands, for C[M x N] = A[M x K] @ B[K x N]: A (always an activation: tokens, queries, probabilities) is quantised
per row, symmetric and dynamic (one scale per token); B per column (per output channel): at ``weight_bits`` when it
is a parameter (projection weights, persistent vectors, embedding tables), at ``act_bits`` when it is an activation
(keys, position keys, values). Values round to nearest into [-(2^(b-1) - 1), 2^(b-1) - 1]. The integer products are
summed exactly: in float64, whose 53-bit mantissa holds every sum these sizes produce (|sum| <= K * 32767^2 < 2^46
for K <= 65,536), so the result before the rescale is the integer a hardware accumulator holds
(``tests/test_quant.py`` checks it against an int64 numpy matmul). Scheme ``g128`` gives each group of 128 reduction
elements of a weight its own scale, exact within a group, groups added after their rescale.

Written by hand rather than with torchao: the reference must match bit for bit on the CPU torch pinned here, the
activations' per-token dynamic scales and the attention's activation x activation products (scores, values) have
to be quantised the same way as the projections, and torchao's CPU int8 kernels are not checked against an integer
reference on this build; the few lines below are that reference's twin.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hwsim.numerics import GROUP, Numerics


def qmax(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def quantize(x: torch.Tensor, bits: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(integer-valued tensor, scale) of ``x`` with one symmetric scale per slice along ``dim`` (max |x| of the slice
    maps to 2^(bits-1) - 1; an all-zero slice gets scale 1)."""
    top = qmax(bits)
    amax = x.detach().abs().amax(dim=dim, keepdim=True).float()
    scale = torch.where(amax > 0, amax / top, torch.ones_like(amax))
    q = torch.clamp(torch.round(x.float() / scale), -top, top)
    return q, scale


FLOAT32_EXACT = 2**24  # every integer below 2^24 is a float32, so integer sums below it are exact in any order


def integer_matmul(qa: torch.Tensor, qb: torch.Tensor, peak: int | None = None) -> torch.Tensor:
    """The exact integer accumulation of integer-valued operands. ``peak``: the largest |product| (the operands'
    integer ranges multiplied). When the whole K-long sum stays below 2^24 it runs as one float32 matmul and comes
    back as float32 (exact: every partial sum is an integer float32 holds); when chunks of the reduction do, the
    chunks run in float32 and are added in float64; otherwise float64 throughout (exact below 2^53)."""
    k = qa.shape[-1]
    chunk = FLOAT32_EXACT // peak if peak else 0
    if chunk >= k:
        return torch.matmul(qa.float(), qb.float())
    if chunk < 64:
        return torch.matmul(qa.double(), qb.double())
    out = None
    for start in range(0, k, chunk):
        part = torch.matmul(qa[..., start : start + chunk].float(), qb[..., start : start + chunk, :].float()).double()
        out = part if out is None else out + part
    return out


def active(numerics: Numerics | None) -> bool:
    return numerics is not None and numerics.scheme != "float"


def qmatmul(a: torch.Tensor, b: torch.Tensor, numerics: Numerics | None, b_is_weight: bool) -> torch.Tensor:
    """``a @ b`` as the array computes it (module docstring); the float product when ``numerics`` is None/float."""
    if not active(numerics):
        return torch.matmul(a, b)
    qa, sa = quantize(a, numerics.act_bits, dim=-1)
    return times_quantized(qa, sa, b, numerics, b_is_weight).to(a.dtype)


def times_quantized(qa: torch.Tensor, sa: torch.Tensor, b: torch.Tensor, numerics: Numerics,
                    b_is_weight: bool) -> torch.Tensor:  # fmt: skip
    """An already quantised A (``qa``, one scale per row ``sa``) times B quantised per column: the integer products
    accumulated exactly, then rescaled (per group of 128 reduction elements for a ``g128`` weight)."""
    b_bits = numerics.weight_bits if b_is_weight else numerics.act_bits
    k = b.shape[-2]
    if numerics.scheme == "g128" and b_is_weight and k > GROUP:
        out = None
        for start in range(0, k, GROUP):  # exact within a group, groups rescaled then added
            qb, sb = quantize(b[..., start : start + GROUP, :], b_bits, dim=-2)
            part = integer_matmul(qa[..., start : start + GROUP], qb, peak(numerics.act_bits, b_bits)).double()
            out = part * sb.double() if out is None else out + part * sb.double()
        return (out * sa.double()).to(b.dtype)
    qb, sb = quantize(b, b_bits, dim=-2)
    return rescale(integer_matmul(qa, qb, peak(numerics.act_bits, b_bits)), sa, sb).to(b.dtype)


def rescale(acc: torch.Tensor, sa: torch.Tensor, sb: torch.Tensor) -> torch.Tensor:
    """The float rescale of an integer accumulator: per-row and per-column scales, at the accumulator's precision
    (float32 where the sums fit it exactly, float64 otherwise)."""
    return acc * sa.to(acc.dtype) * sb.to(acc.dtype)


def peak(a_bits: int, b_bits: int) -> int:
    """The largest |product| of an a_bits by a b_bits quantised value."""
    return qmax(a_bits) * qmax(b_bits)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, numerics: Numerics | None) -> torch.Tensor:
    """``F.linear`` with the weight as the array's B operand (quantised per output channel)."""
    if not active(numerics):
        return F.linear(x, weight, bias)
    out = qmatmul(x, weight.t(), numerics, b_is_weight=True)
    return out if bias is None else out + bias


class NumericLinear(nn.Linear):
    """``nn.Linear`` that computes at ``self.numerics`` when set (``LanguageModel.set_numerics``); same parameters
    and state-dict keys as ``nn.Linear``."""

    numerics: Numerics | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias, self.numerics)
