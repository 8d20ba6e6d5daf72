"""Optimisers and learning-rate schedules.

LAMB (You et al. 2020, "Large Batch Optimization for Deep Learning", Algorithm 2), written from the equations:
  m = b1 m + (1-b1) g,  v = b2 v + (1-b2) g^2,  m_hat = m/(1-b1^t),  v_hat = v/(1-b2^t)
  r = m_hat / (sqrt(v_hat) + eps) + wd * w,   trust = ||w|| / ||r|| (1 if either norm is 0),   w -= lr * trust * r
S2 trains the baseline with LAMB lr 0.01 (paper.md §2). ``OptimizerKind.LAMB_S2`` ("lamb-s2") is LAMB as S2 releases
it (the cybertronai/NVIDIA ``lamb.py``; paper.md §2, issue 13): no bias correction (m and v used as they are),
eps 1e-8 added after the square root, the weight norm in the trust ratio clamped to [0, 10], and LayerNorm gains kept
as 1 + w (w = 0 at init). The last is done here, not in the model: a parameter group with ``gain_offset = 1``
computes the trust ratio (and any weight decay) on p - 1, which is exactly LAMB on w = p - 1 since d loss/dw =
d loss/dp, so checkpoints, pruning and evaluation are unchanged. Schedule: linear warm-up then cosine decay to
``min_lr_ratio * lr`` (paper.md §4.4: NVIDIA TXL-base, min ratio 0.1), or constant (S2 gating phase).
"""

from __future__ import annotations

import math
from enum import Enum

import torch


class Lamb(torch.optim.Optimizer):
    """LAMB; ``bias_correction=False, max_weight_norm=10`` and groups with ``gain_offset=1`` for LN gains give S2's."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-6, weight_decay: float = 0.0,
                 bias_correction: bool = True, max_weight_norm: float | None = None):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, gain_offset=0.0,
                                      bias_correction=bias_correction, max_weight_norm=max_weight_norm))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self._group_step(group, params)
        return loss

    def _group_step(self, group: dict, params: list[torch.Tensor]) -> None:
        """One step of every parameter of a group with multi-tensor (``torch._foreach_*``) kernels: the same
        arithmetic, in the same order, as a loop over parameters, in a few launches per group instead of ~15 per
        parameter (per-parameter launches made LAMB 40% of a training step on an H100: docs/trainsweep.md)."""
        b1, b2 = group["betas"]
        grads = [p.grad for p in params]
        for p in params:
            state = self.state[p]
            if not state:
                state["step"] = torch.zeros((), dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["step"] += 1
        m = [self.state[p]["exp_avg"] for p in params]
        v = [self.state[p]["exp_avg_sq"] for p in params]
        torch._foreach_mul_(m, b1)
        torch._foreach_add_(m, grads, alpha=1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
        steps = [float(self.state[p]["step"]) for p in params]  # CPU tensors: no device sync
        if group.get("bias_correction", True):
            m_hat = torch._foreach_div(m, [1 - b1**t for t in steps])
            v_hat = torch._foreach_div(v, [1 - b2**t for t in steps])
        else:
            m_hat, v_hat = torch._foreach_div(m, 1.0), torch._foreach_div(v, 1.0)
        torch._foreach_sqrt_(v_hat)
        torch._foreach_add_(v_hat, group["eps"])
        update = torch._foreach_div(m_hat, v_hat)
        offset = group.get("gain_offset", 0.0)
        weights = torch._foreach_sub(params, offset) if offset else params  # S2: LN gain stored as 1 + w
        if group["weight_decay"]:
            torch._foreach_add_(update, weights, alpha=group["weight_decay"])
        w_norm, u_norm = torch.stack(torch._foreach_norm(weights)), torch.stack(torch._foreach_norm(update))
        if group.get("max_weight_norm") is not None:
            w_norm = w_norm.clamp(0, group["max_weight_norm"])  # S2 lamb.py clamps at 10
        trust = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
        torch._foreach_mul_(update, list(trust.unbind()))
        torch._foreach_add_(params, update, alpha=-group["lr"])


class OptimizerKind(str, Enum):
    ADAMW = "adamw"
    LAMB = "lamb"
    LAMB_S2 = "lamb-s2"  # LAMB as released by the authors (see the module docstring)


class Schedule(str, Enum):
    COSINE = "cosine"
    CONSTANT = "constant"


def lr_factor(step: int, *, schedule: Schedule, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """Multiplier of the base learning rate at (0-based) ``step``."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule is Schedule.CONSTANT:
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_optimizer(kind: OptimizerKind, groups: list[dict], *, lr: float, betas, weight_decay: float):
    if kind is OptimizerKind.LAMB:
        return Lamb(groups, lr=lr, betas=betas, weight_decay=weight_decay)
    if kind is OptimizerKind.LAMB_S2:  # S2 lamb.py: eps 1e-8, no bias correction, weight norm clamped at 10
        return Lamb(groups, lr=lr, betas=betas, eps=1e-8, weight_decay=weight_decay, bias_correction=False,
                    max_weight_norm=10.0)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, weight_decay=weight_decay)
