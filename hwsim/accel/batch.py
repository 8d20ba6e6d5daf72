"""Vectorised cost of many heads-per-layer vectors on one accelerator (no Python loop per configuration).

Every transformer layer of a spec has the same shapes, so a layer's counts depend only on its own heads kept h.
The per-layer table holds, for h = 0..n_heads, the counts of :func:`hwsim.accel.cost.layer_counts` and the floats
of :func:`hwsim.accel.cost.layer_floats`: the very functions ``model_cost`` runs, on the same Python ints, so the
table is exact. A configuration's totals are then gathered from group tables: for g consecutive layers
(:func:`hwsim.accel.cost.layer_group`), every combination of their heads, summed left to right; the groups are
added left to right and the output layer last, the order ``model_cost`` adds its floats in, and the weight-SRAM
energy and chip area are finished by the same :func:`hwsim.accel.cost.finish_totals`. Results equal the scalar
path bit for bit (tested on random heads matrices); the cost per configuration is a handful of gathers.

A decode step (``step``) also depends on the whole model through what stays on chip between tokens
(``hwsim.accel.kept``): the configurations are grouped by those flags (a few groups), each group gathered from the
table built with its flags.
"""

from __future__ import annotations

import dataclasses
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
from hwsim.accel.kept import Kept, kept_flags, per_head_count_bytes
from hwsim.errors import SpecError
from hwsim.heads import validate_heads_matrix
from hwsim.spec import ModelSpec
from hwsim.workload import DECODE, Step, check_step, layer_workload, output_workload

TOTAL_KEYS = (
    "macs", "params", "param_bytes", "cycles", "latency_s", "sram_bytes", "dram_bytes", "energy_pj",
    "energy_mac_pj", "energy_sram_pj", "energy_dram_pj", "energy_vector_pj", "energy_leak_pj", "area_mm2",
)  # fmt: skip
# Integer counts the totals need (gathered per configuration); every other count stays in the per-layer table.
INT_KEYS = ("macs", "params", "param_bytes", "cycles", "sram_bytes", "dram_bytes", "sram_weight_bytes")


@functools.lru_cache(maxsize=64)
def layer_table(spec: ModelSpec, accel: AccelConfig, batch: int = 1, step: Step | None = None,
                kept: Kept | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(ints (n_heads + 1, len(INT_KEYS)), floats (n_heads + 1, len(FLOAT_KEYS))) of one transformer layer."""
    ints, floats = [], []
    resident = kept.weights if kept else accel.weights_on_chip
    tensors = kept.tensors() if kept else frozenset()
    for h in range(spec.n_heads + 1):
        counts, _ = layer_counts(layer_workload(spec, 0, h, batch, step), accel, weights_resident=resident,
                                 weight_bits=accel.array_weight_bits, kept=tensors)  # fmt: skip
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


@functools.lru_cache(maxsize=64)
def _output_counts(spec: ModelSpec, accel: AccelConfig, batch: int, step: Step | None = None,
                   kept: Kept | None = None) -> tuple[dict, dict]:  # fmt: skip
    tensors = kept.tensors() if kept else frozenset()
    counts, _ = layer_counts(output_workload(spec, batch, step), accel, weights_resident=False,
                             weight_bits=accel.array_weight_bits, kept=tensors)  # fmt: skip
    return counts, layer_floats(counts, accel)


def cost_many(
    spec: ModelSpec, heads: np.ndarray, accel: AccelConfig, batch: int = 1, *, per_layer: bool = False,
    step: Step | None = None,
) -> dict[str, np.ndarray]:
    """Totals for each row of ``heads`` (n_configs, n_layers): :data:`TOTAL_KEYS` (n_configs,), plus
    ``fits_on_chip`` and ``weight_sram_bytes`` (n_configs,); with ``per_layer`` also ``layer_latency_s``,
    ``layer_energy_pj``, ``layer_cycles`` (n_configs, n_layers) for the transformer layers. ``step``: the pass
    (default the segment pass; ``hwsim.workload.decode_step`` for a decode step, which adds the ``kept_*`` flags
    and ``cache_bytes``)."""
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise SpecError(f"batch must be a positive integer, got {batch}")
    heads = validate_heads_matrix(spec, heads)
    accel = accel.for_model(spec)  # the design's weight width defaults to the model's
    index = group_index(spec, heads)
    if step is None or step.kind != DECODE:
        step = None if step is None else check_step(spec, step)
        return _cost_rows(spec, heads, index, accel, int(batch), per_layer, step, [None], None)
    step = check_step(spec, step)
    per_head = per_head_count_bytes(spec, accel, int(batch), step.cached).astype(np.float64)
    sizes = _gather_sum(spec, index, [per_head], None).astype(np.int64)  # = kept.footprint, the same grouped gather
    flags = kept_flags(accel, spec, int(batch), step, sizes)
    code = sum(f.astype(np.int64) << i for i, f in enumerate(flags))  # one small int per set of flags
    present = np.flatnonzero(np.bincount(code, minlength=16))
    kepts = [Kept(*(bool(value >> i & 1) for i in range(len(flags)))) for value in present]
    rank = np.searchsorted(present, code) if len(present) > 1 else None
    result = _cost_rows(spec, heads, index, accel, int(batch), per_layer, step, kepts, rank)
    for flag, field in zip(flags, dataclasses.fields(Kept)):
        result[f"kept_{field.name}"] = flag
    result["cache_bytes"] = sizes[:, 2]
    return result


def _cost_rows(spec: ModelSpec, heads: np.ndarray, index: np.ndarray, accel: AccelConfig, batch: int,
               per_layer: bool, step: Step | None, kepts: list, rank: np.ndarray | None) -> dict[str, np.ndarray]:
    """cost_many's totals; ``index`` = :func:`group_index`; configuration i uses the tables built with
    ``kepts[rank[i]]`` (one set of flags: ``rank`` None)."""
    tables = [layer_table(spec, accel, batch, step, kept) for kept in kepts]
    outputs = [_output_counts(spec, accel, batch, step, kept) for kept in kepts]
    full = [np.concatenate([ints.astype(np.float64), floats], axis=1) for ints, floats in tables]
    summed = _gather_sum(spec, index, full, rank)
    pick = (lambda values: values[0]) if rank is None else (lambda values: np.asarray(values)[rank])
    n_int = len(INT_KEYS)
    total = {key: summed[:, i].astype(np.int64) + pick([c[key] for c, _ in outputs]) for i, key in enumerate(INT_KEYS)}
    total.update({key: summed[:, n_int + i] + pick([f[key] for _, f in outputs]) for i, key in enumerate(FLOAT_KEYS)})

    n_configs = index.shape[1]
    if accel.weights_on_chip:
        weight_sram = total["param_bytes"]
    else:
        weight_sram = np.zeros(n_configs, dtype=np.int64)
    weight = _weight_sram_factors(weight_sram, accel)
    totals = finish_totals(total, accel, weight)
    result = {key: totals[key] for key in TOTAL_KEYS}
    result["weight_sram_bytes"] = weight_sram
    result["fits_on_chip"] = (
        np.ones(n_configs, dtype=bool) if accel.weights_on_chip else result["param_bytes"] <= accel.weight_buffer_bytes
    )
    if per_layer:
        ints = np.stack([t[0] for t in tables])
        floats = np.stack([t[1] for t in tables])
        which = np.zeros((n_configs, 1), dtype=np.int64) if rank is None else rank[:, None]
        result.update(_per_layer(heads, which, ints, floats, accel, weight))
    return result


def group_index(spec: ModelSpec, heads: np.ndarray) -> np.ndarray:
    """(n_groups, n_configs): each group of :func:`layer_group` consecutive layers' heads as one table row index
    (h0*(H+1)^(g-1) + ... + h_last, the row order of :func:`_group_table`); one contiguous row per group."""
    group, base = layer_group(spec.n_heads), spec.n_heads + 1
    columns = []
    for start in range(0, spec.n_layers, group):
        cols = heads[:, start : start + group]
        index = cols[:, 0]
        for j in range(1, cols.shape[1]):
            index = index * base + cols[:, j]
        columns.append(index)
    return np.stack(columns, axis=0)


def _gather_sum(spec: ModelSpec, index: np.ndarray, tables: list[np.ndarray], rank: np.ndarray | None) -> np.ndarray:
    """(n_configs, n_keys): the layers' table rows summed in cost.grouped_sum's order, one gather per group of
    layers (``index`` = :func:`group_index`); configuration i reads ``tables[rank[i]]`` (the group tables of all
    ``tables`` are stacked, so it is still one gather per group).

    Integer counts travel as float64, which is exact below 2^53 (checked)."""
    if max(np.abs(t).max(initial=0) for t in tables) * spec.n_layers >= 2.0**53:
        raise OverflowError("a per-layer count is too large for exact float64 sums")
    group = layer_group(spec.n_heads)
    sizes = [min(group, spec.n_layers - start) for start in range(0, spec.n_layers, group)]
    stacked = {size: np.concatenate([_group_table(t, size) for t in tables]) for size in set(sizes)}
    rows = {size: (spec.n_heads + 1) ** size for size in stacked}

    def column(j: int, size: int) -> np.ndarray:
        return index[j] if rank is None else index[j] + rank * rows[size]

    total = np.take(stacked[sizes[0]], column(0, sizes[0]), axis=0)
    part = np.empty_like(total)
    for j, size in enumerate(sizes[1:], start=1):
        np.take(stacked[size], column(j, size), axis=0, out=part)
        total += part  # in place: the same left-to-right adds as cost.grouped_sum
    return total


def _weight_sram_factors(weight_sram: np.ndarray, accel: AccelConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`weight_sram_factors` of each configuration's weight SRAM (one Python call per distinct size)."""
    sizes, inverse = np.unique(weight_sram, return_inverse=True)
    factors = np.array([weight_sram_factors(int(b), accel) for b in sizes], dtype=np.float64).reshape(-1, 3)
    index = inverse.reshape(-1)
    return factors[index, 0], factors[index, 1], factors[index, 2]


def _per_layer(heads: np.ndarray, which: np.ndarray, ints: np.ndarray, floats: np.ndarray, accel: AccelConfig,
               weight: tuple) -> dict:  # fmt: skip
    """Per-layer latency, energy (with the weight SRAM's energy and leakage, as model_cost's layers) and cycles;
    ``ints``/``floats`` stacked per set of flags, configuration i reading set ``which[i]``."""
    w_pj, w_leak_mw, _ = weight
    cycles = ints[:, :, INT_KEYS.index("cycles")][which, heads]
    latency_s = cycles / accel.clock_hz
    energy = floats[:, :, FLOAT_KEYS.index("energy_pj")][which, heads]
    if accel.weights_on_chip:
        per_config = (w_pj[:, None], w_leak_mw[:, None], None)
        reads = ints[:, :, INT_KEYS.index("sram_weight_bytes")][which, heads]
        e_w, e_wl = weight_sram_energy_pj(reads, latency_s, per_config)
        energy = energy + e_w + e_wl  # model_cost's _layer_cost order
    return {"layer_latency_s": latency_s, "layer_energy_pj": energy, "layer_cycles": cycles}
