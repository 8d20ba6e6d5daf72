"""Training as a library function: baseline phase, or the gating phase of Shim et al. started from a checkpoint.

``train(recipe, out_dir, gates=..., init_from=..., resume=..., overrides=...) -> TrainResult``. Each step takes the
next segment of every batch row (Transformer-XL style; memory carried, reset at the start of each epoch), adds
lambda_eff * E[L0] in the gating phase, clips the gradient norm, and steps the optimizer. Every ``eval_every`` steps
(and at the end) it evaluates on the validation split, appends to the history (loss, perplexity, heads open per layer,
lambda_eff, E[L0]) and saves the checkpoint, including everything an exact resume needs.
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from hwsim.errors import CheckpointError, DataError
from hwsim.nn.checkpoint import load_checkpoint, load_train_tensors, save_checkpoint
from hwsim.nn.config import GateConfig, TrainConfig, gate_config, train_config
from hwsim.nn.data import DataSource, batchify, load_corpus
from hwsim.nn.evaluate import result_from_nll, stream_nll
from hwsim.nn.model import Dropouts, build_model
from hwsim.nn.optim import OptimizerKind, build_optimizer, lr_factor
from hwsim.nn.step import segments_per_epoch, step_segment, train_step
from hwsim.spec import ModelSpec, load_recipe


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    checkpoint_path: Path
    steps: int
    valid_perplexity: float
    heads_open: tuple[int, ...]
    tokens_per_s: float
    history: tuple


def _merge(recipe: dict, overrides: dict | None) -> dict:
    out = copy.deepcopy(recipe)
    for table, values in (overrides or {}).items():
        out.setdefault(table, {}).update({k: v for k, v in values.items() if v is not None})
    return out


def _dropouts(cfg: TrainConfig) -> Dropouts:
    return Dropouts(emb=cfg.dropout_emb, attn=cfg.dropout_attn, proj=cfg.dropout_proj, out=cfg.dropout_out)


def _param_groups(model, cfg: TrainConfig, gcfg: GateConfig | None, lr: float) -> list[dict]:
    """S2: no weight decay on gates or LN; gate lr = gate_lr_mult x base in the gating phase. With the released LAMB
    (``lamb-s2``) the LayerNorm gains get their own group whose trust ratio sees them as 1 + w (hwsim.nn.optim)."""
    decay, no_decay, gates, gains = [], [], [], []
    s2_gains = cfg.optimizer is OptimizerKind.LAMB_S2
    for name, p in model.named_parameters():
        if name.endswith("log_alpha"):
            gates.append(p)
        elif s2_gains and "norm" in name and name.endswith("weight"):
            gains.append(p)
        elif "norm" in name or name.endswith("bias") or p.ndim == 1:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay, "lr_mult": 1.0},
        {"params": no_decay, "weight_decay": 0.0, "lr_mult": 1.0},
    ]
    if gains:
        groups.append({"params": gains, "weight_decay": 0.0, "lr_mult": 1.0, "gain_offset": 1.0})
    if gates:
        groups.append({"params": gates, "weight_decay": 0.0, "lr_mult": gcfg.gate_lr_mult if gcfg else 1.0})
    for g in groups:
        g["lr"] = lr * g["lr_mult"]
    return groups


def _optimizer_tensors(opt) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"opt.{idx}.{key}"] = value
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _restore_optimizer(opt, tensors: dict, meta: dict) -> None:
    state: dict = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    for name, value in meta.get("scalars", {}).items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


@dataclass(frozen=True, kw_only=True)
class _Run:
    """One training run, resolved: the merged recipe and its configs, the phase, the checkpoint it starts from."""

    out_dir: Path
    raw: dict
    spec: ModelSpec
    cfg: TrainConfig
    gcfg: GateConfig
    gating: bool  # the gating phase of Shim et al. (else the baseline phase)
    ckpt: object | None  # the checkpoint resumed or started from
    data: DataSource
    vocab_fixed: tuple[str, ...] | None
    resume: bool
    init_from: str | Path | None
    state_tensors: dict

    @property
    def lr(self) -> float:
        return self.gcfg.lr if self.gating else self.cfg.lr

    @property
    def total_steps(self) -> int:
        return self.gcfg.steps if self.gating else self.cfg.steps

    def lr_factor(self, step: int) -> float:
        phase = self.gcfg if self.gating else self.cfg
        return lr_factor(step, schedule=phase.schedule, warmup_steps=phase.warmup_steps,
                         total_steps=self.total_steps, min_lr_ratio=self.cfg.min_lr_ratio)


def train(
    recipe: dict | str | Path,
    out_dir: str | Path,
    *,
    gates: bool = False,
    init_from: str | Path | None = None,
    resume: bool = False,
    overrides: dict | None = None,
    data: DataSource | None = None,
    device: str = "cpu",
    progress: bool = True,
    save_train_state: bool = True,
    stop_after: int | None = None,
) -> TrainResult:
    """Train (baseline, or gating with ``gates=True``) and write the checkpoint to ``out_dir``.

    ``overrides`` = {"train": {...}, "gates": {...}} replaces recipe keys (None values are ignored).
    ``resume`` continues the run saved in ``out_dir`` exactly (its recipe, phase and state; overrides may extend
    ``steps``). ``stop_after`` stops after that global step (schedule unchanged), for interrupted-run tests.
    """
    run = _resolve_run(recipe, Path(out_dir), gates, init_from, resume, overrides, data)
    torch.manual_seed(run.cfg.seed)
    corpus = load_corpus(run.data, run.vocab_fixed or None)
    if len(corpus.vocab) > run.spec.vocab_size:
        raise DataError(f"corpus vocabulary has {len(corpus.vocab)} symbols but the spec's vocab_size is "
                        f"{run.spec.vocab_size}")
    rows = batchify(corpus.stream("train"), run.cfg.batch_size)
    per_epoch = segments_per_epoch(rows, run.spec.segment_len)
    valid_rows = batchify(corpus.stream("valid"), run.cfg.eval_batch_size)
    model = _build_model(run, device)
    opt = build_optimizer(run.cfg.optimizer, _param_groups(model, run.cfg, run.gcfg if run.gating else None, run.lr),
                          lr=run.lr, betas=run.cfg.betas, weight_decay=run.cfg.weight_decay)
    start, history, mems = _restore(run, model, opt, device) if resume else (0, [], None)
    end = run.total_steps if stop_after is None else min(run.total_steps, stop_after)
    train_state = {"phase": "gates" if run.gating else "baseline", "init_log_alpha": run.gcfg.start_log_alpha,
                   "init_from": str(init_from) if init_from else run.ckpt.train_state.get("init_from") if resume
                   else None}

    def save(step: int, mems) -> None:
        _save(run.out_dir, model, run.raw, run.data, corpus.vocab, {**train_state, "step": step}, history, run.cfg,
              opt, mems, save_train_state)

    return _loop(run, model, opt, (rows, per_epoch, valid_rows), range(start, end), history, mems, device,
                 progress, save)


def _resolve_run(recipe, out_dir: Path, gating: bool, init_from, resume: bool, overrides, data) -> _Run:
    """The run ``train`` is asked for, checked: a resumed run takes recipe, phase and state from ``out_dir``."""
    state_tensors: dict = {}
    if resume:
        ckpt = load_checkpoint(out_dir)
        raw = _merge(ckpt.recipe, overrides)
        gating = ckpt.gated
        state_tensors = load_train_tensors(out_dir)
        data = data or DataSource.from_dict(ckpt.data)
        vocab_fixed = ckpt.vocab
    else:
        raw = _merge(load_recipe(recipe) if not isinstance(recipe, dict) else recipe, overrides)
        ckpt = load_checkpoint(init_from) if init_from else None
        data = data or (DataSource.from_dict(ckpt.data) if ckpt else DataSource.from_dict(raw.get("data")))
        vocab_fixed = ckpt.vocab if ckpt else None
    spec = ModelSpec.from_dict(raw["model"], source="recipe")
    cfg, gcfg = train_config(raw.get("train")), gate_config(raw.get("gates"))
    if ckpt is not None and ckpt.spec != spec:
        raise CheckpointError(f"checkpoint {ckpt.path} was trained with a different model spec than the recipe")
    if ckpt is not None and not resume and ckpt.heads_per_layer != spec.full_heads():
        raise CheckpointError(f"checkpoint {ckpt.path} is pruned ({list(ckpt.heads_per_layer)}); train from a full one")
    if gating and init_from is None and not resume:
        raise CheckpointError("the gating phase starts from a trained checkpoint: pass --init-from CKPT")
    return _Run(out_dir=out_dir, raw=raw, spec=spec, cfg=cfg, gcfg=gcfg, gating=gating, ckpt=ckpt, data=data,
                vocab_fixed=vocab_fixed, resume=resume, init_from=init_from, state_tensors=state_tensors)


def _build_model(run: _Run, device: str):
    """The model of the run, with the starting checkpoint's weights (not its gates, if it had none), in train mode."""
    cfg, gcfg = run.cfg, run.gcfg
    model = build_model(run.spec, gated=run.gating, dropouts=_dropouts(cfg), same_length=cfg.same_length,
                        output_scaling=run.gating and gcfg.output_scaling, init_log_alpha=gcfg.start_log_alpha)
    if run.ckpt is not None:
        src = run.ckpt.build_model()
        own = model.state_dict()
        for key, value in src.state_dict().items():
            if key in own and not (key.endswith("log_alpha") and not run.ckpt.gated):
                own[key] = value
        model.load_state_dict(own)
    return model.to(device).train()


def _restore(run: _Run, model, opt, device: str) -> tuple[int, list, list | None]:
    """A resumed run's state: (step, history, memory); master weights, optimizer moments and RNG restored."""
    ckpt, tensors = run.ckpt, run.state_tensors
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(tensors.get(f"master.{name}", ckpt.weights[name].float()))
    _restore_optimizer(opt, tensors, ckpt.train_state["optimizer"])
    torch.set_rng_state(tensors["rng.torch"])
    mems = [tensors[f"mem.{i}"].to(device) for i in range(run.spec.n_layers)] if "mem.0" in tensors else None
    return int(ckpt.train_state["step"]), list(ckpt.history), mems


def _loop(run: _Run, model, opt, data, steps: range, history: list, mems, device: str, progress: bool,
          save) -> TrainResult:
    """The training steps (``hwsim.nn.step.train_step``), validating and saving every ``eval_every`` and at the end."""
    rows, per_epoch, valid_rows = data
    cfg, use_amp = run.cfg, run.cfg.amp and device.startswith("cuda")
    bar = tqdm(total=run.total_steps, initial=steps.start, disable=not progress,
               desc="gates" if run.gating else "baseline", unit="step", dynamic_ncols=True)
    t0, done_tokens, losses, result_ppl = time.perf_counter(), 0, [], float("nan")
    for step in steps:
        x, restart = step_segment(rows, step, per_epoch, run.spec.segment_len)
        for g in opt.param_groups:
            g["lr"] = run.lr * run.lr_factor(step) * g["lr_mult"]
        lam = run.gcfg.lambda_at(step) if run.gating else 0.0
        loss, mems = train_step(model, opt, x.to(device), None if restart else mems, lam=lam if run.gating else None,
                                clip=cfg.clip, clip_params=model.non_gate_parameters(), use_amp=use_amp,
                                accum_steps=cfg.accum_steps)
        done_tokens += cfg.batch_size * run.spec.segment_len
        losses.append(float(loss.detach()))
        rate = done_tokens / max(time.perf_counter() - t0, 1e-9)
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3f}", tok_s=f"{rate:.0f}", refresh=False)
        if (step + 1) % max(cfg.eval_every, 1) == 0 or step + 1 == steps.stop:
            entry = _validate(run, model, valid_rows, step + 1, sum(losses) / max(len(losses), 1), lam, rate)
            result_ppl, losses = entry["valid_perplexity"], []
            history.append(entry)
            bar.write(_log_line(entry, run.gating), file=sys.stderr)
            save(step + 1, mems)
    bar.close()
    return TrainResult(checkpoint_path=run.out_dir, steps=steps.stop, valid_perplexity=result_ppl,
                       heads_open=tuple(model.heads_open()),
                       tokens_per_s=done_tokens / max(time.perf_counter() - t0, 1e-9), history=tuple(history))


def _validate(run: _Run, model, valid_rows, step: int, train_loss: float, lam: float, rate: float) -> dict:
    """The history entry of a validation after ``step`` steps (gate state too in the gating phase)."""
    nll_sum, count = stream_nll(model, valid_rows, run.spec.segment_len, run.cfg.eval_tokens or None)
    res = result_from_nll(nll_sum, count, "valid", model.heads_open())
    entry = {"step": step, "train_loss": train_loss, "valid_perplexity": res.perplexity,
             "heads_open": list(model.heads_open()), "lambda": lam, "tokens_per_s": rate}
    if run.gating:
        entry["expected_l0"] = float(model.expected_l0().detach())
        entry["log_alpha"] = model.log_alphas().cpu().tolist()
    return entry


def _log_line(entry: dict, gating: bool) -> str:
    msg = f"step {entry['step']}: train loss {entry['train_loss']:.3f}  valid ppl {entry['valid_perplexity']:.2f}"
    if gating:
        msg += (f"  heads open per layer {entry['heads_open']}  E[L0] {entry['expected_l0']:.1f}  "
                f"lambda {entry['lambda']:.4g}")
    return msg


def _save(out_dir, model, raw, data, vocab, train_state, history, cfg, opt, mems, with_state) -> None:
    tensors = {}
    if with_state:
        opt_tensors, opt_meta = _optimizer_tensors(opt)
        train_state = {**train_state, "optimizer": opt_meta}
        tensors.update(opt_tensors)
        tensors["rng.torch"] = torch.get_rng_state()
        for i, m in enumerate(mems or []):
            tensors[f"mem.{i}"] = m
        if cfg.weights_dtype != "float32":
            tensors.update({f"master.{n}": p.detach() for n, p in model.named_parameters()})
    save_checkpoint(out_dir, model=model, recipe=raw, data=data.to_dict(), vocab=vocab, train_state=train_state,
                    history=history, weights_dtype=cfg.weights_dtype, state_tensors=tensors)
