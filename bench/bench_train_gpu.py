"""Training speed of the paper's recipe on a GPU: tokens/s, model FLOPs utilisation (MFU) and peak memory.

The model, optimizer, dropouts and mixed precision are the recipe's own (default ``models/shim-wt103-16l.toml``:
16 layers, d 512, 8 heads x 64, N = 2048, T = M = 192, adaptive softmax over WikiText-103's 267,735 words, LAMB,
bfloat16 autocast) and each step is ``hwsim.nn.step.train_step``, the step ``hwsim train`` runs; tokens are random
(a step costs the same on any tokens). For each batch size, both phases are timed: the baseline and the gating phase
(hard-concrete gates, E[L0] penalty, output scaling). A batch that does not fit prints ``out of memory``.

FLOPs of one step (forward + backward) are counted by ``torch.utils.flop_counter`` and printed beside the cost
model's count (``hwsim.workload`` MACs x 2 FLOP x 3 for forward + backward) as an independent check. MFU is the
counted FLOPs per second over the GPU's dense bf16 peak (table below, from the vendor's data sheets) and, side by
side, over a bf16 8192^3 matmul measured on the same GPU in the same run.

Usage: python bench/bench_train_gpu.py [--recipe R] [--batch 24,48,96] [--steps 20] [--json OUT] [--profile]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from hwsim.nn.config import gate_config, train_config
from hwsim.nn.model import Dropouts, build_model
from hwsim.nn.optim import build_optimizer
from hwsim.nn.step import train_step
from hwsim.nn.train import _param_groups
from hwsim.spec import ModelSpec, load_recipe
from hwsim.workload import build_workload

# Dense (no sparsity) bf16 tensor-core peak, FLOP/s. NVIDIA H100 Tensor Core GPU data sheet: SXM 989.4 TFLOPS
# (1,979 with sparsity), PCIe 756 TFLOPS; H200 data sheet: 989 TFLOPS (same GH100 die and clocks as H100 SXM);
# A100 data sheet: 312 TFLOPS.
BF16_PEAK_FLOPS = {"H100 PCIe": 756e12, "H100": 989.4e12, "H200": 989.4e12, "A100": 312e12}


def bf16_peak(name: str) -> float | None:
    for key, flops in BF16_PEAK_FLOPS.items():  # "H100 PCIe" before "H100"
        if key in name:
            return flops
    return None


def cuda_time(fn, steps: int, warmup: int = 3, device: str = "cuda") -> float:
    """Seconds per call of ``fn``: mean over ``steps`` calls after ``warmup`` (CUDA synchronised around the timer)."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync()
    return (time.perf_counter() - t0) / steps


def matmul_flops(n: int = 8192) -> float:
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    return 2 * n**3 / cuda_time(lambda: a @ b, 10)


def time_phase(raw: dict, spec: ModelSpec, batch: int, gated: bool, steps: int, device: str = "cuda") -> dict:
    """One phase at one batch size: seconds per step, tokens/s, counted FLOPs per step, peak memory."""
    cfg, gcfg = train_config(raw.get("train")), gate_config(raw.get("gates"))
    torch.manual_seed(0)
    model = build_model(spec, gated=gated, same_length=cfg.same_length, output_scaling=gated and gcfg.output_scaling,
                        init_log_alpha=gcfg.start_log_alpha,
                        dropouts=Dropouts(emb=cfg.dropout_emb, attn=cfg.dropout_attn, proj=cfg.dropout_proj,
                                          out=cfg.dropout_out)).to(device).train()  # fmt: skip
    lr = gcfg.lr if gated else cfg.lr
    opt = build_optimizer(cfg.optimizer, _param_groups(model, cfg, gcfg if gated else None, lr), lr=lr,
                          betas=cfg.betas, weight_decay=cfg.weight_decay)  # fmt: skip
    x = torch.randint(0, spec.vocab_size, (batch, spec.segment_len + 1), device=device)
    lam = gcfg.lam if gated else None
    state = {"mems": None}

    def step():
        _, mems = train_step(model, opt, x, state["mems"], lam=lam, clip=cfg.clip,
                             clip_params=model.non_gate_parameters(), use_amp=cfg.amp and device.startswith("cuda"))  # fmt: skip
        state["mems"] = mems

    step()  # fills the memory, so every timed step attends over M + T keys as in training
    with FlopCounterMode(display=False) as counter:
        step()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    seconds = cuda_time(step, steps, device=device)
    return {"phase": "gates" if gated else "baseline", "batch": batch, "ms_per_step": seconds * 1e3,
            "tokens_per_s": batch * spec.segment_len / seconds, "flops_per_step": counter.get_total_flops(),
            "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None}  # fmt: skip


def profile_steps(raw: dict, spec: ModelSpec, batch: int, steps: int = 3) -> str:
    """torch.profiler over a few baseline steps: the kernels that take the GPU's time, and GPU busy vs wall time."""
    from torch.profiler import ProfilerActivity, profile

    cfg = train_config(raw.get("train"))
    model = build_model(spec, same_length=cfg.same_length).to("cuda").train()
    opt = build_optimizer(cfg.optimizer, _param_groups(model, cfg, None, cfg.lr), lr=cfg.lr, betas=cfg.betas,
                          weight_decay=cfg.weight_decay)  # fmt: skip
    x = torch.randint(0, spec.vocab_size, (batch, spec.segment_len + 1), device="cuda")
    _, mems = train_step(model, opt, x, None, clip=cfg.clip, clip_params=model.parameters(), use_amp=cfg.amp)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            _, mems = train_step(model, opt, x, mems, clip=cfg.clip, clip_params=model.parameters(), use_amp=cfg.amp)
        torch.cuda.synchronize()
    wall = (time.perf_counter() - t0) / steps
    events = prof.key_averages()
    gpu = sum(e.self_device_time_total for e in events) / steps / 1e3
    table = events.table(sort_by="self_device_time_total", row_limit=25, max_name_column_width=60)
    return f"profile, batch {batch}: wall {wall * 1e3:.1f} ms/step (profiler on), GPU busy {gpu:.1f} ms/step\n{table}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="models/shim-wt103-16l.toml")
    ap.add_argument("--batch", default="24,48,96", help="comma-separated batch sizes (the paper: 24 per GPU)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per phase and batch")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--profile", action="store_true", help="also profile 3 steps at the first batch size")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device (this benchmark measures the GPU path)")
    raw = load_recipe(args.recipe)
    spec = ModelSpec.from_dict(raw["model"], source=args.recipe)
    name = torch.cuda.get_device_name()
    peak, measured = bf16_peak(name), matmul_flops()
    print(f"{name}, torch {torch.__version__}; model {spec.name}: {spec.n_layers} layers, d {spec.d_model}, "
          f"{spec.n_heads} heads, N {spec.n_persistent}, T = M = {spec.segment_len}, V {spec.vocab_size}")
    print(f"bf16 8192^3 matmul measured {measured / 1e12:.0f} TFLOP/s; data-sheet dense bf16 peak "
          f"{peak / 1e12 if peak else float('nan'):.0f} TFLOP/s")
    rows = []
    for batch in (int(b) for b in args.batch.split(",")):
        model_flops = 6 * build_workload(spec, None, batch).macs  # cost model: 2 FLOP/MAC, x3 forward + backward
        for gated in (False, True):
            try:
                row = time_phase(raw, spec, batch, gated, args.steps)
            except torch.cuda.OutOfMemoryError:
                print(f"batch {batch:4d} {'gates' if gated else 'baseline':8s}  out of memory")
                torch.cuda.empty_cache()
                continue
            achieved = row["flops_per_step"] / (row["ms_per_step"] / 1e3)
            row.update(cost_model_flops_per_step=model_flops, achieved_tflops=achieved / 1e12,
                       mfu_datasheet=achieved / peak if peak else None, mfu_measured_matmul=achieved / measured)
            rows.append(row)
            print(f"batch {batch:4d} {row['phase']:8s} {row['ms_per_step']:8.1f} ms/step {row['tokens_per_s']:9.0f} "
                  f"tokens/s  {achieved / 1e12:6.1f} TFLOP/s  MFU {row['mfu_datasheet'] or float('nan'):6.1%} of "
                  f"peak, {row['mfu_measured_matmul']:6.1%} of matmul  counted {row['flops_per_step'] / 1e12:6.2f} "
                  f"vs cost model {model_flops / 1e12:6.2f} TFLOP/step  peak mem {row['peak_mem_gib']:5.1f} GiB")
            torch.cuda.empty_cache()
    if args.profile:
        print(profile_steps(raw, spec, int(args.batch.split(",")[0])))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "torch": torch.__version__, "recipe": args.recipe,
                       "matmul_bf16_flops": measured, "datasheet_bf16_flops": peak, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
