"""The pieces every hwsim HTML report is built from (``hwsim report`` and ``hwsim train-report``): one stylesheet,
cell formatting, tables from data frames, plotly figures as divs, and the page around them."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

CSS = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1400px}h1{font-size:1.5em}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}table{border-collapse:collapse;font-size:.85em;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f3f3f3}.note{color:#555}"""


def cell(value: Any) -> str:
    """One table cell's text: floats (numpy's too) with 5 significant digits, everything else escaped."""
    if isinstance(value, (float, np.floating)):
        return f"{value:.5g}"
    return html.escape(str(value))


def table(frame: pd.DataFrame, columns: Sequence[str], table_id: str, index_name: str | None = None) -> str:
    """``frame``'s ``columns`` as an HTML table (with the index as a first column named ``index_name`` if given)."""
    names = ([index_name] if index_name else []) + list(columns)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in names)
    body = []
    for idx, row in frame.iterrows():
        cells = ([str(idx)] if index_name else []) + [cell(row[c]) for c in columns]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def figure_divs(figures: Sequence[Any], plotlyjs: bool | str = False) -> list[str]:
    """Each plotly figure as a ``<div id="fig-i">``; ``plotlyjs`` (True: inline, "cdn", "directory") goes with the
    first one only, as plotly's ``include_plotlyjs``."""
    return [f.to_html(full_html=False, include_plotlyjs=plotlyjs if i == 0 else False, div_id=f"fig-{i}",
                      config={"displaylogo": False}) for i, f in enumerate(figures)]


def page(title: str, body: str, inline_plotlyjs: bool = False) -> str:
    """A whole HTML document with the report stylesheet (and plotly.js inlined in the head if asked)."""
    script = ""
    if inline_plotlyjs:
        import plotly.offline

        script = f'\n<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{CSS}</style>{script}</head>
<body>{body}
</body></html>
"""
