"""Energy and area constants for logic (MACs, vector lanes), with their sources, and the one logic-scaling rule.

Every number comes from shared/reference/hardware.md (section noted). Energies are published at 45 nm
(Horowitz, ISSCC 2014) and scaled to the accelerator's node; areas are anchored at the node of their source.
Memories have their own models: SRAM from CACTI 7 (:mod:`hwsim.accel.sram`), DRAM by technology
(:mod:`hwsim.accel.dram`).

**Scaling rule** (on-chip logic energy and area): with D(node) the logic density in MTr/mm^2 (CSET "AI Chips" table,
hardware.md §3), the linear shrink factor from node a to node b is s = sqrt(D(a) / D(b)); area scales by
s^2 = D(a)/D(b) and switching energy by s (C ~ feature size at a roughly constant supply voltage, the post-Dennard
regime). D is interpolated log-log between table nodes.
"""

from __future__ import annotations

import math

import numpy as np

# ---- logic density (hardware.md §3, CSET "AI Chips" via LLMCompass supply_chain_model.py), MTr/mm^2 --------------
LOGIC_DENSITY_MTR_MM2: dict[float, float] = {
    250: 0.074, 180: 0.39, 130: 0.92, 90: 1.6, 65: 3.3, 40: 7.7,
    28: 15.3, 20: 22.1, 14: 28.9, 10: 52.5, 7: 96.3, 5: 138.2,
}  # fmt: skip

HOROWITZ_NODE_NM = 45.0  # Horowitz ISSCC 2014 energies are for 45 nm, 0.9 V

# ---- Horowitz ISSCC 2014, 45 nm (hardware.md §3) -----------------------------------------------------------------
# Integer multiply: 8b 0.2 pJ, 32b 3.1 pJ -> power-law fit E = 0.2 * (b/8)^1.98 (exact at both published points).
MULT_8B_PJ = 0.2
MULT_EXPONENT = math.log(3.1 / 0.2) / math.log(4)
# Integer add: 8b 0.03, 16b 0.05, 32b 0.1 pJ -> power-law fit through 8b and 32b, E = 0.03 * (b/8)^0.87.
ADD_8B_PJ = 0.03
ADD_EXPONENT = math.log(0.1 / 0.03) / math.log(4)

# ---- areas -----------------------------------------------------------------------------------------------------
# Per-MAC anchor: TPUv1 matrix unit ~24% of a <=331 mm^2 die at 28 nm for 65,536 int8 MACs -> <=1.2k um^2 per MAC
# including systolic registers and wiring (hardware.md §2, derived). Cross-check (docs/cost-model.md): scaled to
# 7 nm this gives ~190 um^2, vs 405 um^2/PE for Gemmini's 16x16 mesh in the ASAP7 predictive PDK (§1).
MAC_AREA_ANCHOR_UM2 = 1200.0
MAC_AREA_ANCHOR_NODE_NM = 28.0
# Horowitz 45 nm areas (hardware.md §3, not re-verified): 8b mult 282 um^2, 32b mult 3,495; 8b add 36, 32b add 137.
# Used only for ratios: how a PE's area changes with input/accumulator width relative to the int8/int32 anchor,
# and the area of a vector lane (one 32-bit multiplier + one 32-bit adder).
MULT_AREA_8B_UM2 = 282.0
MULT_AREA_EXPONENT = math.log(3495.0 / 282.0) / math.log(4)
ADD_AREA_8B_UM2 = 36.0
ADD_AREA_EXPONENT = math.log(137.0 / 36.0) / math.log(4)


# ---- the scaling rule -----------------------------------------------------------------------------------------
def logic_density(node_nm: float) -> float:
    """MTr/mm^2 at ``node_nm``, log-log interpolated (clamped to the table's ends)."""
    nodes = sorted(LOGIC_DENSITY_MTR_MM2)
    x = math.log(min(max(node_nm, nodes[0]), nodes[-1]))
    xs = [math.log(n) for n in nodes]
    ys = [math.log(LOGIC_DENSITY_MTR_MM2[n]) for n in nodes]
    return float(math.exp(np.interp(x, xs, ys)))


def area_scale(from_nm: float, to_nm: float) -> float:
    """Area factor from ``from_nm`` to ``to_nm``: D(from) / D(to)."""
    return logic_density(from_nm) / logic_density(to_nm)


def energy_scale(from_nm: float, to_nm: float) -> float:
    """Switching-energy factor from ``from_nm`` to ``to_nm``: sqrt(D(from) / D(to))."""
    return math.sqrt(area_scale(from_nm, to_nm))


# ---- energies (pJ) at the accelerator's node -----------------------------------------------------------------
def mult_energy_pj(bits: int, node_nm: float) -> float:
    return MULT_8B_PJ * (bits / 8) ** MULT_EXPONENT * energy_scale(HOROWITZ_NODE_NM, node_nm)


def add_energy_pj(bits: int, node_nm: float) -> float:
    return ADD_8B_PJ * (bits / 8) ** ADD_EXPONENT * energy_scale(HOROWITZ_NODE_NM, node_nm)


def multiplier_bits(input_bits: int, weight_bits: int | None) -> float:
    """The square multiplier width with the energy and area of an input_bits x weight_bits one: an array
    multiplier's partial products grow with the product of its operand widths (Horowitz's 8 -> 32-bit ratio gives
    an exponent of ~2 on a square multiplier), so sqrt(input_bits x weight_bits)."""
    return math.sqrt(input_bits * (weight_bits or input_bits))


def mac_energy_pj(input_bits: int, acc_bits: int, node_nm: float, weight_bits: int | None = None) -> float:
    """One MAC: an input_bits x weight_bits multiply (square input_bits by default) and an acc_bits accumulate."""
    return mult_energy_pj(multiplier_bits(input_bits, weight_bits), node_nm) + add_energy_pj(acc_bits, node_nm)


# Vector-unit work per element, as (adds, multiplies) at the accumulator width. Modelling choice, derived from the
# op sequence (no published table): layernorm = mean-sum, subtract, variance-sum, bias add (4 adds) + square,
# scale by 1/std, gain (3 mults); softmax (I-BERT integer softmax, hardware.md §1 PR 237) = max, subtract, sum and
# the two adds of the second-order exp polynomial (5 adds) + the polynomial's square and scale and the final
# normalisation (3 mults); residual add = 1 add; relu = 1 compare (an add).
VECTOR_OPS_PER_ELEMENT: dict[str, tuple[int, int]] = {
    "layernorm": (4, 3),
    "softmax": (5, 3),
    "residual_add": (1, 0),
    "relu": (1, 0),
    "rescale": (0, 1),  # fused attention's online softmax: one multiply per rescaled element (hwsim.accel.fusion)
}


def vector_ops_per_element(kind: str) -> int:
    adds, mults = VECTOR_OPS_PER_ELEMENT[kind]
    return adds + mults


def vector_energy_pj_per_element(kind: str, acc_bits: int, node_nm: float) -> float:
    adds, mults = VECTOR_OPS_PER_ELEMENT[kind]
    return adds * add_energy_pj(acc_bits, node_nm) + mults * mult_energy_pj(acc_bits, node_nm)


# ---- areas (mm^2) at the accelerator's node ------------------------------------------------------------------
def _mult_area(bits: int) -> float:
    return MULT_AREA_8B_UM2 * (bits / 8) ** MULT_AREA_EXPONENT


def _add_area(bits: int) -> float:
    return ADD_AREA_8B_UM2 * (bits / 8) ** ADD_AREA_EXPONENT


def pe_area_um2(input_bits: int, acc_bits: int, node_nm: float, weight_bits: int | None = None) -> float:
    """One PE: the TPUv1 int8/int32 anchor, scaled by datapath width (Horowitz area ratios) and node."""
    mult = _mult_area(multiplier_bits(input_bits, weight_bits))
    width = (mult + _add_area(acc_bits)) / (_mult_area(8) + _add_area(32))
    return MAC_AREA_ANCHOR_UM2 * width * area_scale(MAC_AREA_ANCHOR_NODE_NM, node_nm)


def pe_array_area_mm2(rows: int, cols: int, input_bits: int, acc_bits: int, node_nm: float,
                      weight_bits: int | None = None) -> float:  # fmt: skip
    return rows * cols * pe_area_um2(input_bits, acc_bits, node_nm, weight_bits) * 1e-6


def vector_unit_area_mm2(lanes: int, acc_bits: int, node_nm: float) -> float:
    """One acc_bits multiplier + adder per lane (Horowitz 45 nm areas, scaled to the node)."""
    lane_um2 = (_mult_area(acc_bits) + _add_area(acc_bits)) * area_scale(HOROWITZ_NODE_NM, node_nm)
    return lanes * lane_um2 * 1e-6
