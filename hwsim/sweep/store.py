"""The results store of one sweep: a directory with a JSON manifest and Parquet parts, written atomically.

Layout of ``OUT/``::

    manifest.json             spec, versions, input hash, sizes; rewritten when the sweep completes
    configs.parquet           the pruning configurations (config_id, heads_per_layer, label, h0..h{L-1})
    perplexity/part-*.parquet (config_id, numerics, perplexity, bits_per_token, tokens), one part per evaluated
                              chunk; numerics: the label of the bit widths it was evaluated at (float, W8A8, ...)
    cost/accel-*.parquet      one part per accelerator: every pruning config costed on it
    results.parquet, results.csv   the joined table with the Pareto columns (written last)

Every file is written to a temporary name in the same directory and moved into place with ``os.replace``, so a
sweep killed at any moment leaves only whole files; stray temporaries are deleted on the next open. A resume keeps
every finished part and recomputes nothing in them. The input hash covers everything that changes a number: the
sweep spec, the model spec, the resolved accelerators, the checkpoint file's SHA-256 and the hwsim version.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from hwsim.atomicio import TMP_PREFIX, atomic_write, atomic_write_bytes  # noqa: F401 (re-exported)
from hwsim.errors import SweepError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CONFIGS = "configs.parquet"
RESULTS = "results.parquet"
RESULTS_CSV = "results.csv"
PPL_DIR = "perplexity"
COST_DIR = "cost"


def file_sha256(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def path_sha256(path: str | Path) -> str:
    """SHA-256 of a file, or of a directory (a checkpoint): every file's relative name and content, in name order."""
    p = Path(path)
    if p.is_file():
        return file_sha256(p)
    digest = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        digest.update(f.relative_to(p).as_posix().encode() + b"\0" + file_sha256(f).encode())
    return digest.hexdigest()


def inputs_hash(inputs: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``inputs`` (sorted keys, no whitespace)."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def versions() -> dict[str, str]:
    """Versions of Python and the packages that produce a sweep's numbers (from package metadata: no imports)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("hwsim", "numpy", "pandas", "pyarrow", "torch", "plotly"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def atomic_write_frame(path: Path, frame: pd.DataFrame) -> None:
    """Parquet or CSV (by suffix), written to a temporary file and moved into place."""
    if path.suffix == ".csv":
        atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
    else:
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


@dataclass(frozen=True, kw_only=True)
class StoreState:
    """What a (re)opened store already holds."""

    resumed: bool
    done_perplexity: frozenset[tuple[int, str]]  # (config id, numerics label) pairs with a perplexity part
    done_accels: frozenset[int]  # accelerator ids with a cost part
    repaired: tuple[str, ...] = ()  # damaged files of a resumed store that were deleted (recomputed) or rewritten


SWEEP_KIND = "sweep"  # a pruning sweep's manifest has no "kind" key; other kinds (a training sweep) name theirs


def is_store_manifest(manifest: Any, kind: str = SWEEP_KIND) -> bool:
    """Whether ``manifest`` is the manifest of a results store of ``kind``."""
    return (isinstance(manifest, dict) and isinstance(manifest.get("format"), int)
            and isinstance(manifest.get("input_hash"), str) and manifest.get("kind", SWEEP_KIND) == kind)


def is_sweep_manifest(manifest: Any) -> bool:
    return is_store_manifest(manifest, SWEEP_KIND)


def is_sweep_store(path: Path) -> bool:
    """Whether ``path`` holds an hwsim sweep results store: the only kind of non-empty directory a sweep may write
    into. A store whose manifest is damaged still counts when it has the store's own layout next to it."""
    path = Path(path)
    try:
        return is_sweep_manifest(json.loads((path / MANIFEST).read_text()))
    except (OSError, UnicodeDecodeError, ValueError):
        layout = (path / CONFIGS).is_file() or any((path / d).is_dir() for d in (PPL_DIR, COST_DIR))
        return (path / MANIFEST).is_file() and layout


class ResultsStore:
    """A sweep's results directory (see the module docstring). Every kind of sweep keeps its manifest and its joined
    results here; a pruning sweep (``kind="sweep"``) also its configuration, perplexity and cost parts, a training
    sweep (``kind="train-sweep"``, hwsim.trainsweep.runner) its job directories beside them."""

    def __init__(self, root: str | Path, kind: str = SWEEP_KIND) -> None:
        self.root = Path(root)
        self.kind = kind

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    @property
    def results_path(self) -> Path:
        return self.root / RESULTS

    # ---- opening ----------------------------------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any] | None:
        if not self.manifest_path.is_file():
            return None
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise SweepError(f"cannot read sweep manifest {self.manifest_path}: {exc}") from None
        if not is_store_manifest(manifest, self.kind):
            what = "sweep" if self.kind == SWEEP_KIND else self.kind
            raise SweepError(f"{self.manifest_path} is not an hwsim {what} manifest")
        return manifest

    def new_manifest(self, inputs: dict[str, Any], digest: str, **fields: Any) -> dict[str, Any]:
        """A manifest for a store being started: kind, format, input hash, inputs, versions, ``fields``, start time;
        ``complete`` until :meth:`write_results` marks it done. Written atomically."""
        manifest = {"format": FORMAT_VERSION, **({} if self.kind == SWEEP_KIND else {"kind": self.kind}),
                    "input_hash": digest, "inputs": inputs, **fields, "versions": versions(),
                    "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "complete": False}
        self.write_manifest(manifest)
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_bytes(self.manifest_path, json.dumps(manifest, indent=2, default=str).encode())

    def open(self, *, inputs: dict[str, Any], spec: dict[str, Any], configs: pd.DataFrame, accels: list[dict],
             resume: bool, force: bool) -> StoreState:
        """Start or resume a sweep here. Different inputs than the stored ones are refused unless ``force``."""
        if self.root.exists() and not self.root.is_dir():
            raise SweepError(f"results path {self.root} exists and is not a directory")
        digest = inputs_hash({**inputs, "store_format": FORMAT_VERSION})
        try:
            old = self.read_manifest()
        except SweepError as exc:
            if not force:
                raise SweepError(f"{exc}; the sweep in {self.root} cannot be resumed: pass --force to recompute it"
                                 ) from None
            old = None
        if old is not None and old.get("input_hash") != digest and not force:
            stored = old.get("inputs", {})
            changed = sorted(k for k in inputs if stored.get(k) != json.loads(json.dumps(inputs[k], default=str)))
            what = ", ".join(changed) or "store format"
            raise SweepError(
                f"{self.root} holds a sweep made from different inputs (changed: {what}); "
                "pass --force to overwrite it or --out for a new directory"
            )
        resuming = resume and old is not None and old.get("input_hash") == digest
        self._remove_temporaries()
        repaired: tuple[str, ...] = ()
        if resuming:
            repaired = self._repair(configs)
        else:
            self._clear()
            atomic_write_frame(self.root / CONFIGS, configs)
            self.new_manifest(inputs, digest, spec=spec, accels=accels, n_configs=int(len(configs)),
                              n_accels=len(accels))
        return StoreState(resumed=resuming, done_perplexity=self._done_perplexity(), done_accels=self._done_accels(),
                          repaired=repaired)

    def _repair(self, configs: pd.DataFrame) -> tuple[str, ...]:
        """Resume over damage: a missing or unreadable configs.parquet is rewritten (it is a pure function of the
        inputs, which the manifest's hash matched); an unreadable or malformed part is deleted, so its work is
        recomputed. Returns what was repaired, relative to the store."""
        repaired = []
        try:
            ok = pd.read_parquet(self.root / CONFIGS).equals(configs)
        except Exception:  # missing, truncated or not Parquet at all: pyarrow raises many types
            ok = False
        if not ok:
            atomic_write_frame(self.root / CONFIGS, configs)
            repaired.append(CONFIGS)
        for part in [*self._ppl_parts(), *sorted((self.root / COST_DIR).glob("accel-*.parquet"))]:
            try:
                frame = pd.read_parquet(part)
                ok = "config_id" in frame.columns and frame["config_id"].notna().all()
            except Exception:
                ok = False
            if not ok:
                part.unlink()
                repaired.append(part.relative_to(self.root).as_posix())
        return tuple(repaired)

    def _remove_temporaries(self) -> None:
        for folder in (self.root, self.root / PPL_DIR, self.root / COST_DIR):
            if folder.is_dir():
                for tmp in folder.glob(TMP_PREFIX + "*"):
                    tmp.unlink(missing_ok=True)

    def _clear(self) -> None:
        """Remove only the files this store writes (never anything else in a user's directory)."""
        for name in (MANIFEST, CONFIGS, RESULTS, RESULTS_CSV):
            (self.root / name).unlink(missing_ok=True)
        for folder, pattern in ((PPL_DIR, "part-*.parquet"), (COST_DIR, "accel-*.parquet")):
            for part in (self.root / folder).glob(pattern):
                part.unlink()

    # ---- parts ------------------------------------------------------------------------------------------------------
    def _ppl_parts(self) -> list[Path]:
        return sorted((self.root / PPL_DIR).glob("part-*.parquet"))

    def _done_perplexity(self) -> frozenset[tuple[int, str]]:
        frame = self.read_perplexity()
        return frozenset((int(i), str(n)) for i, n in zip(frame["config_id"], frame["numerics"]))

    def _done_accels(self) -> frozenset[int]:
        return frozenset(int(p.stem.split("-")[1]) for p in (self.root / COST_DIR).glob("accel-*.parquet"))

    def write_perplexity_part(self, frame: pd.DataFrame) -> None:
        parts = self._ppl_parts()
        index = 1 + max((int(p.stem.split("-")[1]) for p in parts), default=-1)
        atomic_write_frame(self.root / PPL_DIR / f"part-{index:06d}.parquet", frame)

    def replace_configs(self, configs: pd.DataFrame) -> None:
        """Rewrite the configurations table (a search appends each generation's configurations before evaluating)."""
        atomic_write_frame(self.root / CONFIGS, configs)

    def cost_part_config_ids(self, accel_id: int) -> frozenset[int]:
        path = self.root / COST_DIR / f"accel-{accel_id:05d}.parquet"
        return frozenset(int(i) for i in pd.read_parquet(path, columns=["config_id"])["config_id"])

    def write_cost_part(self, accel_id: int, frame: pd.DataFrame) -> None:
        atomic_write_frame(self.root / COST_DIR / f"accel-{accel_id:05d}.parquet", frame)

    def read_configs(self) -> pd.DataFrame:
        return pd.read_parquet(self.root / CONFIGS)

    def read_perplexity(self) -> pd.DataFrame:
        """Every evaluated (config_id, numerics) row; parts written before numerics were recorded are float32."""
        parts = [pd.read_parquet(p) for p in self._ppl_parts()]
        if not parts:
            return pd.DataFrame({"config_id": pd.Series([], dtype="int64"), "numerics": pd.Series([], dtype=str)})
        parts = [part if "numerics" in part else part.assign(numerics="float") for part in parts]
        return pd.concat(parts, ignore_index=True).sort_values("config_id", kind="stable")

    def read_costs(self) -> pd.DataFrame:
        parts = [pd.read_parquet(p) for p in sorted((self.root / COST_DIR).glob("accel-*.parquet"))]
        return pd.concat(parts, ignore_index=True)

    def write_results(self, frame: pd.DataFrame, extra: dict[str, Any] | None = None,
                      manifest: dict[str, Any] | None = None) -> None:
        """The joined table (Parquet and CSV), then the manifest (``manifest``, or the stored one, plus ``extra``)
        marked complete: a store whose manifest says complete has its results."""
        atomic_write_frame(self.results_path, frame)
        atomic_write_frame(self.root / RESULTS_CSV, frame)
        manifest = dict(manifest if manifest is not None else self.read_manifest() or {})
        manifest.update(extra or {})
        manifest.update(complete=True, n_points=int(len(frame)),
                        finished_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        self.write_manifest(manifest)


def load_results(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A finished sweep's results table and manifest, from its directory or its results.parquet / .csv."""
    p = Path(path)
    root = p if p.is_dir() else p.parent
    store = ResultsStore(root)
    manifest = store.read_manifest()
    if manifest is None:
        raise SweepError(f"{root} is not a sweep results directory (no {MANIFEST})")
    _check_report_manifest(manifest, root)
    table = p if p.is_file() else store.results_path
    if not table.is_file():
        raise SweepError(f"sweep in {root} is not finished (no {RESULTS}); run it again with --resume")
    try:
        if table.suffix == ".csv":
            frame = pd.read_csv(table, dtype={"heads_per_layer": str, "accel": str})
        else:
            frame = pd.read_parquet(table)
    except Exception as exc:  # pyarrow / pandas raise many types for a corrupt file
        raise SweepError(f"cannot read sweep results {table}: {exc}; rerun the sweep with --resume to rebuild it"
                         ) from None
    missing = [c for c in RESULT_COLUMNS if c not in frame.columns]
    if missing:
        raise SweepError(f"sweep results {table} are damaged (no column {missing[0]!r}); "
                         "rerun the sweep with --resume to rebuild them")
    return frame, manifest


# What the report reads from a results table and its manifest.
RESULT_COLUMNS = ("config_id", "accel_id", "heads_per_layer", "accel", "perplexity", "is_baseline", "pareto_3d")


def _check_report_manifest(manifest: dict[str, Any], root: Path) -> None:
    inputs = manifest.get("inputs")
    ok = (isinstance(inputs, dict) and isinstance(inputs.get("model_spec"), dict)
          and isinstance(inputs.get("accelerators"), list) and isinstance(manifest.get("spec"), dict))
    if not ok:
        raise SweepError(f"the manifest of the sweep in {root} is damaged (no inputs, model spec or accelerators); "
                         "rerun the sweep with --force to recompute it")
