"""Search vs sampling: fraction of the exhaustive front's hypervolume that NSGA-II and random sampling reach.

    nice -n 10 python bench/bench_search.py [--checkpoint models/ptb-small.ckpt] [--max-tokens 512]
                                            [--budgets 50,100,200] [--seeds 0,1,2] [--workers 2]

Ground truth: every heads-per-layer vector of the shipped 4-layer x 8-head PTB model (9^4 = 6,561 vectors, 0..8
heads per layer) evaluated once on the first ``--max-tokens`` validation tokens by an ordinary ``run_sweep`` over
the per-layer range ``0:8`` into a results store under ``.cache/bench-search/`` (gitignored). The store is the
cache: a rerun resumes it and evaluates nothing. Then, with that table as the perplexity oracle, NSGA-II
(:func:`hwsim.sweep.search.nsga2_search`, the code ``hwsim sweep --search nsga2`` runs) and uniform random sampling
each get the same budget of distinct evaluations; the hypervolume of each front of the evaluated points is divided
by the hypervolume of the exhaustive front, both normalised with the exhaustive table's bounds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hwsim.sweep.config import SweepSpec
from hwsim.sweep.hypervolume import bounds_of, normalised_hypervolume
from hwsim.sweep.pareto import fronts_for, objective_matrix, pareto_mask
from hwsim.sweep.runner import SweepRequest, run_sweep
from hwsim.sweep.space import AccelGrid, PruningSpace

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bench-search"
PRESETS = ("gemmini-like", "edge-soc-32x32")


def ground_truth(checkpoint: str, max_tokens: int, workers: int) -> pd.DataFrame:
    """Every heads vector x every preset with its perplexity (computed once into the cache store, then reused)."""
    spec = SweepSpec(checkpoint=checkpoint, max_tokens=max_tokens, pruning=PruningSpace(ranges=("0:8",)),
                     accel=AccelGrid(presets=PRESETS))
    out = CACHE / f"tokens-{max_tokens}"
    t0 = time.perf_counter()
    outcome = run_sweep(SweepRequest(spec=spec, out_dir=out, workers=workers, resume=True, progress=True))
    print(f"ground truth: {outcome.n_configs:,} heads vectors x {outcome.n_accels} accelerators, {max_tokens} tokens; "
          f"evaluated this run: {outcome.evaluated_configs} ({time.perf_counter() - t0:.0f} s wall, cache {out})")
    return pd.read_parquet(outcome.results_path)


def costed_table(truth: pd.DataFrame, checkpoint: str) -> tuple[pd.DataFrame, np.ndarray, object]:
    """The ground truth re-costed with today's cost model (cheap), fronts marked; plus the gate scores and spec."""
    from hwsim.sweep.evaluate import COST_COLUMNS, cost_configs, load_model_inputs

    model, scores, _ = load_model_inputs(checkpoint, None)
    configs = truth[truth["accel_id"] == 0].sort_values("config_id")
    heads = configs[[f"h{i}" for i in range(model.n_layers)]].to_numpy(dtype=np.int64)
    parts = []
    for aid, preset in enumerate(PRESETS):
        cols = cost_configs(model, heads, preset, {}, 1)
        part = pd.DataFrame({"heads_per_layer": configs["heads_per_layer"].to_numpy(), "accel": preset,
                             "perplexity": configs["perplexity"].to_numpy()})
        for name in COST_COLUMNS:
            part[name] = cols[name]
        parts.append(part)
    return pd.concat(parts, ignore_index=True), scores, model


def _fronts(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for front in fronts_for(True):
        frame[front.column] = pareto_mask(objective_matrix(frame, front.objectives))
    return frame


def hv_fractions(table: pd.DataFrame, vectors: set[str], true_hv: dict, bounds: dict) -> dict[str, float]:
    """Hypervolume of the fronts of the points whose heads vector was evaluated, over the exhaustive front's."""
    sub = table[table["heads_per_layer"].isin(vectors)]
    return {f.column: normalised_hypervolume(sub, f, bounds[f.column]) / true_hv[f.column] for f in fronts_for(True)}


def oracle(table: pd.DataFrame):
    """The search's objectives (log perplexity, best latency / area / energy over the presets), looked up."""
    best = table.groupby("heads_per_layer").agg(perplexity=("perplexity", "first"), latency_s=("latency_s", "min"),
                                                area_mm2=("area_mm2", "min"), energy_pj=("energy_pj", "min"))
    lookup = {k: np.array([np.log(r.perplexity), r.latency_s, r.area_mm2, r.energy_pj]) for k, r in best.iterrows()}

    def evaluate(heads: np.ndarray, labels: list[str]) -> np.ndarray:
        return np.stack([lookup[",".join(str(int(h)) for h in row)] for row in heads])

    return evaluate


def compare(table: pd.DataFrame, scores, model, budgets: list[int], seeds: list[int]) -> None:
    from hwsim.sweep.search import SearchSpec, gate_seeds, nsga2_search

    bounds = {f.column: bounds_of(table, f) for f in fronts_for(True)}
    true_hv = {f.column: normalised_hypervolume(table, f, bounds[f.column]) for f in fronts_for(True)}
    full = ",".join([str(model.n_heads)] * model.n_layers)
    everything = [v for v in table["heads_per_layer"].unique() if v != full]
    evaluate = oracle(table)
    rows = []
    for budget in budgets:
        for seed in seeds:
            search = SearchSpec(budget=budget, seed=seed)
            start, labels = gate_seeds(model, scores, search.population_size())
            known = {tuple(model.full_heads()): evaluate(np.array([model.full_heads()]), ["baseline"])[0]}
            t0 = time.perf_counter()
            order = nsga2_search(model, search, start, labels, evaluate, known)
            search_s = time.perf_counter() - t0
            found = {",".join(map(str, v)) for v in order} | {full}
            picked = np.random.default_rng(seed).choice(len(everything), size=budget, replace=False)
            sampled = {everything[i] for i in picked} | {full}
            rows.append({"budget": budget, "seed": seed, "method": "nsga2", "search_s": search_s,
                         **hv_fractions(table, found, true_hv, bounds)})
            rows.append({"budget": budget, "seed": seed, "method": "random", "search_s": 0.0,
                         **hv_fractions(table, sampled, true_hv, bounds)})
    _print(pd.DataFrame(rows), true_hv, len(seeds))


def _print(results: pd.DataFrame, true_hv: dict, n_seeds: int) -> None:
    columns = list(true_hv)
    print(f"\nfraction of the exhaustive front's hypervolume (mean over {n_seeds} seeds, min..max); exhaustive "
          "hypervolumes: " + ", ".join(f"{c} {v:.4f}" for c, v in true_hv.items()))
    print(f"{'budget':>6}  {'front':<15} {'NSGA-II':>22} {'random':>22}")
    for budget, group in results.groupby("budget"):
        for column in columns:
            cells = []
            for method in ("nsga2", "random"):
                v = group.loc[group["method"] == method, column]
                cells.append(f"{v.mean():.3f} ({v.min():.3f}..{v.max():.3f})")
            print(f"{budget:>6}  {column:<15} {cells[0]:>22} {cells[1]:>22}")
    t = results.loc[results["method"] == "nsga2", "search_s"]
    print(f"NSGA-II bookkeeping (pymoo, lookups instead of evaluations): {t.mean():.2f} s per search on average")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "models" / "ptb-small.ckpt"))
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budgets", default="50,100,200")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--ground-truth-only", action="store_true")
    args = parser.parse_args()
    truth = ground_truth(args.checkpoint, args.max_tokens, args.workers)
    if args.ground_truth_only:
        return
    table, scores, model = costed_table(truth, args.checkpoint)
    table = _fronts(table)
    compare(table, scores, model, [int(b) for b in args.budgets.split(",")], [int(s) for s in args.seeds.split(",")])


if __name__ == "__main__":
    main()
