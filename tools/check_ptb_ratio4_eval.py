"""Re-evaluate every checkpoint of the committed ptb-ratio4 results with `hwsim eval` and compare with the table.

Run from the repository root after the commands in docs/trainsweep.md ("Paper proportions") have made the
checkpoints under tmp/ptb-ratio4/ (they are not committed: ~1-6 MB each):
    python tools/check_ptb_ratio4_eval.py > reports/ptb-ratio4/check_eval.txt
Prints one line per model (results directory, job, perplexity in results.csv, perplexity from `hwsim eval`, match)
and exits 1 if any differs by more than 1e-9 relative. Runs the CLI in-process so that PTB is loaded once.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pandas as pd

from hwsim.cli.main import run

ROOT = Path(__file__).resolve().parents[1] / "reports" / "ptb-ratio4"  # the committed results it checks


def main() -> int:
    bad = 0
    for results in sorted(ROOT.glob("seed*/results.csv")):
        frame = pd.read_csv(results)
        for _, row in frame[frame["accel_id"] == 0].iterrows():
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                code = run(["eval", str(row["checkpoint"]), "--json", "--device", "cpu"])
            got = json.loads(buf.getvalue())["perplexity"] if code == 0 else float("nan")
            ok = abs(got - row["perplexity"]) <= 1e-9 * row["perplexity"]
            bad += not ok
            print(f"{results.parent.name} {row['job_id']:<22} table {row['perplexity']:.6f}  hwsim eval {got:.6f}  "
                  f"{'ok' if ok else 'MISMATCH'}", flush=True)
    print("all match" if not bad else f"{bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
