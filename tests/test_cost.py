"""Layer/model cost: hand-checked energy, layers add up, pruning is monotone, vectorised == scalar."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.accel.batch import cost_many
from hwsim.accel.config import PRESETS, AccelConfig, with_overrides
from hwsim.accel.cost import layer_counts, layer_floats, model_cost
from hwsim.spec import Family, ModelSpec, load_spec
from hwsim.workload import Gemm, LayerWorkload, VectorOp, build_workload

ROOT = Path(__file__).resolve().parents[1]
PAPER = load_spec(ROOT / "models" / "shim-wt103-16l.toml")
TINY = ModelSpec(name="tiny", n_layers=3, d_model=16, n_heads=4, d_head=4, n_persistent=8, segment_len=8,
                 memory_len=8, vocab_size=60, adaptive_cutoffs=(20, 40), adaptive_div=2)  # fmt: skip
TINY_TXL = ModelSpec(name="tiny-txl", family=Family.TRANSFORMER_XL, n_layers=2, d_model=16, n_heads=4, d_head=4,
                     d_ff=32, segment_len=8, memory_len=8, vocab_size=60)  # fmt: skip
ACCELS = [*PRESETS.values(), *(with_overrides(a, {"mode": "scalesim"}) for a in PRESETS.values()
                                 if not a.unified_scratchpad),  # SCALE-Sim: separate buffers only
          with_overrides(PRESETS["gemmini-like"], {"vector_overlap": False, "dataflow": "os"}),
          with_overrides(PRESETS["edge-soc-32x32"], {"dataflow": "is", "ofmap_sram_bytes": 1024})]  # fmt: skip
ACCEL_IDS = [f"{a.name}-{a.mode.value}-{a.dataflow.value}" for a in ACCELS]
MONOTONE = ("macs", "params", "param_bytes", "cycles", "latency_s", "sram_bytes", "dram_bytes", "energy_pj", "area_mm2")


def _accel_45nm(**kw) -> AccelConfig:
    base = dict(name="hand", rows=4, cols=4, dataflow="ws", ifmap_sram_bytes=32768, filter_sram_bytes=32768,
                ofmap_sram_bytes=32768, dram_bandwidth_bytes_per_s=64e9, clock_hz=1e9, input_bits=8, acc_bits=32,
                vector_lanes=4, tech_node_nm=45.0)  # fmt: skip
    return AccelConfig(**{**base, **kw})


def _layer(gemms=(), vector_ops=()) -> LayerWorkload:
    return LayerWorkload(name="l", heads=0, gemms=tuple(gemms), vector_ops=tuple(vector_ops), params=0)


def _counts(layer: LayerWorkload, accel: AccelConfig) -> dict:
    return layer_counts(layer, accel, weights_resident=False, weight_bits=8)[0]
def _cacti_pj_per_byte(size: int, node: int, width: int, access: str = "read") -> float:
    """CACTI 7 read (or write) energy per byte, read straight from the committed CACTI table."""
    with open(ROOT / "hwsim" / "accel" / "data" / "cacti_sram.csv") as f:
        for r in csv.DictReader(f):
            if (int(r["size_bytes"]), int(r["node_nm"]), int(r["width_bits"])) == (size, node, width):
                return float(r[f"{access}_pj"]) / (width / 8)
    raise KeyError((size, node, width))


def test_energy_of_one_gemm_by_hand():
    """4x4x4 GEMM on a 4x4 WS array at 45 nm, every SRAM 32 KiB (CACTI 7: ifmap/filter rows 4 x 8 = 32 bit, ofmap
    4 x 32 = 128 bit; CACTI does not dip around these table points, so hwsim's monotone fit leaves them as CACTI
    gives them).

    MACs 64 x (8b mult 0.2 + 32b add 0.1 pJ). SRAM bytes: ifmap 16 reads + 16 fills (writes) = 32; filter 16 + 16 =
    32; ofmap 16 int32 writes (one K fold) = 64 + 16 int8 drained to DRAM (reads) = 80 -> 144 bytes, 96 of them
    written (each charged CACTI's write energy, the rest its read energy). DRAM: 16 + 16 + 16 = 48 bytes at 20 pJ/bit
    (DDR3 default; Han et al.: 640 pJ per 32-bit read)."""
    accel = _accel_45nm()
    counts = _counts(_layer([Gemm(name="g", m=4, n=4, k=4)]), accel)
    cost = layer_floats(counts, accel)
    assert counts["sram_ifmap_bytes"] + counts["sram_filter_bytes"] + counts["sram_ofmap_bytes"] == 144
    assert counts["dram_bytes"] == 48
    assert cost["energy_mac_pj"] == pytest.approx(64 * 0.3)
    assert counts["sram_write_bytes"] == 16 + 16 + 64
    sram = (32 * _cacti_pj_per_byte(32768, 45, 32) + 32 * _cacti_pj_per_byte(32768, 45, 32, "write")
            + 16 * _cacti_pj_per_byte(32768, 45, 128) + 64 * _cacti_pj_per_byte(32768, 45, 128, "write"))  # fmt: skip
    assert cost["energy_sram_pj"] == pytest.approx(sram)
    assert cost["energy_dram_pj"] == pytest.approx(48 * 8 * 20)
    assert cost["energy_leak_pj"] > 0
    assert cost["energy_pj"] == pytest.approx(64 * 0.3 + sram + 48 * 160 + cost["energy_leak_pj"])


def test_vector_op_by_hand():
    """Layernorm, 10 elements, 4 lanes: 7 ops/element -> ceil(70/4) = 18 cycles; energy 4 x 32b add (0.1) +
    3 x 32b mult (3.1) per element; read + write of 10 int8 elements in the 32 KiB ifmap buffer (CACTI, 32 bit)."""
    accel = _accel_45nm()
    counts = _counts(_layer(vector_ops=[VectorOp(name="ln", kind="layernorm", elements=10)]), accel)
    cost = layer_floats(counts, accel)
    assert counts["vector_cycles"] == 18 and counts["cycles"] == 18
    assert cost["energy_vector_pj"] == pytest.approx(10 * (4 * 0.1 + 3 * 3.1))
    assert counts["sram_vector_bytes"] == 20 and counts["sram_write_bytes"] == 10
    assert cost["energy_sram_pj"] == pytest.approx(10 * _cacti_pj_per_byte(32768, 45, 32)
                                                   + 10 * _cacti_pj_per_byte(32768, 45, 32, "write"))


def test_vector_overlap_flag():
    gemm, vec = [Gemm(name="g", m=4, n=4, k=4)], [VectorOp(name="s", kind="softmax", elements=400)]
    on = _counts(_layer(gemm, vec), _accel_45nm())
    off = _counts(_layer(gemm, vec), _accel_45nm(vector_overlap=False))
    assert on["cycles"] == max(on["array_cycles"], on["vector_cycles"])
    assert off["cycles"] == off["array_cycles"] + off["vector_cycles"]


@pytest.mark.parametrize("accel", ACCELS, ids=ACCEL_IDS)
def test_layers_add_up_to_total(accel):
    cost = model_cost(build_workload(PAPER, (8, 3, 7, 6, 6, 6, 6, 7, 6, 7, 8, 8, 7, 8, 7, 0)), accel)
    for field in ("macs", "params", "param_bytes", "cycles", "sram_bytes", "sram_write_bytes", "dram_bytes"):
        assert getattr(cost.total, field) == sum(getattr(layer, field) for layer in cost.layers), field
    for field in ("latency_s", "energy_pj", "energy_mac_pj", "energy_sram_pj", "energy_dram_pj", "energy_vector_pj",
                  "energy_leak_pj"):
        assert getattr(cost.total, field) == pytest.approx(sum(getattr(layer, field) for layer in cost.layers)), field
    layer_area = sum(layer.area_mm2 for layer in cost.layers)
    assert cost.total.area_mm2 == pytest.approx(cost.area.total_mm2)
    assert cost.area.weight_sram_mm2 == pytest.approx(layer_area)
    parts = dataclasses.asdict(cost.area)
    assert parts.pop("total_mm2") == pytest.approx(sum(parts.values()))
    assert cost.total.params == cost.layers[0].params + sum(layer.params for layer in cost.layers[1:])
    assert cost.embedding_params == 19_603_602
    for layer in cost.layers:
        assert layer.energy_pj == pytest.approx(
            layer.energy_mac_pj + layer.energy_sram_pj + layer.energy_dram_pj + layer.energy_vector_pj
            + layer.energy_leak_pj
        )
        assert layer.latency_s == pytest.approx(layer.cycles / accel.clock_hz)


def test_area_is_per_layer_weight_storage_only_on_chip():
    heads = (8,) * 15 + (2,)
    off = model_cost(build_workload(PAPER, heads), PRESETS["gemmini-like"])
    on = model_cost(build_workload(PAPER, heads), PRESETS["edge-soc-32x32"])
    assert all(layer.area_mm2 == 0 for layer in off.layers) and off.area.weight_sram_mm2 == 0
    assert on.layers[15].area_mm2 < on.layers[0].area_mm2 and on.layers[-1].area_mm2 == 0  # output: embeddings
    assert on.weight_sram_bytes == on.total.param_bytes and on.fits_on_chip
    assert not off.fits_on_chip  # 54 MB of weights vs a 128 KiB filter buffer


def test_weights_on_chip_moves_weight_traffic_off_dram():
    base = PRESETS["edge-soc-32x32"]
    w = build_workload(PAPER)
    on, off = model_cost(w, base), model_cost(w, with_overrides(base, {"weights_on_chip": False}))
    assert on.total.dram_bytes < off.total.dram_bytes
    moved = off.total.dram_bytes - on.total.dram_bytes
    assert on.total.sram_weight_bytes == moved
    assert on.layers[-1].dram_bytes == off.layers[-1].dram_bytes  # output-layer weights stay in DRAM


def test_activations_on_chip_leaves_only_weights_and_big_tensors_in_dram():
    """TPUv1-style: activations stay in the unified buffer; weights (and tensors too big for it) use DRAM."""
    tpu = PRESETS["tpu-v1-like"]
    w = build_workload(PAPER)
    on, off = model_cost(w, tpu), model_cost(w, with_overrides(tpu, {"activations_on_chip": False}))
    assert on.total.dram_bytes < off.total.dram_bytes and on.total.cycles <= off.total.cycles
    assert on.total.sram_bytes == off.total.sram_bytes  # same fills and drains, different source
    # A transformer layer moves exactly its weight operands through DRAM once (every activation fits in 12 MiB):
    # W_q, W_k, W_v, W_r, W_o (5 d^2), 8 heads' persistent keys and values (2 N d_h each), the position table rows.
    d, n, dh, length = 512, 2048, 64, 384
    layer = on.layers[0]
    assert layer.dram_bytes == layer.dram_weight_bytes == 5 * d * d + 8 * 2 * n * dh + length * d
    assert layer.dram_activation_bytes == layer.spill_bytes == layer.dram_psum_bytes == 0


@settings(max_examples=40, deadline=None)
@given(
    heads=st.lists(st.integers(0, 8), min_size=16, max_size=16),
    layer=st.integers(0, 15),
    drop=st.integers(1, 8),
    accel=st.sampled_from(ACCELS),
    batch=st.integers(1, 2),
)
def test_pruning_never_adds_cost(heads, layer, drop, accel, batch):
    """Removing heads from a layer never adds cycles, latency, bytes, energy, parameters or area (paper recipe)."""
    pruned = list(heads)
    pruned[layer] = max(0, pruned[layer] - drop)
    res = cost_many(PAPER, np.array([heads, pruned]), accel, batch=batch, per_layer=True)
    for key in MONOTONE:
        assert res[key][1] <= res[key][0], key
    assert np.all(res["layer_energy_pj"][1] <= res["layer_energy_pj"][0])


@settings(max_examples=30, deadline=None)
@given(
    heads=st.lists(st.integers(0, 4), min_size=3, max_size=3), layer=st.integers(0, 2), accel=st.sampled_from(ACCELS)
)
def test_pruning_never_adds_cost_tiny_spec(heads, layer, accel):
    pruned = list(heads)
    pruned[layer] = max(0, pruned[layer] - 1)
    small, big = (model_cost(build_workload(TINY, h), accel).total for h in (pruned, heads))
    for key in MONOTONE:
        assert getattr(small, key) <= getattr(big, key), key


def test_cost_linear_in_heads_for_macs_and_params():
    costs = [model_cost(build_workload(PAPER, (h,) * 16), PRESETS["tpu-v1-like"]) for h in (1, 2, 8)]
    layer_macs = [c.layers[0].macs for c in costs]
    assert layer_macs[1] == 2 * layer_macs[0] and layer_macs[2] == 8 * layer_macs[0]


@pytest.mark.parametrize("accel", ACCELS, ids=ACCEL_IDS)
@pytest.mark.parametrize(
    "spec,batch", [(PAPER, 1), (PAPER, 2), (TINY, 1), (TINY_TXL, 3)], ids=["paper", "paper-b2", "tiny", "txl"]
)
def test_vectorised_equals_scalar(accel, spec, batch):
    rng = np.random.default_rng(7)
    heads = rng.integers(0, spec.n_heads + 1, size=(6, spec.n_layers))
    heads[0] = spec.n_heads
    heads[1] = 0
    res = cost_many(spec, heads, accel, batch=batch, per_layer=True)
    for i, row in enumerate(heads):
        cost = model_cost(build_workload(spec, tuple(row), batch), accel)
        for key in MONOTONE + ("energy_mac_pj", "energy_sram_pj", "energy_dram_pj", "energy_vector_pj",
                               "energy_leak_pj"):
            assert res[key][i] == getattr(cost.total, key), (i, key)
        assert res["fits_on_chip"][i] == cost.fits_on_chip
        assert res["weight_sram_bytes"][i] == cost.weight_sram_bytes
        for j in range(spec.n_layers):
            assert res["layer_latency_s"][i, j] == cost.layers[j].latency_s
            assert res["layer_energy_pj"][i, j] == cost.layers[j].energy_pj
            assert res["layer_cycles"][i, j] == cost.layers[j].cycles


def test_cost_many_rejects_bad_heads():
    from hwsim.errors import HeadsError, SpecError

    with pytest.raises(HeadsError):
        cost_many(PAPER, np.full((2, 16), 9), PRESETS["gemmini-like"])
    with pytest.raises(HeadsError):
        cost_many(PAPER, np.full((2, 15), 1), PRESETS["gemmini-like"])
    with pytest.raises(SpecError):
        cost_many(PAPER, np.full((2, 16), 1), PRESETS["gemmini-like"], batch=0)


def test_full_model_is_array_bound_with_known_peak():
    """Sanity: cycles never beat the roofline (MACs / PEs) and never go below DRAM bytes / bandwidth."""
    for accel in PRESETS.values():
        cost = model_cost(build_workload(PAPER), accel)
        assert cost.total.cycles >= cost.total.macs / (accel.rows * accel.cols)
        assert cost.total.cycles >= cost.total.dram_bytes / accel.dram_bytes_per_cycle


@settings(max_examples=25, deadline=None)
@given(
    rows=st.sampled_from([4, 8, 16, 32, 128]), cols=st.sampled_from([4, 16, 32, 64]),
    dataflow=st.sampled_from(["os", "ws", "is"]), mode=st.sampled_from(["physical", "scalesim"]),
    sram_kib=st.sampled_from([1, 8, 64, 1024]), overlap=st.booleans(), on_chip=st.booleans(), acts=st.booleans(),
    node=st.sampled_from([7.0, 16.0, 28.0, 45.0]), seed=st.integers(0, 2**16),
)  # fmt: skip
def test_vectorised_equals_scalar_on_random_accelerators(rows, cols, dataflow, mode, sram_kib, overlap, on_chip, acts,
                                                         node, seed):  # fmt: skip
    accel = with_overrides(PRESETS["gemmini-like"], dict(
        rows=rows, cols=cols, dataflow=dataflow, mode=mode, ifmap_sram_bytes=sram_kib * 1024,
        filter_sram_bytes=sram_kib * 1024, ofmap_sram_bytes=sram_kib * 1024, vector_overlap=overlap,
        weights_on_chip=on_chip, activations_on_chip=acts, tech_node_nm=node,
    ))  # fmt: skip
    heads = np.random.default_rng(seed).integers(0, 5, size=(3, TINY.n_layers))
    res = cost_many(TINY, heads, accel)
    for i, row in enumerate(heads):
        total = model_cost(build_workload(TINY, tuple(row)), accel).total
        for key in MONOTONE:
            assert res[key][i] == getattr(total, key), key
