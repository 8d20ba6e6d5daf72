"""Per-token decode latency: hwsim's decode step next to GenZ (``genz-llm`` on PyPI) and the roofline bound.

GenZ models uniform decoder-only LLMs (no relative positions, no memory, no persistent vectors), so the comparison
uses the model both can describe: a 16-layer Transformer-XL with the paper's dimensions (d 512, 8 heads x 64,
d_ff 2,048) and a plain tied softmax of 32,000 words, decoding one token after C cached tokens at batch B. GenZ gets
the accelerator's peak MAC rate (2 x rows x cols x clock FLOP/s), its DRAM bandwidth and int8 operands; both see
every weight streamed from DRAM per token (GenZ keeps intermediates on chip). The roofline bound is
max(hwsim's DRAM bytes / bandwidth, MACs / peak).

Run: ``pip install genz-llm`` (not a dependency of hwsim), then ``python bench/bench_decode.py``. Every row whose
two latencies differ by more than 10% is printed with the mechanism that explains it.
"""

from __future__ import annotations

import argparse
import warnings

from hwsim.accel.config import PRESETS
from hwsim.accel.generation import byte_classes, decode_cost, decode_summary
from hwsim.spec import Family, ModelSpec

# The paper model's dimensions (paper.md §2) as a Transformer-XL with a plain softmax, which GenZ can describe.
SPEC = ModelSpec(name="txl-plain-16l", family=Family.TRANSFORMER_XL, n_layers=16, d_model=512, n_heads=8, d_head=64,
                 d_ff=2048, segment_len=192, memory_len=192, vocab_size=32000)  # fmt: skip


def genz_latency_s(accel, batch: int, context: int) -> float:
    """GenZ's per-token decode latency for SPEC on ``accel``'s peak rate and bandwidth."""
    from GenZ import System, decode_moddeling
    from GenZ.Models import ModelConfig

    config = ModelConfig(model=SPEC.name, vocab_size=SPEC.vocab_size, hidden_size=SPEC.d_model,
                         intermediate_size=SPEC.d_ff, num_ffi=1, num_decoder_layers=SPEC.n_layers,
                         num_attention_heads=SPEC.n_heads, head_dim=SPEC.d_head, hidden_act="relu",
                         max_model_len=4096)  # fmt: skip
    # GenZ's units: TFLOP/s, binary GB/s (2^30), MHz, MB of memory
    system = System(flops=2 * accel.peak_macs_per_s / 1e12, offchip_mem_bw=accel.dram_bandwidth_bytes_per_s / 2**30,
                    frequency=accel.clock_hz / 1e6, bits="int8", off_chip_mem_size=2**20)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = decode_moddeling(model=config, batch_size=batch, input_tokens=context, output_tokens=0, Bb=1,
                               system_name=system, bits="int8")  # fmt: skip
    return out["Latency"] / 1e3  # ms


def explain(accel, summary: dict, ratio: float) -> str:
    """The mechanism behind a difference > 10% (from hwsim's own byte classes and timing)."""
    classes = summary["dram_bytes_per_token_by_class"]
    if accel.weights_on_chip:
        return ("hwsim keeps the layers' weights in the weight SRAM between tokens (weights_on_chip); GenZ streams "
                "them from DRAM every token")
    if summary["latency_per_token_s"] > 1.1 * summary["bandwidth_bound_s"]:
        return ("hwsim's weight-stationary folds: each loads R rows of weights in R cycles, so a B = 1 matrix-vector "
                "product, or a per-head product d_h deep on a taller array, runs one fold per R cycles; GenZ is a "
                "per-operator roofline")
    return (f"hwsim also moves the precomputed position keys ({classes['position_keys'] * summary['batch'] / 1e6:.2f}"
            f" MB) and activations the accelerator does not keep on chip "
            f"({classes['activations'] * summary['batch'] / 1e6:.2f} MB); GenZ has neither")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--context", type=int, default=SPEC.memory_len + (SPEC.segment_len - 1) // 2)
    args = parser.parse_args()
    print(f"model {SPEC.name}: {SPEC.n_layers} layers, d {SPEC.d_model}, {SPEC.n_heads} heads x {SPEC.d_head}, "
          f"d_ff {SPEC.d_ff}, plain softmax {SPEC.vocab_size:,}; one decode step after {args.context} cached tokens")
    header = (f"{'accelerator':>16} {'B':>3} {'hwsim ms':>10} {'GenZ ms':>10} {'roofline ms':>12} {'hwsim/GenZ':>11} "
              f"{'hwsim/roof':>11} {'DRAM MB':>9}")  # fmt: skip
    print(header)
    notes = []
    for name, accel in PRESETS.items():
        for batch in (1, 8):
            summary = decode_summary(decode_cost(SPEC, None, accel, batch, args.context))
            ours, theirs = summary["latency_per_token_s"], genz_latency_s(accel, batch, args.context)
            roof = max(summary["bandwidth_bound_s"], summary["compute_bound_s"])
            ratio = ours / theirs
            dram = sum(byte_classes(decode_cost(SPEC, None, accel, batch, args.context).total).values())
            print(f"{name:>16} {batch:>3} {ours * 1e3:>10.3f} {theirs * 1e3:>10.3f} {roof * 1e3:>12.3f} "
                  f"{ratio:>11.3f} {ours / roof:>11.3f} {dram / 1e6:>9.2f}")  # fmt: skip
            if abs(ratio - 1) > 0.10:
                notes.append(f"{name}, B={batch}: {ratio:.2f}x: {explain(accel, summary, ratio)}")
    for note in notes:
        print("difference > 10%:", note)


if __name__ == "__main__":
    main()
