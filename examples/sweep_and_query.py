"""A small sweep end to end: perplexity measured on the shipped model, costed on two accelerators in both phases,
the HTML report written, then queried. Run from the repository root: python examples/sweep_and_query.py [OUT]
"""

import sys
import tempfile
from pathlib import Path

import hwsim

ROOT = Path(__file__).resolve().parents[1]
out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "sweep"
result = hwsim.sweep(checkpoint=str(ROOT / "models" / "ptb-small.ckpt"), heads=["8,8,8,8", "4,4,2,2", "2,2,1,1"],
                     accels=["gemmini-like", "edge-soc-32x32"], grid=["rows=16,32"], max_tokens=1000,
                     phases="segment,decode", out=out)
print(f"{len(result.frame)} points; report: {result.report_path}")
frame, manifest = hwsim.read_results(result.out_dir)
print(hwsim.pareto_front(frame, ("perplexity", "latency_per_token_s"))[["heads_per_layer", "accel", "perplexity",
                                                                           "latency_per_token_s"]])
best = hwsim.best_under(frame, max_perplexity_increase=0.25)
print("cheapest energy per token within 25 % of the baseline's perplexity:",
      best["energy_per_token_pj"][["heads_per_layer", "accel", "energy_per_token_pj"]].to_dict())
