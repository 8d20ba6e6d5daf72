"""Numerics of an accelerator: the bit widths its array computes with, shared by the cost model and the torch
evaluation (``hwsim.nn.quant``), so that perplexity is measured at the widths the hardware is costed at.

``weight_bits``: stored width of every parameter operand (4, 8 or 16; 4-bit weights pack two to a byte);
``act_bits``: width of every activation operand entering the array (8 or 16); ``acc_bits``: accumulator width,
which must hold a K-long sum of products without overflow; ``scheme``: how values are quantised:

  rtn   symmetric round-to-nearest: weights per output channel, activations per token (dynamic), integer range
        [-(2^(b-1) - 1), 2^(b-1) - 1]; exact integer accumulation, one float rescale per output
  g128  as rtn, but weights in groups of 128 along the reduction dimension, each with its own scale (the
        accumulation is exact per group, the groups' rescaled sums added in float)
  float no quantisation (the float32 model): perplexity of the float model, costs at the design's widths
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.errors import SpecError

WEIGHT_BITS = (4, 8, 16)
ACT_BITS = (8, 16)
SCHEMES = ("rtn", "g128", "float")
GROUP = 128  # g128: weights quantised per group of 128 reduction elements (GPTQ/AWQ's common group size)


@dataclass(frozen=True, kw_only=True)
class Numerics:
    """Bit widths and quantisation scheme of one design (see the module docstring)."""

    weight_bits: int = 8
    act_bits: int = 8
    acc_bits: int = 32
    scheme: str = "rtn"

    def __post_init__(self) -> None:
        for name, allowed in (("weight_bits", WEIGHT_BITS), ("act_bits", ACT_BITS)):
            value = getattr(self, name)
            if isinstance(value, bool) or value not in allowed:
                raise SpecError(f"{name} must be one of {', '.join(map(str, allowed))} (the widths an array packs), "
                                f"got {value!r}")
        if isinstance(self.acc_bits, bool) or not isinstance(self.acc_bits, int) or not 8 <= self.acc_bits <= 64:
            raise SpecError(f"acc_bits must be an integer in 8..64, got {self.acc_bits!r}")
        if self.scheme not in SCHEMES:
            raise SpecError(f"unknown quantisation scheme {self.scheme!r} (choose {', '.join(SCHEMES)})")

    @property
    def label(self) -> str:
        """``W4A8``, ``W8A8-g128``, ``float``: how reports name it."""
        if self.scheme == "float":
            return "float"
        return f"W{self.weight_bits}A{self.act_bits}" + ("" if self.scheme == "rtn" else f"-{self.scheme}")

    def check_accumulator(self, k: int, what: str = "a GEMM") -> None:
        """The largest K-long sum of products must fit the signed accumulator (no overflow check in hardware)."""
        peak = k * (2 ** (self.weight_bits - 1) - 1) * (2 ** (self.act_bits - 1) - 1)
        if peak > 2 ** (self.acc_bits - 1) - 1:
            raise SpecError(f"acc_bits {self.acc_bits} overflows on {what}: a sum of K = {k:,} products of "
                            f"{self.weight_bits}-bit by {self.act_bits}-bit values reaches {peak:,}")

    def to_dict(self) -> dict:
        return {"weight_bits": self.weight_bits, "act_bits": self.act_bits, "acc_bits": self.acc_bits,
                "scheme": self.scheme}


FLOAT = Numerics(scheme="float")


def max_reduction(spec) -> int:
    """The longest reduction (K) of any GEMM the model runs: for the accumulator check."""
    from hwsim.workload import build_workload

    workload = build_workload(spec, spec.full_heads())
    return max(int(g.k) for layer in workload.all_layers for g in layer.gemms)
