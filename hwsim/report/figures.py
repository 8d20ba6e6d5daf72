"""Plotly figures of a sweep: objective scatters with the front drawn, the heads heat map, a per-layer breakdown.

Every scatter is split into traces named so that a reader (or the browser test) can count them: ``points`` (every
point off the front), ``Pareto front`` (the front, drawn as a staircase line in front order), ``baseline`` (the
unpruned model, also present in one of the other traces), ``outliers (clipped)`` (points above the perplexity axis'
useful range, drawn at its top edge as triangles; their hover shows the true value) and ``cheapest under budget``
(the cheapest designs within the perplexity budget picked with the slider under the plot).

The perplexity axis is clipped to its useful range: from the lowest perplexity to ``CLIP_FACTOR`` x the baseline's
(a few configurations at perplexity 20,000+ would otherwise squash the region architects care about). Log axes get
1-2-5 tick values with SI labels instead of plotly's bare mantissas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from hwsim.sweep.queries import USEFUL_PERPLEXITY_FACTOR, useful_perplexity_limit

# Above this many points a scatter uses WebGL (scattergl); below it SVG, which renders without a GPU.
WEBGL_THRESHOLD = 20_000
# Perplexity axis: the useful range of hwsim.sweep.queries (4 x the baseline); points above are clipped outliers.
CLIP_FACTOR = USEFUL_PERPLEXITY_FACTOR
# Perplexity budgets of the slider, as increases over the baseline.
BUDGET_STEPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
# Designs highlighted per budget step: the cheapest few within the budget.
HIGHLIGHT = 5

LABELS = {
    "perplexity": "validation perplexity",
    "params": "non-embedding parameters kept",
    "latency_s": "latency per segment (s)",
    "area_mm2": "area (mm²)",
    "energy_pj": "energy per segment (pJ)",
    "latency_per_token_s": "decode: latency per token (s)",
    "energy_per_token_pj": "decode: energy per token (pJ)",
}

_HOVER = (
    "heads/layer: %{customdata[0]}<br>accel: %{customdata[1]} (%{customdata[8]})<br>perplexity: %{customdata[2]:.3f}"
    "<br>latency: %{customdata[3]:.4g} s<br>area: %{customdata[4]:.3f} mm²<br>energy: %{customdata[5]:.4g} pJ"
    "<br>source: %{customdata[7]}<br>row: %{customdata[6]}<extra>%{fullData.name}</extra>"
)


def _custom(frame: pd.DataFrame) -> np.ndarray:
    return np.column_stack([
        frame["heads_per_layer"].astype(str), frame["accel"].astype(str), frame["perplexity"].to_numpy(),
        frame["latency_s"].to_numpy(), frame["area_mm2"].to_numpy(), frame["energy_pj"].to_numpy(),
        frame.index.to_numpy(), frame["label"].astype(str), _numerics(frame),
    ]).astype(object)


# Marker shape per numerics (bit widths) of a point, in order of first appearance.
SYMBOLS = ("circle", "diamond", "square", "triangle-down", "cross", "x", "pentagon", "star-square")


def _numerics(frame: pd.DataFrame) -> np.ndarray:
    return frame["numerics"].astype(str).to_numpy() if "numerics" in frame else np.full(len(frame), "float")


def numerics_symbols(frame: pd.DataFrame) -> dict[str, str]:
    """numerics label -> marker symbol, for every label of the sweep."""
    labels = list(dict.fromkeys(_numerics(frame)))
    return {label: SYMBOLS[i % len(SYMBOLS)] for i, label in enumerate(labels)}


def log_ticks(low: float, high: float, max_ticks: int = 9) -> list[float]:
    """Readable tick values for a log axis over [low, high]: 1-2-5 per decade, thinned to at most ``max_ticks``."""
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 or high < low:
        return []
    for mantissas in ((1, 1.5, 2, 3, 4, 5, 6, 7, 8), (1, 2, 3, 5, 7), (1, 2, 5), (1, 3), (1,)):
        decades = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
        ticks = [m * 10.0**e for e in decades for m in mantissas if low <= m * 10.0**e <= high]
        if 2 <= len(ticks) <= max_ticks:
            return ticks
    if len(ticks) < 2:  # a range narrower than the 1-2-5 grid: five values spread over it, 3 significant digits
        return sorted({float(f"{v:.3g}") for v in np.geomspace(low, high, 5)})
    step = max(1, int(np.ceil(len(ticks) / max_ticks)))
    return ticks[::step]


def _si(value: float) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"),
                          (1e-12, "p")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _log_axis(values: pd.Series, low: float | None = None, high: float | None = None) -> dict:
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.empty:
        return dict(type="log")
    lo, hi = low or float(finite.min()), high or float(finite.max())
    ticks = log_ticks(lo, hi)
    margin = 0.04 * max(np.log10(hi) - np.log10(lo), 0.05)
    return dict(type="log", tickvals=ticks, ticktext=[_si(t) for t in ticks],
                range=[np.log10(lo) - margin, np.log10(hi) + margin])


def clip_limit(frame: pd.DataFrame, y: str) -> float | None:
    """Upper end of the perplexity axis (the useful range of hwsim.sweep.queries), None when nothing needs clipping."""
    limit = useful_perplexity_limit(frame) if y == "perplexity" else None
    return limit if limit is not None and (frame[y] > limit).any() else None


def cheapest_under(frame: pd.DataFrame, x: str, y: str, limit: float, k: int = HIGHLIGHT) -> pd.DataFrame:
    """The ``k`` points with the smallest ``x`` among those with ``y`` <= limit (ties: row order)."""
    ok = frame[frame[y].to_numpy(dtype=np.float64) <= limit]
    return ok.sort_values([x, y], kind="stable").head(k)


def front_scatter(frame: pd.DataFrame, x: str, y: str, front_column: str, title: str) -> go.Figure:
    """``y`` against ``x`` for every point; the front (``front_column``) drawn as a line; the baseline starred;
    perplexity clipped to its useful range; a slider of perplexity budgets highlighting the cheapest designs."""
    scatter = go.Scattergl if len(frame) > WEBGL_THRESHOLD else go.Scatter
    limit = clip_limit(frame, y)
    clipped = (frame[y] > limit).to_numpy() if limit is not None else np.zeros(len(frame), dtype=bool)
    on_front = frame[front_column].to_numpy(dtype=bool)
    rest, front = frame[~on_front & ~clipped], frame[on_front & ~clipped].sort_values([x, y])
    base = frame[frame["is_baseline"].to_numpy(dtype=bool)]
    out = frame[clipped]
    fig = go.Figure()
    symbols = numerics_symbols(frame)  # points marked by bit width

    def shapes(part: pd.DataFrame) -> list[str]:
        return [symbols[n] for n in _numerics(part)]

    fig.add_trace(scatter(x=rest[x], y=rest[y], mode="markers", name="points", customdata=_custom(rest),
                          hovertemplate=_HOVER, marker=dict(size=6, color="rgba(90,110,140,0.45)",
                                                            symbol=shapes(rest))))
    fig.add_trace(scatter(x=front[x], y=front[y], mode="lines+markers", name="Pareto front", customdata=_custom(front),
                          hovertemplate=_HOVER, line=dict(shape="hv", color="#d62728"),
                          marker=dict(size=8, color="#d62728", symbol=shapes(front))))
    fig.add_trace(scatter(x=base[x], y=base[y], mode="markers", name="baseline", customdata=_custom(base),
                          hovertemplate=_HOVER, marker=dict(size=14, symbol="star", color="#2ca02c",
                                                            line=dict(width=1, color="black"))))
    fig.add_trace(scatter(x=out[x], y=np.full(len(out), limit if limit is not None else np.nan), mode="markers",
                          name="outliers (clipped)", customdata=_custom(out), hovertemplate=_HOVER,
                          marker=dict(size=8, symbol="triangle-up", color="rgba(120,120,120,0.8)")))
    # Log axes: latency spans orders of magnitude across array sizes, perplexity explodes as heads go.
    if len(symbols) > 1:
        title += " — marker: " + ", ".join(f"{label} {shape}" for label, shape in symbols.items())
    fig.update_layout(title=title, xaxis_title=LABELS.get(x, x), yaxis_title=LABELS.get(y, y),
                      xaxis=_log_axis(frame[x]), height=520, margin=dict(l=70, r=20, t=50, b=60),
                      legend=dict(x=0.62, y=0.98))
    if y == "perplexity":
        fig.update_layout(yaxis=_log_axis(frame[y], high=limit))
        _budget_slider(fig, frame, x, y, scatter)
    return fig


def _budget_slider(fig: go.Figure, frame: pd.DataFrame, x: str, y: str, scatter) -> None:
    """A slider of perplexity budgets (baseline + p%): each step shows the cheapest designs within it."""
    if not frame["is_baseline"].any():
        return
    base_ppl = float(frame.loc[frame["is_baseline"].to_numpy(dtype=bool), y].min())
    index = len(fig.data)
    first = cheapest_under(frame, x, y, base_ppl * (1 + BUDGET_STEPS[0]))
    fig.add_trace(scatter(x=first[x], y=first[y], mode="markers", name="cheapest under budget",
                          customdata=_custom(first), hovertemplate=_HOVER,
                          marker=dict(size=16, symbol="circle-open", color="#ff7f0e", line=dict(width=3))))
    steps = []
    for inc in BUDGET_STEPS:
        limit = base_ppl * (1 + inc)
        best = cheapest_under(frame, x, y, limit)
        line = dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=limit, y1=limit,
                    line=dict(dash="dash", color="#ff7f0e", width=1))
        steps.append(dict(method="update", label=f"+{100 * inc:g}%",
                          args=[{"x": [best[x].tolist()], "y": [best[y].tolist()],
                                 "customdata": [_custom(best).tolist()]}, {"shapes": [line]}, [index]]))
    fig.update_layout(shapes=[steps[0]["args"][1]["shapes"][0]], sliders=[dict(
        active=0, steps=steps, currentvalue=dict(prefix="perplexity budget: baseline "), pad=dict(t=50))],
        margin=dict(l=70, r=20, t=50, b=140))


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


# A decode step's DRAM bytes by class (hwsim.accel.generation.byte_classes), bottom to top.
CLASS_COLORS = {"weights": "#1f77b4", "persistent": "#9467bd", "position_keys": "#8c564b", "cache_read": "#ff7f0e",
                "cache_write": "#d62728", "activations": "#2ca02c", "psum": "#7f7f7f"}


def decode_breakdown(layers: dict[str, dict[str, list[float]]], names: list[str], title: str) -> go.Figure:
    """Decode phase, per layer: latency per token (grouped, one bar per point) and DRAM bytes per token by class
    (stacked, one stack per point)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, column_widths=[0.35, 0.65],
                        subplot_titles=("latency per token (s)", "DRAM bytes per token by class"))  # fmt: skip
    for k, (label, values) in enumerate(layers.items()):
        fig.add_trace(go.Bar(x=names, y=values["latency_s"], name=label, legendgroup=label,
                             marker_color=["#1f77b4", "#aaaaaa"][k % 2]), row=1, col=1)  # fmt: skip
        base = np.zeros(len(names))
        for name, color in CLASS_COLORS.items():
            part = np.asarray(values["classes"][name], dtype=np.float64)
            fig.add_trace(go.Bar(x=names, y=part, base=base.copy(), name=f"{label}: {name}", offsetgroup=label,
                                 legendgroup=name, showlegend=k == 0, marker_color=color,
                                 marker_opacity=1.0 if k == 0 else 0.45), row=1, col=2)  # fmt: skip
            base += part
    fig.update_layout(title=title, barmode="group", height=440, margin=dict(l=60, r=20, t=80, b=60))
    return fig
