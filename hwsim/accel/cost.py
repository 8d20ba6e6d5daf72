"""Per-layer and whole-model cost of a workload on an accelerator: cycles, latency, traffic, energy, area.

Per layer: the operators run in the workload's order (``hwsim.accel.ops``): each GEMM by
:func:`hwsim.accel.gemm.gemm_cost`, or, with ``fuse_attention``, each head's attention as one fused kernel
(``hwsim.accel.fusion``); activations stay on chip where the liveness pass (``hwsim.accel.residency``) allows;
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

Totals: integer counts add exactly; latency is total cycles / clock; float totals (energies) add the layers in groups of
:func:`layer_group` consecutive layers (each group left to right, then the groups left to right), the order in
which ``hwsim.accel.batch`` adds its per-group tables, so both paths agree bit for bit. The weight-SRAM energy,
which depends on the whole model's weight bytes, is added to the totals once: total weight-SRAM bytes x energy
per byte.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np

from hwsim.accel import ert, tech
from hwsim.accel.config import AccelConfig
from hwsim.accel.kept import Kept, decode_kept
from hwsim.accel.mapping import packed_bytes
from hwsim.accel.ops import attention_op, gemm_op, schedule
from hwsim.workload import DECODE, AttentionCore, Gemm, LayerWorkload, Step, Workload

Num = Union[int, float, np.ndarray]

# DRAM bytes by what moves, beyond weights / activations / partial sums (parts of those two; non-zero in decode
# steps, except the persistent vectors, a part of the weights in every pass).
CLASS_KEYS = ("dram_persistent_bytes", "dram_position_bytes", "dram_cache_read_bytes", "dram_cache_write_bytes")
# Additive integer counts of one layer (the vectorised path gathers these from a per-heads table).
COUNT_KEYS = (
    "macs", "params", "param_bytes", "array_cycles", "stall_cycles", "vector_cycles", "cycles",
    "sram_ifmap_bytes", "sram_filter_bytes", "sram_ofmap_bytes", "sram_vector_bytes", "sram_weight_bytes",
    "sram_bytes", "sram_write_bytes", "sram_ifmap_write_bytes", "sram_filter_write_bytes", "sram_ofmap_write_bytes",
    "sram_vector_write_bytes", "dram_bytes", "dram_weight_bytes", "dram_activation_bytes", "dram_psum_bytes",
    "spill_bytes", *(f"vector_{kind}_elements" for kind in tech.VECTOR_OPS_PER_ELEMENT), *CLASS_KEYS,
)  # fmt: skip
SRAM_KEYS = ("sram_ifmap_bytes", "sram_filter_bytes", "sram_ofmap_bytes", "sram_vector_bytes", "sram_weight_bytes")
# The written part of each buffer's bytes (the weight SRAM is only read: weights are loaded before the run).
SRAM_WRITE_KEYS = ("sram_ifmap_write_bytes", "sram_filter_write_bytes", "sram_ofmap_write_bytes",
                   "sram_vector_write_bytes")  # fmt: skip
# Counts of one operator (a GEMM, the fused attention kernel or a vector op), summed into the layer's counts.
OP_KEYS = (
    "macs", "array_cycles", "stall_cycles", "sram_ifmap_bytes", "sram_filter_bytes", "sram_ofmap_bytes",
    "sram_weight_bytes", "sram_ifmap_write_bytes", "sram_filter_write_bytes", "sram_ofmap_write_bytes", "dram_bytes",
    "dram_ifmap_bytes", "dram_filter_bytes", "dram_ofmap_bytes", "dram_weight_bytes", "dram_activation_bytes",
    "dram_psum_bytes", *CLASS_KEYS,
)  # fmt: skip
# The operator counts a layer sums as they are (the per-operand DRAM split stays with each operator).
SUMMED_OP_KEYS = tuple(key for key in OP_KEYS if key in COUNT_KEYS)


@dataclass(frozen=True, kw_only=True)
class OpCost:
    """One operator of a layer: its shape, where its operands live and its counts (bytes, cycles)."""

    name: str
    kind: str  # "gemm" or "attention" (the fused per-head kernel)
    m: int  # attention: queries
    n: int  # attention: keys with positions
    k: int  # attention: d_head
    repeat: int
    on_chip: str  # operands held on chip instead of DRAM, e.g. "a,c" (attention: tensor names)
    counts: dict[str, int]  # OP_KEYS
    mapping: dict[str, Any] | None  # physical mode: hwsim.accel.mapping.Mapping / fusion.FusedPlan fields

    def to_dict(self) -> dict[str, Any]:
        out = {key: getattr(self, key) for key in ("name", "kind", "m", "n", "k", "repeat", "on_chip")}
        return {**out, **self.counts, "mapping": self.mapping}


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
    sram_write_bytes: int  # the part of sram_bytes that writes an SRAM (charged CACTI's write energy)
    dram_bytes: int
    dram_weight_bytes: int  # dram_bytes by what moves: parameters,
    dram_activation_bytes: int  # activations (inputs, outputs, intermediates not kept on chip),
    dram_psum_bytes: int  # partial sums spilled from the accumulator and read back
    spill_bytes: int  # activations_on_chip: activation bytes of tensors the residency pass could not keep
    dram_persistent_bytes: int  # the persistent key/value vectors' part of dram_weight_bytes
    dram_position_bytes: int  # decode: precomputed position keys (part of dram_activation_bytes)
    dram_cache_read_bytes: int  # decode: cached keys/values read (part of dram_activation_bytes)
    dram_cache_write_bytes: int  # decode: the new token's keys/values written to the cache (likewise)
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
    ops: tuple[tuple[OpCost, ...], ...] = ()  # per layer: its GEMMs / fused attention, in execution order
    step: Step | None = None  # the pass costed (None: the segment pass)
    kept: Kept | None = None  # decode: what stays on chip between tokens (hwsim.accel.kept)
    cache_bytes: int = 0  # decode: keys and values of every cached token after the step's write

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
            "layers": [
                {**layer.to_dict(), "gemms": [op.to_dict() for op in ops]}
                for layer, ops in zip(self.layers, self.ops or ((),) * len(self.layers))
            ],
            "total": total,
        }


# ---- counts ----------------------------------------------------------------------------------------------------
def layer_ops(layer: LayerWorkload, accel: AccelConfig, *, weights_resident: bool,
              kept: frozenset[str] = frozenset()) -> tuple[list[OpCost], dict]:  # fmt: skip
    """Costs of the layer's array operators in order, and the extra vector elements of fused kernels by kind.
    ``kept``: tensors held on chip across tokens (a decode step's cache, position keys; hwsim.accel.decode)."""
    ops, resident = schedule(layer, accel)
    resident = resident | kept
    out: list[OpCost] = []
    extra: dict[str, int] = {}
    for op in ops:
        if isinstance(op, Gemm):
            res = gemm_op(op, accel, resident, weights_resident)
            shape = (op.m, op.n, op.k, op.repeat)
        elif isinstance(op, AttentionCore):
            res = attention_op(op, accel, resident, weights_resident)
            shape = (op.t, op.length, op.d_head, op.repeat)
            for kind, elements in res["vector"].items():
                extra[kind] = extra.get(kind, 0) + elements
        else:
            continue
        kind = "gemm" if isinstance(op, Gemm) else "attention"
        out.append(OpCost(name=op.name, kind=kind, m=shape[0], n=shape[1], k=shape[2], repeat=shape[3],
                          on_chip=res["on_chip"], counts=res["counts"], mapping=res["mapping"]))  # fmt: skip
    return out, extra


def layer_counts(
    layer: LayerWorkload, accel: AccelConfig, *, weights_resident: bool, weight_bits: int,
    kept: frozenset[str] = frozenset(),
) -> tuple[dict[str, int], list[OpCost]]:
    """Additive counts (:data:`COUNT_KEYS`) of one layer, and its operators' costs."""
    out: dict[str, int] = {key: 0 for key in COUNT_KEYS}
    out["params"] = int(layer.params)
    out["param_bytes"] = packed_bytes(int(layer.params), weight_bits)
    ops, extra = layer_ops(layer, accel, weights_resident=weights_resident, kept=kept)
    for op in ops:
        for key in SUMMED_OP_KEYS:
            out[key] += int(op.counts[key])
    if accel.activations_on_chip:
        out["spill_bytes"] = out["dram_activation_bytes"]
    elements = {kind: 0 for kind in tech.VECTOR_OPS_PER_ELEMENT}
    for kind, count in [*((v.kind, int(v.elements)) for v in layer.vector_ops), *extra.items()]:
        elements[kind] += count
        out["sram_vector_bytes"] += 2 * count * accel.input_bytes  # each element read and its result written
        out["sram_vector_write_bytes"] += count * accel.input_bytes
    for kind, count in elements.items():
        out["vector_cycles"] += -(-count * tech.vector_ops_per_element(kind) // accel.vector_lanes)
        out[f"vector_{kind}_elements"] = count
    out["sram_bytes"] = sum(out[k] for k in SRAM_KEYS)
    out["sram_write_bytes"] = sum(out[k] for k in SRAM_WRITE_KEYS)
    if accel.vector_overlap:
        out["cycles"] = max(out["array_cycles"], out["vector_cycles"])
    else:
        out["cycles"] = out["array_cycles"] + out["vector_cycles"]
    return out, ops


# Float results of one layer that do not depend on the rest of the model (the weight-SRAM term is added apart).
FLOAT_KEYS = ("energy_mac_pj", "energy_sram_pj", "energy_dram_pj", "energy_vector_pj", "energy_leak_pj", "energy_pj")


def layer_floats(counts: dict[str, Num], accel: AccelConfig) -> dict[str, Num]:
    """Energies of a layer from its counts, without the weight SRAM's energy and leakage (ints or arrays)."""
    node = accel.tech_node_nm
    e_mac = counts["macs"] * tech.mac_energy_pj(accel.input_bits, accel.acc_bits, node, accel.weight_bits)
    # Each buffer's bytes at CACTI's read energy per byte, the written part at its write energy; the vector unit
    # reads and writes the ifmap buffer.
    e_sram = 0.0
    for buffer, total, written in (("ifmap", "sram_ifmap_bytes", "sram_ifmap_write_bytes"),
                                   ("filter", "sram_filter_bytes", "sram_filter_write_bytes"),
                                   ("ofmap", "sram_ofmap_bytes", "sram_ofmap_write_bytes"),
                                   ("ifmap", "sram_vector_bytes", "sram_vector_write_bytes")):  # fmt: skip
        e_sram = e_sram + ((counts[total] - counts[written]) * ert.sram_pj_per_byte(accel, buffer)
                           + counts[written] * ert.sram_write_pj_per_byte(accel, buffer))  # fmt: skip
    e_dram = counts["dram_bytes"] * ert.dram_pj_per_byte(accel)
    # Standby power of the ifmap, filter and ofmap SRAMs over this layer's run time (mW x s = 1e9 pJ).
    e_leak = counts["cycles"] / accel.clock_hz * fixed_leakage_mw(accel) * 1e9
    e_vec = 0.0
    for kind in tech.VECTOR_OPS_PER_ELEMENT:
        per_element = tech.vector_energy_pj_per_element(kind, accel.acc_bits, node)
        e_vec = e_vec + counts[f"vector_{kind}_elements"] * per_element
    return {
        "energy_mac_pj": e_mac,
        "energy_sram_pj": e_sram,
        "energy_dram_pj": e_dram,
        "energy_vector_pj": e_vec,
        "energy_leak_pj": e_leak,
        "energy_pj": e_mac + e_sram + e_dram + e_vec + e_leak,
    }


def layer_group(n_heads: int) -> int:
    """Layers per group of the float totals: the largest g <= 6 with (n_heads + 1)^g <= 8192 table rows."""
    g = 1
    while g < 6 and (n_heads + 1) ** (g + 1) <= 8192:
        g += 1
    return g


def grouped_sum(values: Sequence[Num], group: int) -> Num:
    """Sum in groups of ``group`` consecutive values (see module docstring); ``values`` must not be empty."""
    total = None
    for start in range(0, len(values), group):
        part = values[start]
        for value in values[start + 1 : start + group]:
            part = part + value
        total = part if total is None else total + part
    return total


@functools.lru_cache(maxsize=1 << 16)
def weight_sram_factors(size_bytes: int, accel: AccelConfig) -> tuple[float, float, float]:
    """(pJ per byte of traffic, leakage mW, mm^2 per byte) of a weight SRAM of ``size_bytes`` (zeros when there
    is none); memoised: a sweep asks for the same sizes again and again."""
    if size_bytes <= 0:
        return 0.0, 0.0, 0.0
    size = int(size_bytes)
    return (ert.sram_pj_per_byte(accel, "weight", size), ert.sram_leakage_mw(accel, "weight", size),
            ert.sram_area_mm2(accel, "weight", size) / size)  # fmt: skip


@functools.lru_cache(maxsize=256)
def fixed_leakage_mw(accel: AccelConfig) -> float:
    """Standby power of the ifmap, filter and ofmap SRAMs (CACTI), summed in that order."""
    return sum(ert.sram_leakage_mw(accel, b) for b in ert.BUFFERS)  # a unified scratchpad's filter share: 0


def weight_sram_energy_pj(sram_weight_bytes: Num, latency_s: Num, weight: tuple) -> tuple[Num, Num]:
    """(access energy, leakage energy) of the weight SRAM: ``sram_weight_bytes`` of weight reads and standby power
    over ``latency_s``; ``weight`` = :func:`weight_sram_factors` (scalars, or arrays that broadcast)."""
    w_pj, w_leak_mw, _ = weight
    return sram_weight_bytes * w_pj, latency_s * w_leak_mw * 1e9


def _add_weight_sram(values: dict, sram_weight_bytes: Num, latency_s: Num, weight: tuple) -> None:
    """Add the weight SRAM's access energy and leakage to ``values``' SRAM, leakage and total energies."""
    e_w, e_wl = weight_sram_energy_pj(sram_weight_bytes, latency_s, weight)
    values["energy_sram_pj"] = values["energy_sram_pj"] + e_w
    values["energy_leak_pj"] = values["energy_leak_pj"] + e_wl
    values["energy_pj"] = values["energy_pj"] + e_w + e_wl


def leakage_breakdown_pj(accel: AccelConfig, latency_s: float, weight_leak_mw: float) -> dict[str, float]:
    """SRAM leakage energy per buffer over ``latency_s`` (the weight SRAM's is 0 when there is none)."""
    out = {f"{b}_sram": latency_s * ert.sram_leakage_mw(accel, b) * 1e9 for b in ert.BUFFERS}
    out["weight_sram"] = latency_s * weight_leak_mw * 1e9
    return out


def fixed_area(accel: AccelConfig) -> dict[str, float]:
    node = accel.tech_node_nm
    return {
        "pe_array_mm2": tech.pe_array_area_mm2(accel.rows, accel.cols, accel.input_bits, accel.acc_bits, node,
                                               accel.weight_bits),
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


def _layer_cost(name: str, heads: int, counts: dict, floats: dict, weight: tuple, clock_hz: float) -> LayerCost:
    """A LayerCost from counts and config-independent floats, adding this layer's share of the weight SRAM
    (``weight`` = :func:`weight_sram_factors`: its access energy for the layer's weight reads, its leakage over the
    layer's run time, the area of the layer's parameters)."""
    w_pj, w_leak_mw, area_per_byte = weight
    floats = dict(floats)
    latency_s = counts["cycles"] / clock_hz
    if w_pj or w_leak_mw:
        _add_weight_sram(floats, counts["sram_weight_bytes"], latency_s, weight)
    keys = [f.name for f in dataclasses.fields(LayerCost)]
    values = {key: counts[key] for key in keys if key in counts}
    values.update(floats)
    values["latency_s"] = latency_s
    values["area_mm2"] = counts["param_bytes"] * area_per_byte
    return LayerCost(name=name, heads=heads, **values)


_LAYER_FIELDS = {f.name for f in dataclasses.fields(LayerCost)} - {"name", "heads"}


# ---- the scalar path ------------------------------------------------------------------------------------------
def model_cost(workload: Workload, accel: AccelConfig) -> ModelCost:
    """Per-layer and total cost of ``workload`` on ``accel`` (one pass: a segment, a prompt chunk or a decode step;
    a decode step keeps on chip what :func:`hwsim.accel.kept.decode_kept` decides for the whole model). The design's
    weight width defaults to the model's (``AccelConfig.for_model``)."""
    accel = accel.for_model(workload.spec)
    weight_bits = accel.weight_bits
    step = workload.step
    kept, cache_bytes = None, 0
    if step is not None and step.kind == DECODE:
        kept, cache_bytes = decode_kept(accel, workload.spec, workload.heads_per_layer, workload.batch, step)
    weights_resident = kept.weights if kept else accel.weights_on_chip
    tensors = kept.tensors() if kept else frozenset()
    results = [
        layer_counts(layer, accel, weights_resident=weights_resident, weight_bits=weight_bits, kept=tensors)
        for layer in workload.layers
    ]
    results.append(layer_counts(workload.output, accel, weights_resident=False, weight_bits=weight_bits,
                                kept=tensors))  # fmt: skip
    counts = [c for c, _ in results]
    floats = [layer_floats(c, accel) for c in counts]
    n = len(workload.layers)
    weight_sram = sum(c["param_bytes"] for c in counts[:n]) if accel.weights_on_chip else 0
    weight = weight_sram_factors(weight_sram, accel)
    layers = tuple(
        # The output layer reads no weights from the weight SRAM and owns none of its area, but it leaks meanwhile.
        _layer_cost(layer.name, layer.heads, c, f, weight if layer is not workload.output else (0.0, weight[1], 0.0),
                    accel.clock_hz)
        for layer, c, f in zip(workload.all_layers, counts, floats)
    )
    total = model_totals(counts, floats, n, workload.spec.n_heads, accel, weight)
    parts = fixed_area(accel)
    area = AreaBreakdown(**parts, weight_sram_mm2=total["area_mm2"] - fixed_area_mm2(accel),
                         total_mm2=total["area_mm2"])  # fmt: skip
    fits = True if accel.weights_on_chip else total["param_bytes"] <= accel.weight_buffer_bytes
    return ModelCost(
        accel=accel, heads_per_layer=workload.heads_per_layer, batch=workload.batch, layers=layers,
        total=LayerCost(name="total", heads=sum(layer.heads for layer in layers),
                        **{key: value for key, value in total.items() if key in _LAYER_FIELDS}),
        embedding_params=workload.embedding_params, weight_sram_bytes=weight_sram, fits_on_chip=fits, area=area,
        leakage_pj=leakage_breakdown_pj(accel, total["latency_s"], weight[1]),
        ops=tuple(tuple(ops) for _, ops in results), step=step, kept=kept, cache_bytes=cache_bytes,
    )  # fmt: skip


def model_totals(counts: list[dict], floats: list[dict], n_layers: int, n_heads: int, accel: AccelConfig,
                 weight: tuple) -> dict[str, Num]:  # fmt: skip
    """Totals of the transformer layers then the output layer (the last entry), the order batch.py uses."""
    group = layer_group(n_heads)
    total: dict[str, Num] = {}
    for key in COUNT_KEYS:
        total[key] = sum(c[key] for c in counts)
    for key in FLOAT_KEYS:
        total[key] = grouped_sum([f[key] for f in floats[:n_layers]], group) + floats[n_layers][key]
    return finish_totals(total, accel, weight)


def finish_totals(total: dict, accel: AccelConfig, weight: tuple) -> dict:
    """Latency, the weight SRAM's energy and leakage, and chip area on summed counts (same operations for ints and
    arrays; ``weight`` = (pJ per byte, leakage mW, mm^2 per byte) of the weight SRAM, scalars or per-config arrays)."""
    area_per_byte = weight[2]
    total["latency_s"] = total["cycles"] / accel.clock_hz  # layers run one after another
    if accel.weights_on_chip:
        _add_weight_sram(total, total["sram_weight_bytes"], total["latency_s"], weight)
    total["area_mm2"] = fixed_area_mm2(accel) + total["param_bytes"] * area_per_byte
    return total
