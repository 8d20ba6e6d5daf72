"""Open a generated report in headless Chromium: plots render with the expected points and no JavaScript errors."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from hwsim.cli.main import run
from hwsim.report.figures import BUDGET_STEPS, CLIP_FACTOR, HIGHLIGHT
from test_sweep import make_tiny_checkpoint

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")


class _ExternalRefs(HTMLParser):
    """Collects script/link/img references to other files or the network (script bodies are not parsed as tags)."""

    def __init__(self) -> None:
        super().__init__()
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        ref = dict(attrs).get("src" if tag in ("script", "img") else "href")
        if tag in ("script", "img", "link") and ref:
            self.external.append(ref)


def _driver(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--user-data-dir={profile}", "--window-size=1400,2400"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)


@pytest.fixture(scope="module")
def sweep_report(tmp_path_factory):
    """A real sweep: perplexity measured on a tiny trained checkpoint, costed on 2 presets x 2 dataflows."""
    out = tmp_path_factory.mktemp("report")
    ckpt = make_tiny_checkpoint(out / "ckpt")
    code = run(["sweep", "--checkpoint", str(ckpt), "--ratios", "0,0.25,0.5,0.75", "--ratio-mode", "uniform",
                "--heads-per-layer", "1,3", "--accel", "gemmini-like", "--accel", "edge-soc-32x32",
                "--grid", "dataflow=os,ws", "--max-tokens", "300", "--workers", "1", "--out", str(out / "res"),
                "--phases", "segment,decode", "--no-progress"])
    assert code == 0
    return out / "res.html", pd.read_parquet(out / "res" / "results.parquet")


@pytest.mark.skipif(not (CHROMEDRIVER.exists() and CHROMIUM.exists()), reason="Debian chromium + chromium-driver "
                    "are not installed (.ci/run installs them)")
def test_report_renders_in_headless_chromium(sweep_report, tmp_path):
    html, frame = sweep_report
    base_ppl = float(frame.loc[frame["is_baseline"], "perplexity"].min())
    driver = _driver(tmp_path / "profile")
    try:
        driver.get(html.resolve().as_uri())
        # Per trace: its data length (plotly's _fullData) and the SVG marker paths actually drawn for it.
        graphs = driver.execute_script(
            "return Array.from(document.querySelectorAll('.js-plotly-plot')).map(g => {"
            " const drawn = t => { const el = g.querySelector('.scatterlayer .trace' + t.uid);"
            "  return el ? el.querySelectorAll('path.point').length : 0; };"
            " return {id: g.id, traces: g._fullData.map(t => ({name: t.name, type: t.type, n: t._length,"
            " rows: t.y ? t.y.length : null, drawn: t.type === 'scatter' ? drawn(t) : null}))};"
            "})"
        )
        # Step through the perplexity-budget slider of the latency plot: highlighted designs drawn at each step.
        budget_steps = driver.execute_async_script(
            "const done = arguments[arguments.length - 1]; const g = document.getElementById('fig-0');"
            "const steps = g.layout.sliders[0].steps; const out = [];"
            "(async () => { for (const s of steps) { await Plotly.update(g, s.args[0], s.args[1], s.args[2]);"
            " const t = g.querySelector('.scatterlayer .trace' + g._fullData[s.args[2][0]].uid);"
            " out.push({label: s.label, drawn: t ? t.querySelectorAll('path.point').length : 0,"
            " line: g._fullLayout.shapes[0].y0}); } done(out); })();"
        )
        y_range = driver.execute_script("return document.getElementById('fig-0')._fullLayout.yaxis.range")
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "report.png"))
        logs = driver.get_log("browser")
    finally:
        driver.quit()
    assert [g["id"] for g in graphs] == [f"fig-{i}" for i in range(7)]  # 4 segment + 2 decode fronts + breakdown
    fronts = ("pareto_latency", "pareto_area", "pareto_decode_latency", "pareto_decode_energy")
    for graph, front in zip(graphs[:2] + graphs[4:6], fronts):
        n = {t["name"]: t["n"] for t in graph["traces"]}
        drawn = {t["name"]: t["drawn"] for t in graph["traces"]}
        assert n == drawn  # every data point has a marker on the page
        # baseline (= ratio 0), the explicit vector 1,3 and uniform 0.25 / 0.5 / 0.75 (3,3 / 2,2 / 1,1), x 4 accels
        limit = CLIP_FACTOR * base_ppl
        clipped = frame["perplexity"] > limit
        assert n["points"] + n["Pareto front"] + n["outliers (clipped)"] == len(frame) == 5 * 4
        assert n["outliers (clipped)"] == int(clipped.sum())
        assert n["Pareto front"] == int((frame[front] & ~clipped).sum()) > 0
        assert n["baseline"] == int(frame["is_baseline"].sum()) == 4
    assert frame["perplexity"].notna().all()
    # Slider: at each budget (baseline + p%) the cheapest HIGHLIGHT designs by latency within it, counted naively.
    assert [s["label"] for s in budget_steps] == [f"+{100 * inc:g}%" for inc in BUDGET_STEPS]
    for step, inc in zip(budget_steps, BUDGET_STEPS):
        within = sum(1 for v in frame["perplexity"] if v <= base_ppl * (1 + inc))
        assert step["drawn"] == min(HIGHLIGHT, within)
        assert step["line"] == pytest.approx(base_ppl * (1 + inc))
    if clipped.any():  # the axis stops near the clip limit, not at the largest perplexity
        assert 10 ** y_range[1] < 1.5 * limit < frame["perplexity"].max()
    classes = ("weights", "persistent", "position_keys", "cache_read", "cache_write", "activations", "psum")
    names = [t["name"] for t in graphs[6]["traces"]]  # decode breakdown: per point, latency and bytes by class
    assert sum(name.endswith(f": {c}") for name in names for c in classes) == 2 * len(classes)
    heat = graphs[2]["traces"][0]
    assert heat["type"] == "heatmap" and heat["rows"] == int(frame["pareto_3d"].sum())
    severe = [entry for entry in logs if entry["level"] == "SEVERE"]
    assert not severe, severe


def test_report_is_self_contained(sweep_report):
    html, _ = sweep_report
    text = html.read_text()
    parser = _ExternalRefs()
    parser.feed(text)
    assert parser.external == []  # no <script src>, <link href> or <img src> pointing off the file
    assert len(text) > 1_000_000  # plotly.js inlined
    assert html.with_suffix(".csv").is_file() and html.with_suffix(".json").is_file()
