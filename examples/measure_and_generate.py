"""Measure perplexity of the shipped Penn Treebank model with some heads pruned, then generate text with it.

Run from the repository root: python examples/measure_and_generate.py
"""

from pathlib import Path

import hwsim

ROOT = Path(__file__).resolve().parents[1]
checkpoint = ROOT / "models" / "ptb-small.ckpt"
for heads in (None, [4, 4, 2, 2]):
    result = hwsim.perplexity(checkpoint, heads, max_tokens=2000)
    print(f"heads {list(result.heads_per_layer)}: perplexity {result.perplexity:.1f} on {result.tokens} tokens")

text = hwsim.generate(checkpoint, "the company said", new_tokens=20, seed=0, heads_per_layer=[4, 4, 2, 2])
print(text["text"].strip())
print(f"{text['tokens_per_s']:.0f} tokens/s on this CPU")
