"""Text <-> token ids with a checkpoint's vocabulary, for generation.

Word level (Penn Treebank, WikiText, plain text): whitespace tokens as ``hwsim.nn.data`` reads a corpus, a line
break read as ``<eos>`` (the corpus ends every line with it), words outside the vocabulary read as ``<unk>``; ids
print as words joined by spaces, ``<eos>`` as a line break. Byte level (enwik8/text8): the UTF-8 bytes of the text;
a byte the model never saw in training has no id and is left out (reported like an unknown word).
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.errors import DataError
from hwsim.nn.data import EOS, UNK


@dataclass(frozen=True, kw_only=True)
class Vocabulary:
    """A checkpoint's symbols (list index = id) and their level."""

    symbols: tuple[str, ...]
    bytes_level: bool

    def encode(self, text: str) -> tuple[list[int], list[str]]:
        """(ids, the pieces of ``text`` that had no id of their own: read as <unk>, or dropped at byte level)."""
        if self.bytes_level:
            lookup = {_symbol_byte(s): i for i, s in enumerate(self.symbols)}
            data = text.encode("utf-8")
            return [lookup[b] for b in data if b in lookup], [f"\\x{b:02x}" for b in data if b not in lookup]
        index = {w: i for i, w in enumerate(self.symbols)}
        unk = index.get(UNK)
        ids, unknown = [], []
        lines = text.split("\n")
        for n, line in enumerate(lines):
            words = line.split() + ([EOS] if n < len(lines) - 1 else [])
            for word in words:
                if word in index:
                    ids.append(index[word])
                else:
                    unknown.append(word)
                    if unk is not None:
                        ids.append(unk)
        return ids, unknown

    def decode(self, ids) -> str:
        if self.bytes_level:
            return bytes(_symbol_byte(self.symbols[i]) for i in ids).decode("utf-8", errors="replace")
        out: list[str] = []
        for word in (self.symbols[i] for i in ids):
            if word == EOS:
                out.append("\n")
            else:
                out.append(word if not out or out[-1] == "\n" else " " + word)
        return "".join(out)


def _symbol_byte(symbol: str) -> int:
    """``hwsim.nn.data.char_corpus`` writes printable bytes as themselves, the others as ``\\xNN``."""
    return ord(symbol) if len(symbol) == 1 else int(symbol[2:], 16)


def checkpoint_vocabulary(checkpoint) -> Vocabulary:
    """The vocabulary a checkpoint was trained with (stored in it; rebuilt from its corpus for old checkpoints)."""
    from hwsim.nn.data import CorpusKind, DataSource, load_corpus

    source = DataSource.from_dict(checkpoint.data)
    bytes_level = source.kind is CorpusKind.CHAR
    symbols = tuple(checkpoint.vocab) or load_corpus(source).vocab
    if len(symbols) > checkpoint.spec.vocab_size:
        raise DataError(f"{checkpoint.path}: the vocabulary has {len(symbols):,} symbols but the model only "
                        f"{checkpoint.spec.vocab_size:,}")  # fmt: skip
    return Vocabulary(symbols=symbols, bytes_level=bytes_level)
