"""Energy and area constants, with their sources, and the one technology-scaling rule.

Every number comes from /work/shared/reference/hardware.md (section noted). Energies are published at 45 nm
(Horowitz, ISSCC 2014) and scaled to the accelerator's node; areas are anchored at the node of their source.

**Scaling rule** (one rule for all on-chip logic and SRAM energy, and for logic area): with D(node) the logic density
in MTr/mm^2 (CSET "AI Chips" table, hardware.md §3), the linear shrink factor from node a to node b is
s = sqrt(D(a) / D(b)); area scales by s^2 = D(a)/D(b) and switching energy by s (C ~ feature size at a roughly
constant supply voltage, the post-Dennard regime). D is interpolated log-log between table nodes. DRAM energy is
off-chip and not scaled.
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
# SRAM: 8 KB 64-bit read 10 pJ; 32 KB 20 pJ and 1 MB 100 pJ (widely reproduced) -> E_64b = 10 * sqrt(S / 8 KiB)
# (gives 20 pJ at 32 KB exactly and 113 pJ at 1 MB). SRAMs above 1 MiB are banked in 1 MiB macros: one access
# touches one bank, so the per-access energy saturates at the 1 MiB value (H-tree wire energy is not modelled).
SRAM_8KB_64B_PJ = 10.0
SRAM_REF_BYTES = 8 * 1024
SRAM_BANK_MAX_BYTES = 1024 * 1024
# DRAM: Horowitz gives 20-40 pJ/bit for DDR3; Han et al. NIPS 2015 Table 1 gives 640 pJ per 32-bit read
# (= 20 pJ/bit). Use the low end, 20 pJ/bit, for every preset.
DRAM_PJ_PER_BIT = 20.0

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
# High-density 6T SRAM bitcell, um^2 (hardware.md §3): TSMC 16 nm 0.07; Intel 22 nm HD 0.092; Samsung 10 nm 0.040;
# TSMC 7 nm 0.027; TSMC N5 0.021; N3B 0.0199. Other nodes: the nearest entry, scaled by the rule above.
BITCELL_UM2: dict[float, float] = {22: 0.092, 16: 0.070, 10: 0.040, 7: 0.027, 5: 0.021, 3: 0.0199}
# Array area efficiency (bitcells / macro area) by macro size, CACTI-derived via LLMCompass cost_model.py
# (hardware.md §3). Interpolated log-linearly in size; below 4 KB the 4 KB value; above 1 MiB, 1 MiB macros.
SRAM_EFFICIENCY: dict[int, float] = {
    4 * 1024: 0.076, 8 * 1024: 0.142, 16 * 1024: 0.247, 32 * 1024: 0.393, 64 * 1024: 0.559,
    128 * 1024: 0.704, 256 * 1024: 0.526, 512 * 1024: 0.602, 1024 * 1024: 0.561,
}  # fmt: skip


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


def mac_energy_pj(input_bits: int, acc_bits: int, node_nm: float) -> float:
    """One MAC: an input_bits x input_bits multiply and an acc_bits accumulate."""
    return mult_energy_pj(input_bits, node_nm) + add_energy_pj(acc_bits, node_nm)


def sram_energy_pj_per_byte(size_bytes: int, node_nm: float) -> float:
    """Per byte accessed in an SRAM of ``size_bytes`` (64-bit access energy / 8)."""
    bank = min(max(size_bytes, 1), SRAM_BANK_MAX_BYTES)
    per_access = SRAM_8KB_64B_PJ * math.sqrt(bank / SRAM_REF_BYTES)
    return per_access / 8 * energy_scale(HOROWITZ_NODE_NM, node_nm)


def dram_energy_pj_per_byte() -> float:
    return DRAM_PJ_PER_BIT * 8


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


def pe_area_um2(input_bits: int, acc_bits: int, node_nm: float) -> float:
    """One PE: the TPUv1 int8/int32 anchor, scaled by datapath width (Horowitz area ratios) and node."""
    width = (_mult_area(input_bits) + _add_area(acc_bits)) / (_mult_area(8) + _add_area(32))
    return MAC_AREA_ANCHOR_UM2 * width * area_scale(MAC_AREA_ANCHOR_NODE_NM, node_nm)


def pe_array_area_mm2(rows: int, cols: int, input_bits: int, acc_bits: int, node_nm: float) -> float:
    return rows * cols * pe_area_um2(input_bits, acc_bits, node_nm) * 1e-6


def vector_unit_area_mm2(lanes: int, acc_bits: int, node_nm: float) -> float:
    """One acc_bits multiplier + adder per lane (Horowitz 45 nm areas, scaled to the node)."""
    lane_um2 = (_mult_area(acc_bits) + _add_area(acc_bits)) * area_scale(HOROWITZ_NODE_NM, node_nm)
    return lanes * lane_um2 * 1e-6


def bitcell_um2(node_nm: float) -> float:
    nearest = min(BITCELL_UM2, key=lambda n: (abs(math.log(n / node_nm)), n))
    return BITCELL_UM2[nearest] * area_scale(nearest, node_nm)


def sram_efficiency(size_bytes: int) -> float:
    """Array efficiency of a macro of ``size_bytes`` (table value; log-linear between entries, clamped)."""
    sizes = sorted(SRAM_EFFICIENCY)
    macro = min(max(size_bytes, sizes[0]), sizes[-1])
    xs = [math.log(s) for s in sizes]
    return float(np.interp(math.log(macro), xs, [SRAM_EFFICIENCY[s] for s in sizes]))


def sram_area_mm2(size_bytes: int, node_nm: float) -> float:
    """Macro area of an SRAM of ``size_bytes`` (0 for an empty SRAM).

    At each table size: bits x bitcell / efficiency. Between table sizes the *area* is interpolated log-log (so area
    never decreases with capacity: interpolating the efficiency instead would make a 5 KB SRAM smaller than a
    4 KB one); below 4 KB area is proportional to size at the 4 KB density; above 1 MiB the SRAM is built from
    1 MiB macros (proportional at the 1 MiB density).
    """
    if size_bytes <= 0:
        return 0.0
    sizes = sorted(SRAM_EFFICIENCY)
    cell_mm2 = bitcell_um2(node_nm) * 1e-6
    areas = [s * 8 * cell_mm2 / SRAM_EFFICIENCY[s] for s in sizes]
    if size_bytes <= sizes[0]:
        return areas[0] * size_bytes / sizes[0]
    if size_bytes >= sizes[-1]:
        return areas[-1] * size_bytes / sizes[-1]
    xs = [math.log(s) for s in sizes]
    return float(math.exp(np.interp(math.log(size_bytes), xs, [math.log(a) for a in areas])))
