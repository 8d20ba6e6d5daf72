"""Decode-step and generation costs (hwsim.accel.kept, hwsim.accel.generation, the decode phase of cost_many):
byte classes by hand, the roofline bounds, what stays on chip between tokens, scalar == vectorised, the CLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error
from hwsim.accel.batch import TOTAL_KEYS, cost_many
from hwsim.accel.config import PRESETS, AccelConfig, with_overrides
from hwsim.accel.cost import model_cost
from hwsim.accel.generation import (
    byte_classes,
    cached_tokens,
    decode_cost,
    decode_summary,
    default_context,
    generation_cost,
    prompt_steps,
)
from hwsim.spec import load_spec
from hwsim.workload import build_workload, decode_step
from nn_helpers import tiny_spec

SMALL = AccelConfig(name="small", rows=4, cols=4, dataflow="ws", ifmap_sram_bytes=1024, filter_sram_bytes=1024,
                    ofmap_sram_bytes=65536, dram_bandwidth_bytes_per_s=4e9, clock_hz=1e9)  # fmt: skip


def test_byte_classes_of_a_decode_step_by_hand():
    """Tiny All-Attention spec (d 32, h*dh = 8 per head, N 8, V 100), int8, nothing kept on chip (the halves of
    the 1 KiB buffers hold neither the position keys nor the cache), no fusion, batch 2, 11 cached tokens
    (L = 12). Per layer with h heads (w = 8h):
    weights q, k, v, o: 4*d*w; persistent: 2*h*N*dh; position keys: h*dh*L; cache reads: K and V of L tokens per
    sequence, 2*B*w*L; cache writes: the new K and V, 2*B*w; activations: B*(4d + 7w + 3hL + 2hN) (x_ln read by
    q/k/v, q written and read three times, the three score vectors written, the probabilities read twice,
    attn written twice and read once, y written); output: d*V weights, B*(d + V) activations."""
    spec, batch, context, heads = tiny_spec(), 2, 11, (3, 0, 2)
    d, dh, n, v, length = 32, 8, 8, 100, context + 1
    cost = model_cost(build_workload(spec, heads, batch, decode_step(context)), SMALL)
    assert not (cost.kept.weights or cost.kept.position_keys or cost.kept.cache or cost.kept.scores)
    expected = {"weights": 0, "persistent": 0, "position_keys": 0, "cache_read": 0, "cache_write": 0,
                "activations": batch * (d + v), "psum": 0}  # fmt: skip
    expected["weights"] += d * v
    for h in heads:
        if h == 0:
            continue
        w = h * dh
        expected["weights"] += 4 * d * w
        expected["persistent"] += 2 * h * n * dh
        expected["position_keys"] += h * dh * length
        expected["cache_read"] += 2 * batch * w * length
        expected["cache_write"] += 2 * batch * w
        expected["activations"] += batch * (4 * d + 7 * w + 3 * h * length + 2 * h * n)
    assert byte_classes(cost.total) == expected
    assert cost.total.dram_bytes == sum(expected.values())
    assert cost.cache_bytes == 2 * batch * sum(heads) * dh * length


def test_decode_latency_respects_the_roofline_and_meets_it_where_nothing_fits():
    spec = load_spec(ROOT / "models" / "shim-wt103-16l.toml")
    rng = np.random.default_rng(0)
    for preset, accel in PRESETS.items():
        for _ in range(3):
            heads = tuple(int(h) for h in rng.integers(0, 9, 16))
            for batch in (1, 8):
                s = decode_summary(decode_cost(spec, heads, accel, batch))
                assert s["latency_per_token_s"] >= max(s["bandwidth_bound_s"], s["compute_bound_s"])
    # batch 1 on gemmini-like: weights, position keys and cache all stream; the step is bandwidth-bound
    s = decode_summary(decode_cost(spec, None, PRESETS["gemmini-like"], 1))
    assert not s["weights_on_chip"] and s["cache_location"] == "DRAM"
    assert s["latency_per_token_s"] <= 1.05 * s["bandwidth_bound_s"]


def test_weights_that_fit_stay_on_chip_between_tokens():
    """ptb-small on gemmini-like: all heads (396 kB) stream; one head per layer (12.7 kB per layer) fits in half of
    the 128 KiB filter buffer, so the layers read no weight from DRAM after the first token."""
    spec = load_spec(ROOT / "models" / "ptb-small.toml")
    accel = PRESETS["gemmini-like"]
    full = decode_cost(spec, None, accel)
    assert not full.kept.weights and all(layer.dram_weight_bytes > 0 for layer in full.layers[:-1])
    pruned = decode_cost(spec, (1, 1, 1, 1), accel)
    assert pruned.kept.weights and pruned.total.param_bytes <= accel.filter_sram_bytes // 2
    assert all(layer.dram_weight_bytes == 0 for layer in pruned.layers[:-1])
    assert pruned.layers[-1].dram_weight_bytes > 0  # the output layer (embedding tables) always streams


def test_decode_scalar_equals_vectorised_bit_for_bit():
    spec = load_spec(ROOT / "models" / "ptb-small.toml")
    rng = np.random.default_rng(1)
    heads = rng.integers(0, 9, size=(60, 4))
    accels = [*PRESETS.values(), with_overrides(PRESETS["gemmini-like"], {"filter_sram_bytes": 262144})]
    for accel in accels:
        for batch, context in ((1, 70), (3, 0)):
            many = cost_many(spec, heads, accel, batch, step=decode_step(context), per_layer=True)
            for i in range(0, len(heads), 5):
                one = model_cost(build_workload(spec, tuple(heads[i]), batch, decode_step(context)), accel)
                total = one.to_json_dict()["total"]
                assert all(total[key] == many[key][i] for key in TOTAL_KEYS)
                assert [layer.latency_s for layer in one.layers[:-1]] == list(many["layer_latency_s"][i])
                assert [layer.energy_pj for layer in one.layers[:-1]] == list(many["layer_energy_pj"][i])
                assert one.kept.weights == many["kept_weights"][i] and one.kept.cache == many["kept_cache"][i]
                assert one.cache_bytes == many["cache_bytes"][i]
    flags = cost_many(spec, heads, accels[-1], 1, step=decode_step(70))["kept_weights"]
    assert flags.any() and not flags.all()  # both kinds of rows in one call


def test_generation_contexts_follow_the_policy():
    spec = tiny_spec()  # T = M = 8
    assert [cached_tokens(spec, p, "segment") for p in range(20)] == [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11]
    assert [cached_tokens(spec, p, "window") for p in (0, 5, 15, 16, 40)] == [0, 5, 15, 15, 15]
    assert [(s.queries, s.keys) for s in prompt_steps(spec, 19)] == [(8, 8), (8, 16), (3, 11)]
    assert default_context(spec) == 8 + 3


def test_generation_cost_is_the_prompt_pass_plus_each_step():
    spec = tiny_spec()
    accel = PRESETS["gemmini-like"]
    gen = generation_cost(spec, None, accel, 2, prompt=10, new_tokens=9)
    parts = [model_cost(build_workload(spec, None, 2, step), accel) for step in prompt_steps(spec, 10)]
    parts += [decode_cost(spec, None, accel, 2, cached_tokens(spec, p, "segment")) for p in range(10, 18)]
    assert gen.total.cycles == sum(c.total.cycles for c in parts)
    assert gen.total.dram_bytes == sum(c.total.dram_bytes for c in parts)
    assert gen.total.energy_pj == pytest.approx(sum(c.total.energy_pj for c in parts), rel=1e-12)
    assert gen.total.area_mm2 == parts[0].total.area_mm2 and gen.total.params == parts[0].total.params
    payload = gen.to_json_dict()
    assert payload["time_to_first_token_s"] == pytest.approx(sum(c.total.latency_s for c in parts[:2]))
    assert payload["latency_per_token_s"] == pytest.approx(sum(c.total.latency_s for c in parts[2:]) / 8)
    assert payload["tokens_per_s"] == pytest.approx(2 / payload["latency_per_token_s"])
    assert sum(n for _, n in payload["decode_contexts"]) == 8
    one = generation_cost(spec, None, accel, 1, prompt=4, new_tokens=1).to_json_dict()
    assert one["decode_contexts"] == [] and one["latency_per_token_s"] == one["time_to_first_token_s"]


def test_cli_cost_decode_and_generate(cli):
    model = ROOT / "models" / "shim-wt103-16l.toml"
    heads = "5,2,5,4,3,4,4,4,4,4,4,4,3,3,3,3"
    decode = cli("cost", "--model", model, "--heads-per-layer", heads, "--phase", "decode", "--context", "100",
                 "--batch", "2", "--json").json()  # fmt: skip
    for key in ("latency_per_token_s", "tokens_per_s", "energy_per_token_pj", "dram_bytes_per_token",
                "dram_bytes_per_token_by_class", "weights_on_chip", "cache_bytes", "cache_location", "layers"):
        assert key in decode, key
    assert decode["context"] == 100 and decode["tokens_per_s"] == pytest.approx(2 / decode["latency_per_token_s"])
    gen = cli("cost", "--model", model, "--phase", "generate", "--prompt", "20", "--new-tokens", "4",
              "--json").json()  # fmt: skip
    assert gen["time_to_first_token_s"] > 0 and gen["new_tokens"] == 4
    text = cli("cost", "--model", model, "--phase", "decode", "--gemms")
    assert text.code == 0 and "per token: latency" in text.out and "content_scores" in text.out
    csv = cli("cost", "--model", model, "--phase", "generate", "--prompt", "5", "--new-tokens", "3", "--csv")
    assert csv.code == 0 and csv.out.count("\n") == 18 + 1  # header, 17 layers, total


@pytest.mark.parametrize("args,fragment", [
    (("--phase", "decode", "--context", "384"), "context"),
    (("--phase", "decode", "--context", "-1"), "context"),
    (("--phase", "decode", "--prompt", "3"), "--prompt"),
    (("--phase", "generate", "--prompt", "3"), "--new-tokens"),
    (("--phase", "generate", "--prompt", "0", "--new-tokens", "3"), "--prompt"),
    (("--phase", "generate", "--prompt", "3", "--new-tokens", "99999999"), "--new-tokens"),
    (("--context", "3"), "--context"),
])  # fmt: skip
def test_cli_cost_bad_phase_options(cli, args, fragment):
    assert_one_line_error(cli("cost", "--model", ROOT / "models" / "shim-wt103-16l.toml", *args), fragment)


@pytest.mark.parametrize("mode", ["physical", "scalesim"])
def test_byte_classes_add_up_and_are_never_negative(mode):
    """scalesim mode sends every K-fold partial sum to DRAM: they are psum bytes, never cache writes."""
    spec = load_spec(ROOT / "models" / "ptb-small.toml")
    for preset, accel in PRESETS.items():
        if accel.unified_scratchpad and mode == "scalesim":
            continue
        cost = decode_cost(spec, (8, 3, 0, 5), with_overrides(accel, {"mode": mode}), 2)
        classes = byte_classes(cost.total)
        assert sum(classes.values()) == cost.total.dram_bytes and min(classes.values()) >= 0, (preset, classes)
