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
    FLOAT_KEYS,
    finish_totals,
    layer_counts,
    layer_floats,
    layer_group,
    weight_sram_energy_pj,
    weight_sram_factors,
)
from hwsim.errors import SpecError
from hwsim.heads import validate_heads_matrix
from hwsim.spec import ModelSpec
from hwsim.workload import layer_workload, output_workload

TOTAL_KEYS = (
    "macs", "params", "param_bytes", "cycles", "latency_s", "sram_bytes", "dram_bytes", "energy_pj",
    "energy_mac_pj", "energy_sram_pj", "energy_dram_pj", "energy_vector_pj", "energy_leak_pj", "area_mm2",
)  # fmt: skip
# Integer counts the totals need (gathered per configuration); every other count stays in the per-layer table.
INT_KEYS = ("macs", "params", "param_bytes", "cycles", "sram_bytes", "dram_bytes", "sram_weight_bytes")


@functools.lru_cache(maxsize=64)
def layer_table(spec: ModelSpec, accel: AccelConfig, batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(ints (n_heads + 1, len(INT_KEYS)), floats (n_heads + 1, len(FLOAT_KEYS))) of one transformer layer."""
    ints, floats = [], []
    for h in range(spec.n_heads + 1):
        counts, _ = layer_counts(layer_workload(spec, 0, h, batch), accel, weights_resident=accel.weights_on_chip,
                                 weight_bits=spec.weight_bits)  # fmt: skip
        values = layer_floats(counts, accel)
        ints.append([counts[key] for key in INT_KEYS])
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


def cost_many(
    spec: ModelSpec, heads: np.ndarray, accel: AccelConfig, batch: int = 1, *, per_layer: bool = False
) -> dict[str, np.ndarray]:
    """Totals for each row of ``heads`` (n_configs, n_layers): :data:`TOTAL_KEYS` (n_configs,), plus
    ``fits_on_chip`` and ``weight_sram_bytes`` (n_configs,); with ``per_layer`` also ``layer_latency_s``,
    ``layer_energy_pj``, ``layer_cycles`` (n_configs, n_layers) for the transformer layers."""
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise SpecError(f"batch must be a positive integer, got {batch}")
    heads = validate_heads_matrix(spec, heads)
    ints, floats = layer_table(spec, accel, int(batch))
    out_counts, out_floats = _output_counts(spec, accel, int(batch))
    summed = _gather_sum(spec, heads, np.concatenate([ints.astype(np.float64), floats], axis=1))
    n_int = len(INT_KEYS)
    total = {key: summed[:, i].astype(np.int64) + out_counts[key] for i, key in enumerate(INT_KEYS)}
    total.update({key: summed[:, n_int + i] + out_floats[key] for i, key in enumerate(FLOAT_KEYS)})

    n_configs = len(heads)
    if accel.weights_on_chip:
        weight_sram = total["param_bytes"]
    else:
        weight_sram = np.zeros(n_configs, dtype=np.int64)
    weight = _weight_sram_factors(weight_sram, accel)
    totals = finish_totals(total, accel, weight)
    result = {key: totals[key] for key in TOTAL_KEYS}
    result["weight_sram_bytes"] = weight_sram
    result["fits_on_chip"] = (
        np.ones(n_configs, dtype=bool) if accel.weights_on_chip else result["param_bytes"] <= accel.filter_sram_bytes
    )
    if per_layer:
        result.update(_per_layer(heads, ints, floats, accel, weight))
    return result


def _gather_sum(spec: ModelSpec, heads: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(n_configs, n_keys): the layers' table rows summed in cost.grouped_sum's order, one gather per group.

    Integer counts travel as float64, which is exact below 2^53 (checked)."""
    if np.abs(table).max(initial=0) * spec.n_layers >= 2.0**53:
        raise OverflowError("a per-layer count is too large for exact float64 sums")
    group, base = layer_group(spec.n_heads), spec.n_heads + 1
    tables: dict[int, np.ndarray] = {}
    total = part = None
    for start in range(0, spec.n_layers, group):
        cols = heads[:, start : start + group]
        index = cols[:, 0]
        for j in range(1, cols.shape[1]):
            index = index * base + cols[:, j]
        if cols.shape[1] not in tables:
            tables[cols.shape[1]] = _group_table(table, cols.shape[1])
        if total is None:
            total = np.take(tables[cols.shape[1]], index, axis=0)
            part = np.empty_like(total)
        else:
            np.take(tables[cols.shape[1]], index, axis=0, out=part)
            total += part  # in place: the same left-to-right adds as cost.grouped_sum
    return total


def _weight_sram_factors(weight_sram: np.ndarray, accel: AccelConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`weight_sram_factors` of each configuration's weight SRAM (one Python call per distinct size)."""
    sizes, inverse = np.unique(weight_sram, return_inverse=True)
    factors = np.array([weight_sram_factors(int(b), accel) for b in sizes], dtype=np.float64).reshape(-1, 3)
    index = inverse.reshape(-1)
    return factors[index, 0], factors[index, 1], factors[index, 2]


def _per_layer(heads: np.ndarray, ints: np.ndarray, floats: np.ndarray, accel: AccelConfig, weight: tuple) -> dict:
    """Per-layer latency, energy (with the weight SRAM's energy and leakage, as model_cost's layers) and cycles."""
    w_pj, w_leak_mw, _ = weight
    cycles = ints[:, INT_KEYS.index("cycles")][heads]
    latency_s = cycles / accel.clock_hz
    energy = floats[:, FLOAT_KEYS.index("energy_pj")][heads]
    if accel.weights_on_chip:
        per_config = (w_pj[:, None], w_leak_mw[:, None], None)
        e_w, e_wl = weight_sram_energy_pj(ints[:, INT_KEYS.index("sram_weight_bytes")][heads], latency_s, per_config)
        energy = energy + e_w + e_wl  # model_cost's _layer_cost order
    return {"layer_latency_s": latency_s, "layer_energy_pj": energy, "layer_cycles": cycles}
