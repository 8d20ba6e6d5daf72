"""``hwsim train-sweep`` (learned layer-wise pruning per lambda, both model families, costed on an accelerator grid)
and ``hwsim train-report`` (its HTML report). ``hwsim sweep --train-lambdas ...`` dispatches here too
(:func:`train_sweep_from_cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hwsim.cli import common
from hwsim.cli.common import check_report_paths
from hwsim.sweep.backend import Backend

DEFAULT_OUT = Path("reports/train-sweep")


def train_sweep_from_cli(
    *,
    spec_file: Path | None,
    lambdas: str | None,
    init_from: str | None,
    txl_init_from: str | None = None,
    variants: str | None = None,
    ablation_lambdas: str | None = None,
    ablation_variants: str | None = None,
    gate_steps: int | None = None,
    split: str | None = None,
    max_tokens: int | None = None,
    batch: int | None = None,
    accels: tuple[str, ...] = (),
    grid: tuple[str, ...] = (),
    workers: int = 1,
    backend: Backend = Backend.LOCAL,
    ray_address: str | None = None,
    device: str = "auto",
    out: Path = DEFAULT_OUT,
    report: Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> None:
    """Build the request from a spec file and/or options, run the sweep, write the report, print where they are."""
    from hwsim.atomicio import check_output_dir
    from hwsim.trainsweep.report import write_train_report
    from hwsim.trainsweep.runner import TrainSweepRequest, is_train_sweep_store, run_train_sweep

    out = check_output_dir(out, "training sweep", is_train_sweep_store)
    report = check_report_paths(report or out.with_suffix(".html"), (".csv", ".jobs.json"))
    spec = _train_sweep_spec(spec_file, lambdas=lambdas, init_from=init_from, txl_init_from=txl_init_from,
                             variants=variants, ablation_lambdas=ablation_lambdas,
                             ablation_variants=ablation_variants, gate_steps=gate_steps, split=split,
                             max_tokens=max_tokens, batch=batch, accels=accels, grid=grid)
    request = TrainSweepRequest(spec=spec, out_dir=out, workers=workers, backend=backend, ray_address=ray_address,
                                device=device, force=force, progress=progress)
    outcome = run_train_sweep(request)
    written = write_train_report(outcome.out_dir, report)
    print(f"{outcome.n_jobs} jobs ({outcome.ran_jobs} run now, on {outcome.device}), {outcome.n_points} points")
    print(f"results: {outcome.results_path}")
    print(f"report:  {written}")


def _train_sweep_spec(spec_file: Path | None, *, lambdas, init_from, txl_init_from, variants, ablation_lambdas,
                      ablation_variants, gate_steps, split, max_tokens, batch, accels, grid):
    """The spec file's training sweep (or the defaults) with the command-line options applied."""
    from dataclasses import replace

    from hwsim.sweep.config import parse_grid_option
    from hwsim.sweep.space import AccelGrid
    from hwsim.trainsweep.spec import Ablation, TrainSweepSpec, load_train_sweep_spec, parse_lambdas, parse_variants

    spec = load_train_sweep_spec(spec_file) if spec_file else TrainSweepSpec()
    spec = spec.with_overrides(
        lambdas=parse_lambdas(lambdas, "--train-lambdas") if lambdas is not None else None,
        init_from=init_from, txl_init_from=txl_init_from,
        variants=parse_variants(variants, "--variants") if variants is not None else None,
        steps=gate_steps, split=split, max_tokens=max_tokens or None, batch=batch,
    )
    if ablation_variants is not None:
        spec = replace(spec, ablation=Ablation(
            lambdas=parse_lambdas(ablation_lambdas, "--ablation-lambdas") if ablation_lambdas else spec.lambdas[:1],
            families=spec.ablation.families,
            variants=parse_variants(ablation_variants, "--ablation-variants")))
    if accels or grid:
        spec = replace(spec, accel=AccelGrid(presets=accels or spec.accel.presets,
                                             grid=tuple(parse_grid_option(g) for g in grid)))
    return spec


def _train_sweep_cmd(
    spec_file: Annotated[Optional[Path], typer.Argument(help="Sweep spec TOML with a [train] table.")] = None,
    lambdas: common.TrainLambdasOpt = None,
    init_from: common.InitFromOpt = None,
    txl_init_from: common.TxlInitFromOpt = None,
    variants: Annotated[Optional[str], typer.Option("--variants", help="Training methods of every job: full, no-warmup, no-init, no-scaling, none.")] = None,
    ablation_variants: common.AblationVariantsOpt = None,
    ablation_lambdas: Annotated[Optional[str], typer.Option("--ablation-lambdas", help="Lambdas of the ablation jobs (default: the first lambda).")] = None,
    gate_steps: common.GateStepsOpt = None,
    split: Annotated[Optional[str], typer.Option(help="Split the pruned models are evaluated on.")] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="Evaluate on the first N tokens of the split only.")] = None,
    batch: Annotated[Optional[int], typer.Option(help="Batch size of the costed workload.")] = None,
    accel: Annotated[list[str], typer.Option(help="Accelerator preset or TOML (repeatable).")] = [],  # noqa: B006
    grid: Annotated[list[str], typer.Option(help="Accelerator parameter grid PARAM=V1,V2 (repeatable).")] = [],  # noqa: B006
    workers: Annotated[int, typer.Option(help="Jobs run in parallel (local processes).")] = 1,
    backend: Annotated[Backend, typer.Option(help="local process pool or a Ray cluster.")] = Backend.LOCAL,
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster address (default: start a local Ray).")] = None,
    device: common.DeviceOpt = "auto",
    out: Annotated[Path, typer.Option(help="Results directory (jobs, checkpoints, tables).")] = DEFAULT_OUT,
    report: Annotated[Optional[Path], typer.Option(help="HTML report path (default: OUT.html).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT even if it holds a sweep of other inputs.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress on stderr.")] = True,
) -> None:
    """Learned layer-wise pruning per lambda (gating phase -> prune -> eval), costed on an accelerator grid.

    Every job is resumable: rerun the same command to continue an interrupted sweep.
    """
    train_sweep_from_cli(spec_file=spec_file, lambdas=lambdas, init_from=init_from, txl_init_from=txl_init_from,
                         variants=variants, ablation_lambdas=ablation_lambdas, ablation_variants=ablation_variants,
                         gate_steps=gate_steps, split=split, max_tokens=max_tokens, batch=batch, accels=tuple(accel),
                         grid=tuple(grid), workers=workers, backend=backend, ray_address=ray_address, device=device,
                         out=out, report=report, force=force, progress=progress)


def _train_report_cmd(
    results: Annotated[Path, typer.Argument(help="Training-sweep results directory.")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="HTML path (default: RESULTS.html).")] = None,
    accel: Annotated[Optional[str], typer.Option(help="Accelerator of the latency plot (default: the first).")] = None,
    plotlyjs: Annotated[str, typer.Option(help="inline (self-contained, ~4.5 MB), directory (plotly.min.js beside it) or cdn.")] = "inline",
    markdown: Annotated[bool, typer.Option("--markdown", help="Also print a Markdown summary table (for a README).")] = False,
    seeds: Annotated[list[Path], typer.Option("--seeds", help="With --markdown: results of the same sweep from other seeds (repeatable); prints the seed-spread table.")] = [],  # noqa: B006
) -> None:
    """Write the HTML report of a finished training sweep."""
    from hwsim.trainsweep.report import seeds_markdown, summary_markdown, write_train_report

    output = common.default_report_path(results, output, (".csv", ".jobs.json"), results)
    frame = _readable_train_results(results)
    if markdown:
        print(summary_markdown(frame, accel))
        if seeds:
            dirs = [results, *seeds]
            names = [p.name for p in dirs] if len({p.name for p in dirs}) == len(dirs) else [str(p) for p in dirs]
            print(seeds_markdown({n: _readable_train_results(p) for n, p in zip(names, dirs)}))
    written = write_train_report(results, output, accel=accel, plotlyjs=plotlyjs)
    print(f"report: {written}")


def _readable_train_results(results: Path):
    """The results table of a training sweep; a damaged store (unreadable manifest, table or job records) is one
    SweepError line instead of a JSON or Parquet traceback."""
    from hwsim.errors import SweepError
    from hwsim.trainsweep.results import load_train_results

    try:
        return load_train_results(results)[0]
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:  # json, pyarrow (ArrowInvalid), pandas
        raise SweepError(f"the training sweep in {results} is damaged ({type(exc).__name__}: {exc}); "
                         "rerun `hwsim train-sweep` on it to rebuild its tables") from None


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command("train-sweep")(_train_sweep_cmd)
    app.command("train-report")(_train_report_cmd)
