"""Closing the loop: torch.utils.flop_counter counts the MACs of one steady-state segment forward pass of a
(pruned) model; they must equal the cost model's GEMM MACs for the same spec and heads-per-layer vector.

What the counter cannot see (and the workload does not count as GEMMs either): embedding lookups, the relative
shift (a gather), masks, softmax, LayerNorm, element-wise scaling of persistent vectors and gates, residual adds.
The adaptive *input* projections run for the tokens of each cluster (data-dependent); the workload leaves them out,
so the adaptive test adds them from the token counts computed here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from hwsim.nn.model import build_model
from hwsim.nn.prune import keep_masks, prune_model
from hwsim.workload import build_workload
from nn_helpers import tiny_spec

BATCH = 3


def _segment_macs(model, x):
    _, mem = model(x)  # fill the memory: T = M, so one segment gives a full memory
    with FlopCounterMode(display=False) as counter:
        h, _ = model(x, mem)
        model.output.log_probs(h)  # the full output distribution, as the workload counts it
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("family", ["all_attention", "transformer_xl"])
@pytest.mark.parametrize("heads", [(4, 4, 4), (2, 0, 3), (1, 1, 0)])
def test_flop_counter_equals_workload_macs(family, heads):
    spec = tiny_spec(family)
    full = build_model(spec).eval()
    model = prune_model(full, keep_masks(np.zeros((3, 4)), heads)) if heads != spec.full_heads() else full
    x = torch.randint(0, spec.vocab_size, (BATCH, spec.segment_len))
    assert _segment_macs(model, x) == build_workload(spec, heads, batch=BATCH).macs


def test_flop_counter_adaptive_softmax_plus_input_projections():
    spec = tiny_spec(adaptive=True)
    heads = (3, 2, 4)
    model = prune_model(build_model(spec).eval(), keep_masks(np.zeros((3, 4)), heads))
    x = torch.randint(0, spec.vocab_size, (BATCH, spec.segment_len))
    input_proj = sum(int(((x >= s) & (x < e)).sum()) * w * spec.d_model for s, e, w in spec.adaptive_clusters)
    assert _segment_macs(model, x) == build_workload(spec, heads, batch=BATCH).macs + input_proj
