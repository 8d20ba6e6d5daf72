"""`hwsim gemm`, `hwsim cost`, `hwsim export`: outputs and every bad input (one error line, no traceback)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from conftest import assert_one_line_error

ROOT = Path(__file__).resolve().parents[1]
MODEL = str(ROOT / "models" / "shim-wt103-16l.toml")
HEADS = "5,2,5,4,3,4,4,4,4,4,4,4,3,3,3,3"
COST_KEYS = (
    "macs", "params", "param_bytes", "cycles", "latency_s", "sram_bytes", "dram_bytes", "energy_pj", "area_mm2",
)  # fmt: skip


def test_gemm_json_keys(cli):
    r = cli("gemm", "--m", 64, "--n", 32, "--k", 48, "--rows", 16, "--cols", 16, "--dataflow", "ws", "--json")
    assert r.code == 0, r.err
    out = r.json()
    for key in ("compute_cycles", "total_cycles", "sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes",
                "dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes", "utilization"):  # fmt: skip
        assert isinstance(out[key], (int, float)), key
    # ws: Sr = K = 48 -> 3 row folds, Sc = N = 32 -> 2 col folds, T = M = 64: 6 * (32 + 16 + 64 - 2) - 1
    assert out["compute_cycles"] == 6 * 110 - 1
    assert out["total_cycles"] == out["compute_cycles"] + out["stall_cycles"]
    assert out["macs"] == 64 * 32 * 48


def test_gemm_text_and_physical_mode(cli):
    r = cli("gemm", "--m", 9, "--n", 7, "--k", 5, "--rows", 4, "--cols", 4, "--dataflow", "os", "--mode", "physical")
    assert r.code == 0, r.err
    fields = dict(line.split() for line in r.out.splitlines())  # "key value" lines
    assert fields["sram_ofmap_writes"] == "63"  # os writes each of the 9 x 7 outputs once (physical mode)
    assert fields["mode"] == "physical"


def test_cost_json(cli):
    r = cli("cost", "--model", MODEL, "--accel", "tpu-v1-like", "--heads-per-layer", HEADS, "--json")
    assert r.code == 0, r.err
    out = r.json()
    assert len(out["layers"]) == 17  # 16 transformer layers + output
    for obj in [*out["layers"], out["total"]]:
        for key in COST_KEYS:
            assert key in obj, key
    assert out["total"]["embedding_params"] == 19_603_602
    assert out["total"]["params"] == 426_112 * 59 + 16 * 1_536
    assert out["total"]["params"] == sum(layer["params"] for layer in out["layers"])
    assert out["layers"][1]["heads"] == 2 and out["heads_per_layer"][0] == 5


def test_gemm_on_an_accelerator_reports_its_mapping(cli, tmp_path):
    """Issue 8's first example on gemmini-like: 1,179,648 DRAM bytes (A once, B three times, C once)."""
    r = cli("gemm", "--accel", "gemmini-like", "--m", 384, "--n", 512, "--k", 512, "--json")
    assert r.code == 0, r.err
    out = r.json()
    assert out["dram_bytes"] == 1_179_648 == 384 * 512 + 3 * 512 * 512 + 384 * 512
    mp = out["mapping"]
    assert sorted(mp["loop_order"]) == ["k", "m", "n"]
    assert (mp["refetch_a"], mp["refetch_b"], mp["refetch_c"], mp["psum_spill_words"]) == (1, 3, 1, 0)
    assert mp["tile_m"] * mp["tile_n"] <= 64 * 1024 // 4 // 2  # the C tile fits half the int32 accumulator
    path = tmp_path / "scalesim.toml"
    path.write_text("[accel]\nbase = 'gemmini-like'\nmode = 'scalesim'\n")
    fixed = cli("gemm", "--accel", path, "--m", 384, "--n", 512, "--k", 512, "--json").json()
    assert fixed["mapping"] is None and fixed["mode"] == "scalesim" and fixed["dram_bytes"] > out["dram_bytes"]
    text = cli("gemm", "--accel", "gemmini-like", "--m", 8, "--n", 8, "--k", 8)
    assert text.code == 0 and "mapping.loop_order" in text.out


def test_cost_gemms_and_json_layers_carry_gemms(cli):
    r = cli("cost", "--model", MODEL, "--heads-per-layer", HEADS, "--gemms")
    assert r.code == 0, r.err
    assert "q_proj" in r.out and "fused: 1 query block(s) of 192" in r.out and "refetch A" in r.out
    out = cli("cost", "--model", MODEL, "--heads-per-layer", HEADS, "--json").json()
    gemms = out["layers"][0]["gemms"]
    assert [g["name"] for g in gemms] == ["q_proj", "k_proj", "v_proj", "r_proj", "attention", "out_proj"]
    for layer in out["layers"]:
        assert layer["dram_bytes"] == sum(g["dram_bytes"] for g in layer["gemms"])
        assert layer["dram_bytes"] == layer["dram_weight_bytes"] + layer["dram_activation_bytes"] + layer[
            "dram_psum_bytes"]  # fmt: skip
    assert gemms[0]["mapping"]["tile_m"] >= 1 and gemms[4]["kind"] == "attention"


def test_cost_table_and_csv(cli):
    table = cli("cost", "--model", MODEL, "--accel", "edge-soc-32x32", "--heads-per-layer", HEADS)
    assert table.code == 0, table.err
    assert "layer15" in table.out and "total" in table.out and "weight SRAM" in table.out
    r = cli("cost", "--model", MODEL, "--heads-per-layer", "4", "--csv", "--batch", "2")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert [row["name"] for row in rows] == [f"layer{i}" for i in range(16)] + ["output", "total"]
    assert all(row["heads"] == "4" for row in rows[:16])
    assert int(rows[-1]["macs"]) == sum(int(row["macs"]) for row in rows[:-1])


def test_cost_accel_toml_and_mode(cli, tmp_path):
    path = tmp_path / "wide.toml"
    path.write_text("[accel]\nbase = 'gemmini-like'\nrows = 32\ncols = 32\n")
    wide = cli("cost", "--model", MODEL, "--accel", path, "--json").json()
    narrow = cli("cost", "--model", MODEL, "--json").json()
    assert wide["total"]["cycles"] < narrow["total"]["cycles"]
    ss = cli("cost", "--model", MODEL, "--mode", "scalesim", "--json").json()
    assert ss["accel"]["mode"] == "scalesim" and ss["total"]["cycles"] != narrow["total"]["cycles"]


def test_export_writes_scalesim_files(cli, tmp_path):
    r = cli("export", "--model", MODEL, "--accel", "gemmini-like", "--heads-per-layer", HEADS, "--format", "scalesim",
            "-o", tmp_path)  # fmt: skip
    assert r.code == 0, r.err
    topo = next(tmp_path.glob("*_gemm.csv")).read_text().splitlines()
    assert topo[0] == "Layer, M, N, K,"
    assert all(line.endswith(",") for line in topo)
    # per layer with h heads: 5 weight GEMMs + 5 per-head products x h; output: 2 + 2 per tail cluster
    assert len(topo) - 1 == sum(5 + 5 * h for h in map(int, HEADS.split(","))) + 2 + 2 * 3
    assert next(tmp_path.glob("*.cfg")).read_text().count("[") == 5



@pytest.mark.parametrize(
    "args,fragments",
    [
        (("cost", "--model", MODEL, "--heads-per-layer", ",".join(["9"] * 16)), ("9", "0..8")),
        (("cost", "--model", MODEL, "--heads-per-layer", "9,9"), ("2 entries", "16 layers")),
        (("cost", "--model", MODEL, "--heads-per-layer", "8,8,8"), ("3 entries",)),
        (("cost", "--model", MODEL, "--heads-per-layer", "abc"), ("abc",)),
        (("cost", "--model", MODEL, "--heads-per-layer", "8,,8"), ("malformed",)),
        (("cost", "--model", MODEL, "--accel", "tpu-v9"), ("unknown accelerator preset", "gemmini-like")),
        (("cost", "--model", "missing.toml"), ("not found",)),
        (("cost", "--model", MODEL, "--batch", "0"), ("--batch",)),
        (("cost", "--model", MODEL, "--json", "--csv"), ("--json", "--csv")),
        (("gemm", "--m", "-1", "--n", "7", "--k", "5", "--rows", "4", "--cols", "4", "--dataflow", "os"), ("--m",)),
        (("gemm", "--m", "9", "--n", "7", "--k", "5", "--rows", "0", "--cols", "4", "--dataflow", "os"), ("--rows",)),
        (("gemm", "--m", "abc", "--n", "7", "--k", "5", "--rows", "4", "--cols", "4", "--dataflow", "os"), ("--m",)),
        (("gemm", "--m", "9", "--n", "7", "--k", "5", "--rows", "4", "--cols", "4", "--dataflow", "rs"), ("dataflow",)),
        (("gemm", "--m", "9", "--n", "7", "--k", "5", "--rows", "4", "--cols", "4", "--dataflow", "os",
          "--ifmap-kb", "-4"), ("--ifmap-kb",)),
        (("export", "--model", MODEL, "--format", "timeloop", "-o", "x"), ("--format",)),
        (("gemm", "--m", "9", "--n", "7", "--k", "5", "--accel", "gemmini-like", "--rows", "4"), ("--accel", "--rows")),
        (("gemm", "--m", "9", "--n", "7", "--k", "5", "--rows", "4"), ("--accel", "--cols", "--dataflow")),
        (("gemm", "--m", "9", "--n", "7", "--k", "5", "--accel", "tpu-v9"), ("unknown accelerator preset",)),
        (("cost", "--model", MODEL, "--json", "--gemms"), ("--json", "--gemms")),
    ],
)  # fmt: skip
def test_bad_input_one_line(cli, args, fragments):
    assert_one_line_error(cli(*args), *fragments)


@pytest.mark.parametrize(
    "accel_text,fragments",
    [
        ("[accel\nrows = 1", ("malformed TOML",)),
        ("[accel]\nbase = 'gemmini-like'\nrows = -16\n", ("rows",)),
        ("[accel]\nbase = 'gemmini-like'\ndataflow = 'rs'\n", ("dataflow", "os, ws, is")),
        ("[accel]\nbase = 'gemmini-like'\nbogus = 1\n", ("bogus",)),
        ("[accel]\nbase = 'gemmini-like'\nfuse_attention = 'yes'\n", ("fuse_attention", "true or false")),
        ("[accel]\nbase = 'gemmini-like'\nofmap_sram_bytes = 4\n", ("at least 2 words", "ofmap")),
    ],
)
def test_bad_accel_toml(cli, tmp_path, accel_text, fragments):
    path = tmp_path / "bad.toml"
    path.write_text(accel_text)
    assert_one_line_error(cli("cost", "--model", MODEL, "--accel", path), *fragments)


def test_malformed_model_toml(cli, tmp_path):
    path = tmp_path / "model.toml"
    path.write_text("[model\nname = 'x'")
    assert_one_line_error(cli("cost", "--model", path), "malformed TOML")


def test_gemm_unit_named_options_and_their_old_spellings(cli):
    """--ifmap-kib/--filter-kib/--ofmap-kib (KiB) and --bandwidth-words-per-cycle; the old spellings still work."""
    shape = ("gemm", "--m", 20, "--n", 30, "--k", 200, "--rows", 4, "--cols", 4, "--dataflow", "os", "--json")
    new = cli(*shape, "--ifmap-kib", 1, "--filter-kib", 1, "--ofmap-kib", 2, "--bandwidth-words-per-cycle", 3)
    old = cli(*shape, "--ifmap-kb", 1, "--filter-kb", 1, "--ofmap-kb", 2, "--bandwidth", 3)
    default = cli(*shape)
    assert new.code == old.code == default.code == 0, (new.err, old.err)
    assert new.json() == old.json()
    # a K x C filter tile (200 x 4 words) overflows half of 1 KiB, not of 256 KiB: refetched per M tile
    assert new.json()["dram_filter_reads"] > default.json()["dram_filter_reads"]
    assert new.json()["latency_s"] != default.json()["latency_s"]


def test_activation_width_must_match_the_input_words(cli, tmp_path):
    """ModelSpec.act_bits is the width of the activations the array takes as ifmap words (AccelConfig.input_bits)."""
    text = Path(MODEL).read_text().replace("act_bits = 8", "act_bits = 16")
    assert "act_bits = 16" in text
    model = tmp_path / "wide.toml"
    model.write_text(text)
    assert_one_line_error(cli("cost", "--model", model, "--accel", "gemmini-like"), "act_bits", "input_bits")
    accel = tmp_path / "wide-accel.toml"
    accel.write_text('[accel]\nbase = "gemmini-like"\ninput_bits = 16\n')
    assert cli("cost", "--model", model, "--accel", accel).code == 0
