"""Hypothesis fuzzing of the CLI (in-process) over arguments and TOML contents (issue 9).

Every run must end in exactly one of two ways: exit 0 with sane output (no negative or non-finite count), or exit 2
with exactly one `error:` line, no traceback and nothing on stdout; and nothing may be written outside the output
path. Examples are derandomized (the same every run) and few, so the file stays a few seconds long.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsim.errors import SpecError
from hwsim.nn.config import GateConfig, TrainConfig, gate_config, train_config

ROOT = Path(__file__).resolve().parents[1]
SMALL = str(ROOT / "models" / "ptb-small.toml")  # 4 layers x 8 heads
# HWSIM_FUZZ_EXAMPLES=500 runs a longer, randomised search (the default suite stays short and deterministic).
_LONG = int(os.environ.get("HWSIM_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_LONG or 25, deadline=None, derandomize=not _LONG,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

_ints = st.one_of(st.integers(-3, 70), st.integers(-(2**70), 2**70), st.sampled_from([0, 1, 2**31, 2**62, 2**63]))
_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1e-300, 1e300, 0.5]))
_scalars = st.one_of(_ints, _floats, st.text(max_size=6), st.booleans())
_values = st.one_of(_scalars, st.lists(_scalars, max_size=3))


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string (a lone surrogate escape is itself malformed TOML)
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def toml_table(name: str, table: dict) -> str:
    return f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items())


def listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def check(result, allowed_new: tuple[str, ...] = ()) -> None:
    """Exit 0, or exit 2 with one error line, nothing on stdout and no traceback."""
    assert "Traceback" not in result.out + result.err
    assert result.code in (0, 2), result
    if result.code == 2:
        lines = [line for line in result.err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), result.err
        assert result.out == ""


def sane_numbers(payload) -> None:
    """No negative or non-finite number anywhere in a JSON result."""
    if isinstance(payload, dict):
        for value in payload.values():
            sane_numbers(value)
    elif isinstance(payload, list):
        for value in payload:
            sane_numbers(value)
    elif isinstance(payload, (int, float)) and not isinstance(payload, bool):
        assert math.isfinite(payload) and payload >= 0, payload


@pytest.fixture
def workdir(tmp_path):
    """A fresh empty current directory per example (hypothesis reuses the test's fixtures)."""
    cwd = os.getcwd()

    def make() -> Path:
        path = Path(tempfile.mkdtemp(dir=tmp_path))
        os.chdir(path)
        return path

    yield make
    os.chdir(cwd)


MODEL = {"name": "fz", "n_layers": 2, "d_model": 16, "n_heads": 2, "d_head": 8, "n_persistent": 4,
         "segment_len": 8, "memory_len": 8, "vocab_size": 100}
MODEL_KEYS = [*MODEL, "family", "d_ff", "pos_len", "adaptive_cutoffs", "adaptive_div", "weight_bits", "act_bits",
              "bogus"]


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(MODEL_KEYS), _values, min_size=1, max_size=3),
       extra=st.sampled_from(["", "[modle]\nx = 1\n", "[train]\nlr = 0.1\n"]))
def test_fuzz_model_toml(cli, workdir, changes, extra):
    where = workdir()
    (where / "m.toml").write_text(toml_table("model", {**MODEL, **changes}) + extra)
    result = cli("cost", "--model", "m.toml", "--accel", "gemmini-like", "--json")
    check(result)
    if result.code == 0:
        sane_numbers(result.json()["total"])
    assert listing(where) == ["m.toml"]


ACCEL_KEYS = ["rows", "cols", "dataflow", "ifmap_sram_bytes", "filter_sram_bytes", "ofmap_sram_bytes",
              "dram_bandwidth_bytes_per_s", "clock_hz", "input_bits", "acc_bits", "vector_lanes", "vector_overlap",
              "tech_node_nm", "weights_on_chip", "activations_on_chip", "mode", "base", "name", "bogus"]


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(ACCEL_KEYS), _values, min_size=1, max_size=3))
def test_fuzz_accel_toml(cli, workdir, changes):
    where = workdir()
    (where / "a.toml").write_text(toml_table("accel", {"base": "gemmini-like", **changes}))
    result = cli("cost", "--model", SMALL, "--accel", "a.toml", "--json")
    check(result)
    if result.code == 0:
        sane_numbers(result.json()["total"])
    assert listing(where) == ["a.toml"]


@FUZZ
@given(dims=st.lists(_ints, min_size=6, max_size=6), clock=_floats, bandwidth=_floats,
       dataflow=st.sampled_from(["os", "ws", "is", "rs"]))
def test_fuzz_gemm_arguments(cli, workdir, dims, clock, bandwidth, dataflow):
    where = workdir()
    m, n, k, rows, cols, repeat = dims
    result = cli("gemm", "--m", m, "--n", n, "--k", k, "--rows", rows, "--cols", cols, "--repeat", repeat,
                 "--clock-hz", clock, "--bandwidth", bandwidth, "--dataflow", dataflow, "--json")
    check(result)
    if result.code == 0:
        sane_numbers({k: v for k, v in result.json().items() if k not in ("dataflow", "mode")})
    assert listing(where) == []


_HEADS_TEXT = st.text(alphabet="0123456789,-_ +.x\uff14\u0664", max_size=14)


def heads_are_valid(text: str) -> bool:
    """The independent oracle: 1 or 4 comma-separated ASCII integers, each in 0..8 (ptb-small: 4 layers x 8)."""
    parts = [p.strip() for p in text.split(",")]
    if not all(re.fullmatch(r"[0-9]+", p) for p in parts):
        return False
    return len(parts) in (1, 4) and all(int(p) <= 8 for p in parts)


@FUZZ
@given(text=_HEADS_TEXT)
def test_fuzz_heads_per_layer(cli, workdir, text):
    where = workdir()
    result = cli("cost", "--model", SMALL, "--heads-per-layer", text, "--json")
    check(result)
    assert (result.code == 0) == heads_are_valid(text), (text, result.err)
    assert listing(where) == []


@FUZZ
@given(option=st.sampled_from(["--samples", "--seed", "--ratios", "--grid", "--max-tokens", "--batch",
                               "--heads-per-layer", "--split", "--workers"]),
       value=st.one_of(_ints.map(str), _floats.map(str), st.text(max_size=10),
                       st.sampled_from(["rows=16,", "rows=", "=4", "array=16x", "dataflow=xx", "0,,1"])))
def test_fuzz_sweep_options(cli, workdir, option, value):
    where = workdir()
    pattern = () if option in ("--samples", "--ratios", "--heads-per-layer") else ("--heads-per-layer", "4")
    result = cli("sweep", "--model", SMALL, *pattern, option, value, "--accel", "gemmini-like", "--out", "out",
                 "--no-progress")
    check(result)
    if result.code == 0:
        assert set(listing(where)) >= {"out", "out/results.parquet", "out.html"}
    else:
        assert listing(where) == []  # refused before any work: not even the output directory


_TRAIN_KEYS = [f.name for f in TrainConfig.__dataclass_fields__.values()] + ["bogus"]
_GATE_KEYS = ["lambda" if f.name == "lam" else f.name for f in GateConfig.__dataclass_fields__.values()]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(train=st.dictionaries(st.sampled_from(_TRAIN_KEYS), _values, max_size=3),
       gates=st.dictionaries(st.sampled_from(_GATE_KEYS), _values, max_size=3))
def test_fuzz_recipe_tables(train, gates):
    """A [train] / [gates] table either fails with SpecError or gives finite, in-range settings."""
    for build, table in ((train_config, train), (gate_config, gates)):
        try:
            cfg = build(table)
        except SpecError as exc:
            assert str(exc) and "\n" not in str(exc)
            continue
        for name, value in vars(cfg).items():
            numbers = value if isinstance(value, tuple) else (value,)
            for v in numbers:
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    assert math.isfinite(v) and v >= 0, (name, v)
        assert all(0 <= p < 1 for p in (getattr(cfg, "dropout_attn", 0), *getattr(cfg, "betas", ())))


@FUZZ
@given(phase=st.sampled_from(["segment", "decode", "generate", "prefill"]),
       options=st.dictionaries(st.sampled_from(["--context", "--prompt", "--new-tokens", "--batch", "--policy"]),
                               st.one_of(_ints.map(str), st.sampled_from(["window", "segment", "", "1e3", "x"])),
                               max_size=3))  # fmt: skip
def test_fuzz_cost_phases(cli, workdir, phase, options):
    """Decode and generation costs: any mix of phase options is a clean result or one error line."""
    where = workdir()
    args = [x for pair in options.items() for x in pair]
    if phase == "generate" and "--new-tokens" in options and "--prompt" in options:
        small = all(v.isdigit() and int(v) <= 300 for k, v in options.items() if k in ("--prompt", "--new-tokens"))
        if not small:  # keep examples fast: a huge valid generation is costed step by step
            return
    result = cli("cost", "--model", SMALL, "--phase", phase, *args, "--json")
    check(result)
    if result.code == 0:
        payload = result.json()
        sane_numbers(payload["total"])
        if phase != "segment":
            assert payload["latency_per_token_s"] > 0 and payload["tokens_per_s"] > 0
    assert listing(where) == []


@settings(max_examples=_LONG or 12, deadline=None, derandomize=not _LONG,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(options=st.dictionaries(st.sampled_from(["--new-tokens", "--temperature", "--top-k", "--seed", "--prompt",
                                                "--policy", "--cache", "--heads-per-layer"]),
                               st.one_of(st.integers(-3, 12).map(str), st.sampled_from(
                                   ["", " ", "0.5", "nan", "inf", "-1e9", "window", "states", "the cat", "8,8,8,8",
                                    "1,2", "\u00e9t\u00e9 zz"])), max_size=4))  # fmt: skip
def test_fuzz_generate_options(cli, workdir, options):
    where = workdir()
    args = [x for pair in options.items() for x in pair]
    result = cli("generate", str(ROOT / "models" / "ptb-small.ckpt"), *args, "--json")
    assert "Traceback" not in result.out + result.err and result.code in (0, 2), result
    if result.code == 2:
        errors = [line for line in result.err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and result.out == ""
    else:
        payload = result.json()
        assert len(payload["tokens"]) == int(options.get("--new-tokens", "50")) and payload["tokens_per_s"] > 0
    assert listing(where) == []
