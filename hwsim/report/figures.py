"""Plotly figures of a sweep: objective scatters with the front drawn, the heads heat map, a per-layer breakdown.

Every scatter is split into three traces, named so that a reader (or the browser test) can count them: ``points``
(every point off the front), ``Pareto front`` (the front, drawn as a staircase line in front order) and
``baseline`` (the unpruned model, also present in one of the first two traces).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

# Above this many points a scatter uses WebGL (scattergl); below it SVG, which renders without a GPU.
WEBGL_THRESHOLD = 20_000

LABELS = {
    "perplexity": "validation perplexity",
    "params": "non-embedding parameters kept",
    "latency_s": "latency per segment (s)",
    "area_mm2": "area (mm²)",
    "energy_pj": "energy per segment (pJ)",
}

_HOVER = (
    "heads/layer: %{customdata[0]}<br>accel: %{customdata[1]}<br>perplexity: %{customdata[2]:.3f}"
    "<br>latency: %{customdata[3]:.4g} s<br>area: %{customdata[4]:.3f} mm²<br>energy: %{customdata[5]:.4g} pJ"
    "<br>source: %{customdata[7]}<br>row: %{customdata[6]}<extra>%{fullData.name}</extra>"
)


def _custom(frame: pd.DataFrame) -> np.ndarray:
    return np.column_stack([
        frame["heads_per_layer"].astype(str), frame["accel"].astype(str), frame["perplexity"].to_numpy(),
        frame["latency_s"].to_numpy(), frame["area_mm2"].to_numpy(), frame["energy_pj"].to_numpy(),
        frame.index.to_numpy(), frame["label"].astype(str),
    ]).astype(object)


def front_scatter(frame: pd.DataFrame, x: str, y: str, front_column: str, title: str) -> go.Figure:
    """``y`` against ``x`` for every point; the front (``front_column``) drawn as a line; the baseline starred."""
    scatter = go.Scattergl if len(frame) > WEBGL_THRESHOLD else go.Scatter
    on_front = frame[front_column].to_numpy(dtype=bool)
    rest, front = frame[~on_front], frame[on_front].sort_values([x, y])
    base = frame[frame["is_baseline"].to_numpy(dtype=bool)]
    fig = go.Figure()
    fig.add_trace(scatter(x=rest[x], y=rest[y], mode="markers", name="points", customdata=_custom(rest),
                          hovertemplate=_HOVER, marker=dict(size=5, color="rgba(90,110,140,0.45)")))
    fig.add_trace(scatter(x=front[x], y=front[y], mode="lines+markers", name="Pareto front", customdata=_custom(front),
                          hovertemplate=_HOVER, line=dict(shape="hv", color="#d62728"),
                          marker=dict(size=8, color="#d62728")))
    fig.add_trace(scatter(x=base[x], y=base[y], mode="markers", name="baseline", customdata=_custom(base),
                          hovertemplate=_HOVER, marker=dict(size=14, symbol="star", color="#2ca02c",
                                                            line=dict(width=1, color="black"))))
    # Log axes: latency spans orders of magnitude across array sizes, perplexity explodes as heads go.
    fig.update_layout(title=title, xaxis_title=LABELS.get(x, x), yaxis_title=LABELS.get(y, y),
                      xaxis_type="log", yaxis_type="log" if y == "perplexity" else "linear", height=480, margin=dict(l=70, r=20, t=50, b=60), legend=dict(x=0.7, y=0.98))
    return fig


def heads_heatmap(front: pd.DataFrame, n_layers: int, title: str) -> go.Figure:
    """Heads kept per layer (columns) for every front point (rows, best quality first)."""
    z = front[[f"h{i}" for i in range(n_layers)]].to_numpy()
    ylabels = [f"{r.heads_per_layer} @ {r.accel} (row {i})" for i, r in front.iterrows()]
    fig = go.Figure(go.Heatmap(z=z, x=[f"L{i}" for i in range(n_layers)], y=ylabels, colorscale="Viridis",
                               colorbar=dict(title="heads"), hovertemplate="%{y}<br>%{x}: %{z} heads<extra></extra>"))
    fig.update_layout(title=title, height=max(300, 22 * len(front) + 120), yaxis=dict(autorange="reversed"),
                      margin=dict(l=260, r=20, t=50, b=40))
    return fig


def layer_breakdown(layers: dict[str, dict[str, list[float]]], names: list[str], title: str) -> go.Figure:
    """Grouped bars per layer: latency, energy and DRAM + SRAM traffic, one group per point (chosen, baseline),
    and the DRAM bytes of each point split by operand (weights, activations, partial sums), stacked."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=4, subplot_titles=("latency (s)", "energy (pJ)", "traffic (bytes)",
                                                        "DRAM bytes by operand"))  # fmt: skip
    colors = ["#1f77b4", "#aaaaaa"]
    for k, (label, values) in enumerate(layers.items()):
        for col, key in enumerate(("latency_s", "energy_pj", "traffic_bytes"), start=1):
            fig.add_trace(go.Bar(x=names, y=values[key], name=label, legendgroup=label, showlegend=col == 1,
                                 marker_color=colors[k % 2]), row=1, col=col)
        for part, shade in (("weight", 1.0), ("activation", 0.6), ("psum", 0.3)):
            key = f"dram_{part}_bytes"
            if key in values:
                fig.add_trace(go.Bar(x=names, y=values[key], name=f"{label}: {part}s", offsetgroup=label,
                                     legendgroup=label, showlegend=False, marker_color=colors[k % 2],
                                     marker_opacity=shade, base=_stack_base(values, part)), row=1, col=4)  # fmt: skip
    fig.update_layout(title=title, barmode="group", height=420, margin=dict(l=60, r=20, t=80, b=60))
    return fig


def _stack_base(values: dict[str, list[float]], part: str) -> list[float]:
    """Bottom of each operand's bar in the stacked DRAM subplot (weights, then activations, then partial sums)."""
    below = {"weight": (), "activation": ("weight",), "psum": ("weight", "activation")}[part]
    n = len(values["dram_bytes"])
    return [sum(values[f"dram_{p}_bytes"][i] for p in below) for i in range(n)]
