"""The public Python API: what a design study scripts, and what the CLI itself calls (one code path).

Every name in :data:`__all__` is re-exported by ``import hwsim``. Units are in the names or stated: seconds,
picojoules, bytes, mm^2. Heavy dependencies (torch, plotly) are imported inside the functions that need them, so
``import hwsim`` stays light.

    import hwsim
    spec = hwsim.load_spec("models/shim-wt103-16l.toml")
    r = hwsim.cost(spec, accel="gemmini-like", heads_per_layer=[5, 2, 5, 4, 3, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3])
    r.latency_s, r.energy_pj, r.to_frame()                     # one segment pass, per layer
    hwsim.cost(spec, phase="decode", batch=8).per_token         # one decode step: latency/energy per token
    frame = hwsim.cost_many(spec, heads_matrix, accel="tpu-v1-like")   # 10^6 configurations per second
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hwsim.accel.config import AccelConfig
from hwsim.errors import HwsimError, SpecError
from hwsim.numerics import Numerics
from hwsim.spec import ModelSpec
from hwsim.workload import Workload

__all__ = [
    "load_spec", "load_accel", "workload", "cost", "cost_many", "CostResult", "perplexity", "generate", "sweep",
    "SweepResult", "read_results", "pareto_front", "best_under", "export_accelforge", "Numerics", "HwsimError",
]  # fmt: skip

PHASES = ("segment", "decode", "generate")


def load_spec(path: str | Path) -> ModelSpec:
    """A model spec from a recipe TOML (its ``[model]`` table) or from a checkpoint directory."""
    from hwsim.spec import load_spec as load_toml_spec

    p = Path(path)
    if p.is_dir():
        from hwsim.nn.checkpoint import load_checkpoint

        return load_checkpoint(p).spec
    return load_toml_spec(p)


def load_accel(accel: str | Path | AccelConfig = "gemmini-like", **overrides: Any) -> AccelConfig:
    """An accelerator: a preset name (``gemmini-like``, ``tpu-v1-like``, ``edge-soc-32x32``, ``gemmini``), a TOML, or
    a config, with any field overridden (``rows=32``, ``dram_bandwidth_bytes_per_s=16e9``; validated)."""
    from hwsim.accel.config import load_accel as load_named, with_overrides

    config = accel if isinstance(accel, AccelConfig) else load_named(accel)
    return with_overrides(config, overrides) if overrides else config


def workload(spec: ModelSpec, heads_per_layer: Sequence[int] | None = None, *, batch: int = 1,
             phase: str = "segment", context: int | None = None) -> Workload:  # fmt: skip
    """The per-layer GEMMs and vector ops of one pass: the ``segment`` pass (T queries over T + M keys) or one
    ``decode`` step after ``context`` cached tokens (default: the segment policy's average)."""
    from hwsim.limits import check_batch
    from hwsim.workload import build_workload

    return build_workload(spec, _heads(spec, heads_per_layer), check_batch(batch), _step(spec, phase, context))


def _step(spec: ModelSpec, phase: str, context: int | None):
    """The pass of ``phase``: None for the segment pass, a decode step after ``context`` cached tokens."""
    from hwsim.accel.generation import default_context
    from hwsim.workload import check_step, decode_step

    if phase not in ("segment", "decode"):
        raise SpecError(f"workload phase must be segment or decode, got {phase!r}")
    if phase == "segment":
        if context is not None:
            raise SpecError("context applies to the decode phase")
        return None
    return check_step(spec, decode_step(default_context(spec) if context is None else context))


@dataclass(frozen=True)
class CostResult:
    """The cost of one pass or one generation. ``payload`` is exactly what ``hwsim cost --json`` prints."""

    phase: str
    payload: dict[str, Any]
    detail: Any  # hwsim.accel.cost.ModelCost (a generation: every pass added up)
    passes: tuple = ()  # (name, ModelCost) of each distinct pass: the decode step, a generation's prompt chunks

    @property
    def total(self) -> dict[str, Any]:
        return self.payload["total"]

    @property
    def latency_s(self) -> float:
        """Seconds of the whole pass (decode: one step, i.e. the latency per token; generate: the whole run)."""
        return float(self.total["latency_s"])

    @property
    def energy_pj(self) -> float:
        return float(self.total["energy_pj"])

    @property
    def area_mm2(self) -> float:
        return float(self.total["area_mm2"])

    @property
    def dram_bytes(self) -> int:
        return int(self.total["dram_bytes"])

    @property
    def macs(self) -> int:
        return int(self.total["macs"])

    @property
    def per_token(self) -> dict[str, Any] | None:
        """Decode/generate: latency_per_token_s, tokens_per_s, energy_per_token_pj, dram_bytes_per_token (and its
        split by class), weights_on_chip, cache_bytes, cache_location (+ time_to_first_token_s); None for a segment."""
        if self.phase == "segment":
            return None
        return {key: value for key, value in self.payload.items() if key not in ("layers", "total", "accel")}

    def to_frame(self):
        """A pandas DataFrame: one row per layer (the output layer last), then the total."""
        import pandas as pd

        rows = [{k: v for k, v in layer.items() if k != "gemms"} for layer in self.payload["layers"]]
        return pd.DataFrame(rows + [self.total]).set_index("name")

    def to_dict(self) -> dict[str, Any]:
        return self.payload


def cost(spec: ModelSpec, accel: str | Path | AccelConfig = "gemmini-like",
         heads_per_layer: Sequence[int] | None = None, *, batch: int = 1, phase: str = "segment",
         context: int | None = None, prompt: int | None = None, new_tokens: int | None = None,
         policy: str = "segment", mode: str | None = None) -> CostResult:  # fmt: skip
    """Per-layer and total cost on ``accel`` of one ``segment`` pass, one ``decode`` step (``context`` cached
    tokens) or a whole ``generate`` run (a ``prompt`` pass, then ``new_tokens`` tokens grown by ``policy``)."""
    from hwsim.accel.cost import model_cost
    from hwsim.accel.generation import decode_cost, decode_summary, generation_cost
    from hwsim.limits import check_workload_counts

    _check_phase_options(phase, context, prompt, new_tokens, policy)
    config = load_accel(accel, **({"mode": mode} if mode is not None else {}))
    segment = workload(spec, heads_per_layer, batch=batch)
    check_workload_counts(segment, config)
    if phase == "segment":
        detail = model_cost(segment, config)
        return CostResult("segment", detail.to_json_dict(), detail)
    heads = segment.heads_per_layer
    if phase == "decode":
        detail = decode_cost(spec, heads, config, segment.batch, context)
        return CostResult("decode", {**decode_summary(detail), **detail.to_json_dict()}, detail,
                          (("decode step", detail),))  # fmt: skip
    run = generation_cost(spec, heads, config, segment.batch, prompt=prompt, new_tokens=new_tokens, policy=policy)
    passes = tuple((f"prompt pass {i + 1}", c) for i, c in enumerate(run.prompt_costs))
    passes += tuple((f"decode step, context {c.step.cached}", c) for _, c in run.step_costs[-1:])
    return CostResult("generate", run.to_json_dict(), run.summed, passes)


def _check_phase_options(phase: str, context, prompt, new_tokens, policy: str) -> None:
    """Options that belong to another phase are errors, never silently ignored."""
    if phase not in PHASES:
        raise SpecError(f"unknown phase {phase!r} (choose {', '.join(PHASES)})")
    given = {"context": context is not None, "prompt": prompt is not None, "new_tokens": new_tokens is not None,
             "policy": policy != "segment"}  # fmt: skip
    allowed = {"segment": (), "decode": ("context",), "generate": ("prompt", "new_tokens", "policy")}[phase]
    extra = [f"--{name.replace('_', '-')}" for name, on in given.items() if on and name not in allowed]
    if extra:
        raise SpecError(f"{', '.join(extra)} does not apply to --phase {phase}")
    if phase == "generate" and (prompt is None or new_tokens is None):
        raise SpecError("--phase generate needs --prompt and --new-tokens")


def cost_many(spec: ModelSpec, heads: np.ndarray | Sequence[Sequence[int]],
              accel: str | Path | AccelConfig = "gemmini-like", *, batch: int = 1, phase: str = "segment",
              context: int | None = None):  # fmt: skip
    """Totals of many heads-per-layer vectors (rows of ``heads``) on one accelerator, vectorised (equal to
    :func:`cost` bit for bit): a pandas DataFrame with ``heads_per_layer`` and the total columns (latency_s,
    energy_pj, area_mm2, dram_bytes, ...; a decode step adds the kept_* flags and cache_bytes)."""
    import pandas as pd

    from hwsim.accel.batch import cost_many as many
    from hwsim.heads import format_heads

    step = _step(spec, phase, context)
    matrix = np.asarray(heads, dtype=np.int64)
    columns = many(spec, matrix, load_accel(accel), batch, step=step)
    frame = pd.DataFrame({key: value for key, value in columns.items() if np.ndim(value) == 1})
    frame.insert(0, "heads_per_layer", [format_heads(row) for row in matrix])
    return frame


def perplexity(checkpoint: str | Path, heads_per_layer: Sequence[int] | None = None, *, split: str = "valid",
               max_tokens: int | None = None, device: str = "cpu", data: str | None = None,
               data_kind: str | None = None, numerics=None):  # fmt: skip
    """Perplexity of a checkpoint keeping ``heads_per_layer`` heads per layer (by gate score; default: its open
    gates), memory carried across segments, in float32 or at ``numerics`` (``hwsim.numerics.Numerics``, e.g.
    ``Numerics(weight_bits=4, act_bits=8)``: every GEMM quantised as the array computes it): a
    ``hwsim.nn.evaluate.EvalResult`` (perplexity, bits_per_token, tokens, split, heads_per_layer, numerics)."""
    from hwsim.nn.config import resolve_device
    from hwsim.nn.data import DataSource
    from hwsim.nn.evaluate import evaluate

    if max_tokens is not None and (isinstance(max_tokens, bool) or max_tokens < 1):
        raise SpecError(f"--max-tokens must be positive, got {max_tokens}")
    source = None
    if data is not None or data_kind is not None:
        source = DataSource.from_dict({"kind": data_kind or ("ptb" if data is None else "word"), "path": data or ""})
    heads = None if heads_per_layer is None else tuple(int(h) for h in heads_per_layer)
    return evaluate(checkpoint, heads, split=split, max_tokens=max_tokens, device=resolve_device(device), data=source,
                    numerics=numerics)


def generate(checkpoint: str | Path, prompt: str | None = None, new_tokens: int = 50, *, temperature: float = 1.0,
             top_k: int = 0, seed: int = 0, heads_per_layer: Sequence[int] | None = None, policy: str = "segment",
             cache: str = "kv", device: str = "cpu") -> dict[str, Any]:  # fmt: skip
    """Generate text token by token (``hwsim.nn.decode``): a dict with ``text``, ``tokens`` (ids),
    ``prompt_tokens``, ``unknown`` (prompt words read as <unk>), ``tokens_per_s``, ``time_to_first_token_s``,
    ``decode_s``."""
    from hwsim.errors import DataError
    from hwsim.nn.checkpoint import load_checkpoint
    from hwsim.nn.config import resolve_device
    from hwsim.nn.decode import check_generation, generate as run_generation
    from hwsim.nn.evaluate import masked_model
    from hwsim.nn.text import checkpoint_vocabulary

    if prompt is not None and not prompt.strip():
        raise DataError("the prompt is empty")
    ckpt = load_checkpoint(checkpoint)
    check_generation(new_tokens, temperature, top_k, ckpt.spec.vocab_size)
    heads = None if heads_per_layer is None else tuple(int(h) for h in heads_per_layer)
    vocab = checkpoint_vocabulary(ckpt)
    ids, unknown = vocab.encode("\n" if prompt is None else prompt)  # no prompt: a sentence (line) start
    if not ids:
        raise DataError("the prompt has no token the model knows" if prompt is not None else
                        "give a prompt: this model has no sentence-start symbol to begin from")
    model = masked_model(ckpt, heads, resolve_device(device))
    result = run_generation(model, ids, new_tokens, temperature=temperature, top_k=top_k, seed=seed, policy=policy,
                            cache=cache)  # fmt: skip
    return {"text": vocab.decode(result.tokens), "tokens": list(result.tokens), "prompt_tokens": list(result.prompt),
            "unknown": unknown, "bytes_level": vocab.bytes_level, "tokens_per_s": result.tokens_per_s,
            "time_to_first_token_s": result.prompt_s, "decode_s": result.decode_s,
            "heads_per_layer": list(heads or ckpt.heads_per_layer), "policy": policy, "cache": cache}  # fmt: skip


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: its results table (one row per pruning x accelerator point, Pareto columns), where the
    store and the report are, and the report's answers (budget, knees, hypervolumes)."""

    frame: Any  # pandas.DataFrame
    out_dir: Path
    results_path: Path
    report_path: Path
    answers: dict[str, Any]
    spec: Any  # hwsim.sweep.config.SweepSpec: what ran, the spec file and the overrides applied
    outcome: Any  # hwsim.sweep.engine.SweepOutcome (points, evaluations this run, hypervolumes)
    report: Any  # hwsim.report.html.ReportFiles (HTML, CSV and JSON paths)


def sweep(spec_file: str | Path | None = None, *, out: str | Path = "reports/pareto", report: str | Path | None = None,
          workers: int = 1, resume: bool = False, force: bool = False, progress: bool = False, backend: str = "local",
          ray_address: str | None = None, budget: dict[str, float] | None = None, **options: Any) -> SweepResult:
    """Run a pruning x accelerator sweep (or an NSGA-II search) and write its store and HTML report.

    ``spec_file``: a sweep TOML (default ``sweeps/default.toml``); ``options`` override it as the CLI does:
    heads (list of "8,6,6,4" strings), ratios ("0,0.25"), ratio_modes, samples, seed, accels, grid ("rows=16,32"),
    checkpoint, model, split, max_tokens, finetune_steps, batch, search ("nsga2"), budget_evaluations, align,
    phases ("segment,decode"), context. ``budget``: limits for the report's answers (Budget field names, SI units:
    max_latency_s, max_energy_pj, max_latency_per_token_s, ...)."""
    from hwsim.atomicio import check_output_dir, check_report_paths
    from hwsim.report.html import write_report
    from hwsim.sweep.backend import Backend
    from hwsim.sweep.config import DEFAULT_SPEC_PATH, CliOverrides, apply_cli, load_sweep_spec
    from hwsim.sweep.queries import Budget
    from hwsim.sweep.runner import SweepRequest, run_sweep
    from hwsim.sweep.store import is_sweep_store, load_results

    fields = dict(options)
    if "budget_evaluations" in fields:
        fields["budget"] = fields.pop("budget_evaluations")
    for key in ("heads", "ratio_modes", "accels", "grid"):
        if isinstance(fields.get(key), (list, str)):
            fields[key] = tuple([fields[key]] if isinstance(fields[key], str) else fields[key])
    try:
        overrides = CliOverrides(**fields)
    except TypeError as exc:
        raise SpecError(f"sweep(): {exc}") from None
    limits = Budget(**(budget or {}))
    out_dir = check_output_dir(Path(out), "sweep", is_sweep_store)
    report_path = check_report_paths(Path(report) if report is not None else out_dir.with_suffix(".html"),
                                     (".csv", ".json"))
    spec = apply_cli(load_sweep_spec(spec_file or DEFAULT_SPEC_PATH), overrides)
    outcome = run_sweep(SweepRequest(spec=spec, out_dir=out_dir, workers=workers, backend=Backend(backend),
                                     ray_address=ray_address, resume=resume, force=force, progress=progress))
    written = write_report(outcome.out_dir, report_path, budget=limits)
    frame, _ = load_results(outcome.out_dir)
    return SweepResult(frame=frame, out_dir=outcome.out_dir, results_path=outcome.results_path,
                       report_path=written.html, answers=written.answers, spec=spec, outcome=outcome, report=written)


def read_results(path: str | Path):
    """(results DataFrame, manifest dict) of a finished sweep: its directory or its results.parquet / .csv."""
    from hwsim.sweep.store import load_results

    return load_results(path)


def pareto_front(frame, objectives: Sequence[str] = ("perplexity", "latency_s"),
                 maximize: Sequence[str] = ()) -> Any:  # fmt: skip
    """The rows of ``frame`` not dominated in ``objectives`` (each minimised unless listed in ``maximize``)."""
    from hwsim.sweep.pareto import Objective, objective_matrix, pareto_mask

    objs = tuple(Objective(column=c, minimize=c not in maximize) for c in objectives)
    return frame[pareto_mask(objective_matrix(frame, objs))]


def best_under(frame, **limits: float) -> dict[str, Any]:
    """The best row for each objective among the rows meeting every limit (Budget field names: max_perplexity,
    max_perplexity_increase (fraction), max_latency_s, max_area_mm2, max_energy_pj, max_latency_per_token_s,
    max_energy_per_token_pj): objective column -> row (a pandas Series) or None."""
    from hwsim.sweep.queries import Budget, best_under as best

    try:
        budget = Budget(**limits)
    except TypeError as exc:
        raise SpecError(f"best_under(): {exc}") from None
    return {column: None if row is None else frame.loc[row] for column, row in best(frame, budget).items()}


def export_accelforge(spec: ModelSpec, accel: str | Path | AccelConfig, out_dir: str | Path,
                      heads_per_layer: Sequence[int] | None = None, *, batch: int = 1, phase: str = "segment",
                      context: int | None = None, buffer_order: Sequence[str] = ("ifmap", "filter", "ofmap")):
    """Write the workload (every GEMM as an einsum) and the accelerator (buffers, DRAM, bit widths, component
    energies) as AccelForge's ``arch.yaml`` and ``workload.yaml`` (``hwsim.accel.accelforge_export``); returns the
    written paths and einsum names."""
    from hwsim.accel.accelforge_export import export
    from hwsim.limits import check_workload_counts

    config = load_accel(accel)
    work = workload(spec, heads_per_layer, batch=batch, phase=phase, context=context)
    check_workload_counts(work, config)
    return export(work, config, Path(out_dir), tuple(buffer_order))


def _heads(spec: ModelSpec, heads_per_layer) -> tuple[int, ...]:
    from hwsim.heads import parse_heads, validate_heads

    if heads_per_layer is None:
        return spec.full_heads()
    if isinstance(heads_per_layer, str):
        return validate_heads(spec, parse_heads(heads_per_layer, spec.n_layers))
    return validate_heads(spec, tuple(int(h) for h in heads_per_layer))
