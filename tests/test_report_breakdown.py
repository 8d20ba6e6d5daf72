"""The report's per-layer breakdown shows DRAM bytes per operand (weights, activations, partial sums), stacked."""

from __future__ import annotations

from hwsim.accel.config import PRESETS
from hwsim.accel.cost import model_cost
from hwsim.report.figures import layer_breakdown
from hwsim.spec import ModelSpec
from hwsim.workload import build_workload

TINY = ModelSpec(name="tiny", n_layers=3, d_model=16, n_heads=4, d_head=4, n_persistent=8, segment_len=8,
                 memory_len=8, vocab_size=60, adaptive_cutoffs=(20, 40), adaptive_div=2)  # fmt: skip


def test_dram_by_operand_subplot_stacks_to_the_layer_total():
    cost = model_cost(build_workload(TINY, (4, 2, 0)), PRESETS["gemmini-like"])
    values = {key: [float(getattr(layer, key)) for layer in cost.layers]
              for key in ("latency_s", "energy_pj", "dram_bytes", "dram_weight_bytes", "dram_activation_bytes",
                          "dram_psum_bytes")}  # fmt: skip
    values["traffic_bytes"] = [float(layer.sram_bytes + layer.dram_bytes) for layer in cost.layers]
    names = [layer.name for layer in cost.layers]
    fig = layer_breakdown({"chosen": values}, names, "t")
    stacked = [trace for trace in fig.data if trace.xaxis == "x4"]
    assert [trace.name for trace in stacked] == ["chosen: weights", "chosen: activations", "chosen: psums"]
    top = stacked[-1]
    for i, layer in enumerate(cost.layers):
        assert top.base[i] + top.y[i] == layer.dram_bytes  # weights + activations + partial sums
        assert stacked[1].base[i] == layer.dram_weight_bytes
