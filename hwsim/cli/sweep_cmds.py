"""``hwsim sweep`` (pruning x accelerator design-space sweep) and ``hwsim report`` (HTML report of a sweep)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from hwsim.errors import OutputError
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


def _budget(max_perplexity, max_perplexity_increase, max_latency_ms, max_area_mm2, max_energy_uj):
    from hwsim.sweep.queries import Budget, parse_percent

    return Budget(
        max_perplexity=max_perplexity,
        max_perplexity_increase=None if max_perplexity_increase is None else parse_percent(max_perplexity_increase),
        max_latency_s=None if max_latency_ms is None else max_latency_ms * 1e-3,
        max_area_mm2=max_area_mm2,
        max_energy_pj=None if max_energy_uj is None else max_energy_uj * 1e6,
    )


def _print_answers(answers: dict) -> None:
    """The budget answers and the knee of each front, one line per design."""

    def line(what: str, d: dict | None) -> str:
        if d is None:
            return f"  {what}: no design within the budget"
        return (f"  {what}: heads {d['heads_per_layer']} on {d['accel']} (row {d['row']}): perplexity "
                f"{d['perplexity']:.4g}, latency {d['latency_s'] * 1e3:.4g} ms, area {d['area_mm2']:.4g} mm², "
                f"energy {d['energy_pj'] * 1e-6:.4g} µJ, {d['macs']:,} MACs, {d['cycles']:,} cycles")

    if answers.get("budget"):
        print(f"best within budget ({answers['budget']['describe']}):")
        for what, design in answers["budget"]["best"].items():
            print(line(what, design))
    print("knee of each front:")
    for front, design in answers["knees"].items():
        print(line(front, design))


def _sweep_cmd(
    spec_file: Annotated[Optional[Path], typer.Argument(help="Sweep spec TOML (default: sweeps/default.toml).")] = None,
    heads: Annotated[
        _Repeat, typer.Option("--heads-per-layer", help="Heads kept per layer: 8,6,6,4, or 4 for every layer.")
    ] = [],  # noqa: B006 - typer needs a list default
    ratios: Annotated[Optional[str], typer.Option(help="Fractions of all heads removed, e.g. 0,0.25,0.5.")] = None,
    ratio_mode: Annotated[
        _Repeat, typer.Option("--ratio-mode", help="gate (lowest gate score first) and/or uniform.")
    ] = [],  # noqa: B006
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
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted sweep in OUT.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a sweep of other inputs in OUT.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars on stderr.")] = True,
    train_lambdas: Annotated[Optional[str], typer.Option("--train-lambdas", help="Training sweep (hwsim train-sweep): a gated model per lambda, e.g. 0.005,0.01.")] = None,
    init_from: Annotated[Optional[str], typer.Option("--init-from", help="Training sweep: converged All-Attention baseline.")] = None,
    txl_init_from: Annotated[Optional[str], typer.Option("--txl-init-from", help="Training sweep: Transformer-XL baseline of equal size.")] = None,
    ablation_variants: Annotated[Optional[str], typer.Option("--ablation-variants", help="Training sweep: extra jobs no-warmup,no-init,no-scaling,none.")] = None,
    gate_steps: Annotated[Optional[int], typer.Option("--gate-steps", help="Training sweep: gating-phase steps.")] = None,
    device: Annotated[str, typer.Option(help="Training sweep: auto (cuda if available), cpu or cuda.")] = "auto",
    align: Annotated[bool, typer.Option("--align", help="Only head counts that fill whole folds on every "
                                                         "accelerator of the grid.")] = False,
    max_perplexity: _MaxPpl = None,
    max_perplexity_increase: _MaxInc = None,
    max_latency_ms: _MaxLat = None,
    max_area_mm2: _MaxArea = None,
    max_energy_uj: _MaxEnergy = None,
) -> None:
    """Sweep pruning configurations x accelerators; write the results store and an HTML Pareto report."""
    from hwsim.cli import trainsweep_cmds

    train_options = train_lambdas is not None or init_from is not None or txl_init_from is not None
    if train_options or trainsweep_cmds.is_train_sweep_spec(spec_file):  # run it as `hwsim train-sweep`
        _refuse_pattern_options(spec_file or "--train-lambdas", heads or ratio_mode or ratios or samples or checkpoint
                                or model or finetune_steps)
        trainsweep_cmds.train_sweep_from_cli(
            spec_file=spec_file, lambdas=train_lambdas, init_from=init_from, txl_init_from=txl_init_from,
            ablation_variants=ablation_variants, gate_steps=gate_steps, split=split, max_tokens=max_tokens,
            batch=batch, accels=tuple(accel), grid=tuple(grid), workers=workers or 1, backend=backend,
            ray_address=ray_address, device=device, out=out or trainsweep_cmds.DEFAULT_OUT, report=report,
            force=force, progress=progress)
        return
    from hwsim.atomicio import check_output_dir
    from hwsim.report.html import write_report
    from hwsim.sweep.config import DEFAULT_SPEC_PATH, CliOverrides, apply_cli, load_sweep_spec
    from hwsim.sweep.runner import SweepRequest, run_sweep
    from hwsim.sweep.store import is_sweep_store

    out = check_output_dir(DEFAULT_OUT if out is None else out, "sweep", is_sweep_store)
    report = check_report_paths(report or out.with_suffix(".html"), (".csv", ".json"))
    cli = CliOverrides(heads=tuple(heads), ratios=ratios, ratio_modes=tuple(ratio_mode), samples=samples, seed=seed,
                       accels=tuple(accel), grid=tuple(grid), checkpoint=checkpoint, model=model, split=split,
                       max_tokens=max_tokens, finetune_steps=finetune_steps, batch=batch, search=search,
                       budget=budget, align=align or None)
    limits = _budget(max_perplexity, max_perplexity_increase, max_latency_ms, max_area_mm2, max_energy_uj)
    spec = apply_cli(load_sweep_spec(spec_file or DEFAULT_SPEC_PATH), cli)
    request = SweepRequest(spec=spec, out_dir=out, workers=workers or os.cpu_count() or 1, backend=backend,
                           ray_address=ray_address, resume=resume, force=force, progress=progress)
    outcome = run_sweep(request)
    if outcome.repaired:
        print(f"note: {len(outcome.repaired)} damaged file(s) in {out} recomputed: {', '.join(outcome.repaired[:5])}"
              + (" ..." if len(outcome.repaired) > 5 else ""), file=sys.stderr)
    written = write_report(outcome.out_dir, report, budget=limits)
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


def _refuse_pattern_options(spec_file: Path, given) -> None:
    from hwsim.errors import SweepError

    if given:
        raise SweepError(f"{spec_file} makes this a training sweep: the pruning-pattern options "
                         "(--heads-per-layer, --ratios, --ratio-mode, --samples, --checkpoint, --model, "
                         "--finetune-steps) do not apply")


def check_report_paths(html: Path, siblings: tuple[str, ...]) -> Path:
    """Check an HTML report path and the data files written beside it before any work (no partial reports)."""
    from hwsim.atomicio import check_output_file

    html = check_output_file(html, "report")
    if html.suffix.lower() in siblings:
        raise OutputError(f"report path {html} would be overwritten by its own data file: give a .html name")
    for suffix in siblings:
        check_output_file(html.with_suffix(suffix), "report data")
    return html


def _report_cmd(
    results: Annotated[Path, typer.Argument(help="Sweep results directory (or its results.parquet / .csv).")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="HTML path (default: RESULTS.html).")] = None,
    point: Annotated[Optional[int], typer.Option(help="Row of the point whose per-layer breakdown to show.")] = None,
    max_perplexity: _MaxPpl = None,
    max_perplexity_increase: _MaxInc = None,
    max_latency_ms: _MaxLat = None,
    max_area_mm2: _MaxArea = None,
    max_energy_uj: _MaxEnergy = None,
) -> None:
    """Write a self-contained HTML report (plus CSV/JSON export) of a finished sweep."""
    from hwsim.report.html import write_report

    root = results if results.is_dir() else results.parent
    limits = _budget(max_perplexity, max_perplexity_increase, max_latency_ms, max_area_mm2, max_energy_uj)
    if output is None and root.name in ("", ".", ".."):
        raise OutputError(f"give -o: the default report path next to {str(results)!r} has no name")
    output = check_report_paths(output or root.with_suffix(".html"), (".csv", ".json"))
    written = write_report(results, output, point=point, budget=limits)
    print(f"report: {written.html}  (data: {written.csv}, {written.json})")
    _print_answers(written.answers)


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command("sweep")(_sweep_cmd)
    app.command("report")(_report_cmd)
