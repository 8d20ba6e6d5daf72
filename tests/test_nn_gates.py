"""Hard-concrete gates against the closed forms of Louizos et al. 2018 (P(open), E[L0], CDF of the stretched sample)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from hwsim.nn.config import GateConfig
from hwsim.nn.gates import HardConcreteGate, expected_l0, p_open, soft_gate


def _cdf(x, log_alpha, beta=1 / 3, gamma=-0.1, zeta=1.1):
    """P(stretched sample <= x) for gamma < x < zeta, derived by hand: s <= s0 <=> L <= beta*logit(s0) - log alpha."""
    s0 = (x - gamma) / (zeta - gamma)
    return 1 / (1 + np.exp(-(beta * np.log(s0 / (1 - s0)) - log_alpha)))


def test_p_open_closed_form_paper_value():
    # paper.md §2: with log alpha = 2 and beta = 1/3, P(open) = sigmoid(2 + 0.799) = 0.943
    assert float(p_open(torch.tensor(2.0))) == pytest.approx(1 / (1 + math.exp(-(2 + math.log(11) / 3))), rel=1e-6)
    assert float(p_open(torch.tensor(2.0))) == pytest.approx(0.943, abs=5e-4)
    assert float(p_open(torch.tensor(0.0))) == pytest.approx(0.69, abs=5e-3)  # paper.md: init 0 -> 0.69


def test_expected_l0_is_sum_of_open_probabilities():
    la = torch.tensor([-3.0, 0.0, 1.5, 4.0])
    want = sum(1 / (1 + math.exp(-(a + math.log(11) / 3))) for a in la.tolist())
    assert float(expected_l0(la)) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("log_alpha", [-1.0, 0.5, 2.0])
def test_sample_distribution_matches_cdf(log_alpha):
    torch.manual_seed(0)
    u = torch.rand(40000).clamp(1e-6, 1 - 1e-6)
    z = soft_gate(torch.full_like(u, log_alpha), u).numpy()
    # the clamp puts mass at 1e-6 (closed) and 1 (fully open); check those masses and the interior CDF
    assert (z <= 1e-6).mean() == pytest.approx(_cdf(0.0, log_alpha), abs=0.01)
    assert (z >= 1.0).mean() == pytest.approx(1 - _cdf(1.0, log_alpha), abs=0.01)
    for x in (0.2, 0.5, 0.8):
        assert (z <= x).mean() == pytest.approx(_cdf(x, log_alpha), abs=0.01)
    interior = z[(z > 1e-6) & (z < 1.0)]
    lo, hi = _cdf(0.0, log_alpha), _cdf(1.0, log_alpha)
    ks = stats.kstest(interior, lambda x: (_cdf(np.asarray(x), log_alpha) - lo) / (hi - lo))
    assert ks.pvalue > 1e-3


def test_training_gates_are_hard_and_one_draw_per_gate():
    torch.manual_seed(1)
    gate = HardConcreteGate(6, init_log_alpha=0.0).train()
    values = torch.stack([gate() for _ in range(2000)])
    assert set(values.unique().tolist()) <= {0.0, 1.0}
    # P(hard gate = 1) = P(z >= 0.5) = 1 - CDF(0.5) at log alpha 0 -> 0.5
    assert values.mean().item() == pytest.approx(1 - _cdf(0.5, 0.0), abs=0.02)


def test_eval_gate_is_deterministic_threshold_at_zero():
    gate = HardConcreteGate(4).eval()
    gate.log_alpha.data = torch.tensor([-0.5, -0.01, 0.0, 3.0])
    assert gate().tolist() == [0.0, 0.0, 1.0, 1.0]
    assert gate.deterministic_open().tolist() == [False, False, True, True]


def test_gradient_reaches_log_alpha():
    from hwsim.nn.gates import straight_through

    la = torch.tensor([0.3, -0.2], requires_grad=True)
    straight_through(soft_gate(la, torch.tensor([0.5, 0.5]))).sum().backward()
    s = torch.sigmoid(la.detach() * 3)  # u = 0.5 -> s = sigmoid(log alpha / beta)
    assert torch.allclose(la.grad, 1.2 * s * (1 - s) * 3)  # d/dla of s*(zeta-gamma)+gamma, straight-through
    torch.manual_seed(0)
    gate = HardConcreteGate(3, init_log_alpha=0.3).train()
    for _ in range(20):  # a training step draws noise; over a few draws every gate gets gradient
        (gate() * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.all(gate.log_alpha.grad != 0)
    gate.log_alpha.grad = None
    gate.expected_l0().backward()
    assert torch.all(gate.log_alpha.grad > 0)


def test_lambda_warmup_ramp_and_switch():
    cfg = GateConfig(lam=0.02, sparsity_warmup_steps=4, sparsity_start=2)
    assert [cfg.lambda_at(s) for s in range(8)] == pytest.approx([0, 0, 0.005, 0.01, 0.015, 0.02, 0.02, 0.02])
    off = GateConfig(lam=0.02, sparsity_warmup=False)
    assert off.lambda_at(0) == 0.02
    assert GateConfig(proper_init=False).start_log_alpha == 0.0
    assert GateConfig().start_log_alpha == 2.0
