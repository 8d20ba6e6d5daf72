"""Vectorised cost of many heads-per-layer vectors on one accelerator (no Python loop per configuration).

Every transformer layer of a spec has the same shapes, so a layer's counts depend only on its own heads kept h.
The per-layer table holds, for h = 0..n_heads, the counts of :func:`hwsim.accel.cost.layer_counts` and the floats
of :func:`hwsim.accel.cost.layer_floats`: the very functions ``model_cost`` runs, on the same Python ints, so the
table is exact. A configuration's totals are then gathered from group tables: for g consecutive layers
(:func:`hwsim.accel.cost.layer_group`), every combination of their heads, summed left to right; the groups are
added left to right and the output layer last, the order ``model_cost`` adds its floats in, and the weight-SRAM
energy and chip area are finished by the same :func:`hwsim.accel.cost.finish_totals`. Results equal the scalar
path bit for bit (tested on random heads matrices); the cost per configuration is a handful of gathers.
"""

from __future__ import annotations

import functools

import numpy as np

from hwsim.accel.config import AccelConfig
from hwsim.accel.cost import (
    COUNT_KEYS,
    FLOAT_KEYS,
    finish_totals,
    layer_counts,
    layer_floats,
    layer_group,
    weight_sram_area_per_byte,
    weight_sram_pj_per_byte,
)
from hwsim.errors import SpecError
from hwsim.heads import validate_heads_matrix
from hwsim.spec import ModelSpec
from hwsim.workload import layer_workload, output_workload

TOTAL_KEYS = (
    "macs", "params", "param_bytes", "cycles", "latency_s", "sram_bytes", "dram_bytes", "energy_pj",
    "energy_mac_pj", "energy_sram_pj", "energy_dram_pj", "energy_vector_pj", "area_mm2",
)  # fmt: skip
INT_KEYS = COUNT_KEYS


@functools.lru_cache(maxsize=64)
def layer_table(spec: ModelSpec, accel: AccelConfig, batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(ints (n_heads + 1, len(COUNT_KEYS)), floats (n_heads + 1, len(FLOAT_KEYS))) of one transformer layer."""
    ints, floats = [], []
    for h in range(spec.n_heads + 1):
        counts, _ = layer_counts(layer_workload(spec, 0, h, batch), accel, weights_resident=accel.weights_on_chip,
                                 weight_bits=spec.weight_bits)  # fmt: skip
        values = layer_floats(counts, accel)
        ints.append([counts[key] for key in COUNT_KEYS])
        floats.append([values[key] for key in FLOAT_KEYS])
    return np.array(ints, dtype=np.int64), np.array(floats, dtype=np.float64)


def _group_table(table: np.ndarray, size: int) -> np.ndarray:
    """Rows for every combination of ``size`` layers' heads (row index h0*(H+1)^(size-1) + ... + h_last), summed
    left to right."""
    n_rows, n_keys = table.shape
    out = table
    for _ in range(1, size):
        out = (out[:, None, :] + table[None, :, :]).reshape(-1, n_keys)
    return out


def _output_counts(spec: ModelSpec, accel: AccelConfig, batch: int) -> tuple[dict, dict]:
    counts, _ = layer_counts(output_workload(spec, batch), accel, weights_resident=False, weight_bits=spec.weight_bits)
    return counts, layer_floats(counts, accel)


def cost_many(spec: ModelSpec, heads: np.ndarray, accel: AccelConfig, batch: int = 1) -> dict[str, np.ndarray]:
    """Totals for each row of ``heads`` (n_configs, n_layers): :data:`TOTAL_KEYS` (n_configs,), plus
    ``fits_on_chip`` and ``weight_sram_bytes`` (n_configs,) and ``layer_latency_s``, ``layer_energy_pj``,
    ``layer_cycles`` (n_configs, n_layers) for the transformer layers."""
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise SpecError(f"batch must be a positive integer, got {batch}")
    heads = validate_heads_matrix(spec, heads)
    ints, floats = layer_table(spec, accel, int(batch))
    out_counts, out_floats = _output_counts(spec, accel, int(batch))
    group, base, n_layers = layer_group(spec.n_heads), spec.n_heads + 1, spec.n_layers
    tot_i = tot_f = None
    tables = {}
    for start in range(0, n_layers, group):
        cols = heads[:, start : start + group]
        index = cols[:, 0]
        for j in range(1, cols.shape[1]):
            index = index * base + cols[:, j]
        if cols.shape[1] not in tables:
            tables[cols.shape[1]] = (_group_table(ints, cols.shape[1]), _group_table(floats, cols.shape[1]))
        part_i, part_f = (table[index] for table in tables[cols.shape[1]])
        tot_i = part_i if tot_i is None else tot_i + part_i
        tot_f = part_f if tot_f is None else tot_f + part_f
    total = {key: tot_i[:, i] + out_counts[key] for i, key in enumerate(COUNT_KEYS)}
    total.update({key: tot_f[:, i] + out_floats[key] for i, key in enumerate(FLOAT_KEYS)})

    weight_sram = total["param_bytes"] if accel.weights_on_chip else np.zeros(len(heads), dtype=np.int64)
    node = accel.tech_node_nm
    w_pj = weight_sram_pj_per_byte(weight_sram, node) if accel.weights_on_chip else 0.0
    sizes, inverse = np.unique(weight_sram, return_inverse=True)  # one Python call per distinct weight-SRAM size
    area_per_byte = np.array([weight_sram_area_per_byte(int(b), node) for b in sizes])[inverse.reshape(-1)]
    totals = finish_totals(total, accel, weight_sram, w_pj, area_per_byte)
    result = {key: totals[key] for key in TOTAL_KEYS}
    result["weight_sram_bytes"] = weight_sram
    result["fits_on_chip"] = (
        np.ones(len(heads), dtype=bool) if accel.weights_on_chip else result["param_bytes"] <= accel.filter_sram_bytes
    )
    result["layer_latency_s"] = floats[:, FLOAT_KEYS.index("latency_s")][heads]
    energy = floats[:, FLOAT_KEYS.index("energy_pj")][heads]
    if accel.weights_on_chip:
        energy = energy + ints[:, COUNT_KEYS.index("sram_weight_bytes")][heads] * np.asarray(w_pj)[:, None]
    result["layer_energy_pj"] = energy
    result["layer_cycles"] = ints[:, COUNT_KEYS.index("cycles")][heads]
    return result
