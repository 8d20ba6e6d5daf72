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
               clip: float = 0.0, clip_params: Iterable[torch.Tensor] = (), use_amp: bool = False,
               accum_steps: int = 1):
    """One optimizer step on segment ``x``: mean NLL (plus ``lam`` x E[L0] for a gated model; ``lam=None``: no
    sparsity term), gradient norm of ``clip_params`` clipped at ``clip`` (0: off). Returns (NLL loss, memory).

    ``accum_steps`` > 1 splits the rows of ``x`` (and of the memory) into that many equal groups, each run forward and
    backward on its own with its NLL weighted by 1/accum_steps, so the summed gradient is the whole batch's mean
    (E[L0] is added once); only one group's activations are alive at a time. A gated model samples its gates once per
    group instead of once per batch."""
    if x.shape[0] % accum_steps:
        raise ValueError(f"batch of {x.shape[0]} rows is not a multiple of accum_steps {accum_steps}")
    groups = x.shape[0] // accum_steps
    opt.zero_grad(set_to_none=True)
    losses, new_mems = [], []
    for i in range(accum_steps):
        rows = slice(i * groups, (i + 1) * groups)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            nll, group_mems = model(x[rows, :-1], None if mems is None else [m[rows] for m in mems], x[rows, 1:])
            loss = nll.float().mean()
            total = loss / accum_steps
            if lam is not None and i == 0:
                total = total + lam * model.expected_l0().to(loss.device)
        total.backward()
        losses.append(loss.detach())
        new_mems.append(group_mems)
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(clip_params, clip)
    opt.step()
    mems = new_mems[0] if accum_steps == 1 else [torch.cat(layer, dim=0) for layer in zip(*new_mems)]
    return torch.stack(losses).mean(), mems
