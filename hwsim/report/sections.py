"""The report's answer sections: best design under a budget, knee of each front, hypervolumes, fold analysis.

Each section is computed once (``*_data``: plain dicts, also written to the report's JSON) and rendered as a small
HTML table (``*_html``).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from hwsim.report import toolkit
from hwsim.sweep.queries import BEST_OF, USEFUL_PERPLEXITY_FACTOR, Budget, best_under, knees, limits

DESIGN_COLUMNS = ("heads_per_layer", "accel", "numerics", "perplexity", "latency_s", "area_mm2", "energy_pj", "params", "macs",
                  "cycles", "dram_bytes", "latency_per_token_s", "energy_per_token_pj", "tokens_per_s",
                  "weights_on_chip")  # the last four: sweeps with the decode phase


def _design(frame: pd.DataFrame, row: int | None) -> dict[str, Any] | None:
    if row is None:
        return None
    r = frame.loc[row]
    out = {"row": int(row)}
    for c in DESIGN_COLUMNS:
        if c in frame:
            v = r[c]
            out[c] = v.item() if isinstance(v, np.generic) else v
    return out


def budget_data(frame: pd.DataFrame, budget: Budget) -> dict[str, Any]:
    best = best_under(frame, budget)
    return {"budget": budget.to_dict(), "describe": budget.describe(), "limits": limits(frame, budget),
            "best": {label: _design(frame, best[col]) for col, label in BEST_OF if col in best}}


def knee_data(frame: pd.DataFrame, has_perplexity: bool) -> dict[str, Any]:
    return {front: _design(frame, row) for front, row in knees(frame, has_perplexity).items()}


def _rows_table(table_id: str, first: str, rows: dict[str, dict[str, Any] | None]) -> str:
    present = {c for d in rows.values() if d for c in d}
    cols = ("row", *(c for c in DESIGN_COLUMNS if c in present or not present))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in (first, *cols))
    body = []
    for name, design in rows.items():
        if design is None:
            body.append(f"<tr><td>{html.escape(name)}</td><td colspan='{len(cols)}'>no design within the budget"
                        "</td></tr>")
        else:
            body.append(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{toolkit.cell(design.get(c, ''))}</td>"
                                                                     for c in cols) + "</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def budget_html(data: dict[str, Any] | None) -> str:
    if data is None:
        return ""
    return (f"<h2>Best design within the budget: {html.escape(data['describe'])}</h2>"
            + _rows_table("budget-table", "best for", data["best"]))


def knee_html(data: dict[str, Any]) -> str:
    return ("<h2>Knee point of each front</h2><p class='note'>The front point nearest the utopia point, each "
            "objective scaled to 0..1 over the front (perplexity as log perplexity), among the front points within "
            f"{USEFUL_PERPLEXITY_FACTOR:g}&times; the baseline's perplexity (the plotted range).</p>"
            + _rows_table("knee-table", "front", data))


def hypervolume_html(volumes: dict[str, Any] | None) -> str:
    if not volumes:
        return ""
    rows = "".join(f"<tr><td>{html.escape(f)}</td><td>{', '.join(v['objectives'])}</td><td>{v['hypervolume']:.4f}"
                   f"</td><td>{v['max_possible']:.4g}</td><td>{v['front_points']}</td></tr>"
                   for f, v in volumes.items())
    return ("<h2>Hypervolume of each front</h2><p class='note'>Normalised: log perplexity, each objective scaled to "
            "0..1 over all points of the sweep, reference point 1.1 per objective.</p><table id='hv-table'><thead>"
            "<tr><th>front</th><th>objectives</th><th>hypervolume</th><th>max</th><th>points</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def fold_data(manifest: dict[str, Any], frame: pd.DataFrame, chosen: int) -> dict[str, Any]:
    """Per accelerator of the sweep: per head count, MAC vs cycle savings and fold losses; per layer of the chosen
    point on its accelerator."""
    from hwsim.accel.config import accel_from_dict
    from hwsim.spec import ModelSpec
    from hwsim.sweep.folds import fold_table, layer_rows

    spec = ModelSpec.from_dict(manifest["inputs"]["model_spec"], source="sweep manifest")
    batch = manifest["spec"].get("batch", 1)
    names = {int(a): str(n) for a, n in zip(frame["accel_id"], frame["accel"])}
    per_accel = {}
    for aid, raw in enumerate(manifest["inputs"]["accelerators"]):
        if aid not in names:
            continue
        t = fold_table(spec, accel_from_dict(raw, source="sweep manifest"), batch)
        per_accel[names[aid]] = [{"heads": int(h), "mac_saving": t.mac_saving(h), "cycle_saving": t.cycle_saving(h),
                                  "lost_cycles": float(t.lost_cycles[h]), "aligned": bool(t.aligned[h]),
                                  "width_folds": int(t.width_folds[h])} for h in t.heads]
    row = frame.loc[chosen]
    heads = tuple(int(x) for x in str(row["heads_per_layer"]).split(","))
    accel = accel_from_dict(manifest["inputs"]["accelerators"][int(row["accel_id"])], source="sweep manifest")
    return {"per_accel": per_accel, "chosen": {"row": int(chosen), "accel": str(row["accel"]),
                                               "layers": layer_rows(spec, accel, heads, batch)}}


def fold_html(data: dict[str, Any]) -> str:
    def pct(v):
        return f"{100 * v:.1f}%"

    layers = "".join(
        f"<tr><td>L{r['layer']}</td><td>{r['heads']}</td><td>{pct(r['mac_saving'])}</td><td>{pct(r['cycle_saving'])}"
        f"</td><td>{r['lost_cycles']:.0f}</td><td>{r['width_folds']} / {r['full_width_folds']}</td>"
        f"<td>{'yes' if r['aligned'] else 'no: a partly empty fold'}</td></tr>" for r in data["chosen"]["layers"])
    out = [f"<h2>Fold-aware pruning: row {data['chosen']['row']} on {html.escape(data['chosen']['accel'])}</h2>",
           "<p class='note'>Per layer: MACs saved next to cycles saved (vs all heads), the cycles lost to fold "
           "rounding (cycles above the straight line between the nearest head counts that fill whole folds) and the "
           "folds of the head-width GEMMs.</p>",
           "<table id='fold-layers'><thead><tr><th>layer</th><th>heads</th><th>MACs saved</th><th>cycles saved</th>"
           f"<th>cycles lost to folds</th><th>head-width folds</th><th>fills whole folds</th></tr></thead><tbody>"
           f"{layers}</tbody></table>", "<h3>Where pruning pays, per accelerator (one layer, h heads kept)</h3>"]
    for name, rows in data["per_accel"].items():
        pays = [r["heads"] for r in rows if r["aligned"]]
        cells = "".join(f"<tr><td>{r['heads']}</td><td>{pct(r['mac_saving'])}</td><td>{pct(r['cycle_saving'])}</td>"
                        f"<td>{r['lost_cycles']:.0f}</td><td>{'pays' if r['aligned'] else 'partly empty fold'}</td>"
                        "</tr>" for r in rows)
        out.append(f"<details><summary>{html.escape(name)}: head counts that fill whole folds: "
                   f"{', '.join(map(str, pays))}</summary><table class='fold-accel'><thead><tr><th>heads</th>"
                   "<th>MACs saved</th><th>cycles saved</th><th>cycles lost to folds</th><th>verdict</th></tr>"
                   f"</thead><tbody>{cells}</tbody></table></details>")
    return "".join(out)


def bits_data(frame: pd.DataFrame) -> dict[str, Any] | None:
    """Perplexity of each heads vector at each numerics of the sweep (what bit widths cost in perplexity)."""
    if "numerics" not in frame or not frame["perplexity"].notna().any():
        return None
    table = frame.pivot_table(index="heads_per_layer", columns="numerics", values="perplexity", aggfunc="first")
    if "perplexity_float" in frame and "float" not in table:
        table["float"] = frame.groupby("heads_per_layer")["perplexity_float"].first()
    order = sorted(table.columns, key=_precision_first)
    table = table[order].sort_values(order[0])
    return {"numerics": order, "rows": {heads: {label: float(v) for label, v in row.items() if np.isfinite(v)}
                                        for heads, row in table.iterrows()}}  # fmt: skip


def _precision_first(label: str) -> tuple:
    """float first, then the widest weights and activations (the reference the others are compared with)."""
    import re

    match = re.fullmatch(r"W(\d+)A(\d+)(.*)", label)
    if match is None:
        return (label != "float", 0, 0, label)
    return (True, -int(match.group(1)), -int(match.group(2)), label)


def bits_html(data: dict[str, Any] | None) -> str:
    if not data:
        return ""
    labels = data["numerics"]
    head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
    rel = "".join(f"<th>{html.escape(label)} / {html.escape(labels[0])}</th>" for label in labels[1:])
    body = []
    for heads, values in data["rows"].items():
        cells = "".join(f"<td>{values[label]:.2f}</td>" if label in values else "<td></td>" for label in labels)
        ratios = "".join(f"<td>{values[label] / values[labels[0]]:.4f}</td>" if label in values and labels[0] in values
                         else "<td></td>" for label in labels[1:])  # fmt: skip
        body.append(f"<tr><td>{html.escape(str(heads))}</td>{cells}{ratios}</tr>")
    return ("<h2>What bits cost in perplexity</h2><p class='note'>Perplexity of each heads vector as every GEMM "
            "computes at each numerics of the sweep (weights per output channel, activations per token, exact integer "
            "accumulation; hwsim.nn.quant).</p><table id='bits-table'><thead><tr><th>heads per layer</th>"
            f"{head}{rel}</tr></thead><tbody>{''.join(body)}</tbody></table>")
