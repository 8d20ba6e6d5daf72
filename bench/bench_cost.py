"""Speed of the cost model, side by side in one run.

1. SCALE-Sim v3 (in-process, CALC mode, no traces) vs ``hwsim`` (scalesim mode, same numbers) on the same GEMMs:
   wall time of each and the ratio, plus a check that compute cycles and SRAM counts agree.
2. ``cost_many``: heads-per-layer configurations of the paper recipe costed per second (vectorised path), next to
   the scalar ``model_cost`` path.

Usage: ``python bench/bench_cost.py [--configs 100000] [--quick]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hwsim.accel.batch import cost_many  # noqa: E402
from hwsim.accel.config import PRESETS, with_overrides  # noqa: E402
from hwsim.accel.cost import model_cost  # noqa: E402
from hwsim.accel.gemm import gemm_cost  # noqa: E402
from hwsim.accel.scalesim_export import GemmRow, run_scalesim_gemms  # noqa: E402
from hwsim.spec import load_spec  # noqa: E402
from hwsim.workload import build_workload  # noqa: E402

# GEMMs of the paper recipe (one head's attention products; projections of one head's 64 columns; a 128^3 block)
GEMMS = [
    GemmRow(name="content_scores", m=192, n=384, k=64),
    GemmRow(name="attn_values", m=192, n=64, k=384),
    GemmRow(name="persistent_values", m=192, n=64, k=512),
    GemmRow(name="q_proj_1head", m=192, n=64, k=512),
    GemmRow(name="out_proj_1head", m=192, n=512, k=64),
    GemmRow(name="block128", m=128, n=128, k=128),
]
KEYS = ("compute_cycles", "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes")


def bench_scalesim(dataflows: list[str]) -> None:
    print("== SCALE-Sim v3 vs hwsim on the same GEMMs (32x32 array, 64 KiB SRAMs, CALC mode)")
    print(f"{'dataflow':>8} {'gemms':>5} {'scalesim_s':>11} {'hwsim_s':>10} {'ratio':>10}  agree")
    for df in dataflows:
        accel = with_overrides(
            PRESETS["edge-soc-32x32"], {"dataflow": df, "mode": "scalesim", "weights_on_chip": False}
        )
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            reference = run_scalesim_gemms(GEMMS, accel, tmp)
            t_scalesim = time.perf_counter() - start
        repeats = 200
        start = time.perf_counter()
        for _ in range(repeats):
            ours = [gemm_cost(g.m, g.n, g.k, accel) for g in GEMMS]
        t_hwsim = (time.perf_counter() - start) / repeats
        agree = all(getattr(o, key) == r[key] for o, r in zip(ours, reference) for key in KEYS)
        print(f"{df:>8} {len(GEMMS):>5} {t_scalesim:>11.3f} {t_hwsim:>10.6f} {t_scalesim / t_hwsim:>9.0f}x  {agree}")


def bench_many(n_configs: int) -> None:
    spec = load_spec(ROOT / "models" / "shim-wt103-16l.toml")
    rng = np.random.default_rng(0)
    heads = rng.integers(0, spec.n_heads + 1, size=(n_configs, spec.n_layers))
    print(f"\n== heads-per-layer configurations of {spec.name} costed per second (one core)")
    header = (("accelerator", 16), ("configs", 8), ("cold_s", 8), ("cost_many_s", 12), ("configs/s", 12),
              ("scalar configs/s", 17))  # fmt: skip
    print(" ".join(f"{name:>{width}}" for name, width in header), f"{'speedup':>8}")
    for accel in PRESETS.values():
        start = time.perf_counter()  # cold: builds the per-layer table (mapping searches, fused plans) first
        cost_many(spec, heads, accel)
        t_cold = time.perf_counter() - start
        t_many = float("inf")
        for _ in range(3):  # best of 3: the first call pays page faults for the large temporaries
            start = time.perf_counter()
            result = cost_many(spec, heads, accel)
            t_many = min(t_many, time.perf_counter() - start)
        n_scalar = 50
        start = time.perf_counter()
        for row in heads[:n_scalar]:
            model_cost(build_workload(spec, tuple(row)), accel)
        t_scalar = (time.perf_counter() - start) / n_scalar
        assert result["cycles"].shape == (n_configs,)
        print(
            f"{accel.name:>16} {n_configs:>8} {t_cold:>8.3f} {t_many:>12.3f} {n_configs / t_many:>12,.0f} "
            f"{1 / t_scalar:>17,.1f} {t_scalar * n_configs / t_many:>7.0f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=100_000, help="heads vectors for cost_many")
    parser.add_argument("--quick", action="store_true", help="one dataflow only")
    args = parser.parse_args()
    bench_scalesim(["ws"] if args.quick else ["ws", "os", "is"])
    bench_many(args.configs)


if __name__ == "__main__":
    main()
