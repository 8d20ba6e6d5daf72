"""Per-layer and whole-model cost of a workload on an accelerator: cycles, latency, traffic, energy, area.

Per layer: every GEMM is costed by :func:`hwsim.accel.gemm.gemm_cost` (GEMMs run one after another on the array);
vector ops (layernorm, softmax, residual, relu) run on the vector unit in ceil(elements * ops / lanes) cycles
(ops per element in :data:`hwsim.accel.tech.VECTOR_OPS_PER_ELEMENT`). With ``vector_overlap`` the vector unit works
on earlier tiles while the array computes, so layer cycles = max(array, vector); otherwise their sum. Each vector
op reads and writes its elements once in the ifmap (activation) buffer at input width.

Weights: with ``weights_on_chip`` the chip has a weight SRAM holding every transformer layer's parameters (sized
to the model, so pruning shrinks it); weight operands of the layers' GEMMs are then read from it instead of DRAM.
The output layer's weights (embedding / adaptive-softmax tables) always stream from DRAM.

Area: a layer's ``area_mm2`` is the weight-SRAM area its own parameters need (0 without ``weights_on_chip``), so
layers add up and pruning a layer shrinks its area. The model total adds the fixed chip area: PE array, ifmap,
filter and ofmap SRAMs and the vector unit (:class:`AreaBreakdown`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Union

import numpy as np

from hwsim.accel import ert, tech
from hwsim.accel.config import AccelConfig
from hwsim.accel.gemm import gemm_cost
from hwsim.workload import Gemm, VectorOp, Workload

Num = Union[int, float, np.ndarray]

# Additive integer counts of one layer (the vectorised path gathers these from a per-heads table).
COUNT_KEYS = (
    "macs", "params", "param_bytes", "array_cycles", "stall_cycles", "vector_cycles", "cycles",
    "sram_ifmap_bytes", "sram_filter_bytes", "sram_ofmap_bytes", "sram_vector_bytes", "sram_weight_bytes",
    "dram_bytes", *(f"vector_{kind}_elements" for kind in tech.VECTOR_OPS_PER_ELEMENT),
)  # fmt: skip
SRAM_KEYS = ("sram_ifmap_bytes", "sram_filter_bytes", "sram_ofmap_bytes", "sram_vector_bytes", "sram_weight_bytes")


@dataclass(frozen=True, kw_only=True)
class LayerCost:
    """Cost of one layer (or a sum of layers). Traffic in bytes, energy in pJ, area in mm^2."""

    name: str
    heads: int
    macs: int
    params: int
    param_bytes: int
    array_cycles: int  # systolic array incl. DRAM stalls
    stall_cycles: int
    vector_cycles: int
    cycles: int
    latency_s: float
    sram_ifmap_bytes: int
    sram_filter_bytes: int
    sram_ofmap_bytes: int
    sram_vector_bytes: int
    sram_weight_bytes: int
    sram_bytes: int
    dram_bytes: int
    energy_mac_pj: float
    energy_sram_pj: float
    energy_dram_pj: float
    energy_vector_pj: float
    energy_leak_pj: float  # SRAM leakage (CACTI standby power) over the layer's latency
    energy_pj: float
    area_mm2: float

    def __add__(self, other: "LayerCost") -> "LayerCost":
        values = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in dataclasses.fields(self)
            if f.name != "name"
        }
        return LayerCost(name="total", **values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class AreaBreakdown:
    pe_array_mm2: float
    ifmap_sram_mm2: float
    filter_sram_mm2: float
    ofmap_sram_mm2: float
    vector_unit_mm2: float
    weight_sram_mm2: float
    total_mm2: float


@dataclass(frozen=True, kw_only=True)
class ModelCost:
    """``layers``: transformer layers then the output layer; ``total``: their sum, area = whole chip."""

    accel: AccelConfig
    heads_per_layer: tuple[int, ...]
    batch: int
    layers: tuple[LayerCost, ...]
    total: LayerCost
    embedding_params: int
    weight_sram_bytes: int  # 0 without weights_on_chip
    fits_on_chip: bool  # parameters fit in the weight SRAM (weights_on_chip) or the filter buffer
    area: AreaBreakdown
    leakage_pj: dict[str, float]  # SRAM leakage energy over the whole run, per buffer (sums to total.energy_leak_pj)

    @property
    def param_bytes_total(self) -> int:
        return self.total.param_bytes

    def to_json_dict(self) -> dict[str, Any]:
        total = self.total.to_dict()
        total.update(
            embedding_params=self.embedding_params,
            param_bytes_total=self.param_bytes_total,
            weight_sram_bytes=self.weight_sram_bytes,
            fits_on_chip=self.fits_on_chip,
            area_breakdown_mm2=dataclasses.asdict(self.area),
            leakage_breakdown_pj=dict(self.leakage_pj),
        )
        return {
            "accel": self.accel.to_dict(),
            "heads_per_layer": list(self.heads_per_layer),
            "batch": self.batch,
            "layers": [layer.to_dict() for layer in self.layers],
            "total": total,
        }


# ---- counts (work on ints and on int arrays) ---------------------------------------------------------------------
def layer_counts(
    gemms: Iterable[Gemm], vector_ops: Iterable[VectorOp], params: Num, accel: AccelConfig, *, weights_resident: bool,
    weight_bits: int,
) -> dict[str, Num]:
    """Additive counts (:data:`COUNT_KEYS`) of one layer.

    ``weights_resident``: the GEMMs' weight operands are read from the weight SRAM instead of DRAM. With
    ``accel.activations_on_chip`` an activation operand or output that fits in half the ifmap buffer stays there.
    """
    out: dict[str, Num] = {key: 0 for key in COUNT_KEYS}
    out["params"] = params
    out["param_bytes"] = -(-params * weight_bits // 8)
    room = accel.ifmap_sram_bytes // 2  # the other half double-buffers

    def fits(words: Num) -> Num:
        return accel.activations_on_chip & (words * accel.input_bytes <= room)

    for g in gemms:
        b_on = weights_resident if g.b_is_weight else fits(g.k * g.n)
        c = gemm_cost(g.m, g.n, g.k, accel, g.repeat, a_on_chip=fits(g.m * g.k), b_on_chip=b_on,
                      c_on_chip=fits(g.m * g.n))  # fmt: skip
        dram = c.dram_bytes
        if weights_resident and g.b_is_weight:
            out["sram_weight_bytes"] = out["sram_weight_bytes"] + c.onchip_filter_reads * accel.input_bytes
        out["macs"] = out["macs"] + c.macs
        out["array_cycles"] = out["array_cycles"] + c.total_cycles
        out["stall_cycles"] = out["stall_cycles"] + c.stall_cycles
        out["sram_ifmap_bytes"] = out["sram_ifmap_bytes"] + c.sram_ifmap_bytes
        out["sram_filter_bytes"] = out["sram_filter_bytes"] + c.sram_filter_bytes
        out["sram_ofmap_bytes"] = out["sram_ofmap_bytes"] + c.sram_ofmap_bytes
        out["dram_bytes"] = out["dram_bytes"] + dram
    for v in vector_ops:
        ops = tech.vector_ops_per_element(v.kind)
        out["vector_cycles"] = out["vector_cycles"] + -(-v.elements * ops // accel.vector_lanes)
        out["sram_vector_bytes"] = out["sram_vector_bytes"] + 2 * v.elements * accel.input_bytes
        key = f"vector_{v.kind}_elements"
        out[key] = out[key] + v.elements
    if accel.vector_overlap:
        out["cycles"] = np.maximum(out["array_cycles"], out["vector_cycles"])
    else:
        out["cycles"] = out["array_cycles"] + out["vector_cycles"]
    return {key: _int(value) for key, value in out.items()}


def finish_layer(
    counts: dict[str, Num], accel: AccelConfig, weight_sram_bytes: Num, weight_area_per_byte: Num
) -> dict[str, Num]:
    """Latency, energies and area of a layer from its counts (same float operations for ints and arrays)."""
    node = accel.tech_node_nm
    e_mac = counts["macs"] * tech.mac_energy_pj(accel.input_bits, accel.acc_bits, node)
    if_pj = ert.sram_pj_per_byte(accel, "ifmap")
    e_sram = (
        counts["sram_ifmap_bytes"] * if_pj
        + counts["sram_filter_bytes"] * ert.sram_pj_per_byte(accel, "filter")
        + counts["sram_ofmap_bytes"] * ert.sram_pj_per_byte(accel, "ofmap")
        + counts["sram_vector_bytes"] * if_pj
        + counts["sram_weight_bytes"] * _weight_sram(ert.sram_pj_per_byte, accel, weight_sram_bytes)
    )
    e_dram = counts["dram_bytes"] * ert.dram_pj_per_byte(accel)
    latency_s = counts["cycles"] / accel.clock_hz
    leak_mw = fixed_leakage_mw(accel) + _weight_sram(ert.sram_leakage_mw, accel, weight_sram_bytes)
    e_leak = latency_s * leak_mw * 1e9  # mW x s = mJ = 1e9 pJ
    e_vec = 0.0
    for kind in tech.VECTOR_OPS_PER_ELEMENT:
        per_element = tech.vector_energy_pj_per_element(kind, accel.acc_bits, node)
        e_vec = e_vec + counts[f"vector_{kind}_elements"] * per_element
    sram_bytes = sum(counts[k] for k in SRAM_KEYS)
    return {
        "macs": counts["macs"],
        "params": counts["params"],
        "param_bytes": counts["param_bytes"],
        "array_cycles": counts["array_cycles"],
        "stall_cycles": counts["stall_cycles"],
        "vector_cycles": counts["vector_cycles"],
        "cycles": counts["cycles"],
        "latency_s": latency_s,
        "sram_ifmap_bytes": counts["sram_ifmap_bytes"],
        "sram_filter_bytes": counts["sram_filter_bytes"],
        "sram_ofmap_bytes": counts["sram_ofmap_bytes"],
        "sram_vector_bytes": counts["sram_vector_bytes"],
        "sram_weight_bytes": counts["sram_weight_bytes"],
        "sram_bytes": sram_bytes,
        "dram_bytes": counts["dram_bytes"],
        "energy_mac_pj": e_mac,
        "energy_sram_pj": e_sram,
        "energy_dram_pj": e_dram,
        "energy_vector_pj": e_vec,
        "energy_leak_pj": e_leak,
        "energy_pj": e_mac + e_sram + e_dram + e_vec + e_leak,
        "area_mm2": counts["param_bytes"] * weight_area_per_byte,
    }


def _weight_sram(figure, accel: AccelConfig, size_bytes: Num) -> Num:
    """``figure(accel, "weight", size)`` of the weight SRAM (0 when there is none); arrays: one call per size."""
    if np.ndim(size_bytes) == 0:
        return figure(accel, "weight", int(size_bytes)) if size_bytes > 0 else 0.0
    sizes, index = np.unique(size_bytes, return_inverse=True)
    values = np.array([figure(accel, "weight", int(s)) if s > 0 else 0.0 for s in sizes])
    return values[index].reshape(np.shape(size_bytes))


def fixed_leakage_mw(accel: AccelConfig) -> float:
    """Standby power of the ifmap, filter and ofmap SRAMs (CACTI), summed in that order."""
    return sum(ert.sram_leakage_mw(accel, b) for b in ert.BUFFERS)


def leakage_breakdown_pj(accel: AccelConfig, latency_s: float, weight_sram_bytes: int) -> dict[str, float]:
    """SRAM leakage energy per buffer over ``latency_s`` (the weight SRAM only when it exists)."""
    out = {f"{b}_sram": latency_s * ert.sram_leakage_mw(accel, b) * 1e9 for b in ert.BUFFERS}
    out["weight_sram"] = latency_s * _weight_sram(ert.sram_leakage_mw, accel, weight_sram_bytes) * 1e9
    return out


def weight_sram_area_per_byte(weight_sram_bytes: int, accel: AccelConfig) -> float:
    if weight_sram_bytes <= 0:
        return 0.0
    return ert.sram_area_mm2(accel, "weight", weight_sram_bytes) / weight_sram_bytes


def fixed_area(accel: AccelConfig) -> dict[str, float]:
    node = accel.tech_node_nm
    return {
        "pe_array_mm2": tech.pe_array_area_mm2(accel.rows, accel.cols, accel.input_bits, accel.acc_bits, node),
        "ifmap_sram_mm2": ert.sram_area_mm2(accel, "ifmap"),
        "filter_sram_mm2": ert.sram_area_mm2(accel, "filter"),
        "ofmap_sram_mm2": ert.sram_area_mm2(accel, "ofmap"),
        "vector_unit_mm2": tech.vector_unit_area_mm2(accel.vector_lanes, accel.acc_bits, node),
    }


def fixed_area_mm2(accel: AccelConfig) -> float:
    parts = fixed_area(accel)
    return (
        parts["pe_array_mm2"] + parts["ifmap_sram_mm2"] + parts["filter_sram_mm2"] + parts["ofmap_sram_mm2"]
        + parts["vector_unit_mm2"]
    )  # fmt: skip


# ---- the scalar path ------------------------------------------------------------------------------------------
def model_cost(workload: Workload, accel: AccelConfig) -> ModelCost:
    """Per-layer and total cost of ``workload`` on ``accel``."""
    weight_bits = workload.spec.weight_bits
    counts = [
        layer_counts(layer.gemms, layer.vector_ops, layer.params, accel, weights_resident=accel.weights_on_chip,
                     weight_bits=weight_bits)  # fmt: skip
        for layer in workload.layers
    ]
    out = workload.output
    counts.append(layer_counts(out.gemms, out.vector_ops, 0, accel, weights_resident=False, weight_bits=weight_bits))
    weight_sram = sum(c["param_bytes"] for c in counts) if accel.weights_on_chip else 0
    per_byte = weight_sram_area_per_byte(weight_sram, accel)
    layers = tuple(
        LayerCost(name=layer.name, heads=layer.heads, **finish_layer(c, accel, weight_sram, per_byte))
        for layer, c in zip(workload.all_layers, counts)
    )
    total = layers[0]
    for layer in layers[1:]:
        total = total + layer
    parts = fixed_area(accel)
    chip = fixed_area_mm2(accel) + total.area_mm2
    area = AreaBreakdown(**parts, weight_sram_mm2=total.area_mm2, total_mm2=chip)
    fits = True if accel.weights_on_chip else total.param_bytes <= accel.filter_sram_bytes
    return ModelCost(
        accel=accel,
        heads_per_layer=workload.heads_per_layer,
        batch=workload.batch,
        layers=layers,
        total=dataclasses.replace(total, area_mm2=chip),
        embedding_params=workload.embedding_params,
        weight_sram_bytes=weight_sram,
        fits_on_chip=fits,
        area=area,
        leakage_pj=leakage_breakdown_pj(accel, total.latency_s, weight_sram),
    )


def _int(x: Num) -> Num:
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return int(x)
    if isinstance(x, np.generic):
        return int(x)
    return x
