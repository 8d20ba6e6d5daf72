"""The bfloat16 mixed-precision path (``[train] amp``, used on CUDA) on the CPU: CPU autocast casts matmuls to
bfloat16 as CUDA autocast does, so a dtype mismatch in the model (the adaptive input embedding once wrote bf16
products into a float32 buffer, which the first GPU run found) fails here without a GPU."""

from __future__ import annotations

import pytest
import torch

from hwsim.nn.model import build_model
from nn_helpers import tiny_spec


@pytest.mark.parametrize("family,adaptive", [("all_attention", True), ("all_attention", False),
                                             ("transformer_xl", True), ("transformer_xl", False)])  # fmt: skip
@pytest.mark.parametrize("gated", [False, True])
def test_bf16_autocast_step_matches_float32(family, adaptive, gated):
    spec = tiny_spec(family, adaptive=adaptive)
    torch.manual_seed(0)
    model = build_model(spec, gated=gated, output_scaling=gated).eval()  # eval: no dropout, gates at their mean
    x = torch.randint(0, spec.vocab_size, (2, 2 * spec.segment_len + 1))
    first, second = x[:, : spec.segment_len + 1], x[:, spec.segment_len :]

    def loss(amp: bool) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            _, mems = model(first[:, :-1], None, first[:, 1:])  # the second segment attends over a memory
            nll, mems = model(second[:, :-1], mems, second[:, 1:])
        assert nll.dtype == torch.float32 and all(m.dtype == torch.float32 for m in mems)
        return nll.float().mean()

    exact = loss(False)
    mixed = loss(True)
    mixed.backward()
    assert torch.isfinite(mixed)
    assert float(mixed.detach()) == pytest.approx(float(exact.detach()), rel=0.02)  # bf16 keeps 8 bits of mantissa
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is None or torch.isfinite(g).all() for g in grads)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
