"""What a perplexity worker of a sweep is given (its own module: both the evaluator, ``hwsim.sweep.evaluate``, and
the fine-tuner, ``hwsim.sweep.finetune``, take it, and neither imports the other for it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class PerplexityJob:
    """Everything a worker needs to evaluate pruning configurations of one checkpoint."""

    checkpoint: str
    split: str = "valid"
    max_tokens: int | None = None
    finetune_steps: int = 0
    torch_threads: int = 1  # intra-op threads of each evaluating process
    numerics: Any = None  # hwsim.numerics.Numerics: evaluate at an accelerator's bit widths (None: float32)

    @property
    def numerics_label(self) -> str:
        return "float" if self.numerics is None else self.numerics.label
