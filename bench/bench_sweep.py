"""Sweep throughput: pruning configurations evaluated per second (perplexity) and (pruning x accelerator) points
costed per second, for a cost sweep of >= 10^5 points; plus the Pareto masks on those points against the naive loop.

    python bench/bench_sweep.py [--checkpoint models/ptb-small.ckpt] [--configs 16] [--max-tokens 20000]

Every number is measured in this run, on this machine; nothing is compared with stored values.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from hwsim.spec import load_spec
from hwsim.sweep.config import DEFAULT_SPEC_PATH, SweepSpec, load_sweep_spec
from hwsim.sweep.pareto import pareto_mask, pareto_mask_naive
from hwsim.sweep.runner import SweepRequest, run_sweep
from hwsim.sweep.space import AccelGrid, PruningSpace, RandomSamples

ROOT = Path(__file__).resolve().parents[1]


def bench_cost(n_configs: int, presets: tuple[str, ...], grid) -> None:
    from hwsim.accel.batch import cost_many
    from hwsim.accel.config import load_accel, with_overrides

    model = ROOT / "models" / "shim-wt103-16l.toml"
    spec = SweepSpec(model=str(model), pruning=PruningSpace(random=RandomSamples(samples=n_configs, seed=1)),
                     accel=AccelGrid(presets=presets, grid=grid))
    points = spec.accel.points()
    heads = np.random.default_rng(1).integers(0, 9, size=(n_configs, 16))
    accels = [with_overrides(load_accel(p.preset), dict(p.overrides)) for p in points]
    paper = load_spec(model)
    t0 = time.perf_counter()
    for accel in accels:
        cost_many(paper, heads, accel)
    raw_s = time.perf_counter() - t0
    n_points = n_configs * len(points)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        outcome = run_sweep(SweepRequest(spec=spec, out_dir=Path(tmp) / "res", progress=False))
        sweep_s = time.perf_counter() - t0
    print(f"cost: {n_configs:,} pruning configs x {len(points)} accelerators = {n_points:,} points "
          f"(paper model, 16 layers)")
    print(f"  cost_many alone              {n_points / raw_s:>12,.0f} points/s  ({raw_s:.2f} s)")
    print(f"  hwsim sweep, cost-only       {outcome.n_points / sweep_s:>12,.0f} points/s  ({sweep_s:.2f} s: "
          "expand, cost, Parquet parts, join, 4 Pareto fronts, results.parquet + .csv)")


def bench_pareto(n: int) -> None:
    rng = np.random.default_rng(0)
    for k in (2, 3):
        costs = rng.random((n, k))
        t0 = time.perf_counter()
        fast = pareto_mask(costs)
        fast_s = time.perf_counter() - t0
        sub = costs[:2000]
        t0 = time.perf_counter()
        naive = pareto_mask_naive(sub)
        naive_s = time.perf_counter() - t0
        assert (pareto_mask(sub) == naive).all()
        print(f"pareto {k}-D: pareto_mask on {n:,} points {fast_s * 1e3:8.1f} ms ({int(fast.sum())} on the front); "
              f"naive O(n^2) on 2,000 points {naive_s * 1e3:8.1f} ms")


def bench_perplexity(checkpoint: str, n_configs: int, max_tokens: int, workers: int) -> None:
    spec = SweepSpec(checkpoint=checkpoint, max_tokens=max_tokens,
                     pruning=PruningSpace(random=RandomSamples(samples=n_configs - 1, seed=5, min_heads=(1,))),
                     accel=AccelGrid(presets=("gemmini-like",)))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        outcome = run_sweep(SweepRequest(spec=spec, out_dir=Path(tmp) / "res", workers=workers, progress=False))
        total_s = time.perf_counter() - t0
    print(f"perplexity: {outcome.evaluated_configs} pruning configs on {checkpoint} ({max_tokens or 'all'} tokens of "
          f"the validation split each), {workers} worker process(es)")
    print(f"  hwsim sweep, {workers} processes    {outcome.evaluated_configs / total_s:6.2f} configs/s  "
          f"({total_s:.1f} s, process start-up and loading included)")
    # The same work unit without the pool: per-config cost once the checkpoint and corpus are in memory.
    from hwsim.sweep.evaluate import PerplexityJob, evaluate_configs, release_evaluators

    job = PerplexityJob(checkpoint=checkpoint, max_tokens=max_tokens)
    heads = _configs_of(checkpoint, n_configs)
    evaluate_configs(job, [0], heads[:1])  # load checkpoint and corpus once
    t0 = time.perf_counter()
    evaluate_configs(job, list(range(len(heads))), heads)
    steady_s = time.perf_counter() - t0
    release_evaluators()
    print(f"  one process, steady state   {len(heads) / steady_s:6.2f} configs/s  ({steady_s:.1f} s for {len(heads)}, "
          "model and corpus already loaded, 1 torch thread)")


def _configs_of(checkpoint: str, n: int) -> list[tuple[int, ...]]:
    from hwsim.nn.checkpoint import load_checkpoint
    from hwsim.sweep.space import expand_pruning

    spec = load_checkpoint(checkpoint).spec
    configs = expand_pruning(spec, PruningSpace(random=RandomSamples(samples=n, seed=5, min_heads=(1,))))
    return [tuple(int(h) for h in row) for row in configs.heads[:n]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=load_sweep_spec(DEFAULT_SPEC_PATH).checkpoint)
    parser.add_argument("--configs", type=int, default=16, help="pruning configs to evaluate for perplexity")
    parser.add_argument("--max-tokens", type=int, default=load_sweep_spec(DEFAULT_SPEC_PATH).max_tokens or 0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cost-configs", type=int, default=12_500, help="x 8 accelerators = 10^5 points")
    args = parser.parse_args()
    grid = (("array", ("16x16", "32x32")), ("dataflow", ("os", "ws")))
    bench_cost(args.cost_configs, ("gemmini-like", "tpu-v1-like"), grid)
    bench_pareto(100_000)
    if args.checkpoint and Path(args.checkpoint).exists():
        bench_perplexity(args.checkpoint, args.configs, args.max_tokens or None, args.workers)
    else:
        print(f"perplexity: skipped, checkpoint {args.checkpoint} not found (pass --checkpoint)")


if __name__ == "__main__":
    main()
