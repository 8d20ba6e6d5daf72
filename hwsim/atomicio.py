"""Safe output: atomic file writes, output-path checks done before any work, and an exclusive lock on a directory.

Atomic writes: a temporary file in the target's directory, filled, then moved into place with os.replace. A reader
(or a resumed sweep) therefore sees either the old file or the complete new one, never a partial write; a killed
writer leaves at most a ``TMP_PREFIX`` file behind, which resuming code may delete.

Every command checks its output paths with :func:`check_output_file` / :func:`check_output_dir` before it starts
working, so an unwritable or odd path fails at once with one line, and nothing that is not an hwsim artefact of the
same kind is ever replaced or deleted. Every OSError of a write becomes an :class:`~hwsim.errors.OutputError`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from hwsim.errors import OutputError

TMP_PREFIX = ".tmp-"
LOCK_NAME = ".hwsim.lock"  # holds the owner's pid; see output_lock


def _umask_mode() -> int:
    """0o666 minus the process umask: what a plain ``open(path, "w")`` would create (mkstemp makes 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _oserror(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {exc.strerror or exc}")


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Create ``path`` atomically: ``write(tmp_path)`` fills a temporary file that then replaces ``path``."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
        os.close(fd)
        os.chmod(tmp, _umask_mode())
    except OSError as exc:
        raise _oserror(path, exc) from None
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _oserror(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, flushed to disk before the rename."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    atomic_write(path, write)


# ---- checks before any work ------------------------------------------------------------------------------------------
def _nonempty_path(path: str | Path | None, what: str) -> Path:
    if path is None or str(path).strip() in ("", ".") or "\0" in str(path):
        raise OutputError(f"{what} path is empty: give a name such as results/run1")
    p = Path(path)
    if p.name in ("", ".", ".."):
        raise OutputError(f"{what} path {str(path)!r} names no file or directory of its own: give a name such as "
                          "results/run1")
    return p


def _check_creatable(path: Path, what: str) -> None:
    """The nearest existing ancestor of ``path`` must be a directory we may write into."""
    parent = path.absolute().parent
    while not parent.exists():
        if parent.is_symlink():
            raise OutputError(f"cannot create {what} {path}: {parent} is a dangling symbolic link")
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"cannot create {what} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot create {what} {path}: {parent} is not writable")


def check_output_file(path: str | Path | None, what: str = "output") -> Path:
    """An output file path that can be created or replaced (an existing *file* is replaced atomically)."""
    p = _nonempty_path(path, what)
    if p.is_dir():
        raise OutputError(f"{what} {p} is a directory: give a file name")
    if p.exists() and not os.access(p.absolute().parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot replace {what} {p}: {p.absolute().parent} is not writable")
    if not p.exists():
        _check_creatable(p, what)
    return p


def is_empty_dir(path: Path) -> bool:
    """An existing directory holding nothing but our lock file and temporaries."""
    return path.is_dir() and all(e.name == LOCK_NAME or e.name.startswith(TMP_PREFIX) for e in path.iterdir())


def check_output_dir(path: str | Path | None, what: str, is_ours: Callable[[Path], bool]) -> Path:
    """An output directory that does not exist yet, is empty, or already holds an hwsim artefact of this kind
    (``is_ours``). Anything else (a regular file, a user's directory) is refused: it is never replaced."""
    p = _nonempty_path(path, what)
    if p.is_symlink() and not p.exists():
        raise OutputError(f"{what} {p} is a dangling symbolic link")
    if p.exists():
        if not p.is_dir():
            raise OutputError(f"{what} {p} exists and is not a directory; refusing to replace it")
        if not (is_empty_dir(p) or is_ours(p)):
            raise OutputError(f"{what} {p} is a non-empty directory that does not hold an hwsim {what}; "
                              "refusing to overwrite it (give a new or empty directory)")
        if not os.access(p, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write {what} {p}: it is not writable")
    else:
        _check_creatable(p, what)
    return p


def check_report_paths(html: Path, siblings: tuple[str, ...]) -> Path:
    """Check an HTML report path and the data files written beside it before any work (no partial reports)."""
    html = check_output_file(html, "report")
    if html.suffix.lower() in siblings:
        raise OutputError(f"report path {html} would be overwritten by its own data file: give a .html name")
    for suffix in siblings:
        check_output_file(html.with_suffix(suffix), "report data")
    return html


def make_dirs(path: Path) -> None:
    """``mkdir -p`` with an OutputError instead of an OSError."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create directory {path}: {exc.strerror or exc}") from None


# ---- one writer per output directory ---------------------------------------------------------------------------------
def _lock_owner(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


@contextlib.contextmanager
def output_lock(directory: str | Path, what: str) -> Iterator[Path]:
    """Hold an exclusive lock on ``directory`` (created if missing) while the body runs; refuse if another process
    holds it.

    The lock is ``directory/.hwsim.lock`` holding the owner's pid, locked with ``flock``. The kernel drops an flock
    when its process dies, however it dies, so a lock file left by a killed run is stale by construction: the next
    run takes it over without any pid guessing (a pid may have been reused by an unrelated process).
    """
    import fcntl

    directory = Path(directory)
    make_dirs(directory)
    path = directory / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _oserror(path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputError(f"{directory} is in use by another {what} (pid {_lock_owner(path)}): wait for it to "
                              "finish, or write to another directory") from None
        try:  # a previous owner may have unlinked the file between our open and flock: then lock the new file
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)
