"""``hwsim report``: one self-contained HTML file (plotly.js inlined, works offline) plus CSV/JSON export beside it.

Sections: the perplexity-latency and perplexity-area scatters with their fronts and the unpruned baseline, a heat map
of heads kept per layer on the 3-D front, the per-layer latency / energy / traffic breakdown of one chosen point next
to the baseline on the same accelerator, and a table of the 3-D front; then the answer sections
(``hwsim.report.sections``): the best design under a budget (``--max-perplexity`` ...), the knee of each front,
the hypervolume of each front, and the fold analysis (MACs vs cycles saved per layer, where pruning pays). The chosen point defaults to the knee of the
3-D front: the front point nearest the utopia point after scaling each objective to 0..1 over the front
(perplexity on a log scale, i.e. as bits per token), among its points in the useful perplexity range
(``hwsim.sweep.queries.knee_row``).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hwsim.errors import SweepError
from hwsim.report import sections, toolkit
from hwsim.sweep.queries import Budget
from hwsim.sweep.pareto import fronts_for, has_decode
from hwsim.sweep.store import atomic_write_bytes, atomic_write_frame, load_results

TABLE_COLUMNS = ("heads_per_layer", "accel", "numerics", "perplexity", "params", "macs", "latency_s", "area_mm2",
                 "energy_pj", "pareto_latency", "pareto_area")


@dataclass(frozen=True, kw_only=True)
class ReportFiles:
    html: Path
    csv: Path
    json: Path
    chosen_row: int
    answers: dict[str, Any]  # budget answers, knees, hypervolumes, folds (also in the JSON)


def knee_row(frame: pd.DataFrame, has_perplexity: bool) -> int:
    """Row of the 3-D front point closest to the utopia point (objectives scaled to 0..1 over the front, log ppl)."""
    from hwsim.sweep.queries import knee_row as front_knee

    front3d = next(f for f in fronts_for(has_perplexity) if f.column == "pareto_3d")
    row = front_knee(frame, front3d)
    return int(frame.index[0]) if row is None else row


def layer_costs(manifest: dict[str, Any], heads: tuple[int, ...], accel_id: int) -> dict[str, list[float]]:
    """Per-layer latency, energy and traffic of one point, recomputed with the scalar cost model."""
    from hwsim.accel.config import accel_from_dict
    from hwsim.accel.cost import model_cost
    from hwsim.spec import ModelSpec
    from hwsim.workload import build_workload

    spec = ModelSpec.from_dict(manifest["inputs"]["model_spec"], source="sweep manifest")
    # The resolved configuration stored with the sweep (not the preset name: a preset TOML may have moved since).
    accel = accel_from_dict(manifest["inputs"]["accelerators"][accel_id], source="sweep manifest")
    cost = model_cost(build_workload(spec, heads, manifest["spec"].get("batch", 1)), accel)
    return {
        "names": [lc.name for lc in cost.layers],
        "latency_s": [float(lc.latency_s) for lc in cost.layers],
        "energy_pj": [float(lc.energy_pj) for lc in cost.layers],
        "traffic_bytes": [float(lc.sram_bytes + lc.dram_bytes) for lc in cost.layers],
        "dram_bytes": [float(lc.dram_bytes) for lc in cost.layers],
        # DRAM bytes by operand: parameters, activations, spilled partial sums (they add up to dram_bytes)
        "dram_weight_bytes": [float(lc.dram_weight_bytes) for lc in cost.layers],
        "dram_activation_bytes": [float(lc.dram_activation_bytes) for lc in cost.layers],
        "dram_psum_bytes": [float(lc.dram_psum_bytes) for lc in cost.layers],
    }


def decode_layer_costs(manifest: dict[str, Any], heads: tuple[int, ...], accel_id: int) -> dict[str, Any]:
    """Per-layer latency and DRAM bytes by class of one point's decode step (per generated token)."""
    from hwsim.accel.config import accel_from_dict
    from hwsim.accel.generation import byte_classes, decode_cost
    from hwsim.spec import ModelSpec

    spec = ModelSpec.from_dict(manifest["inputs"]["model_spec"], source="sweep manifest")
    accel = accel_from_dict(manifest["inputs"]["accelerators"][accel_id], source="sweep manifest")
    batch = manifest["spec"].get("batch", 1)
    cost = decode_cost(spec, heads, accel, batch, manifest["spec"].get("context"))
    per_layer = [byte_classes(lc) for lc in cost.layers]
    return {
        "names": [lc.name for lc in cost.layers],
        "latency_s": [float(lc.latency_s) for lc in cost.layers],
        "energy_pj": [float(lc.energy_pj) / batch for lc in cost.layers],
        "classes": {name: [c[name] / batch for c in per_layer] for name in per_layer[0]},
        "context": cost.step.cached,
        "weights_on_chip": cost.kept.weights,
        "cache_location": "on chip" if cost.kept.cache else "DRAM",
    }


def _heads(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in str(text).split(","))


def render_html(frame: pd.DataFrame, manifest: dict[str, Any], chosen: int, series: dict[str, dict[str, list]],
                exports: tuple[str, str], answers_html: str = "", decode_series: dict | None = None) -> str:
    from hwsim.report.figures import decode_breakdown, front_scatter, heads_heatmap, layer_breakdown

    has_ppl = bool(frame["perplexity"].notna().any())
    quality = "perplexity" if has_ppl else "params"
    n_layers = int(manifest["inputs"]["model_spec"]["n_layers"])
    front3d = frame[frame["pareto_3d"].to_numpy(dtype=bool)]
    front3d = front3d.sort_values(quality, ascending=has_ppl)
    row = frame.loc[chosen]
    names = next(iter(series.values()))["names"]
    figs = [
        front_scatter(frame, "latency_s", quality, "pareto_latency", f"{quality} vs latency"),
        front_scatter(frame, "area_mm2", quality, "pareto_area", f"{quality} vs area"),
        heads_heatmap(front3d, n_layers, f"heads kept per layer on the 3-D front ({quality}, latency, area)"),
        layer_breakdown(series, names, f"per-layer breakdown of row {chosen} on {row['accel']}"),
    ]
    decode_html = ""
    if decode_series:
        context = next(iter(decode_series.values()))["context"]
        figs += [
            front_scatter(frame, "latency_per_token_s", quality, "pareto_decode_latency",
                          f"decode: {quality} vs latency per token"),
            front_scatter(frame, "energy_per_token_pj", quality, "pareto_decode_energy",
                          f"decode: {quality} vs energy per token"),
            decode_breakdown(decode_series, names, f"decode step ({context} cached tokens, batch "
                             f"{manifest['spec'].get('batch', 1)}) of row {chosen} on {row['accel']}: per layer"),
        ]  # fmt: skip
    divs = toolkit.figure_divs(figs)
    if decode_series:
        decode_html = (f"<h2>Generation: one decode step per token</h2><p class='note'>Each point also costed as a "
                       f"decode step: one new token per sequence after {context} cached tokens (keys/values cached, "
                       f"position keys precomputed); what fits stays on chip between tokens. tokens/s = batch / "
                       f"latency per token, so its front is the latency front.</p>"
                       f"<div class=\"grid\"><div>{divs[4]}</div><div>{divs[5]}</div></div><div>{divs[6]}</div>")
    inputs = manifest["inputs"]
    note = "" if has_ppl else ('<p class="note">Cost-only sweep (no checkpoint): kept parameters stand in for '
                               "perplexity on the quality axis and in the fronts.</p>")
    summary = (f"{len(frame)} points: {frame['config_id'].nunique()} pruning configurations x "
               f"{frame['accel_id'].nunique()} accelerators; model {html.escape(str(inputs['model_spec'].get('name')))}"
               f" ({inputs['model_spec']['n_layers']} layers x {inputs['model_spec']['n_heads']} heads); checkpoint "
               f"{html.escape(str(manifest['spec'].get('checkpoint') or 'none'))}.")
    front_table = toolkit.table(front3d, [c for c in TABLE_COLUMNS if c in front3d], "front-table", "row")
    body = f"""<h1>hwsim: perplexity vs hardware cost of head-pruned models</h1>
<p>{summary} Exports: <a href="{html.escape(exports[0])}">CSV (all points)</a>,
<a href="{html.escape(exports[1])}">JSON (front, baseline, breakdown)</a>.</p>{note}
<div class="grid"><div>{divs[0]}</div><div>{divs[1]}</div></div>
<div>{divs[2]}</div><div>{divs[3]}</div>
{decode_html}
{answers_html}
<h2>3-D front ({quality}, latency, area): {len(front3d)} points</h2>{front_table}"""
    return toolkit.page("hwsim Pareto report", body, inline_plotlyjs=True)


def write_report(results: str | Path, html_path: str | Path, point: int | None = None,
                 budget: Budget | None = None) -> ReportFiles:
    """Write ``html_path`` plus ``.csv`` (every point) and ``.json`` (front, baseline, chosen breakdown) beside it."""
    frame, manifest = load_results(results)
    if frame.empty:
        raise SweepError(f"sweep results {results} hold no points")
    has_ppl = bool(frame["perplexity"].notna().any())
    if point is not None and point not in frame.index:
        raise SweepError(f"--point {point} is not a row of the results (0..{len(frame) - 1})")
    chosen = knee_row(frame, has_ppl) if point is None else int(point)
    out = Path(html_path)
    csv_path, json_path = out.with_suffix(".csv"), out.with_suffix(".json")
    row = frame.loc[chosen]
    accel_id = int(row["accel_id"])
    series = {f"chosen: {row['heads_per_layer']}": layer_costs(manifest, _heads(row["heads_per_layer"]), accel_id)}
    decode_series = None
    if has_decode(frame):
        decode_series = {f"chosen: {row['heads_per_layer']}":
                         decode_layer_costs(manifest, _heads(row["heads_per_layer"]), accel_id)}  # fmt: skip
    if frame["is_baseline"].any():
        full = frame.loc[frame["is_baseline"].to_numpy(dtype=bool), "heads_per_layer"].iloc[0]
        series["baseline"] = layer_costs(manifest, _heads(full), accel_id)
        if decode_series is not None:
            decode_series["baseline"] = decode_layer_costs(manifest, _heads(full), accel_id)
    export = {
        "summary": {"points": int(len(frame)), "has_perplexity": has_ppl, "input_hash": manifest.get("input_hash"),
                    "model": manifest["inputs"]["model_spec"].get("name"),
                    "checkpoint": manifest["spec"].get("checkpoint")},
        "fronts": {c: frame.index[frame[c].to_numpy(dtype=bool)].tolist()
                   for c in frame.columns if c.startswith("pareto_")},
        "front_3d": json.loads(frame[frame["pareto_3d"]].to_json(orient="records")),
        "baseline": json.loads(frame[frame["is_baseline"]].to_json(orient="records")),
        "chosen": {"row": chosen, **json.loads(row.to_json()), "layers": next(iter(series.values()))},
        "baseline_layers": series.get("baseline"),
        "decode_layers": decode_series,
    }
    answers = {
        "budget": sections.budget_data(frame, budget) if budget is not None and not budget.is_empty else None,
        "knees": sections.knee_data(frame, has_ppl),
        "hypervolume": manifest.get("hypervolume"),
        "folds": sections.fold_data(manifest, frame, chosen),
        "bits": sections.bits_data(frame),
    }
    export.update(answers)
    answers_html = (sections.budget_html(answers["budget"]) + sections.knee_html(answers["knees"])
                    + sections.bits_html(answers["bits"]) + sections.hypervolume_html(answers["hypervolume"])
                    + sections.fold_html(answers["folds"]))
    page = render_html(frame, manifest, chosen, series, (csv_path.name, json_path.name), answers_html, decode_series)
    atomic_write_frame(csv_path, frame.reset_index(names="row"))
    atomic_write_bytes(json_path, json.dumps(export, indent=1, default=_json_default).encode())
    atomic_write_bytes(out, page.encode())
    return ReportFiles(html=out, csv=csv_path, json=json_path, chosen_row=chosen, answers=answers)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
