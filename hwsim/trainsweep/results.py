"""Join a training sweep's job results with the accelerator costs of every model, and mark the Pareto fronts.

One row per (job, accelerator). Model columns: family, lambda, variant, heads kept, perplexity of the saved
checkpoint, ``layer_params`` and ``layer_macs`` (non-embedding parameters and transformer-layer MACs per segment,
hwsim.workload) and their fractions of the family's unpruned baseline. Cost columns: those of the pattern sweep
(hwsim.sweep.evaluate.COST_COLUMNS, from ``cost_many``). Fronts, pooled over both families so that a point on a
front beats every point of the other family too:

    pareto_params    perplexity vs non-embedding parameters (accelerator independent)
    pareto_latency   perplexity vs latency, per accelerator
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwsim.heads import format_heads
from hwsim.spec import ModelSpec
from hwsim.sweep.evaluate import COST_COLUMNS, cost_configs
from hwsim.sweep.pareto import LATENCY, PERPLEXITY, Objective, objective_matrix, pareto_mask
from hwsim.sweep.store import RESULTS, RESULTS_CSV  # the results store's table names
from hwsim.trainsweep.spec import TrainSweepSpec

JOBS_JSON = "jobs.json"  # the job records in one file, so a committed example needs no checkpoints
LAYER_PARAMS = Objective(column="layer_params")


def layer_macs(spec: ModelSpec, heads) -> int:
    """MACs of the transformer layers for one segment (output softmax excluded: pruning never touches it)."""
    from hwsim.workload import build_workload

    return int(sum(g.macs for layer in build_workload(spec, heads).layers for g in layer.gemms))


def total_layer_params(spec: ModelSpec, heads) -> int:
    """Non-embedding parameters of the whole model: ``hwsim.workload.layer_params`` (one layer) summed over layers."""
    from hwsim.workload import layer_params

    return int(sum(int(layer_params(spec, h)) for h in heads))


def model_frame(records: list[dict[str, Any]], specs: dict[str, ModelSpec]) -> pd.DataFrame:
    """One row per job: the job's settings, its heads, perplexity and sizes (fractions of its family's baseline)."""
    rows = []
    for r in records:
        job, spec = r["job"], specs[r["job"]["family"]]
        heads = tuple(r["heads_per_layer"])
        hist = r.get("history") or []
        rows.append({
            "job_id": job["job_id"], "family": job["family"], "lambda": job["lambda"], "variant": job["variant"],
            "is_baseline": job["lambda"] is None, "heads_per_layer": format_heads(heads),
            "heads_kept": int(sum(heads)), "heads_fraction": sum(heads) / (spec.n_heads * spec.n_layers),
            "perplexity": r["perplexity"], "bits_per_token": r["bits_per_token"], "tokens": r["tokens"],
            "model_params": r["model_params"], "layer_params": total_layer_params(spec, heads),
            "layer_macs": layer_macs(spec, heads), "gating_steps": hist[-1]["step"] if hist else 0,
            "gating_seconds": r.get("gating_seconds", 0.0), "checkpoint": r["checkpoint"],
        })
    frame = pd.DataFrame(rows)
    for fam, spec in specs.items():
        full = spec.full_heads()
        sel = frame["family"] == fam
        frame.loc[sel, "params_fraction"] = frame.loc[sel, "layer_params"] / total_layer_params(spec, full)
        frame.loc[sel, "macs_fraction"] = frame.loc[sel, "layer_macs"] / layer_macs(spec, full)
    frame["pareto_params"] = pareto_mask(objective_matrix(frame, (PERPLEXITY, LAYER_PARAMS)))
    return frame


def join_results(records: list[dict[str, Any]], manifest: dict[str, Any], spec: TrainSweepSpec) -> pd.DataFrame:
    """Every job's model on every accelerator of the grid, with the fronts (see the module docstring)."""
    specs = {fam: ModelSpec.from_dict(b["model_spec"], source="train-sweep manifest")
             for fam, b in manifest["inputs"]["baselines"].items()}
    models = model_frame(records, specs)
    parts = []
    for aid, point in enumerate(spec.accel.points()):
        for fam, mspec in specs.items():
            sel = models[models["family"] == fam]
            if sel.empty:
                continue
            heads = np.array([[int(h) for h in s.split(",")] for s in sel["heads_per_layer"]], dtype=np.int64)
            cost = cost_configs(mspec, heads, point.preset, dict(point.overrides), spec.batch)
            part = sel.copy()
            part["accel_id"], part["accel"] = aid, point.name
            for name in COST_COLUMNS:
                part[name] = cost[name]
            parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    frame["pareto_latency"] = False
    for _, idx in frame.groupby("accel_id").groups.items():
        sub = frame.loc[idx]
        frame.loc[idx, "pareto_latency"] = pareto_mask(objective_matrix(sub, (PERPLEXITY, LATENCY)))
    lead = ["job_id", "family", "lambda", "variant", "heads_per_layer", "perplexity", "layer_params", "layer_macs",
            "accel", "latency_s", "area_mm2", "energy_pj"]
    return frame[lead + [c for c in frame.columns if c not in lead]].reset_index(drop=True)


def portable_paths(value: Any, base: Path) -> Any:
    """``value`` with every absolute path string under ``base`` made relative to it (lists and dicts walked), so that
    committed tables and job records name checkpoints as the documented commands do (``tmp/...``), not by machine."""
    if isinstance(value, dict):
        return {k: portable_paths(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [portable_paths(v, base) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        path = Path(value)
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return value


def write_results(root: Path, frame: pd.DataFrame, manifest: dict[str, Any], records: list[dict[str, Any]]) -> Path:
    """results.parquet/.csv, jobs.json (every job record: heads, perplexity, gate history) and the final manifest.
    Paths under the working directory are written relative to it (``portable_paths``); the input hash excludes them."""
    from hwsim.sweep.store import ResultsStore, atomic_write_bytes

    cwd = Path.cwd().resolve()
    frame = frame.assign(checkpoint=[portable_paths(c, cwd) for c in frame["checkpoint"]])
    records, manifest = portable_paths(records, cwd), portable_paths(manifest, cwd)

    atomic_write_bytes(root / JOBS_JSON, json.dumps(records, indent=1).encode())
    store = ResultsStore(root, kind=manifest.get("kind", "train-sweep"))
    store.write_results(frame, manifest=manifest)  # results.parquet/.csv, then the manifest marked complete
    return store.results_path


def load_train_results(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any], list[dict[str, Any]]]:
    """(results table, manifest, job records) of a finished training sweep directory."""
    from hwsim.errors import SweepError

    root = Path(path)
    if root.is_file():
        root = root.parent
    mf = root / "manifest.json"
    if not mf.is_file():
        raise SweepError(f"{root} is not a training-sweep results directory (no manifest.json)")
    manifest = json.loads(mf.read_text())
    if manifest.get("kind") != "train-sweep":
        raise SweepError(f"{root} holds a pattern sweep, not a training sweep: use `hwsim report` for it")
    if not (root / RESULTS).is_file() and not (root / RESULTS_CSV).is_file():
        raise SweepError(f"training sweep in {root} is not finished (no {RESULTS}); run it again to resume")
    frame = pd.read_parquet(root / RESULTS) if (root / RESULTS).is_file() else pd.read_csv(root / RESULTS_CSV)
    records = json.loads((root / JOBS_JSON).read_text()) if (root / JOBS_JSON).is_file() else []
    return frame, manifest, records
