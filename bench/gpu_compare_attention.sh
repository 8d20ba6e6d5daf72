#!/usr/bin/env bash
# Old attention (explicit float32 scores, the previous commit checked out under .old/) vs the working tree's SDPA
# attention, on one GPU in one run; produced bench/results/h200-2026-11-26/compare.txt (docs/trainsweep.md).
# Usage: git worktree add .old <commit before SDPA> && bash bench/gpu_compare_attention.sh OUTDIR
set -u
out=$1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
echo "== before (HEAD: explicit float32 scores) =="
PYTHONPATH=.old:$PYTHONPATH timeout 55 python3 bench/bench_train_gpu.py --batch 24,48 --steps 10 --json $out/before.json 2>&1 | grep -v Warn
echo "== after (SDPA) =="
timeout 75 python3 bench/bench_train_gpu.py --batch 24,48,96,192 --steps 10 --profile --json $out/after.json > $out/after.txt 2>&1
grep -v "^ \|^---\|Name \|^void\|aten::" $out/after.txt | head -20; grep -E "aten::|void|fmha|attention|Self CUDA time" $out/after.txt | head -14 | cut -c1-60,150-200
echo "== end to end =="
w=$(mktemp -d)
sed -e 's/^batch_size = 192/batch_size = 24/' -e 's/^warmup_steps = 2800/warmup_steps = 50/' -e 's/^eval_every = 770/eval_every = 100000/' -e 's/^sparsity_warmup_steps = 2800/sparsity_warmup_steps = 20/' models/shim-wt103-16l.toml > $w/r.toml
hw() { python3 -m hwsim.cli.main "$@"; }
timeout 45 python3 -m hwsim.cli.main train --recipe $w/r.toml --data-kind ptb --steps 100 --device cuda --out $w/base --quiet 2>&1 | tail -1
timeout 35 python3 -m hwsim.cli.main train --recipe $w/r.toml --gates --init-from $w/base --lambda 0.02 --steps 30 --device cuda --out $w/gates --quiet 2>&1 | tail -1
heads=8,6,6,4,8,6,6,4,8,6,6,4,8,6,6,4
timeout 15 python3 -m hwsim.cli.main prune $w/gates --heads-per-layer $heads --out $w/pruned --json | cut -c1-120
timeout 20 python3 -m hwsim.cli.main eval $w/gates --heads-per-layer $heads --device cuda --max-tokens 4000 --json
timeout 20 python3 -m hwsim.cli.main eval $w/pruned --device cpu --max-tokens 4000 --json
