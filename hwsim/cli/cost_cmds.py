"""``hwsim gemm``, ``hwsim cost``, ``hwsim export``: thin wrappers over hwsim.accel."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from hwsim.accel.config import CostMode, Dataflow


class ExportFormat(str, Enum):
    SCALESIM = "scalesim"
    ACCELFORGE = "accelforge"


class Interface(str, Enum):
    CALC = "CALC"
    USER = "USER"


_ModelOpt = Annotated[Path, typer.Option("--model", help="Model recipe TOML ([model] table).")]
_AccelOpt = Annotated[str, typer.Option("--accel", help="Preset name or accelerator TOML ([accel] table).")]
_HeadsOpt = Annotated[Optional[str], typer.Option("--heads-per-layer", help="e.g. 8,6,6,4 (default: all).")]
_BatchOpt = Annotated[int, typer.Option("--batch", min=1, help="Sequences per segment.")]


def _model_accel(model: Path, accel: str, heads_per_layer: Optional[str], batch: int, mode: Optional[CostMode]):
    """Shared by cost and export: spec, heads, workload, accelerator (with an optional mode override)."""
    from hwsim.accel.config import load_accel, with_overrides
    from hwsim.heads import resolve_heads
    from hwsim.limits import check_batch, check_workload_counts
    from hwsim.spec import load_spec
    from hwsim.workload import build_workload

    spec = load_spec(model)
    heads = resolve_heads(spec, heads_per_layer)
    config = load_accel(accel)
    if mode is not None:
        config = with_overrides(config, {"mode": mode})
    workload = build_workload(spec, heads, check_batch(batch))
    check_workload_counts(workload, config)
    return workload, config


def _gemm_accel(accel, rows, cols, dataflow, mode, ifmap_kib, filter_kib, ofmap_kib, words_per_cycle, word_bytes,
                clock_hz):
    """The accelerator of ``hwsim gemm``: a full definition (--accel) or SCALE-Sim's array options."""
    from hwsim.accel.config import load_accel, scalesim_array, with_overrides
    from hwsim.errors import HwsimError

    if accel is not None:
        if rows is not None or cols is not None or dataflow is not None:
            raise HwsimError("--accel defines the array: drop --rows, --cols and --dataflow (or --accel)")
        config = load_accel(accel)
        return config if mode is None else with_overrides(config, {"mode": mode})
    missing = [name for name, v in (("--rows", rows), ("--cols", cols), ("--dataflow", dataflow)) if v is None]
    if missing:
        raise HwsimError(f"give --accel, or all of --rows, --cols and --dataflow (missing {', '.join(missing)})")
    return scalesim_array(rows=rows, cols=cols, dataflow=dataflow, ifmap_sram_kib=ifmap_kib,
                          filter_sram_kib=filter_kib, ofmap_sram_kib=ofmap_kib, dram_words_per_cycle=words_per_cycle,
                          word_bytes=word_bytes, clock_hz=clock_hz, mode=mode or CostMode.SCALESIM)


def _flatten(result: dict) -> dict:
    """Nested ``mapping`` keys as ``mapping.<key>`` for the text output."""
    flat = {key: value for key, value in result.items() if not isinstance(value, dict)}
    for key, value in (result.get("mapping") or {}).items():
        flat[f"mapping.{key}"] = value
    return flat


def _gemm_cmd(
    m: int = typer.Option(..., "--m", min=0, help="Rows of A and C."),
    n: int = typer.Option(..., "--n", min=0, help="Columns of B and C."),
    k: int = typer.Option(..., "--k", min=0, help="Inner dimension."),
    accel: Optional[str] = typer.Option(None, "--accel", help="Preset or accelerator TOML (instead of --rows..)."),
    rows: Optional[int] = typer.Option(None, "--rows", min=1, help="PE rows R."),
    cols: Optional[int] = typer.Option(None, "--cols", min=1, help="PE columns C."),
    dataflow: Optional[Dataflow] = typer.Option(None, "--dataflow", help="os, ws or is."),
    ifmap_kib: int = typer.Option(256, "--ifmap-kib", "--ifmap-kb", min=1, help="Ifmap SRAM, KiB (SCALE-Sim's)."),
    filter_kib: int = typer.Option(256, "--filter-kib", "--filter-kb", min=1, help="Filter SRAM, KiB (SCALE-Sim's)."),
    ofmap_kib: int = typer.Option(128, "--ofmap-kib", "--ofmap-kb", min=1, help="Ofmap SRAM, KiB (SCALE-Sim's)."),
    bandwidth_words_per_cycle: float = typer.Option(
        10.0, "--bandwidth-words-per-cycle", "--bandwidth", min=1e-9, help="DRAM words per cycle (SCALE-Sim's)."),
    word_bytes: int = typer.Option(1, "--word-bytes", min=1, help="Bytes per word, every operand (SCALE-Sim: 1)."),
    clock_hz: float = typer.Option(1e9, "--clock-hz", min=1.0, help="Clock, for latency_s."),
    repeat: int = typer.Option(1, "--repeat", min=0, help="Independent instances run back to back."),
    mode: Optional[CostMode] = typer.Option(
        None, "--mode", help="scalesim (exact SCALE-Sim v3) or physical; default scalesim, or --accel's mode."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of text."),
) -> None:
    """Cost one GEMM C[MxN] = A[MxK] @ B[KxN]: on an accelerator (--accel) or an R x C array (words)."""
    from hwsim.accel.gemm import gemm_report
    from hwsim.limits import check_count_bound, gemm_work_bound

    config = _gemm_accel(accel, rows, cols, dataflow, mode, ifmap_kib, filter_kib, ofmap_kib,
                         bandwidth_words_per_cycle, word_bytes, clock_hz)
    work = gemm_work_bound(m, n, k, repeat, config.rows, config.cols)
    check_count_bound(work, config.dram_bytes_per_cycle, "this GEMM")
    result = gemm_report(m, n, k, config, repeat)
    if as_json:
        print(json.dumps(result))
    else:
        print("\n".join(f"{key:>24} {value}" for key, value in _flatten(result).items()))


class Phase(str, Enum):
    SEGMENT = "segment"
    DECODE = "decode"
    GENERATE = "generate"


class Policy(str, Enum):
    SEGMENT = "segment"
    WINDOW = "window"


def _cost_cmd(
    model: _ModelOpt,
    accel: _AccelOpt = "gemmini-like",
    heads_per_layer: _HeadsOpt = None,
    batch: _BatchOpt = 1,
    mode: Optional[CostMode] = typer.Option(None, "--mode", help="Override the accelerator's cost mode."),
    phase: Phase = typer.Option(Phase.SEGMENT, "--phase", help="segment (one evaluation pass), decode (one new "
                                "token per sequence) or generate (a prompt pass, then --new-tokens tokens)."),
    context: Optional[int] = typer.Option(None, "--context", help="decode: cached tokens the new token attends to "
                                          "(default: the segment policy's average, M + (T-1)//2)."),
    prompt: Optional[int] = typer.Option(None, "--prompt", help="generate: prompt tokens."),
    new_tokens: Optional[int] = typer.Option(None, "--new-tokens", help="generate: tokens to generate."),
    policy: Policy = typer.Option(Policy.SEGMENT, "--policy", help="generate: how the context grows (segment or "
                                  "window)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object: layers and total."),
    as_csv: bool = typer.Option(False, "--csv", help="One CSV row per layer, then the total."),
    gemms: bool = typer.Option(False, "--gemms", help="Also print every layer's GEMMs with their mappings."),
) -> None:
    """Per-layer and total cost of a (pruned) model on an accelerator: one segment pass, one decode step (per
    token) or a whole generation."""
    from hwsim.accel.render import cost_csv, cost_table, gemm_table, summary_lines
    from hwsim.api import cost
    from hwsim.errors import HwsimError
    from hwsim.spec import load_spec

    if sum((as_json, as_csv, gemms)) > 1:
        raise HwsimError("choose one of --json, --csv and --gemms")
    result = cost(load_spec(model), accel, heads_per_layer, batch=batch, phase=phase.value,
                  context=context, prompt=prompt, new_tokens=new_tokens, policy=policy.value,
                  mode=None if mode is None else mode.value)  # fmt: skip
    if as_json:
        print(json.dumps(result.payload))
    elif as_csv:
        print(cost_csv(result.detail), end="")
    else:
        summary = result.per_token
        text = cost_table(result.detail) + ("\n" + "\n".join(summary_lines(summary)) if summary else "")
        if gemms:
            passes = result.passes or (("segment pass", result.detail),)
            tables = [gemm_table(c) if not result.passes else f"{name}:\n{gemm_table(c)}" for name, c in passes]
            text += "\n\n" + "\n\n".join(tables)
        print(text)


def _export_cmd(
    model: _ModelOpt,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output directory.")],
    accel: _AccelOpt = "gemmini-like",
    heads_per_layer: _HeadsOpt = None,
    batch: _BatchOpt = 1,
    fmt: ExportFormat = typer.Option(ExportFormat.SCALESIM, "--format", help="scalesim (topology CSV + .cfg) or "
                                     "accelforge (arch.yaml + workload.yaml for AccelForge / Timeloop)."),
    interface: Interface = typer.Option(Interface.CALC, "--interface", help="SCALE-Sim bandwidth mode."),
    phase: Phase = typer.Option(Phase.SEGMENT, "--phase", help="accelforge: the segment pass or one decode step."),
    context: Optional[int] = typer.Option(None, "--context", help="accelforge, decode: cached tokens."),
    buffer_order: str = typer.Option("ifmap,filter,ofmap", "--buffer-order", help="accelforge: the order the three "
                                     "buffers nest in AccelForge's hierarchy (docs/validation.md)."),
) -> None:
    """Write the workload's GEMMs for a peer tool: SCALE-Sim (topology CSV, .cfg, layout CSV) or AccelForge (the
    accelerator and the workload as its YAML, with hwsim's component energies)."""
    from hwsim.atomicio import check_output_dir
    from hwsim.errors import HwsimError

    out = check_output_dir(out, "export directory", lambda _: True)  # adds its own files, removes nothing
    if fmt is ExportFormat.SCALESIM:
        if phase is not Phase.SEGMENT or context is not None or buffer_order != "ifmap,filter,ofmap":
            raise HwsimError("--phase, --context and --buffer-order apply to --format accelforge")
        from hwsim.accel.scalesim_export import export_workload

        files = export_workload(*_model_accel(model, accel, heads_per_layer, batch, None), out, interface.value)
        print(f"wrote {files.rows} GEMM rows: {files.topology}, {files.config}, {files.layout}")
        return
    if phase is Phase.GENERATE:
        raise HwsimError("--format accelforge exports one pass: --phase segment or decode")
    from hwsim.api import export_accelforge
    from hwsim.spec import load_spec

    order = tuple(x.strip() for x in buffer_order.split(","))
    files = export_accelforge(load_spec(model), accel, out, heads_per_layer, batch=batch, phase=phase.value,
                              context=context, buffer_order=order)  # fmt: skip
    print(f"wrote {len(files.einsums)} einsums: {files.arch}, {files.workload}")


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command("gemm")(_gemm_cmd)
    app.command("cost")(_cost_cmd)
    app.command("export")(_export_cmd)
