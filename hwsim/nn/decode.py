"""Incremental decoding: token-by-token generation with a per-layer cache, on the model's own layers.

A :class:`DecodeState` holds, per layer, the context of the next token: the keys and values of the cached tokens
(``cache="kv"``, the default: each token's K/V are computed once, when it enters) or their hidden states
(``cache="states"``: K/V re-projected from the states at every step, as S2-style training does for its memory);
and, per layer, the position keys R W_r of every relative distance up to ``memory_len + segment_len - 1``, computed
once and read like weights (``hwsim.workload``'s decode phase counts them so).

Context policies (what the next token attends to):
  segment  exactly the evaluation context (``hwsim.nn.evaluate``): the previous segment's states as memory (the
           last ``memory_len``) plus the tokens so far in the current segment; at each ``segment_len`` boundary the
           cache rolls over to its last ``memory_len`` tokens, as the segment pass's memory does. Feeding a stream
           token by token reproduces the segment pass's log-probabilities at every position.
  window   the last ``memory_len + segment_len`` tokens, the new one included (oldest evicted).

Tokens may be fed in chunks (a prompt): a chunk never crosses a segment boundary under ``segment``; the mask lets
each new token see exactly its own context.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from hwsim.errors import SpecError
from hwsim.nn.attention import attention_mask
from hwsim.workload import check_policy

CACHES = ("kv", "states")
MAX_NEW_TOKENS = 100_000  # a guard against a typo; far beyond what anyone reads


class _KeyValues:
    """One layer's cached keys and values, each (B, h, n, d_h); ``extend`` is RelativeAttention's cache hook."""

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.k = k if self.k is None else torch.cat([self.k, k], dim=2)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=2)
        return self.k, self.v

    def keep_last(self, n: int) -> None:
        if self.k is not None:
            self.k, self.v = self.k[:, :, self.k.shape[2] - n :], self.v[:, :, self.v.shape[2] - n :]


class DecodeState:
    """The context of every layer for the next tokens (see the module docstring); built by :func:`start`."""

    def __init__(self, model, batch: int, policy: str, cache: str) -> None:
        check_policy(policy)
        if cache not in CACHES:
            raise SpecError(f"unknown decode cache {cache!r} (choose {', '.join(CACHES)})")
        spec = model.spec
        self.policy, self.cache, self.batch = policy, cache, batch
        self.segment_len, self.memory_len = spec.segment_len, spec.memory_len
        self.window = spec.memory_len + spec.segment_len  # the longest context of both policies (new token included)
        self.length = 0  # cached tokens
        self.in_segment = 0  # tokens of the current segment (segment policy)
        n = len(model.layers)
        self.kv = [_KeyValues() for _ in range(n)] if cache == "kv" else [None] * n
        self.states: list[torch.Tensor | None] = [None] * n
        self.device = next(model.parameters()).device
        pos = model._positions(self.window)  # rows for distances window-1..0
        self.position_keys = [layer.attn.position_keys(pos) if layer.attn.n_heads else None for layer in model.layers]

    def make_room(self) -> int:
        """Tokens that can enter as one chunk: up to the next roll-over (segment policy), or as many as keep the
        chunk's keys within the window (window policy: the position keys cover window - 1 distances)."""
        if self.policy == "window":
            return max(1, self.window - self.length)
        if self.in_segment == self.segment_len:  # segment boundary: the segment's states become the memory
            self._keep_last(self.memory_len)
            self.in_segment = 0
        return self.segment_len - self.in_segment

    def mask(self, t: int, same_length: bool) -> torch.Tensor:
        """(t, length + t) allowed keys of the ``t`` new tokens."""
        if self.policy == "window":  # key j is visible to query i if c + i - j < window
            return attention_mask(t, self.length, self.window - 1, True, self.device)
        return attention_mask(t, self.length, self.memory_len, same_length, self.device)

    def layer_context(self, i: int, h: torch.Tensor):
        """(memory states, KV cache) of layer ``i`` for its inputs ``h``: one of them is None."""
        if self.cache == "kv":
            return None, self.kv[i]
        previous = self.states[i]
        self.states[i] = h if previous is None else torch.cat([previous, h], dim=1)
        return previous, None

    def advance(self, t: int) -> None:
        self.length += t
        self.in_segment += t
        if self.policy == "window" and self.length > self.window - 1:
            self._keep_last(self.window - 1)

    def _keep_last(self, n: int) -> None:
        n = min(n, self.length)
        for kv in self.kv:
            if kv is not None:
                kv.keep_last(n)
        self.states = [None if s is None else s[:, s.shape[1] - n :] for s in self.states]
        self.length = n


def start(model, batch: int = 1, policy: str = "segment", cache: str = "kv") -> DecodeState:
    """An empty context for ``batch`` sequences decoded in lockstep."""
    return DecodeState(model, batch, policy, cache)


@torch.inference_mode()
def feed(model, state: DecodeState, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probabilities (B, t, V) of the token after each of ``tokens`` (B, t), extending ``state``."""
    model.eval()
    out, start_at = [], 0
    while start_at < tokens.shape[1]:
        chunk = tokens[:, start_at : start_at + state.make_room()]
        out.append(model.output.log_probs(model.forward_cached(chunk, state)))
        start_at += chunk.shape[1]
    return torch.cat(out, dim=1)


def sample(log_probs: torch.Tensor, temperature: float, top_k: int, generator: torch.Generator) -> torch.Tensor:
    """(B,) next tokens from (B, V) log-probabilities: greedy at temperature 0, else softmax(log p / T) over the
    ``top_k`` most likely (0: all)."""
    if temperature == 0:
        return log_probs.argmax(dim=-1)
    logits = log_probs.float() / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(log_probs.device)


@dataclass(frozen=True, kw_only=True)
class Generation:
    """Generated ids and timings (seconds): the prompt pass gives the first token, each decode step one more."""

    prompt: tuple[int, ...]
    tokens: tuple[int, ...]
    prompt_s: float  # time to first token
    decode_s: float  # the decode steps after the first token

    @property
    def tokens_per_s(self) -> float:
        """Decoding rate: tokens after the first over their time (the first token's rate if there is only one)."""
        if len(self.tokens) > 1 and self.decode_s > 0:
            return (len(self.tokens) - 1) / self.decode_s
        return len(self.tokens) / max(self.prompt_s, 1e-12)


def check_generation(new_tokens: int, temperature: float, top_k: int, vocab_size: int) -> None:
    """Refuse options that cannot generate (one clear message each)."""
    if isinstance(new_tokens, bool) or not isinstance(new_tokens, int) or not 1 <= new_tokens <= MAX_NEW_TOKENS:
        raise SpecError(f"--new-tokens must be an integer in 1..{MAX_NEW_TOKENS:,}, got {new_tokens!r}")
    if not temperature >= 0 or temperature == float("inf"):
        raise SpecError(f"--temperature must be a finite number >= 0 (0: greedy), got {temperature!r}")
    if not 0 <= top_k <= vocab_size:
        raise SpecError(f"--top-k must be in 0..{vocab_size} (0: no cut), got {top_k}")


def generate(model, prompt: list[int], new_tokens: int, *, temperature: float = 1.0, top_k: int = 0, seed: int = 0,
             policy: str = "segment", cache: str = "kv") -> Generation:  # fmt: skip
    """Continue ``prompt`` (token ids, at least one) by ``new_tokens`` sampled tokens (one sequence)."""
    check_generation(new_tokens, temperature, top_k, model.spec.vocab_size)
    if not prompt:
        raise SpecError("the prompt is empty: give at least one token")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(int(seed))
    state = start(model, 1, policy, cache)
    began = time.perf_counter()
    log_probs = feed(model, state, torch.tensor([prompt], dtype=torch.long, device=device))[:, -1]
    out = [sample(log_probs, temperature, top_k, generator)]
    _sync(device)
    first = time.perf_counter()
    for _ in range(new_tokens - 1):
        log_probs = feed(model, state, out[-1].view(1, 1))[:, -1]
        out.append(sample(log_probs, temperature, top_k, generator))
    tokens = tuple(int(t) for t in torch.cat(out).tolist())
    _sync(device)
    return Generation(prompt=tuple(prompt), tokens=tokens, prompt_s=first - began, decode_s=time.perf_counter() - first)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
