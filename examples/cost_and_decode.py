"""Cost the paper's model as the authors pruned it: one segment, one decode step per token, and a whole generation.

Run from the repository root: python examples/cost_and_decode.py
"""

from pathlib import Path

import hwsim

ROOT = Path(__file__).resolve().parents[1]
spec = hwsim.load_spec(ROOT / "models" / "shim-wt103-16l.toml")
pruned = [5, 2, 5, 4, 3, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3]  # the authors' lambda = 0.02 heads per layer

segment = hwsim.cost(spec, accel="gemmini-like", heads_per_layer=pruned)
print(f"segment of {spec.segment_len} tokens: {segment.latency_s * 1e3:.1f} ms, {segment.energy_pj / 1e9:.2f} mJ, "
      f"{segment.dram_bytes / 1e6:.0f} MB of DRAM traffic")
print(segment.to_frame()[["heads", "macs", "latency_s", "energy_pj", "dram_bytes"]].head(4))

for batch in (1, 8):
    step = hwsim.cost(spec, accel="gemmini-like", heads_per_layer=pruned, phase="decode", batch=batch).per_token
    print(f"decode, batch {batch}: {step['latency_per_token_s'] * 1e3:.2f} ms per token, "
          f"{step['tokens_per_s']:.0f} tokens/s, {step['energy_per_token_pj'] / 1e6:.0f} uJ per token, "
          f"weights {'on chip' if step['weights_on_chip'] else 'streamed'}, cache in {step['cache_location']}")

run = hwsim.cost(spec, accel="tpu-v1-like", heads_per_layer=pruned, phase="generate", prompt=64, new_tokens=32)
print(f"generate 32 tokens after a 64-token prompt on tpu-v1-like: first token after "
      f"{run.per_token['time_to_first_token_s'] * 1e3:.2f} ms, then {run.per_token['tokens_per_s']:.0f} tokens/s")
