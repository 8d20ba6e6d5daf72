"""Typed [train] and [gates] tables of a recipe (every training method of Shim et al. is a switch for ablations)."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

from hwsim.errors import SpecError
from hwsim.tomlio import check_keys
from hwsim.nn.optim import OptimizerKind, Schedule


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Baseline-phase training settings. Defaults are small-CPU values; the paper recipe sets S2's in its TOML."""

    optimizer: OptimizerKind = OptimizerKind.ADAMW
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)  # S2 LAMB betas
    weight_decay: float = 0.0  # S2: wd 0
    schedule: Schedule = Schedule.COSINE
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # paper.md §4.4: cosine to 0.1 x lr (NVIDIA TXL-base)
    steps: int = 1000
    batch_size: int = 16
    # Micro-batches per optimizer step: the batch's rows are split into accum_steps equal groups, each run forward and
    # backward on its own (its own memory), gradients summed, so batch_size rows fit in 1/accum_steps of the
    # activation memory (the paper's batch 192 on one 80 GB GPU needs 2: docs/trainsweep.md).
    accum_steps: int = 1
    clip: float = 0.5  # S2 grad-clip 0.5
    dropout_emb: float = 0.1  # S2 input dropout 0.1 (also on pos_emb)
    dropout_attn: float = 0.2  # S2 attention dropout 0.2
    dropout_proj: float = 0.1  # S2 projection dropout 0.1
    dropout_out: float = 0.1  # S2 output dropout 0.1
    same_length: bool = True  # S2: every query sees itself plus M previous tokens
    eval_every: int = 200
    eval_tokens: int = 0  # cap on validation tokens in periodic evaluation (0 = whole split)
    eval_batch_size: int = 8  # S3: evaluation batch 8
    seed: int = 0
    amp: bool = True  # mixed precision (bfloat16 autocast) on CUDA; SDPA accumulates the softmax in float32
    weights_dtype: str = "float32"  # storage dtype of model.safetensors ("float16" halves the file)


@dataclass(frozen=True, kw_only=True)
class GateConfig:
    """Gating-phase settings (S2 train_gating.py; paper.md §2)."""

    lam: float = 0.015  # TOML key "lambda"; S2 config uses 0.02, inference.py comments list 0.01/0.015/0.02
    sparsity_warmup: bool = True  # method 1: linear ramp of lambda
    sparsity_warmup_steps: int = 100  # S2: one epoch
    sparsity_start: int = 0  # S2 l0_start = 0
    proper_init: bool = True  # method 2: log alpha = init_log_alpha (else 0.0)
    init_log_alpha: float = 2.0  # S2 SimpleGating(init=2.0)
    output_scaling: bool = True  # method 3: scale surviving heads by H / heads-open (detached)
    gate_lr_mult: float = 10.0  # S2: gate lr = 10 x base
    lr: float = 1e-4  # S2 gating phase: LAMB lr 1e-4, constant
    schedule: Schedule = Schedule.CONSTANT
    warmup_steps: int = 0
    steps: int = 1000

    @property
    def start_log_alpha(self) -> float:
        return self.init_log_alpha if self.proper_init else 0.0

    def lambda_at(self, step: int) -> float:
        """lambda_eff: 0 before sparsity_start, then a linear ramp over the warm-up (S2), then lambda."""
        if step < self.sparsity_start:
            return 0.0
        if not self.sparsity_warmup or self.sparsity_warmup_steps <= 0:
            return self.lam
        return self.lam * min(1.0, (step - self.sparsity_start + 1) / self.sparsity_warmup_steps)


# Accepted ranges: (low, high, low inclusive, high inclusive). Every other number must be finite and >= 0, every
# integer at most MAX_INT (a billion steps, tokens or samples is already far beyond what this trainer can run).
MAX_INT = 1_000_000_000
_UNIT_OPEN = (0.0, 1.0, True, False)  # dropout probability, Adam beta: [0, 1)
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "lr": (0.0, 10.0, False, True),
    "min_lr_ratio": (0.0, 1.0, True, True),
    "steps": (1, MAX_INT, True, True),
    "batch_size": (1, 65_536, True, True),
    "accum_steps": (1, 65_536, True, True),
    "eval_batch_size": (1, 65_536, True, True),
    "dropout_emb": _UNIT_OPEN, "dropout_attn": _UNIT_OPEN, "dropout_proj": _UNIT_OPEN, "dropout_out": _UNIT_OPEN,
    "init_log_alpha": (-100.0, 100.0, True, True),
    "gate_lr_mult": (0.0, 1e6, False, True),
    "seed": (0, 2**63 - 1, True, True),
}  # fmt: skip


def _check_range(name: str, key: str, value: Any) -> None:
    if isinstance(value, tuple):
        if len(value) != 2:
            raise SpecError(f"recipe [{name}] {key} must have 2 entries, got {len(value)}")
        for v in value:
            _check_range(name, key, v)
        if key == "betas" and not all(0.0 <= v < 1.0 for v in value):
            raise SpecError(f"recipe [{name}] betas must lie in [0, 1), got {list(value)}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if not math.isfinite(value):
        raise SpecError(f"recipe [{name}] {key} must be a finite number, got {value!r}")
    low, high, low_in, high_in = RANGES.get(key, (0, MAX_INT if isinstance(value, int) else math.inf, True, True))
    if (value < low or (value == low and not low_in)) or (value > high or (value == high and not high_in)):
        interval = f"{'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"
        raise SpecError(f"recipe [{name}] {key} = {value!r} is outside {interval}")


def _from_table(cls, table: dict[str, Any] | None, name: str, renames: dict[str, str] | None = None):
    if table is not None and not isinstance(table, dict):
        raise SpecError(f"recipe [{name}] must be a table, got {table!r}")
    table = dict(table or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    toml_names = {dst: src for src, dst in (renames or {}).items()}  # field -> its key in the recipe
    check_keys(table, [toml_names.get(f, f) for f in fields], f"recipe [{name}]", SpecError)
    for src, dst in (renames or {}).items():
        if src in table:
            table[dst] = table.pop(src)
    values = {}
    for key, raw in table.items():
        default = fields[key].default
        try:
            if isinstance(default, bool):
                if not isinstance(raw, bool):
                    raise ValueError
                value = raw
            elif isinstance(default, (OptimizerKind, Schedule)):
                value = type(default)(raw)
            elif isinstance(default, tuple):
                if not isinstance(raw, (list, tuple)) or any(isinstance(x, (bool, str)) for x in raw):
                    raise ValueError
                value = tuple(float(x) for x in raw)
            elif isinstance(default, int):
                if isinstance(raw, bool) or int(raw) != raw:
                    raise ValueError
                value = int(raw)
            elif isinstance(default, float):
                if isinstance(raw, (bool, str)):
                    raise ValueError
                value = float(raw)
            else:
                if not isinstance(raw, str):
                    raise ValueError
                value = raw
        except (TypeError, ValueError, OverflowError):
            shown = repr(raw) if len(repr(raw)) <= 60 else repr(raw)[:57] + "..."
            raise SpecError(f"recipe [{name}] {key} = {shown} is not a valid {type(default).__name__}") from None
        _check_range(name, key, value)
        values[key] = value
    return cls(**values)


def train_config(table: dict | None) -> TrainConfig:
    cfg = _from_table(TrainConfig, table, "train")
    if cfg.steps < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
        raise SpecError("recipe [train]: steps, batch_size and lr must be positive")
    if cfg.weights_dtype not in ("float32", "float16"):
        raise SpecError(f"recipe [train] weights_dtype must be float32 or float16, got {cfg.weights_dtype!r}")
    if cfg.batch_size % cfg.accum_steps:
        raise SpecError(f"recipe [train] batch_size {cfg.batch_size} is not a multiple of accum_steps {cfg.accum_steps}")
    return cfg


def gate_config(table: dict | None) -> GateConfig:
    cfg = _from_table(GateConfig, table, "gates", {"lambda": "lam"})
    if cfg.steps < 1 or cfg.lr <= 0:
        raise SpecError("recipe [gates]: steps and lr must be positive")
    return cfg


def train_overrides(*, resume: bool, gating: bool, steps: int | None = None, seed: int | None = None,
                    lam: float | None = None, sparsity_warmup: bool = True, proper_init: bool = True,
                    output_scaling: bool = True) -> dict[str, dict[str, Any]]:
    """The recipe overrides ({"train": ..., "gates": ...}) of `hwsim train`'s options, checked.

    ``steps`` is the total of the phase being run: [train] steps for the baseline phase, [gates] steps for the
    gating phase; a resumed run takes its phase from the checkpoint, so there it sets both (only the resumed phase's
    table is read). The three methods of Shim et al. are on unless switched off; None values leave the recipe's."""
    if steps is not None and steps < 1:
        raise SpecError(f"--steps must be positive, got {steps}")
    if lam is not None and not 0 <= lam < float("inf"):  # NaN fails too
        raise SpecError(f"--lambda must be a finite non-negative number, got {lam}")
    methods = {"sparsity_warmup": sparsity_warmup, "proper_init": proper_init, "output_scaling": output_scaling}
    return {
        "train": {"seed": seed, **({"steps": steps} if resume or not gating else {})},
        "gates": {"lambda": lam, **({"steps": steps} if resume or gating else {}),
                  **{key: False for key, on in methods.items() if not on}},
    }


def resolve_device(device: str) -> str:
    """``auto`` (cuda when torch sees a GPU, else cpu), ``cpu``, ``cuda`` or ``cuda:N``; a device this machine does
    not have is an error here, before any work, instead of a torch crash later."""
    import re

    if device == "cpu":
        return device
    if device != "auto" and not re.fullmatch(r"cuda(:[0-9]{1,3})?", str(device)):
        raise SpecError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise SpecError(f"device {device!r} asked for, but torch sees no CUDA GPU here (use --device cpu or auto)")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise SpecError(f"device {device!r} does not exist: torch sees {torch.cuda.device_count()} CUDA device(s)")
    return device


# ---- will it fit? -------------------------------------------------------------------------------------------------
FLOAT_BYTES = 4  # float32 weights and activations
# Training holds weights, gradients and two Adam/LAMB moments per parameter (plus the float32 master copy).
TRAIN_BYTES_PER_PARAM = 5 * FLOAT_BYTES


def _physical_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX
        return None


def memory_estimate_bytes(spec, batch_size: int, training: bool) -> int:
    """A lower estimate of the host memory a model needs (Python ints: no overflow): its parameters (times
    :data:`TRAIN_BYTES_PER_PARAM` when training) plus the attention scores and hidden states of one forward pass
    (kept for every layer when training, one layer at a time when evaluating)."""
    from hwsim.workload import build_workload

    workload = build_workload(spec, spec.full_heads())
    params = workload.params + workload.embedding_params
    keys = spec.context_len + spec.n_persistent
    per_layer = batch_size * spec.segment_len * (spec.n_heads * keys * 2 + 8 * spec.d_model + spec.d_ff)
    logits = batch_size * spec.segment_len * spec.vocab_size
    layers = spec.n_layers if training else 1
    return (params * (TRAIN_BYTES_PER_PARAM if training else FLOAT_BYTES)
            + (per_layer * layers + logits) * FLOAT_BYTES)


def check_fits_memory(spec, batch_size: int, training: bool, what: str) -> None:
    """Refuse a model that cannot fit in this machine's memory, before allocating anything (torch would either
    crash or swap for minutes)."""
    total = _physical_memory_bytes()
    need = memory_estimate_bytes(spec, batch_size, training)
    if total is not None and need > total:
        gib = 1 << 30
        raise SpecError(f"{what} needs at least {need / gib:,.1f} GiB of memory (model '{spec.name}', batch "
                        f"{batch_size}) but this machine has {total / gib:,.1f} GiB: use a smaller model or batch")
