"""Checkpoints: a directory holding

  model.safetensors        the model weights (float32, or float16 if the recipe asks, upcast on load)
  meta.json                spec, heads per layer, gated flag, model options, recipe, data source, vocabulary,
                           training state (step, phase), history (losses, perplexities, heads open per layer)
  train_state.safetensors  optional: optimizer moments, memory, RNG state and float32 master weights, so that a
                           resumed run continues exactly as if it had never stopped

Anything missing, corrupt or inconsistent raises CheckpointError.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hwsim.atomicio import check_output_dir, make_dirs
from hwsim.errors import CheckpointError, HwsimError
from hwsim.spec import ModelSpec

FORMAT = "hwsim-checkpoint"
VERSION = 1
WEIGHTS, META, STATE = "model.safetensors", "meta.json", "train_state.safetensors"


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    path: Path
    spec: ModelSpec
    heads_per_layer: tuple[int, ...]
    gated: bool
    model_options: dict[str, Any]  # same_length, output_scaling
    recipe: dict[str, Any]
    data: dict[str, Any]
    vocab: tuple[str, ...]
    train_state: dict[str, Any]
    history: list = field(default_factory=list)
    weights: dict = field(default_factory=dict, repr=False)

    def build_model(self, device: str = "cpu", dropouts=None, gated: bool | None = None):
        """The model with these weights (eval mode). ``gated=True`` on an ungated checkpoint adds fresh gates."""
        from hwsim.nn.model import Dropouts, build_model

        use_gates = self.gated if gated is None else gated
        model = build_model(
            self.spec,
            gated=use_gates,
            heads_per_layer=self.heads_per_layer,
            dropouts=dropouts or Dropouts(),
            same_length=bool(self.model_options.get("same_length", False)),
            output_scaling=bool(self.model_options.get("output_scaling", False)),
            init_log_alpha=float(self.model_options.get("init_log_alpha", 2.0)),
        )
        state = {k: v.float() for k, v in self.weights.items()}
        own = model.state_dict()
        wrong = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
        if wrong:
            raise CheckpointError(
                f"{self.path}: weights do not match the spec ({wrong[0]} has shape {tuple(state[wrong[0]].shape)}, "
                f"the spec needs {tuple(own[wrong[0]].shape)})"
            )
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not (k.endswith("log_alpha") and use_gates and not self.gated)]
        if missing or unexpected:
            raise CheckpointError(
                f"{self.path}: weights do not match the spec (missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        return model.to(device).eval()


def save_checkpoint(
    path: str | Path,
    *,
    model,
    recipe: dict,
    data: dict,
    vocab,
    train_state: dict,
    history: list,
    weights_dtype: str = "float32",
    state_tensors: dict | None = None,
) -> Path:
    """Write a checkpoint directory atomically: a temporary directory beside it, then swapped in (see
    :func:`_replace_dir`), so that ``path`` holds the old or the new checkpoint at every moment, never neither."""
    from safetensors.torch import save_file

    path = check_checkpoint_target(path)
    dtype = {"float32": torch.float32, "float16": torch.float16}.get(weights_dtype)
    if dtype is None:
        raise CheckpointError(f"weights_dtype must be float32 or float16, got {weights_dtype!r}")
    make_dirs(path.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=path.name + ".tmp-", dir=path.parent))
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from None
    try:
        weights = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(tmp / WEIGHTS))
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "spec": model.spec.to_dict(),
            "heads_per_layer": list(model.heads_per_layer),
            "gated": bool(model.gated),
            "model_options": {
                "same_length": bool(model.same_length),
                "output_scaling": bool(any(layer.attn.output_scaling for layer in model.layers)),
                "init_log_alpha": float(train_state.get("init_log_alpha", 2.0)),
            },
            "recipe": recipe,
            "data": data,
            "vocab": list(vocab),
            "weights_dtype": weights_dtype,
            "train_state": train_state,
            "history": history,
        }
        (tmp / META).write_text(json.dumps(meta, indent=1))
        if state_tensors:
            save_file({k: v.detach().cpu().contiguous() for k, v in state_tensors.items()}, str(tmp / STATE))
        for f in tmp.iterdir():
            f.chmod(0o644)  # mkdtemp makes the directory private; a checkpoint is meant to be shared
        tmp.chmod(0o755)
        _replace_dir(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(f"cannot write checkpoint {path}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def is_checkpoint_dir(path: str | Path) -> bool:
    """Whether ``path`` is a directory holding an hwsim checkpoint (its meta.json says so)."""
    try:
        meta = json.loads((Path(path) / META).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def check_checkpoint_target(path: str | Path | None) -> Path:
    """A checkpoint output path: new, an empty directory, or an hwsim checkpoint (which is replaced). Anything else,
    a regular file or a user's directory, is refused (CheckpointError) and never touched."""
    try:
        return check_output_dir(path, "checkpoint", is_checkpoint_dir)
    except HwsimError as exc:
        raise CheckpointError(str(exc)) from None


def _replace_dir(tmp: Path, path: Path) -> None:
    """Move the finished directory ``tmp`` to ``path`` with a checkpoint on disk at every moment.

    Where the system can swap two directories in one step (Linux ``renameat2(RENAME_EXCHANGE)``) the new checkpoint
    takes the old one's place atomically and the old one, now at ``tmp``, is deleted. Elsewhere the old checkpoint
    is first set aside under a fresh name beside it (never a fixed one that might be a user's directory), the new
    one moved in, and the old one deleted; a run killed between the two moves leaves the old checkpoint set aside,
    and :func:`load_checkpoint` moves it back (:func:`_recover_set_aside`)."""
    if path.exists() and _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=path.name + SET_ASIDE, dir=path.parent))
        os.replace(path, old)  # rename(2) onto an empty directory
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


SET_ASIDE = ".old-"  # infix of an old checkpoint set aside while a new one replaces it (no atomic exchange)


def _exchange(a: Path, b: Path) -> bool:
    """Swap the directory entries ``a`` and ``b`` atomically (Linux renameat2 with RENAME_EXCHANGE, kernel 3.15+);
    False where the system, its C library or the filesystem cannot."""
    import ctypes
    import errno
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # a C library without renameat2 (glibc < 2.28, some musl builds)
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2  # <fcntl.h> AT_FDCWD, <linux/fs.h> RENAME_EXCHANGE
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _recover_set_aside(path: Path) -> None:
    """A checkpoint missing at ``path`` but set aside beside it by an interrupted :func:`_replace_dir` is moved back."""
    if path.exists() or not path.parent.is_dir():
        return
    aside = sorted((p for p in path.parent.glob(path.name + SET_ASIDE + "*") if is_checkpoint_dir(p)),
                   key=lambda p: p.stat().st_mtime)
    if aside:
        os.replace(aside[-1], path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint directory; any problem raises CheckpointError naming the path."""
    from safetensors.torch import load_file

    path = Path(path)
    _recover_set_aside(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint not found: {path} (expected a directory with {WEIGHTS} and {META})")
    for name in (WEIGHTS, META):
        if not (path / name).is_file():
            raise CheckpointError(f"checkpoint {path} is missing {name}")
    try:
        meta = json.loads((path / META).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path}: corrupt {META} ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path}: {META} is not an hwsim checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path}: unsupported version {meta.get('version')!r}")
    try:
        from hwsim.nn.config import check_fits_memory

        spec = ModelSpec.from_dict(meta["spec"], source=f"checkpoint {path}")
        _check_meta(meta, spec, path)
        check_fits_memory(spec, 1, training=False, what=f"checkpoint {path}")
        weights = load_file(str(path / WEIGHTS))
    except HwsimError as exc:
        raise CheckpointError(str(exc)) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: corrupt or incomplete ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # safetensors raises its own SafetensorError on truncated/corrupt files
        raise CheckpointError(f"checkpoint {path}: cannot read {WEIGHTS} ({exc})") from None
    ckpt = Checkpoint(
        path=path,
        spec=spec,
        heads_per_layer=tuple(meta["heads_per_layer"]),
        gated=meta["gated"],
        model_options=dict(meta.get("model_options", {})),
        recipe=dict(meta.get("recipe", {})),
        data=dict(meta.get("data", {})),
        vocab=tuple(meta.get("vocab", ())),
        train_state=dict(meta.get("train_state", {})),
        history=list(meta.get("history", [])),
        weights=weights,
    )
    nonfinite = next((k for k, v in weights.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())),
                     None)
    if nonfinite is not None:
        raise CheckpointError(f"checkpoint {path}: weight {nonfinite} holds NaN or infinite values")
    if len(ckpt.vocab) > spec.vocab_size:
        raise CheckpointError(f"checkpoint {path}: vocabulary of {len(ckpt.vocab)} exceeds vocab_size {spec.vocab_size}")
    return ckpt


# Types of meta.json entries (JSON has no tuples: lists). A wrong type is an error, never coerced: "gated": "no" is
# not true, and "heads_per_layer": "8" is not a vector.
_META_TYPES = {"recipe": dict, "data": dict, "vocab": list, "train_state": dict, "history": list,
               "model_options": dict}
_OPTION_TYPES = {"same_length": bool, "output_scaling": bool, "init_log_alpha": (int, float)}


def _check_meta(meta: dict, spec: ModelSpec, path: Path) -> None:
    """Every field of meta.json has the type the loader relies on (CheckpointError naming the field otherwise)."""
    from hwsim.heads import validate_heads

    def bad(field: str, want: str) -> CheckpointError:
        shown = repr(meta.get(field))[:60]
        return CheckpointError(f"checkpoint {path}: {META} field {field!r} must be {want}, got {shown}")

    heads = meta.get("heads_per_layer")
    if not isinstance(heads, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in heads):
        raise bad("heads_per_layer", "a list of integers")
    validate_heads(spec, heads)
    if not isinstance(meta.get("gated"), bool):
        raise bad("gated", "true or false")
    for key, kind in _META_TYPES.items():
        if key in meta and not isinstance(meta[key], kind):
            raise bad(key, f"a JSON {'object' if kind is dict else 'array'}")
    if not all(isinstance(v, str) for v in meta.get("vocab", [])):
        raise bad("vocab", "a list of strings")
    for key, kind in _OPTION_TYPES.items():
        value = meta.get("model_options", {}).get(key)
        if value is not None and (isinstance(value, bool) is not (kind is bool) or not isinstance(value, kind)):
            raise CheckpointError(f"checkpoint {path}: {META} model_options.{key} has the wrong type ({value!r})")


def load_train_tensors(path: str | Path) -> dict:
    """The optimizer/memory/RNG tensors of a checkpoint (CheckpointError if the checkpoint has none)."""
    from safetensors.torch import load_file

    f = Path(path) / STATE
    if not f.is_file():
        raise CheckpointError(f"checkpoint {path} has no training state ({STATE}); it cannot be resumed")
    try:
        return load_file(str(f))
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path}: cannot read {STATE} ({exc})") from None
