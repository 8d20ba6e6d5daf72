"""Training sweeps: the paper's experiment (gating phase per lambda -> physical pruning -> evaluation) for All-Attention
and Transformer-XL, every pruned model costed on an accelerator grid; see docs/trainsweep.md."""
