"""NSGA-II search: exact budget of distinct evaluations, determinism, seeding, --align, spec/CLI errors, a real
search on a tiny checkpoint written to the ordinary results store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import assert_one_line_error
from hwsim.errors import SweepError
from hwsim.spec import load_spec
from hwsim.sweep.config import CliOverrides, apply_cli, load_sweep_spec, parse_sweep_spec
from hwsim.sweep.search import SearchSpec, gate_seeds, nsga2_search
from test_sweep import make_tiny_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "models" / "ptb-small.toml"


class Oracle:
    """A cheap 3-objective stand-in for perplexity and cost that records every call."""

    def __init__(self):
        self.calls: list[np.ndarray] = []

    def __call__(self, heads, labels):
        assert len(labels) == len(heads)
        self.calls.append(heads.copy())
        quality = ((8 - heads) ** 2 * np.array([4, 1, 2, 3])).sum(axis=1) / 30.0
        return np.column_stack([quality, heads.sum(axis=1), heads[:, 0] + 2 * heads[:, 3]]).astype(float)


def _run(search, choices=None, scores=None):
    spec = load_spec(SMALL)
    oracle = Oracle()
    seeds, labels = gate_seeds(spec, scores, search.population_size())
    full = (8, 8, 8, 8)
    known = {full: oracle(np.array([full]), ["baseline"])[0]}
    order = nsga2_search(spec, search, seeds, labels, oracle, known, choices)
    return order, oracle, seeds


@pytest.mark.parametrize("budget", [1, 7, 40])
def test_budget_counts_distinct_evaluations_exactly(budget):
    order, oracle, _ = _run(SearchSpec(budget=budget, seed=1))
    evaluated = np.concatenate(oracle.calls[1:])  # the first call is the baseline, outside the budget
    assert len(order) == len(evaluated) == budget
    assert len({tuple(r) for r in evaluated}) == budget and (8, 8, 8, 8) not in set(order)


def test_same_seed_same_search_and_gate_seeds_first():
    scores = np.random.default_rng(4).normal(size=(4, 8))
    a, _, seeds = _run(SearchSpec(budget=30, seed=5), scores=scores)
    b, _, _ = _run(SearchSpec(budget=30, seed=5), scores=scores)
    c, _, _ = _run(SearchSpec(budget=30, seed=6), scores=scores)
    assert a == b and a != c
    # The first population is the gate-score ratios k/P of all 32 heads removed (P = 30 // 4 = 7).
    from hwsim.sweep.space import RatioMode, ratio_heads

    spec = load_spec(SMALL)
    expected = [tuple(ratio_heads(spec, k / 7, RatioMode.GATE, scores)) for k in range(1, 8)]
    assert [tuple(r) for r in seeds] == expected == a[:7]


def test_later_generations_extend_the_front_of_the_seeds():
    from hwsim.sweep.hypervolume import hypervolume
    from hwsim.sweep.pareto import pareto_mask

    order, oracle, _ = _run(SearchSpec(budget=60, seed=0))
    F = oracle(np.array(order), ["x"] * 60)
    ref = F.max(axis=0) + 1
    seeds_only = F[:15]
    assert hypervolume(F[pareto_mask(F)], ref) > hypervolume(seeds_only[pareto_mask(seeds_only)], ref)


def test_align_restricts_every_head_count():
    choices = np.array([0, 2, 4, 6, 8])
    order, oracle, _ = _run(SearchSpec(budget=25, seed=2), choices=choices)
    assert len(order) == 25 and np.isin(np.array(order), choices).all()
    with pytest.raises(SweepError, match="between 1 and 624"):  # 5^4 - 1 aligned vectors
        _run(SearchSpec(budget=700, seed=2), choices=choices)


def test_small_space_is_exhausted_without_looping():
    spec = load_spec(SMALL)
    raw = spec.to_dict() | {"n_layers": 2, "n_heads": 2}
    from hwsim.spec import ModelSpec

    tiny = ModelSpec.from_dict(raw)
    calls = []

    def oracle(heads, labels):
        calls.append(len(heads))
        return np.column_stack([-heads.sum(axis=1), heads.sum(axis=1)]).astype(float)

    order = nsga2_search(tiny, SearchSpec(budget=8, seed=0), np.empty((0, 2), dtype=np.int64), [], oracle,
                         {(2, 2): np.array([-4.0, 4.0])})
    assert sorted(order) == sorted({(a, b) for a in range(3) for b in range(3)} - {(2, 2)})  # all 3^2 - 1


def test_search_table_and_cli(tmp_path):
    base = parse_sweep_spec({"search": {"budget": 12, "seed": 3}, "accel": {"presets": ["gemmini-like"]}},
                            tmp_path, "s.toml")
    assert base.search == SearchSpec(budget=12, seed=3) and base.pruning.is_empty
    assert apply_cli(base, CliOverrides(budget=20, seed=4)).search == SearchSpec(budget=20, seed=4)
    default = load_sweep_spec(ROOT / "sweeps" / "default.toml")
    spec = apply_cli(default, CliOverrides(search="nsga2", budget=40))
    assert spec.search.budget == 40 and spec.pruning.is_empty and "search" in spec.to_dict()
    assert "search" not in default.to_dict()  # sweeps without a search hash as before
    for raw, match in [({"search": {"seed": 1}}, "budget"), ({"search": {"budget": 3}, "pruning": {"ratios": [0]}},
                                                             "exclude each other"),
                       ({"search": {"budget": 3, "step": 1}}, "unknown key")]:
        with pytest.raises(SweepError, match=match):
            parse_sweep_spec(raw, tmp_path, "s.toml")
    with pytest.raises(SweepError, match="--budget"):
        apply_cli(default, CliOverrides(search="nsga2"))
    with pytest.raises(SweepError, match="add --search"):
        apply_cli(default, CliOverrides(budget=3))
    with pytest.raises(SweepError, match="drop --heads-per-layer"):
        apply_cli(default, CliOverrides(search="nsga2", budget=3, ratios="0.5"))


def test_bad_search_options_give_one_error_line(cli, tmp_path):
    model = ROOT / "models" / "ptb-small.toml"
    assert_one_line_error(cli("sweep", "--search", "nsga2", "--budget", "5", "--model", model, "--out",
                              tmp_path / "a", "--no-progress"), "needs a checkpoint")
    assert_one_line_error(cli("sweep", "--search", "cmaes", "--budget", "5", "--out", tmp_path / "b",
                              "--no-progress"), "cmaes")
    assert_one_line_error(cli("sweep", "--search", "nsga2", "--budget", "0", "--out", tmp_path / "c",
                              "--no-progress"), "budget 0")
    assert_one_line_error(cli("sweep", "--model", model, "--ratios", "0.5", "--ratio-mode", "uniform",
                              "--max-perplexity-increase", "lots", "--out", tmp_path / "d", "--no-progress"),
                          "percentage")


@pytest.fixture(scope="module")
def tiny_search(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    return root, make_tiny_checkpoint(root / "ckpt")


def test_search_on_a_checkpoint_fills_the_results_store(cli, tiny_search):
    root, ckpt = tiny_search
    out = root / "res"
    res = cli("sweep", "--checkpoint", ckpt, "--search", "nsga2", "--budget", "12", "--seed", "1", "--max-tokens",
              "300", "--accel", "gemmini-like", "--accel", "edge-soc-32x32", "--workers", "1", "--out", out,
              "--no-progress", "--max-perplexity-increase", "50%")
    assert res.code == 0, res.err
    assert "perplexity evaluated this run: 13," in res.out and "hypervolume pareto_3d" in res.out
    assert "best within budget (perplexity <= baseline + 50%)" in res.out and "knee of each front" in res.out
    frame = pd.read_parquet(out / "results.parquet")
    configs = pd.read_parquet(out / "configs.parquet")
    ppl = pd.concat([pd.read_parquet(p) for p in (out / "perplexity").glob("part-*.parquet")])
    assert len(configs) == configs["heads_per_layer"].nunique() == 13 == len(ppl) == ppl["config_id"].nunique()
    assert len(frame) == 13 * 2 and frame["perplexity"].notna().all()
    assert configs.loc[0, "label"] == "baseline" and configs["label"].str.startswith("search seed").any()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["n_configs"] == 13
    assert 0 < manifest["hypervolume"]["pareto_3d"]["hypervolume"] <= 1.1**3
    report = json.loads((root / "res.json").read_text())
    best = report["budget"]["best"]["lowest latency"]
    limit = 1.5 * frame.loc[frame["is_baseline"], "perplexity"].min()
    ok = frame[frame["perplexity"] <= limit]
    assert best["latency_s"] == ok["latency_s"].min()
    # `hwsim report` answers a new budget on the same results without rerunning anything.
    res = cli("report", out, "-o", root / "again.html", "--max-area-mm2", "0.5", "--max-energy-uj", "1e9")
    assert res.code == 0, res.err
    assert "smallest area: no design within the budget" in res.out
