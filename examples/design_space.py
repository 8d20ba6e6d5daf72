"""Cost many pruning configurations on several accelerators at once and pick designs from the table.

Vectorised (hwsim.cost_many: over a million configurations per second once its tables are built), then the
Pareto front and a budget query on the resulting DataFrame. Run from the repository root:
python examples/design_space.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

import hwsim

ROOT = Path(__file__).resolve().parents[1]
spec = hwsim.load_spec(ROOT / "models" / "shim-wt103-16l.toml")
rng = np.random.default_rng(0)
heads = rng.integers(1, spec.n_heads + 1, size=(20_000, spec.n_layers))

frames = []
for accel in ("gemmini-like", hwsim.load_accel("gemmini-like", rows=32, cols=32), "edge-soc-32x32"):
    frame = hwsim.cost_many(spec, heads, accel, phase="decode", batch=1)
    frame["accel"] = accel if isinstance(accel, str) else f"{accel.name} 32x32"
    frames.append(frame)
table = pd.concat(frames, ignore_index=True)
# Without a checkpoint there is no perplexity here: kept parameters stand in for model quality (maximised).
front = hwsim.pareto_front(table, objectives=("params", "latency_s", "area_mm2"), maximize=("params",))
print(f"{len(table):,} (pruning, accelerator) points, {len(front)} on the params / latency-per-token / area front")
best = hwsim.best_under(table, max_latency_s=3e-3)["latency_s"]
print("fastest decode step under 3 ms:", None if best is None else (best["heads_per_layer"], best["accel"]))
