"""Helpers shared by the command modules (no command of its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from hwsim.atomicio import check_report_paths  # noqa: F401  (re-exported for the command modules)
from hwsim.errors import OutputError

# Training-sweep options, shared by `hwsim train-sweep` and `hwsim sweep` (which runs a training sweep with them).
TrainLambdasOpt = Annotated[Optional[str], typer.Option(
    "--train-lambdas", help="Training sweep: a gated model per sparsity coefficient, e.g. 0.005,0.01.")]
InitFromOpt = Annotated[Optional[str], typer.Option(
    "--init-from", help="Training sweep: converged All-Attention baseline checkpoint.")]
TxlInitFromOpt = Annotated[Optional[str], typer.Option(
    "--txl-init-from", help="Training sweep: Transformer-XL baseline of equal size.")]
AblationVariantsOpt = Annotated[Optional[str], typer.Option(
    "--ablation-variants", help="Training sweep: extra All-Attention jobs with these variants (no-warmup, no-init, "
    "no-scaling, none).")]
GateStepsOpt = Annotated[Optional[int], typer.Option(
    "--gate-steps", help="Training sweep: gating-phase steps (default: the recipe's [gates] steps).")]
DeviceOpt = Annotated[str, typer.Option(help="Training sweep: auto (cuda if available), cpu or cuda.")]


def default_report_path(root: Path, output: Path | None, siblings: tuple[str, ...], given: Path) -> Path:
    """``output``, or ``ROOT.html`` beside the results directory ``root`` (the command's argument ``given``);
    checked with :func:`check_report_paths`."""
    if output is None and root.name in ("", ".", ".."):
        raise OutputError(f"give -o: the default report path next to {str(given)!r} has no name")
    return check_report_paths(output or root.with_suffix(".html"), siblings)
