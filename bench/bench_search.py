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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "models" / "ptb-small.ckpt"))
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ground-truth-only", action="store_true")
    args = parser.parse_args()
    ground_truth(args.checkpoint, args.max_tokens, args.workers)


if __name__ == "__main__":
    main()
