"""``hwsim sweep`` (pruning x accelerator design-space sweep) and ``hwsim report`` (HTML report of a sweep)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from hwsim.cli.common import (
    AblationVariantsOpt,
    DeviceOpt,
    GateStepsOpt,
    InitFromOpt,
    TrainLambdasOpt,
    TxlInitFromOpt,
    default_report_path,
)
from hwsim.sweep.backend import Backend

DEFAULT_OUT = Path("reports/pareto")


_Repeat = list[str]  # a repeatable option (typer collects every occurrence)

# Budget options, shared by `hwsim sweep` and `hwsim report` (units in the names: ms, mm², µJ).
_MaxPpl = Annotated[Optional[float], typer.Option("--max-perplexity", help="Budget: perplexity at most P.")]
_MaxInc = Annotated[Optional[str], typer.Option(
    "--max-perplexity-increase", help="Budget: perplexity at most this much above the unpruned baseline, in "
    "percent (5% or 5).")]
_MaxLat = Annotated[Optional[float], typer.Option("--max-latency-ms", help="Budget: latency per segment in ms.")]
_MaxArea = Annotated[Optional[float], typer.Option("--max-area-mm2", help="Budget: accelerator area in mm².")]
_MaxEnergy = Annotated[Optional[float], typer.Option("--max-energy-uj", help="Budget: energy per segment in µJ.")]
_MaxTokLat = Annotated[Optional[float], typer.Option(
    "--max-latency-per-token-ms", help="Budget (decode phase): latency per generated token in ms.")]
_MaxTokEnergy = Annotated[Optional[float], typer.Option(
    "--max-energy-per-token-uj", help="Budget (decode phase): energy per generated token in µJ.")]


def _budget(max_perplexity, max_perplexity_increase, max_latency_ms, max_area_mm2, max_energy_uj,
            max_latency_per_token_ms=None, max_energy_per_token_uj=None):  # fmt: skip
    from hwsim.sweep.queries import Budget, parse_percent

    return Budget(
        max_perplexity=max_perplexity,
        max_perplexity_increase=None if max_perplexity_increase is None else parse_percent(max_perplexity_increase),
        max_latency_s=None if max_latency_ms is None else max_latency_ms * 1e-3,
        max_area_mm2=max_area_mm2,
        max_energy_pj=None if max_energy_uj is None else max_energy_uj * 1e6,
        max_latency_per_token_s=None if max_latency_per_token_ms is None else max_latency_per_token_ms * 1e-3,
        max_energy_per_token_pj=None if max_energy_per_token_uj is None else max_energy_per_token_uj * 1e6,
    )


def _print_answers(answers: dict) -> None:
    """The budget answers and the knee of each front, one line per design."""

    def line(what: str, d: dict | None) -> str:
        if d is None:
            return f"  {what}: no design within the budget"
        decode = (f", {d['latency_per_token_s'] * 1e3:.4g} ms and {d['energy_per_token_pj'] * 1e-6:.4g} µJ per token"
                  if d.get("latency_per_token_s") is not None else "")
        return (f"  {what}: heads {d['heads_per_layer']} on {d['accel']} (row {d['row']}): perplexity "
                f"{d['perplexity']:.4g}, latency {d['latency_s'] * 1e3:.4g} ms, area {d['area_mm2']:.4g} mm², "
                f"energy {d['energy_pj'] * 1e-6:.4g} µJ, {d['macs']:,} MACs, {d['cycles']:,} cycles{decode}")

    if answers.get("budget"):
        print(f"best within budget ({answers['budget']['describe']}):")
        for what, design in answers["budget"]["best"].items():
            print(line(what, design))
    print("knee of each front:")
    for front, design in answers["knees"].items():
        print(line(front, design))


# The option each parameter of `hwsim sweep` comes from, to tell the library which options were given.
_FLAGS = {
    "heads": "--heads-per-layer", "ratios": "--ratios", "ratio_mode": "--ratio-mode", "samples": "--samples",
    "seed": "--seed", "search": "--search", "budget": "--budget", "checkpoint": "--checkpoint", "model": "--model",
    "finetune_steps": "--finetune-steps", "align": "--align", "train_lambdas": "--train-lambdas",
    "init_from": "--init-from", "txl_init_from": "--txl-init-from", "ablation_variants": "--ablation-variants",
    "gate_steps": "--gate-steps", "max_perplexity": "--max-perplexity",
    "max_perplexity_increase": "--max-perplexity-increase", "max_latency_ms": "--max-latency-ms",
    "max_area_mm2": "--max-area-mm2", "max_energy_uj": "--max-energy-uj", "phases": "--phases",
    "context": "--context", "scheme": "--scheme", "max_latency_per_token_ms": "--max-latency-per-token-ms",
    "max_energy_per_token_uj": "--max-energy-per-token-uj",
}  # fmt: skip


def _given(options: dict) -> list[str]:
    """The options of ``options`` that were given on the command line (not left at their default)."""
    flags = [flag for name, flag in _FLAGS.items() if options[name] not in (None, [], False)]
    return flags + (["--device"] if options["device"] != "auto" else [])


def _sweep_cmd(
    spec_file: Annotated[Optional[Path], typer.Argument(help="Sweep spec TOML (default: sweeps/default.toml).")] = None,
    heads: Annotated[_Repeat, typer.Option("--heads-per-layer", help="Heads kept per layer: 8,6,6,4, or 4 for "
                                                                     "every layer.")] = [],  # noqa: B006
    ratios: Annotated[Optional[str], typer.Option(help="Fractions of all heads removed, e.g. 0,0.25,0.5.")] = None,
    ratio_mode: Annotated[_Repeat, typer.Option("--ratio-mode", help="gate (lowest gate score first) and/or "
                                                                     "uniform.")] = [],  # noqa: B006
    samples: Annotated[Optional[int], typer.Option(help="Random pruning configurations to add.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the random samples or of the search.")] = None,
    search: Annotated[Optional[str], typer.Option(help="Search the pruning space instead of listing it: nsga2.")] = None,
    budget: Annotated[Optional[int], typer.Option(help="Search: pruning configurations to evaluate (perplexity "
                                                       "evaluations, the baseline not counted).")] = None,
    accel: Annotated[_Repeat, typer.Option(help="Accelerator preset or TOML (repeatable).")] = [],  # noqa: B006
    grid: Annotated[_Repeat, typer.Option(help="Accelerator grid axis PARAM=V1,V2 (repeatable).")] = [],  # noqa: B006
    checkpoint: Annotated[Optional[str], typer.Option(help="Checkpoint (default: the shipped PTB model).")] = None,
    model: Annotated[Optional[str], typer.Option(help="Model spec TOML: a cost-only sweep.")] = None,
    split: Annotated[Optional[str], typer.Option(help="Split to measure perplexity on.")] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="Score only the first N tokens of the split.")] = None,
    finetune_steps: Annotated[Optional[int], typer.Option(help="Train each pruned model N steps first.")] = None,
    batch: Annotated[Optional[int], typer.Option(help="Batch size of the costed workload.")] = None,
    workers: Annotated[int, typer.Option(help="Perplexity worker processes (0: CPU count).")] = 0,
    backend: Annotated[Backend, typer.Option(help="local process pool or a Ray cluster.")] = Backend.LOCAL,
    ray_address: Annotated[Optional[str], typer.Option(help="Ray address (default: a local Ray).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Results directory [default: reports/pareto].")] = None,
    report: Annotated[Optional[Path], typer.Option(help="HTML report path (default: OUT.html).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted sweep in OUT (a training sweep "
                                                           "always continues).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a sweep of other inputs in OUT.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars on stderr.")] = True,
    train_lambdas: TrainLambdasOpt = None,
    init_from: InitFromOpt = None,
    txl_init_from: TxlInitFromOpt = None,
    ablation_variants: AblationVariantsOpt = None,
    gate_steps: GateStepsOpt = None,
    device: DeviceOpt = "auto",
    align: Annotated[bool, typer.Option("--align", help="Only head counts that fill whole folds on every "
                                                         "accelerator of the grid.")] = False,
    max_perplexity: _MaxPpl = None,
    max_perplexity_increase: _MaxInc = None,
    max_latency_ms: _MaxLat = None,
    max_area_mm2: _MaxArea = None,
    max_energy_uj: _MaxEnergy = None,
    max_latency_per_token_ms: _MaxTokLat = None,
    max_energy_per_token_uj: _MaxTokEnergy = None,
    phases: Annotated[Optional[str], typer.Option(
        help="What to cost: segment, or segment,decode (adds a decode step per point: per-token fronts).")] = None,
    context: Annotated[Optional[int], typer.Option(
        help="Decode phase: cached tokens of the decode step (default: the segment policy's average).")] = None,
    scheme: Annotated[Optional[str], typer.Option(
        help="Perplexity at each accelerator's bit widths: rtn (default), g128, or float (float32 model).")] = None,
) -> None:
    """Sweep pruning configurations x accelerators; write the results store and an HTML Pareto report."""
    options = dict(locals())  # every option by name: the library decides what kind of sweep they describe
    from hwsim.sweep.config import SweepKind, sweep_kind

    if sweep_kind(spec_file, _given(options)) is SweepKind.TRAINING:
        _training_sweep(options)
    else:
        _pruning_sweep(options)


def _training_sweep(o: dict) -> None:
    """`hwsim sweep` of a training sweep: the same run as `hwsim train-sweep` with these options."""
    from hwsim.cli import trainsweep_cmds

    trainsweep_cmds.train_sweep_from_cli(
        spec_file=o["spec_file"], lambdas=o["train_lambdas"], init_from=o["init_from"],
        txl_init_from=o["txl_init_from"], ablation_variants=o["ablation_variants"], gate_steps=o["gate_steps"],
        split=o["split"], max_tokens=o["max_tokens"], batch=o["batch"], accels=tuple(o["accel"]),
        grid=tuple(o["grid"]), workers=o["workers"] or 1, backend=o["backend"], ray_address=o["ray_address"],
        device=o["device"], out=o["out"] or trainsweep_cmds.DEFAULT_OUT, report=o["report"], force=o["force"],
        progress=o["progress"])


def _pruning_sweep(o: dict) -> None:
    from hwsim.api import sweep

    out = DEFAULT_OUT if o["out"] is None else o["out"]  # checked, with the report paths, by hwsim.api.sweep
    limits = _budget(o["max_perplexity"], o["max_perplexity_increase"], o["max_latency_ms"], o["max_area_mm2"],
                     o["max_energy_uj"], o["max_latency_per_token_ms"], o["max_energy_per_token_uj"])
    result = sweep(o["spec_file"], out=out, report=o["report"], workers=o["workers"] or os.cpu_count() or 1,
                   resume=o["resume"], force=o["force"], progress=o["progress"], backend=o["backend"].value,
                   ray_address=o["ray_address"], budget=limits.to_dict(), heads=tuple(o["heads"]),
                   ratios=o["ratios"], ratio_modes=tuple(o["ratio_mode"]), samples=o["samples"], seed=o["seed"],
                   accels=tuple(o["accel"]), grid=tuple(o["grid"]), checkpoint=o["checkpoint"], model=o["model"],
                   split=o["split"], max_tokens=o["max_tokens"], finetune_steps=o["finetune_steps"],
                   batch=o["batch"], search=o["search"], budget_evaluations=o["budget"], align=o["align"] or None,
                   phases=o["phases"], context=o["context"], scheme=o["scheme"])  # fmt: skip
    _print_outcome(result.spec, result.outcome, result.report)


def _print_outcome(spec, outcome, written) -> None:
    if outcome.repaired:
        print(f"note: {len(outcome.repaired)} damaged file(s) in {outcome.out_dir} recomputed: "
              f"{', '.join(outcome.repaired[:5])}" + (" ..." if len(outcome.repaired) > 5 else ""), file=sys.stderr)
    print(f"{outcome.n_points} points ({outcome.n_configs} pruning configs x {outcome.n_accels} accelerators); "
          f"perplexity evaluated this run: {outcome.evaluated_configs}, accelerators costed: {outcome.costed_accels}")
    if spec.search is not None:
        print(f"search: {spec.search.algorithm}, budget {spec.search.budget} pruning configurations + the baseline "
              f"(seed {spec.search.seed}); {outcome.n_configs - 1} searched")
    for front, hv in (outcome.hypervolumes or {}).items():
        print(f"hypervolume {front}: {hv['hypervolume']:.4f} of {hv['max_possible']:.4g} "
              f"({hv['front_points']} points on the front; normalised, log perplexity)")
    print(f"results: {outcome.results_path}")
    print(f"report:  {written.html}  (data: {written.csv}, {written.json})")
    _print_answers(written.answers)


def _report_cmd(
    results: Annotated[Path, typer.Argument(help="Sweep results directory (or its results.parquet / .csv).")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="HTML path (default: RESULTS.html).")] = None,
    point: Annotated[Optional[int], typer.Option(help="Row of the point whose per-layer breakdown to show.")] = None,
    max_perplexity: _MaxPpl = None,
    max_perplexity_increase: _MaxInc = None,
    max_latency_ms: _MaxLat = None,
    max_area_mm2: _MaxArea = None,
    max_energy_uj: _MaxEnergy = None,
    max_latency_per_token_ms: _MaxTokLat = None,
    max_energy_per_token_uj: _MaxTokEnergy = None,
) -> None:
    """Write a self-contained HTML report (plus CSV/JSON export) of a finished sweep."""
    from hwsim.report.html import write_report

    limits = _budget(max_perplexity, max_perplexity_increase, max_latency_ms, max_area_mm2, max_energy_uj,
                     max_latency_per_token_ms, max_energy_per_token_uj)
    root = results if results.is_dir() else results.parent
    output = default_report_path(root, output, (".csv", ".json"), results)
    written = write_report(results, output, point=point, budget=limits)
    print(f"report: {written.html}  (data: {written.csv}, {written.json})")
    _print_answers(written.answers)


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command("sweep")(_sweep_cmd)
    app.command("report")(_report_cmd)
