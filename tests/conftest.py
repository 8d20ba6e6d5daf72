"""Shared fixtures: run the CLI in-process and capture its output and exit code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from hwsim.cli.main import run

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """``cli("cost", "--model", ...)`` -> CliResult(code, out, err)."""

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


def assert_one_line_error(result: CliResult, *fragments: str) -> None:
    """Bad input: non-zero exit, exactly one line on stderr starting with 'error:', no traceback."""
    assert result.code != 0, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error:"), result.err
    assert "Traceback" not in result.err + result.out
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), (fragment, lines[0])


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance for one test module (2 CPUs: enough for two tasks at once), shut down after it."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'hwsim[ray]')")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # a sandbox without shared memory or sockets
        pytest.skip(f"ray cannot start here: {type(exc).__name__}: {exc}")
    yield ray
    ray.shutdown()
