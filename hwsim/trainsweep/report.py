"""HTML report of a training sweep: what the paper reports for learned layer-wise pruning, plus hardware cost.

Sections: (1) learned heads per layer per lambda, one heat map per family (as the per-layer counts of Shim et al.);
(2) perplexity vs non-embedding parameters and vs latency on one accelerator, both families on one plot, unpruned
baselines starred, the pooled front drawn; (3) the ablation: perplexity and sparsity per training-method variant and
the heads open over training; (4) tables: every job, and every model's cost on every accelerator. The numbers are in
HTML tables too, so the page reads without JavaScript.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from hwsim.errors import SweepError
from hwsim.heads import format_heads
from hwsim.report import toolkit

COLORS = {"all_attention": "#1f77b4", "transformer_xl": "#ff7f0e"}
NAMES = {"all_attention": "All-Attention", "transformer_xl": "Transformer-XL"}
PLOTLYJS = ("inline", "directory", "cdn")


def heads_heatmaps(models: pd.DataFrame) -> list[go.Figure]:
    """Per family: rows = lambda (full variant), columns = layers, cell = heads kept."""
    figs = []
    for fam, sub in models[(models["variant"] == "full") & ~models["is_baseline"]].groupby("family"):
        sub = sub.sort_values("lambda")
        z = [[int(h) for h in s.split(",")] for s in sub["heads_per_layer"]]
        y = [f"λ={lam:g}" for lam in sub["lambda"]]
        x = [f"layer {i}" for i in range(len(z[0]))]
        fig = go.Figure(go.Heatmap(z=z, x=x, y=y, text=z, texttemplate="%{text}", colorscale="Blues",
                                   colorbar=dict(title="heads"), zmin=0))
        fig.update_layout(title=f"{NAMES.get(fam, fam)}: heads kept per layer", height=120 + 40 * len(y),
                          margin=dict(l=80, r=20, t=50, b=40))
        figs.append(fig)
    return figs


def family_scatter(frame: pd.DataFrame, x: str, title: str, xlabel: str) -> go.Figure:
    """Perplexity against ``x`` for both families (lines by lambda), baselines starred, pooled front dashed."""
    fig = go.Figure()
    for fam, sub in frame.groupby("family"):
        pruned = sub[~sub["is_baseline"] & (sub["variant"] == "full")].sort_values(x)
        base = sub[sub["is_baseline"]]
        fig.add_trace(go.Scatter(x=pruned[x], y=pruned["perplexity"], mode="lines+markers+text",
                                 name=f"{NAMES.get(fam, fam)} pruned", text=[f"λ={v:g}" for v in pruned["lambda"]],
                                 textposition="top center", marker=dict(color=COLORS.get(fam), size=9)))
        fig.add_trace(go.Scatter(x=base[x], y=base["perplexity"], mode="markers", name=f"{NAMES.get(fam, fam)} unpruned",
                                 marker=dict(color=COLORS.get(fam), symbol="star", size=15)))
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title="validation perplexity", height=460,
                      margin=dict(l=60, r=20, t=50, b=50))
    return fig


def ablation_figure(records: list[dict[str, Any]]) -> go.Figure | None:
    """Heads open (all layers) over the gating steps, one line per job of the ablation's variants and lambdas."""
    jobs = [r for r in records if r["job"]["lambda"] is not None]
    if len({r["job"]["variant"] for r in jobs}) < 2:
        return None
    fig = go.Figure()
    ablated = {(r["job"]["family"], r["job"]["lambda"]) for r in jobs if r["job"]["variant"] != "full"}
    for r in jobs:
        key = (r["job"]["family"], r["job"]["lambda"])
        if key not in ablated:
            continue
        hist = r.get("history") or []
        fig.add_trace(go.Scatter(x=[h["step"] for h in hist], y=[sum(h["heads_open"]) for h in hist],
                                 mode="lines+markers", name=r["job"]["job_id"],
                                 customdata=[format_heads(h["heads_open"]) for h in hist],
                                 hovertemplate="step %{x}: %{y} heads open (%{customdata})"))
    fig.update_layout(title="ablation: heads open over the gating phase", xaxis_title="gating step",
                      yaxis_title="heads open (all layers)", height=420, margin=dict(l=60, r=20, t=50, b=50))
    return fig


def claim_rows(models: pd.DataFrame) -> list[dict[str, Any]]:
    """The paper's claim at this scale: each All-Attention model (pruned or not) against the Transformer-XL perplexity
    at the same non-embedding parameter count, linearly interpolated between the two nearest TXL models (pruned or
    not, full variant). Points more than 1 % outside the TXL models' parameter range are not compared."""
    import numpy as np

    keep = models["is_baseline"] | (models["variant"] == "full")
    txl = models[keep & (models["family"] == "transformer_xl")].sort_values("layer_params")
    out = []
    if txl.empty:
        return out
    xs, ys = txl["layer_params"].to_numpy(dtype=float), txl["perplexity"].to_numpy(dtype=float)
    for _, row in models[keep & (models["family"] == "all_attention")].sort_values("layer_params").iterrows():
        p = float(row["layer_params"])
        inside = 0.99 * xs.min() <= p <= 1.01 * xs.max()  # equal-size baselines differ by a few parameters (d_ff rounding)
        ref = float(np.interp(p, xs, ys)) if inside else float("nan")
        out.append({"job_id": row["job_id"], "layer_params": int(p), "perplexity": float(row["perplexity"]),
                    "txl_perplexity_at_same_params": ref,
                    "all_attention_better": bool(row["perplexity"] < ref) if inside else None})
    return out


def _stability(records: list[dict[str, Any]]) -> dict[str, str]:
    """Per job: heads open per layer at each validation of the gating phase, as text ("8,8,8,8 -> 6,7,5,4")."""
    return {r["job"]["job_id"]: " → ".join(f"{h['step']}: " + format_heads(h["heads_open"]) for h in r["history"])
            for r in records if r.get("history")}


JOB_COLUMNS = ["job_id", "family", "lambda", "variant", "heads_per_layer", "heads_kept", "perplexity", "layer_params",
               "params_fraction", "layer_macs", "macs_fraction", "gating_steps", "pareto_params"]
COST_TABLE_COLUMNS = ["job_id", "accel", "heads_per_layer", "perplexity", "latency_s", "energy_pj", "area_mm2",
                "dram_bytes", "pareto_latency"]


def render(frame: pd.DataFrame, manifest: dict[str, Any], records: list[dict[str, Any]], accel: str | None,
           plotlyjs: str) -> str:
    accels = list(dict.fromkeys(frame["accel"]))
    accel = accel or accels[0]
    if accel not in accels:
        raise SweepError(f"accelerator {accel!r} is not in the sweep (choose one of: {', '.join(accels)})")
    models = frame[frame["accel"] == accel].sort_values(["family", "variant", "lambda"], na_position="first")
    figs = heads_heatmaps(models)
    figs.append(family_scatter(models, "layer_params", "perplexity vs parameters (both families)",
                               "non-embedding parameters"))
    figs.append(family_scatter(models, "latency_s", f"perplexity vs latency on {accel}", "latency per segment (s)"))
    abl = ablation_figure(records)
    if abl is not None:
        figs.append(abl)
    divs = toolkit.figure_divs(figs, {"inline": True, "directory": "directory", "cdn": "cdn"}[plotlyjs])
    stab = _stability(records)
    stab_rows = "".join(f"<tr><td>{html.escape(k)}</td><td style='text-align:left'>{html.escape(v)}</td></tr>"
                        for k, v in stab.items())
    claims = pd.DataFrame(claim_rows(models))
    claim_html = (toolkit.table(claims, list(claims.columns), "claim-table") if not claims.empty
                  else "<p>(needs both families)</p>")
    spec = manifest.get("spec", {})
    summary = (f"{models['job_id'].nunique()} models ({', '.join(NAMES.get(f, f) for f in models['family'].unique())}),"
               f" λ = {', '.join(f'{v:g}' for v in spec.get('lambdas', []))}, gating steps "
               f"{spec.get('steps') or 'as in the recipe'}, evaluated on the {html.escape(str(spec.get('split')))} split"
               f" ({int(models['tokens'].iloc[0])} tokens); {len(accels)} accelerators.")
    cost_table = toolkit.table(frame.sort_values(["accel", "job_id"]), COST_TABLE_COLUMNS, "cost-table")
    body = f"""<h1>hwsim: learned layer-wise head pruning vs Transformer-XL</h1>
<p>{summary} Unpruned baselines are starred; lines join the λ values of one family.</p>
<div class="grid">{''.join(f'<div>{d}</div>' for d in divs)}</div>
<h2>Models (costs on {html.escape(accel)})</h2>{toolkit.table(models, JOB_COLUMNS, "jobs-table")}
<h2>The paper's claim at this scale: All-Attention vs Transformer-XL at equal parameters</h2>
<p class="note">TXL perplexity interpolated linearly in non-embedding parameters between the two nearest TXL models.</p>
{claim_html}
<h2>Heads open per layer over the gating phase (step: heads per layer)</h2><table id="stability-table">{stab_rows}</table>
<h2>Accelerator cost of every model</h2>{cost_table}"""
    return toolkit.page("hwsim training sweep", body)


def summary_markdown(frame: pd.DataFrame, accel: str | None = None) -> str:
    """A Markdown table per model (family, lambda, variant, heads per layer, parameters, perplexity, latency on
    ``accel``) plus the equal-parameter comparison, for a README."""
    accel = accel or frame["accel"].iloc[0]
    models = frame[frame["accel"] == accel].sort_values(["family", "variant", "lambda"], na_position="first")
    lines = [f"| family | λ | variant | heads per layer | heads | non-emb. params | perplexity | latency on {accel} (µs) |",
             "|---|---|---|---|---|---|---|---|"]
    for _, r in models.iterrows():
        lam = "—" if r["is_baseline"] else f"{r['lambda']:g}"
        lines.append(f"| {NAMES.get(r['family'], r['family'])} | {lam} | {r['variant']} | {r['heads_per_layer']} | "
                     f"{int(r['heads_kept'])} | {int(r['layer_params']):,} ({r['params_fraction']:.0%}) | "
                     f"{r['perplexity']:.2f} | {r['latency_s'] * 1e6:.1f} |")
    claims = claim_rows(models)
    if claims:
        lines += ["", "| All-Attention model | non-emb. params | perplexity | TXL perplexity at equal params | AA better |",
                  "|---|---|---|---|---|"]
        for c in claims:
            ref = c["txl_perplexity_at_same_params"]
            lines.append(f"| {c['job_id']} | {c['layer_params']:,} | {c['perplexity']:.2f} | "
                         f"{'outside TXL range' if ref != ref else f'{ref:.2f}'} | "
                         f"{'—' if c['all_attention_better'] is None else ('yes' if c['all_attention_better'] else 'no')} |")
    return "\n".join(lines) + "\n"


def seed_rows(frames: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Several seeds of one sweep (label -> results table): per (family, lambda, variant) the perplexity and heads
    kept of every seed, their mean and spread (max - min), and per seed whether All-Attention beat Transformer-XL at
    equal parameters (``claim_rows``) for that model."""
    per_seed = {}
    for label, frame in frames.items():
        models = frame[frame["accel_id"] == frame["accel_id"].min()]
        better = {c["job_id"]: c["all_attention_better"] for c in claim_rows(models)}
        per_seed[label] = {r["job_id"]: (r, better.get(r["job_id"])) for _, r in models.iterrows()}
    first = next(iter(frames.values()))
    order = first[first["accel_id"] == first["accel_id"].min()].sort_values(
        ["family", "variant", "lambda"], na_position="first")["job_id"]
    out = []
    for job_id in dict.fromkeys([*order, *(j for seeds in per_seed.values() for j in seeds)]):
        hits = {label: seeds[job_id] for label, seeds in per_seed.items() if job_id in seeds}
        ppl = [float(r["perplexity"]) for r, _ in hits.values()]
        row, _ = next(iter(hits.values()))
        out.append({"job_id": job_id, "family": row["family"], "lambda": row["lambda"], "variant": row["variant"],
                    "perplexity": {k: float(r["perplexity"]) for k, (r, _) in hits.items()},
                    "heads_kept": {k: int(r["heads_kept"]) for k, (r, _) in hits.items()},
                    "layer_params": {k: int(r["layer_params"]) for k, (r, _) in hits.items()},
                    "aa_better": {k: b for k, (_, b) in hits.items()},
                    "mean": sum(ppl) / len(ppl), "spread": max(ppl) - min(ppl)})
    return out


def seeds_markdown(frames: dict[str, pd.DataFrame]) -> str:
    """``seed_rows`` as a Markdown table (for a README): perplexity (heads kept) per seed, mean, spread."""
    labels = list(frames)
    lines = ["| family | λ | variant | " + " | ".join(f"{k}: perplexity (heads)" for k in labels)
             + " | mean | spread | AA better than TXL at equal params |",
             "|---|---|---|" + "---|" * len(labels) + "---|---|---|"]
    for r in seed_rows(frames):
        lam = "—" if r["variant"] == "unpruned" else f"{r['lambda']:g}"
        cells = [f"{r['perplexity'][k]:.2f} ({r['heads_kept'][k]})" if k in r["perplexity"] else "—" for k in labels]
        verdict = ", ".join("—" if r["aa_better"].get(k) is None else ("yes" if r["aa_better"][k] else "no")
                            for k in labels) if r["family"] == "all_attention" else ""
        lines.append(f"| {NAMES.get(r['family'], r['family'])} | {lam} | {r['variant']} | {' | '.join(cells)} | "
                     f"{r['mean']:.2f} | {r['spread']:.2f} | {verdict} |")
    return "\n".join(lines) + "\n"


def write_train_report(results: str | Path, html_path: str | Path, accel: str | None = None,
                       plotlyjs: str = "inline") -> Path:
    """Write the report of the training sweep in ``results`` to ``html_path`` (atomically), with its data beside it
    when it is written elsewhere: ``<stem>.csv`` (every model on every accelerator) and ``<stem>.jobs.json`` (job
    records with the gate history)."""
    import json

    from hwsim.sweep.store import atomic_write_bytes, atomic_write_frame
    from hwsim.trainsweep.results import load_train_results

    if plotlyjs not in PLOTLYJS:
        raise SweepError(f"--plotlyjs must be one of {', '.join(PLOTLYJS)}, got {plotlyjs!r}")
    frame, manifest, records = load_train_results(results)
    page = render(frame, manifest, records, accel, plotlyjs)
    out = Path(html_path)
    root = Path(results) if Path(results).is_dir() else Path(results).parent
    if out.parent.resolve() != root.resolve():  # inside the results directory the data is there already
        atomic_write_frame(out.with_suffix(".csv"), frame)
        atomic_write_bytes(out.with_suffix(".jobs.json"), json.dumps(records, indent=1).encode())
    atomic_write_bytes(out, page.encode())
    if plotlyjs == "directory":
        import plotly.offline

        atomic_write_bytes(out.parent / "plotly.min.js", plotly.offline.get_plotlyjs().encode())
    return out
