"""Corpus loaders and Transformer-XL batching on small files the tests write."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwsim.errors import DataError
from hwsim.nn.data import CorpusKind, DataSource, batchify, load_corpus, segments


def _write(root, files):
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_ptb_builtin_matches_mikolov_counts():
    corpus = load_corpus(DataSource())
    assert len(corpus.vocab) == 10000  # 9,999 words + <eos>
    # Mikolov's PTB: 929,589 / 73,760 / 82,430 tokens including one <eos> per sentence
    assert [len(corpus.stream(s)) for s in ("train", "valid", "test")] == [929589, 73760, 82430]


def test_wikitext_files_vocab_from_train_and_unk(tmp_path):
    root = _write(tmp_path / "wt", {
        "wiki.train.tokens": " = Title = \n\n the cat sat on the mat the \n the <unk> cat \n",
        "wiki.valid.tokens": " the dog sat \n",
        "wiki.test.tokens": " the cat \n",
    })
    corpus = load_corpus(DataSource(kind=CorpusKind.WORD, path=str(root)))
    assert corpus.vocab[0] == "the"  # most frequent first
    words = [corpus.vocab[i] for i in corpus.stream("valid")]
    assert words == ["the", "<unk>", "sat", "<eos>"]  # 'dog' is not in train
    assert len(corpus.stream("train")) == 3 + 7 + 3 + 3  # '= Title =' line, two sentences, an <eos> each


def test_plain_text_adds_unk_when_train_has_none(tmp_path):
    root = _write(tmp_path / "txt", {"train.txt": "a b a\n", "valid.txt": "a c\n", "test.txt": "b\n"})
    corpus = load_corpus(DataSource(kind=CorpusKind.WORD, path=str(root)))
    assert "<unk>" in corpus.vocab
    assert [corpus.vocab[i] for i in corpus.stream("valid")] == ["a", "<unk>", "<eos>"]


def test_char_level_single_file_split_90_5_5(tmp_path):
    text = bytes(range(97, 123)) * 40  # 1040 bytes of a..z
    f = tmp_path / "enwik8"
    f.write_bytes(text)
    corpus = load_corpus(DataSource(kind=CorpusKind.CHAR, path=str(f)))
    sizes = [len(corpus.stream(s)) for s in ("train", "valid", "test")]
    assert sizes == [1040 - 2 * 52, 52, 52]
    assert len(corpus.vocab) == 26 and corpus.vocab[0] == "a"
    assert corpus.stream("train")[:3].tolist() == [0, 1, 2]


def test_char_level_directory(tmp_path):
    root = _write(tmp_path / "t8", {"train.txt": "ab ba", "valid.txt": "ab", "test.txt": "ba "})
    corpus = load_corpus(DataSource(kind=CorpusKind.CHAR, path=str(root)))
    assert corpus.vocab == (" ", "a", "b") and corpus.stream("test").tolist() == [2, 1, 0]


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_corpus(DataSource(kind=CorpusKind.WORD, path=str(tmp_path / "nope")))
    root = _write(tmp_path / "e", {"train.txt": "  \n", "valid.txt": "a\n", "test.txt": "a\n"})
    with pytest.raises(DataError, match="empty"):
        load_corpus(DataSource(kind=CorpusKind.WORD, path=str(root)))
    root = _write(tmp_path / "m", {"train.txt": "a\n", "valid.txt": "a\n"})
    with pytest.raises(DataError, match="not found"):
        load_corpus(DataSource(kind=CorpusKind.WORD, path=str(root)))
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_corpus(DataSource(kind=CorpusKind.CHAR, path=str(tmp_path / "empty.bin")))
    with pytest.raises(DataError, match="needs a path"):
        DataSource.from_dict({"kind": "word"})
    with pytest.raises(DataError, match="unknown corpus kind"):
        DataSource.from_dict({"kind": "bogus"})


def test_batchify_and_segments_carry_streams():
    stream = np.arange(23)
    rows = batchify(stream, 2)  # 2 rows of 11, the last token dropped
    assert rows.tolist() == [list(range(11)), list(range(11, 22))]
    pairs = list(segments(rows, 4))
    assert [x.shape[1] for x, _ in pairs] == [4, 4, 2]
    x, y = pairs[1]
    assert torch.equal(x[0], torch.tensor([4, 5, 6, 7])) and torch.equal(y[0], torch.tensor([5, 6, 7, 8]))
    assert sum(y.numel() for _, y in segments(rows, 4, max_tokens=6)) == 6
    with pytest.raises(DataError, match="too short"):
        batchify(np.arange(3), 2)
