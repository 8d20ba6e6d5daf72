"""Input bounds that keep every count the cost model computes inside int64, checked before any work.

The cost model counts in numpy int64 (vectorised over many configurations). Rather than let a huge input wrap
into a negative cycle or byte count, an input whose counts could exceed :data:`MAX_COUNT` is refused with the limit
in the message. The bound is deliberately conservative and independent of how a GEMM is tiled: for an R x C array
every dataflow runs at most ceil(a/R) * ceil(b/C) folds of at most (c + R + C) cycles each for some assignment of
(a, b, c) to (m, n, k), which is below (m + R + C)(n + R + C)(k + R + C); bytes moved are at most that many words of
at most 8 bytes, and DRAM cycles are bytes divided by the DRAM bytes per cycle. Also checked before any work:
the model's activation width matches the accelerator's input words.
"""

from __future__ import annotations

from hwsim.errors import HwsimError

MAX_COUNT = 2**62  # int64 holds 2^63 - 1; one bit of headroom for sums of per-layer counts
WORD_BYTES_MAX = 8  # acc_bits <= 64 (AccelConfig)


def gemm_work_bound(m: int, n: int, k: int, repeat: int, rows: int, cols: int) -> int:
    """An upper bound (Python int, exact) on the cycles, MACs and words of ``repeat`` GEMMs of m x n x k."""
    pad = int(rows) + int(cols)
    return int(repeat) * (int(m) + pad) * (int(n) + pad) * (int(k) + pad)


def check_count_bound(work: int, bytes_per_cycle: float, what: str) -> None:
    """Refuse ``what`` when its work bound (see :func:`gemm_work_bound`) could overflow an int64 count."""
    stretch = max(1.0, 1.0 / bytes_per_cycle) if bytes_per_cycle > 0 else float("inf")
    worst = float(work) * WORD_BYTES_MAX * stretch
    if not worst <= MAX_COUNT:
        raise HwsimError(
            f"{what} is too large to count: its cycles, MACs or bytes could exceed 2^62 (~{MAX_COUNT:.1e}); "
            "reduce the sizes, batch or repeat, or raise the DRAM bytes per cycle"
        )


def check_activation_bits(spec, accel) -> None:
    """The model's activations are as wide as the accelerator's input words: activations enter the array as ifmap
    words of ``accel.input_bits``, so a model whose ``act_bits`` differ cannot be costed on it as it is."""
    if spec.act_bits != accel.input_bits:
        raise HwsimError(
            f"model '{spec.name}' has {spec.act_bits}-bit activations (act_bits) but accelerator '{accel.name}' "
            f"takes {accel.input_bits}-bit input words (input_bits): make them equal"
        )


def check_workload_counts(workload, accel, what: str = "the workload") -> None:
    """Every GEMM of ``workload`` on ``accel`` within :data:`MAX_COUNT` (sum over layers), and the model's
    activations as wide as the accelerator's input words (:func:`check_activation_bits`)."""
    check_activation_bits(workload.spec, accel)
    work = sum(
        gemm_work_bound(g.m, g.n, g.k, g.repeat, accel.rows, accel.cols)
        for layer in workload.all_layers
        for g in layer.gemms
    )
    vector = sum(int(v.elements) for layer in workload.all_layers for v in layer.vector_ops)
    check_count_bound(work + vector, accel.dram_bytes_per_cycle, f"{what} on accelerator '{accel.name}'")


MAX_BATCH = 1 << 20  # sequences per segment; with the ModelSpec size limits every per-GEMM count stays in int64


def check_batch(batch: int, what: str = "--batch") -> int:
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise HwsimError(f"{what} must be an integer in 1..{MAX_BATCH:,}, got {batch!r}")
    return batch


def check_model_on_accels(spec, accels, batch: int) -> None:
    """Before costing ``spec`` (unpruned: pruning only lowers counts) at ``batch`` on each accelerator."""
    from hwsim.workload import build_workload

    workload = build_workload(spec, spec.full_heads(), check_batch(batch))
    for accel in accels:
        check_workload_counts(workload, accel, f"model '{spec.name}' at batch {batch}")
