"""Hard-concrete head gates (Louizos, Welling, Kingma 2018) as Shim et al. 2021 use them (paper.md §2, S2 simple_gating.py).

One gate per head. Training draws one uniform noise value per gate per step (shared by the whole batch), stretches
the concrete sample to (gamma, zeta), clamps it, and passes a straight-through hard gate 1[z >= 0.5] forward while the
gradient flows through the soft z. Evaluation uses the deterministic s = sigmoid(log alpha), so a head is kept iff
log alpha >= 0. The sparsity loss is the expected number of open gates, summed over heads (no normalisation).
"""

from __future__ import annotations

import math

import torch
from torch import nn

# S2 (simple_gating.py) passes beta = 0.333 to the attention gates; Voita et al. 2019 use 0.33; Louizos's default is 2/3.
BETA = 1.0 / 3.0
GAMMA = -0.1  # stretch interval lower end, Louizos et al. 2018 / S2
ZETA = 1.1  # stretch interval upper end, Louizos et al. 2018 / S2
INIT_LOG_ALPHA = 2.0  # S2 "proper initialization": SimpleGating(num_heads, init=2.0) -> P(open) = 0.943
_EPS_U = 1e-6  # S2 draws u ~ U(1e-6, 1 - 1e-6)
_EPS_Z = 1e-6  # S2 clamps z to [1e-6, 1]


def p_open(log_alpha: torch.Tensor, beta: float = BETA) -> torch.Tensor:
    """P(z > 0) = sigmoid(log alpha - beta * log(-gamma / zeta)) (Louizos et al. 2018, eq. 12)."""
    return torch.sigmoid(log_alpha - beta * math.log(-GAMMA / ZETA))


def expected_l0(log_alpha: torch.Tensor, beta: float = BETA) -> torch.Tensor:
    """Sparsity loss of S2: sum over gates of P(open), clamped to [1e-6, 1 - 1e-6]."""
    return p_open(log_alpha, beta).clamp(1e-6, 1 - 1e-6).sum()


def soft_gate(log_alpha: torch.Tensor, u: torch.Tensor | None, beta: float = BETA) -> torch.Tensor:
    """The clamped stretched concrete value z (noisy when ``u`` is given, deterministic sigmoid(log alpha) otherwise)."""
    if u is None:
        s = torch.sigmoid(log_alpha)
    else:
        s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / beta)
    return (s * (ZETA - GAMMA) + GAMMA).clamp(_EPS_Z, 1.0)


def straight_through(z: torch.Tensor) -> torch.Tensor:
    """Forward: hard 1[z >= 0.5]; backward: d/dz = 1 (S2: ``out + (hard - out).detach()``)."""
    hard = (z >= 0.5).to(z.dtype)
    return z + (hard - z).detach()


class HardConcreteGate(nn.Module):
    """``n_heads`` gates with learnable log alpha; ``forward()`` returns the (n_heads,) hard gate values."""

    def __init__(self, n_heads: int, init_log_alpha: float = INIT_LOG_ALPHA, beta: float = BETA) -> None:
        super().__init__()
        self.beta = beta
        self.log_alpha = nn.Parameter(torch.full((n_heads,), float(init_log_alpha)))

    def forward(self) -> torch.Tensor:
        if self.training:
            # one draw per gate per step, shared by the batch (paper.md §2)
            u = torch.empty_like(self.log_alpha).uniform_(_EPS_U, 1 - _EPS_U)
            z = soft_gate(self.log_alpha, u, self.beta)
        else:
            z = soft_gate(self.log_alpha, None, self.beta)
        return straight_through(z)

    def expected_l0(self) -> torch.Tensor:
        return expected_l0(self.log_alpha, self.beta)

    def deterministic_open(self) -> torch.Tensor:
        """Bool (n_heads,): the gates that are open at evaluation (log alpha >= 0)."""
        return soft_gate(self.log_alpha.detach(), None, self.beta) >= 0.5
