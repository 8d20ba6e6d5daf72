"""Benchmark of the torch side, printed side by side in one run (no asserts; speeds depend on the machine):

1. training tokens/s on CPU for a recipe's model (forward + backward + AdamW step, random tokens);
2. model FLOPs utilisation: FLOPs of one training step counted by torch.utils.flop_counter, divided by the step
   time, against the FLOP/s of a plain square float32 matmul on the same machine;
3. inference speed of a physically pruned model (half the heads in every layer) relative to the full one, next to
   the cost model's MAC ratio (whole model and attention layers only);
4. real incremental decoding (hwsim.nn.decode, KV cache, batch 1): tokens/s of the full and the half-heads model
   next to the decode step's weight-byte and MAC ratios from the cost model.

Usage: python bench/bench_nn.py [--recipe models/ptb-small.toml] [--steps 20] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from hwsim.nn.model import Dropouts, build_model
from hwsim.nn.prune import keep_masks, prune_model
from hwsim.spec import load_recipe, ModelSpec
from hwsim.nn import decode
from hwsim.workload import build_workload, decode_step


def _best_time(fn, repeats: int) -> float:
    """Minimum over repeats (the least-disturbed run on a shared machine)."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.min(times))


def matmul_flops(n: int = 1024, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / _best_time(lambda: a @ b, repeats)


def training(spec: ModelSpec, batch: int, steps: int) -> tuple[float, float]:
    """(tokens/s, FLOP/s achieved) of full training steps."""
    torch.manual_seed(0)
    model = build_model(spec, dropouts=Dropouts(emb=0.1, attn=0.1, proj=0.1, out=0.1)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, spec.vocab_size, (batch, spec.segment_len + 1))
    _, mem = model(x[:, :-1], None, x[:, 1:])
    mem = [m.detach() for m in mem]

    def step():
        nll, _ = model(x[:, :-1], mem, x[:, 1:])
        opt.zero_grad()
        nll.mean().backward()
        opt.step()

    with FlopCounterMode(display=False) as counter:
        nll, _ = model(x[:, :-1], mem, x[:, 1:])
        nll.mean().backward()
    seconds = _best_time(step, steps)
    return batch * spec.segment_len / seconds, counter.get_total_flops() / seconds


@torch.inference_mode()
def inference(models, spec: ModelSpec, batch: int, segments: int, rounds: int = 5) -> list[float]:
    """Seconds per segment of each model, memory carried (as evaluation runs); models alternate in every round so
    that load changes on a shared machine hit them alike; the minimum over rounds is reported."""
    x = torch.randint(0, spec.vocab_size, (batch, spec.segment_len))
    best = [float("inf")] * len(models)
    for _ in range(rounds):
        for i, model in enumerate(models):
            _, mem = model(x)
            t0 = time.perf_counter()
            for _ in range(segments):
                _, mem = model(x, mem, x)
            best[i] = min(best[i], (time.perf_counter() - t0) / segments)
    return best


@torch.inference_mode()
def decoding(models, spec: ModelSpec, tokens: int, rounds: int = 3) -> list[float]:
    """Tokens/s of token-by-token decoding (batch 1, segment policy, one token fed per step after a one-token
    prompt), models alternating per round, the best round reported."""
    best = [0.0] * len(models)
    for _ in range(rounds):
        for i, model in enumerate(models):
            result = decode.generate(model, [0], tokens, temperature=0)
            best[i] = max(best[i], result.tokens_per_s)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="models/ptb-small.toml")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = ModelSpec.from_dict(load_recipe(args.recipe)["model"], source=args.recipe)
    print(f"model {spec.name}: {spec.n_layers} layers, d {spec.d_model}, {spec.n_heads} heads, N {spec.n_persistent}, "
          f"T = M = {spec.segment_len}, V {spec.vocab_size}; torch threads {torch.get_num_threads()}")

    peak = matmul_flops()
    tok_s, achieved = training(spec, args.batch, args.steps)
    print(f"plain 1024^3 float32 matmul       {peak / 1e9:8.1f} GFLOP/s")
    print(f"training (batch {args.batch:3d})             {tok_s:8.0f} tokens/s   {achieved / 1e9:8.1f} GFLOP/s   "
          f"MFU {achieved / peak:6.1%} of the matmul")

    full = build_model(spec).eval()
    half = tuple(max(1, spec.n_heads // 2) for _ in range(spec.n_layers))
    pruned = prune_model(full, keep_masks(np.zeros((spec.n_layers, spec.n_heads)), half))
    batch = 8
    t_full, t_half = inference([full, pruned], spec, batch, 4)
    w_full, w_half = build_workload(spec, None, batch), build_workload(spec, half, batch)
    layer_ratio = sum(l.macs for l in w_half.layers) / sum(l.macs for l in w_full.layers)
    print(f"inference, batch {batch}, per segment: full {t_full * 1e3:7.2f} ms, half heads {half} "
          f"{t_half * 1e3:7.2f} ms")
    print(f"  pruned/full time {t_half / t_full:5.3f}   MAC ratio whole model {w_half.macs / w_full.macs:5.3f}   "
          f"MAC ratio attention layers {layer_ratio:5.3f}   params ratio "
          f"{(w_half.params + w_half.embedding_params) / (w_full.params + w_full.embedding_params):5.3f}")

    tokens = 2 * spec.segment_len  # two segments: the context grows, rolls over, grows again
    s_full, s_half = decoding([full, pruned], spec, tokens)
    context = spec.memory_len + (spec.segment_len - 1) // 2
    d_full = build_workload(spec, None, 1, decode_step(context))
    d_half = build_workload(spec, half, 1, decode_step(context))
    bytes_ratio = (w_half.params * spec.weight_bits) / (w_full.params * spec.weight_bits)
    print(f"decoding, batch 1, {tokens} tokens (KV cache): full {s_full:8.1f} tokens/s, half heads {s_half:8.1f} "
          f"tokens/s")
    print(f"  half/full tokens/s {s_half / s_full:5.3f}   layer weight-byte ratio {bytes_ratio:5.3f}   "
          f"decode MAC ratio whole model {d_half.macs / d_full.macs:5.3f}   layers only "
          f"{sum(l.macs for l in d_half.layers) / sum(l.macs for l in d_full.layers):5.3f}")


if __name__ == "__main__":
    main()
