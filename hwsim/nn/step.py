"""One training step and the segment schedule, shared by training (``hwsim.nn.train``) and the sweep's short
fine-tuning of pruned models (``hwsim.sweep.finetune``): the same loss, clipping and data order in both."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from hwsim.errors import DataError
from hwsim.nn.data import n_segments


def segments_per_epoch(rows: torch.Tensor, segment_len: int) -> int:
    """Full segments per pass over the batched training rows; a split too short for one is an error."""
    per_epoch = n_segments(rows, segment_len)
    if per_epoch < 1:
        raise DataError(f"training split is too short for batch {rows.shape[0]} x segment {segment_len}")
    return per_epoch


def step_segment(rows: torch.Tensor, step: int, per_epoch: int, segment_len: int) -> tuple[torch.Tensor, bool]:
    """(the (B, T + 1) tokens of global step ``step``, whether the memory restarts): each step takes the next
    segment of every row (Transformer-XL style); a new epoch restarts the streams, so the memory too."""
    seg = step % per_epoch
    return rows[:, seg * segment_len : (seg + 1) * segment_len + 1], seg == 0


def train_step(model, opt: torch.optim.Optimizer, x: torch.Tensor, mems, *, lam: float | None = None,
               clip: float = 0.0, clip_params: Iterable[torch.Tensor] = (), use_amp: bool = False):
    """One optimizer step on segment ``x``: mean NLL (plus ``lam`` x E[L0] for a gated model; ``lam=None``: no
    sparsity term), gradient norm of ``clip_params`` clipped at ``clip`` (0: off). Returns (NLL loss, memory)."""
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
        nll, mems = model(x[:, :-1], mems, x[:, 1:])
        loss = nll.float().mean()
        total = loss if lam is None else loss + lam * model.expected_l0().to(loss.device)
    opt.zero_grad(set_to_none=True)
    total.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(clip_params, clip)
    opt.step()
    return loss, mems
