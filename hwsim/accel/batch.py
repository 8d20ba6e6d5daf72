"""Vectorised cost of many heads-per-layer vectors on one accelerator (no Python loop per configuration).

Every transformer layer of a spec has the same shapes, so a layer's counts depend only on its own heads kept h.
The counts for h = 0..n_heads come from :func:`hwsim.accel.cost.layer_counts` run once on an int array of heads
(the workload shape functions and :func:`hwsim.accel.gemm.gemm_cost` broadcast over it); each configuration's
layers are then gathered from that table, and latency, energy and area are computed on the gathered arrays with
the same float operations, in the same order, as :func:`hwsim.accel.cost.model_cost`. Results equal the scalar
path exactly (tested on random heads matrices).
"""

from __future__ import annotations

import numpy as np

from hwsim.accel.config import AccelConfig
from hwsim.accel.cost import (
    COUNT_KEYS,
    finish_layer,
    fixed_area_mm2,
    layer_counts,
    weight_sram_area_per_byte,
)
from hwsim.heads import validate_heads_matrix
from hwsim.spec import ModelSpec
from hwsim.workload import (
    attention_gemms,
    attention_vector_ops,
    ff_gemms,
    ff_vector_ops,
    layer_params,
    output_gemms,
    output_vector_ops,
)

TOTAL_KEYS = (
    "macs", "params", "param_bytes", "cycles", "latency_s", "sram_bytes", "dram_bytes", "energy_pj",
    "energy_mac_pj", "energy_sram_pj", "energy_dram_pj", "energy_vector_pj", "energy_leak_pj", "area_mm2",
)  # fmt: skip


def layer_table(spec: ModelSpec, accel: AccelConfig, batch: int = 1) -> dict[str, np.ndarray]:
    """Counts of one transformer layer for every h in 0..n_heads (arrays of length n_heads + 1)."""
    heads = np.arange(spec.n_heads + 1, dtype=np.int64)
    gemms = attention_gemms(spec, heads, batch) + ff_gemms(spec, batch)
    vector_ops = attention_vector_ops(spec, heads, batch) + ff_vector_ops(spec, batch)
    counts = layer_counts(
        gemms, vector_ops, layer_params(spec, heads), accel, weights_resident=accel.weights_on_chip,
        weight_bits=spec.weight_bits,
    )  # fmt: skip
    return {key: np.broadcast_to(np.asarray(counts[key], dtype=np.int64), heads.shape) for key in COUNT_KEYS}


def cost_many(spec: ModelSpec, heads: np.ndarray, accel: AccelConfig, batch: int = 1) -> dict[str, np.ndarray]:
    """Totals for each row of ``heads`` (n_configs, n_layers): :data:`TOTAL_KEYS` (n_configs,), plus
    ``fits_on_chip`` and ``weight_sram_bytes`` (n_configs,) and ``layer_latency_s``, ``layer_energy_pj``,
    ``layer_cycles`` (n_configs, n_layers) for the transformer layers."""
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        from hwsim.errors import SpecError

        raise SpecError(f"batch must be a positive integer, got {batch}")
    heads = validate_heads_matrix(spec, heads)
    table = layer_table(spec, accel, batch)
    gathered = {key: table[key][heads] for key in COUNT_KEYS}  # (n_configs, n_layers)
    out_counts = layer_counts(
        output_gemms(spec, batch), output_vector_ops(spec, batch), 0, accel, weights_resident=False,
        weight_bits=spec.weight_bits,
    )  # fmt: skip

    n_configs = heads.shape[0]
    if accel.weights_on_chip:
        weight_sram = np.zeros(n_configs, dtype=np.int64)
        for j in range(spec.n_layers):  # left to right, as the scalar path sums
            weight_sram = weight_sram + gathered["param_bytes"][:, j]
    else:
        weight_sram = np.zeros(n_configs, dtype=np.int64)
    sizes, index = np.unique(weight_sram, return_inverse=True)  # one Python call per distinct weight-SRAM size
    per_byte = np.array([weight_sram_area_per_byte(int(b), accel) for b in sizes])[index.reshape(-1)]

    layers = finish_layer(gathered, accel, weight_sram[:, None], per_byte[:, None])
    output = finish_layer(out_counts, accel, weight_sram, per_byte)
    totals = {key: layers[key][:, 0] for key in TOTAL_KEYS}
    for j in range(1, spec.n_layers):
        totals = {key: totals[key] + layers[key][:, j] for key in TOTAL_KEYS}
    totals = {key: totals[key] + output[key] for key in TOTAL_KEYS}
    totals["area_mm2"] = fixed_area_mm2(accel) + totals["area_mm2"]
    totals["weight_sram_bytes"] = weight_sram
    totals["fits_on_chip"] = (
        np.ones(n_configs, dtype=bool) if accel.weights_on_chip else totals["param_bytes"] <= accel.filter_sram_bytes
    )
    totals["layer_latency_s"] = layers["latency_s"]
    totals["layer_energy_pj"] = layers["energy_pj"]
    totals["layer_cycles"] = layers["cycles"]
    return totals

