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
from hwsim.nn.data import DataSource, batchify, load_corpus, n_segments
from hwsim.nn.evaluate import result_from_nll, stream_nll
from hwsim.nn.model import Dropouts, build_model
from hwsim.nn.optim import OptimizerKind, build_optimizer, lr_factor
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
    out_dir = Path(out_dir)
    state_tensors: dict = {}
    if resume:
        ckpt = load_checkpoint(out_dir)
        raw = _merge(ckpt.recipe, overrides)
        gates = ckpt.gated
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
    if gates and init_from is None and not resume:
        raise CheckpointError("the gating phase starts from a trained checkpoint: pass --init-from CKPT")
    lr = gcfg.lr if gates else cfg.lr
    total_steps = gcfg.steps if gates else cfg.steps
    schedule = gcfg.schedule if gates else cfg.schedule
    warmup = gcfg.warmup_steps if gates else cfg.warmup_steps

    torch.manual_seed(cfg.seed)
    corpus = load_corpus(data, vocab_fixed or None)
    if len(corpus.vocab) > spec.vocab_size:
        raise DataError(f"corpus vocabulary has {len(corpus.vocab)} symbols but the spec's vocab_size is {spec.vocab_size}")
    rows = batchify(corpus.stream("train"), cfg.batch_size)
    per_epoch = n_segments(rows, spec.segment_len)
    if per_epoch < 1:
        raise DataError(f"training split is too short for batch {cfg.batch_size} x segment {spec.segment_len}")
    valid_rows = batchify(corpus.stream("valid"), cfg.eval_batch_size)

    model = build_model(
        spec,
        gated=gates,
        dropouts=_dropouts(cfg),
        same_length=cfg.same_length,
        output_scaling=gates and gcfg.output_scaling,
        init_log_alpha=gcfg.start_log_alpha,
    )
    if ckpt is not None:
        src = ckpt.build_model()
        own = model.state_dict()
        for key, value in src.state_dict().items():
            if key in own and not (key.endswith("log_alpha") and not ckpt.gated):
                own[key] = value
        model.load_state_dict(own)
    model.to(device).train()
    opt = build_optimizer(cfg.optimizer, _param_groups(model, cfg, gcfg if gates else None, lr), lr=lr,
                          betas=cfg.betas, weight_decay=cfg.weight_decay)
    start, history, mems = 0, [], None
    if resume:
        start = int(ckpt.train_state["step"])
        history = list(ckpt.history)
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(state_tensors.get(f"master.{name}", ckpt.weights[name].float()))
        _restore_optimizer(opt, state_tensors, ckpt.train_state["optimizer"])
        torch.set_rng_state(state_tensors["rng.torch"])
        if "mem.0" in state_tensors:
            mems = [state_tensors[f"mem.{i}"].to(device) for i in range(spec.n_layers)]
    use_amp = cfg.amp and device.startswith("cuda")
    train_state = {"phase": "gates" if gates else "baseline", "init_log_alpha": gcfg.start_log_alpha,
                   "init_from": str(init_from) if init_from else ckpt.train_state.get("init_from") if resume else None}
    tokens_per_step = cfg.batch_size * spec.segment_len
    bar = tqdm(total=total_steps, initial=start, disable=not progress, desc=train_state["phase"], unit="step",
               dynamic_ncols=True)
    t0, done_tokens, running, n_running = time.perf_counter(), 0, 0.0, 0
    result_ppl = float("nan")
    end = total_steps if stop_after is None else min(total_steps, stop_after)
    for step in range(start, end):
        seg = step % per_epoch
        if seg == 0:
            mems = None  # new epoch: the streams restart, so the memory does too
        x = rows[:, seg * spec.segment_len : (seg + 1) * spec.segment_len + 1].to(device)
        factor = lr_factor(step, schedule=schedule, warmup_steps=warmup, total_steps=total_steps,
                           min_lr_ratio=cfg.min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr * factor * g["lr_mult"]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            nll, mems = model(x[:, :-1], mems, x[:, 1:])
            loss = nll.float().mean()
            lam = gcfg.lambda_at(step) if gates else 0.0
            total = loss + lam * model.expected_l0().to(loss.device) if gates else loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        if cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.non_gate_parameters(), cfg.clip)
        opt.step()
        done_tokens += tokens_per_step
        running, n_running = running + float(loss.detach()), n_running + 1
        rate = done_tokens / max(time.perf_counter() - t0, 1e-9)
        bar.update(1)
        bar.set_postfix(loss=f"{float(loss.detach()):.3f}", tok_s=f"{rate:.0f}", refresh=False)
        last = step + 1 == end
        if (step + 1) % max(cfg.eval_every, 1) == 0 or last:
            nll_sum, count = stream_nll(model, valid_rows, spec.segment_len, cfg.eval_tokens or None)
            res = result_from_nll(nll_sum, count, "valid", model.heads_open())
            result_ppl = res.perplexity
            entry = {"step": step + 1, "train_loss": running / max(n_running, 1), "valid_perplexity": res.perplexity,
                     "heads_open": list(model.heads_open()), "lambda": lam, "tokens_per_s": rate}
            if gates:
                entry["expected_l0"] = float(model.expected_l0().detach())
                entry["log_alpha"] = model.log_alphas().cpu().tolist()
            history.append(entry)
            running, n_running = 0.0, 0
            msg = f"step {step + 1}: train loss {entry['train_loss']:.3f}  valid ppl {res.perplexity:.2f}"
            if gates:
                msg += f"  heads open per layer {entry['heads_open']}  E[L0] {entry['expected_l0']:.1f}  lambda {lam:.4g}"
            bar.write(msg, file=sys.stderr)
            _save(out_dir, model, raw, data, corpus.vocab, {**train_state, "step": step + 1}, history, cfg, opt, mems,
                  save_train_state)
    bar.close()
    return TrainResult(checkpoint_path=out_dir, steps=end, valid_perplexity=result_ppl,
                       heads_open=tuple(model.heads_open()), tokens_per_s=done_tokens / max(time.perf_counter() - t0, 1e-9),
                       history=tuple(history))


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
