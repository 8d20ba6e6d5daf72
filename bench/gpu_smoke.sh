#!/usr/bin/env bash
# One prepared run of the CUDA / bfloat16 path on a GPU machine (docs/trainsweep.md, "Measured on a GPU"):
#   1. bench/bench_train_gpu.py: the paper recipe's steps (16 layers, d 512, N 2048, T = M = 192, WT103 vocabulary,
#      LAMB, bf16 autocast), baseline and gating phase, tokens/s, MFU and peak memory at several batch sizes;
#   2. the real commands end to end on the embedded PTB corpus with the paper's model: `hwsim train` (baseline),
#      `hwsim train --gates`, `hwsim eval` on CUDA, `hwsim prune`, and the pruned checkpoint evaluated on the CPU
#      against the gated one with the same heads evaluated on CUDA.
# Usage: bash bench/gpu_smoke.sh OUTDIR [STEPS]   (run from the repository root; PYTHONPATH must reach hwsim)
set -euo pipefail
out=${1:?usage: bash bench/gpu_smoke.sh OUTDIR [STEPS]}
steps=${2:-400}
mkdir -p "$out"
work=$(mktemp -d)
hw() { python3 -m hwsim.cli.main "$@"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__)" | tee -a "$out/gpu.txt"

python3 bench/bench_train_gpu.py --batch 24,48,96,192 --steps 20 --profile --json "$out/bench_train_gpu.json" \
  2>&1 | tee "$out/bench_train_gpu.txt"

# The paper's model and optimizer on PTB, short: batch 24 (the paper's per-GPU batch), warm-up 100 steps, validation
# at the end of each phase, lambda warm-up 100 steps.
sed -e 's/^batch_size = 192/batch_size = 24/' -e 's/^warmup_steps = 2800/warmup_steps = 100/' \
    -e 's/^eval_every = 770/eval_every = 100000/' -e 's/^sparsity_warmup_steps = 2800/sparsity_warmup_steps = 100/' \
    models/shim-wt103-16l.toml > "$work/recipe.toml"
t0=$(date +%s)
hw train --recipe "$work/recipe.toml" --data-kind ptb --steps "$steps" --device cuda --out "$work/base" --quiet \
  2>&1 | tee "$out/train_base.txt"
t1=$(date +%s)
hw train --recipe "$work/recipe.toml" --gates --init-from "$work/base" --lambda 0.02 --steps $((steps / 2)) \
  --device cuda --out "$work/gates" --quiet 2>&1 | tee "$out/train_gates.txt"
t2=$(date +%s)
echo "wall: baseline $((t1 - t0)) s for $steps steps, gating $((t2 - t1)) s for $((steps / 2)) steps" | tee "$out/wall.txt"
heads=$(python3 -c "print(','.join(['8', '6', '6', '4'] * 4))")
hw eval "$work/gates" --device cuda --json | tee "$out/eval_gates_cuda.json"
hw prune "$work/gates" --heads-per-layer "$heads" --out "$work/pruned" --json | tee "$out/prune.json"
hw eval "$work/gates" --heads-per-layer "$heads" --device cuda --max-tokens 4000 --json | tee "$out/eval_masked_cuda.json"
hw eval "$work/pruned" --device cpu --max-tokens 4000 --json | tee "$out/eval_pruned_cpu.json"
