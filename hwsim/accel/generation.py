"""Cost of generating text: decode steps per token, and whole generations (a prompt pass, then one step per token).

**Decode step** (``phase = "decode"``): one new token for each of B sequences with C cached tokens
(``hwsim.workload.decode_step``), what stays on chip between tokens decided by ``hwsim.accel.kept``. Per token means
per generated token: ``latency_per_token_s`` is the step's latency (the time between two tokens of one sequence),
``tokens_per_s`` = B / that latency, energy and DRAM bytes per token are the step's divided by B. The default
context is the ``segment`` policy's average: a token at position i of a segment sees M memory states and i
segment tokens, so C = M + (T - 1) // 2.

**Generation** (``phase = "generate"``): a prompt of P tokens runs as segment passes of at most T tokens, each with
the memory the segment policy gives it (the first: none); it yields the first new token (time to first token). Each
further token is one decode step whose context the policy grows: ``segment`` (memory of the previous segment plus
the tokens so far in the current one, rolling over every T tokens) or ``window`` (the last M + T - 1 tokens). Steps
with the same context cost the same and are costed once. The prompt pass streams the weights as a segment pass
does; from then on the decode steps keep on chip what fits.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from hwsim.accel.config import AccelConfig
from hwsim.accel.cost import LayerCost, ModelCost, model_cost
from hwsim.errors import SpecError
from hwsim.spec import ModelSpec
from hwsim.workload import SEGMENT, Step, build_workload, check_policy, decode_step

MAX_TOKENS = 1_000_000  # prompt or new tokens: far beyond any generation anyone costs, small enough to loop over


def default_context(spec: ModelSpec) -> int:
    """The ``segment`` policy's average number of cached tokens: M + (T - 1) // 2."""
    return spec.memory_len + (spec.segment_len - 1) // 2


def cached_tokens(spec: ModelSpec, position: int, policy: str) -> int:
    """Tokens a new token at absolute ``position`` (0-based) attends to besides itself."""
    t, m = spec.segment_len, spec.memory_len
    if policy == "window":
        return min(position, m + t - 1)
    segment, inside = divmod(position, t)
    return min(m, segment * t) + inside


def prompt_steps(spec: ModelSpec, prompt: int) -> list[Step]:
    """The prompt pass as segment passes: chunks of at most T tokens, each after the memory it has."""
    t, m = spec.segment_len, spec.memory_len
    steps = []
    for start in range(0, prompt, t):
        queries = min(t, prompt - start)
        steps.append(Step(kind=SEGMENT, queries=queries, keys=queries + min(m, start)))
    return steps


def byte_classes(total: LayerCost) -> dict[str, int]:
    """A pass's DRAM bytes by what moves (they add up to ``dram_bytes``)."""
    return {
        "weights": total.dram_weight_bytes - total.dram_persistent_bytes,
        "persistent": total.dram_persistent_bytes,
        "position_keys": total.dram_position_bytes,
        "cache_read": total.dram_cache_read_bytes,
        "cache_write": total.dram_cache_write_bytes,
        "activations": total.dram_activation_bytes - total.dram_position_bytes - total.dram_cache_read_bytes
        - total.dram_cache_write_bytes,
        "psum": total.dram_psum_bytes,
    }  # fmt: skip


def decode_summary(cost: ModelCost) -> dict[str, Any]:
    """Per-token figures of a decode step's cost (module docstring)."""
    t, b, kept = cost.total, cost.batch, cost.kept
    return {
        "phase": "decode",
        "context": cost.step.cached,
        "batch": b,
        "latency_per_token_s": t.latency_s,
        "tokens_per_s": b / t.latency_s,
        "energy_per_token_pj": t.energy_pj / b,
        "dram_bytes_per_token": t.dram_bytes / b,
        "dram_bytes_per_token_by_class": {key: value / b for key, value in byte_classes(t).items()},
        "macs_per_token": t.macs / b,
        "weights_on_chip": kept.weights,
        "position_keys_on_chip": kept.position_keys,
        "cache_bytes": cost.cache_bytes,
        "cache_location": "on chip (ifmap SRAM)" if kept.cache else "DRAM",
        "bandwidth_bound_s": t.dram_bytes / cost.accel.dram_bandwidth_bytes_per_s,
        "compute_bound_s": t.macs / cost.accel.peak_macs_per_s,
    }


def decode_cost(spec: ModelSpec, heads, accel: AccelConfig, batch: int = 1, context: int | None = None) -> ModelCost:
    """One decode step's cost (``context`` cached tokens, default :func:`default_context`)."""
    context = default_context(spec) if context is None else context
    return model_cost(build_workload(spec, heads, batch, decode_step(context)), accel)


@dataclass(frozen=True, kw_only=True)
class GenerationCost:
    """A prompt pass then ``new_tokens - 1`` decode steps (the prompt pass gives the first token)."""

    accel: AccelConfig
    heads_per_layer: tuple[int, ...]
    batch: int
    prompt: int
    new_tokens: int
    policy: str
    prompt_costs: tuple[ModelCost, ...]
    step_costs: tuple[tuple[int, ModelCost], ...]  # (how many steps, cost) per distinct context, in order
    summed: ModelCost  # every pass added up: per-layer rows, total, leakage (area: the chip's)

    @property
    def total(self) -> LayerCost:
        return self.summed.total

    @property
    def time_to_first_token_s(self) -> float:
        return sum(c.total.latency_s for c in self.prompt_costs)

    def to_json_dict(self) -> dict[str, Any]:
        t, b, steps = self.total, self.batch, self.new_tokens - 1
        decode_s = t.latency_s - self.time_to_first_token_s
        tokens = b * self.new_tokens
        kept = [c.kept for _, c in self.step_costs]
        return {
            "phase": "generate", "policy": self.policy, "prompt": self.prompt, "new_tokens": self.new_tokens,
            "batch": b, "accel": self.accel.to_dict(), "heads_per_layer": list(self.heads_per_layer),
            "time_to_first_token_s": self.time_to_first_token_s, "total_latency_s": t.latency_s,
            "latency_per_token_s": decode_s / steps if steps else self.time_to_first_token_s,
            "tokens_per_s": b * steps / decode_s if steps else b / self.time_to_first_token_s,
            "energy_per_token_pj": t.energy_pj / tokens, "dram_bytes_per_token": t.dram_bytes / tokens,
            "dram_bytes_per_token_by_class": {key: value / tokens for key, value in byte_classes(t).items()},
            "weights_on_chip": all(k.weights for k in kept) if kept else False,
            "cache_bytes": max(c.cache_bytes for _, c in self.step_costs) if kept else 0,
            "cache_location": _cache_location(self.step_costs),
            "decode_contexts": [[c.step.cached, n] for n, c in self.step_costs],
            "layers": [layer.to_dict() for layer in self.summed.layers], "total": t.to_dict(),
        }  # fmt: skip


def _cache_location(step_costs) -> str:
    on = [c.step.cached for _, c in step_costs if c.kept.cache]
    if not step_costs:
        return "none (no decode step)"
    if len(on) == len(step_costs):
        return "on chip (ifmap SRAM)"
    if not on:
        return "DRAM"
    return f"on chip up to {max(on)} cached tokens, then DRAM"


def check_tokens(prompt: int, new_tokens: int) -> None:
    for name, value, low in (("--prompt", prompt, 1), ("--new-tokens", new_tokens, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_TOKENS:
            raise SpecError(f"{name} must be an integer in {low}..{MAX_TOKENS:,}, got {value!r}")


def generation_cost(spec: ModelSpec, heads, accel: AccelConfig, batch: int = 1, *, prompt: int, new_tokens: int,
                    policy: str = "segment") -> GenerationCost:  # fmt: skip
    """Cost of a whole generation (module docstring)."""
    check_tokens(prompt, new_tokens)
    check_policy(policy)
    prompt_costs = tuple(model_cost(build_workload(spec, heads, batch, step), accel)
                         for step in prompt_steps(spec, prompt))  # fmt: skip
    counts: dict[int, int] = {}
    for position in range(prompt, prompt + new_tokens - 1):  # the token fed at this position
        context = cached_tokens(spec, position, policy)
        counts[context] = counts.get(context, 0) + 1
    step_costs = tuple((n, decode_cost(spec, heads, accel, batch, context)) for context, n in counts.items())
    weighted = [(1, c) for c in prompt_costs] + list(step_costs)
    first = prompt_costs[0]
    layers = tuple(_sum_layers([_scaled(c.layers[i], n) for n, c in weighted]) for i in range(len(first.layers)))
    leakage = {key: sum(n * c.leakage_pj[key] for n, c in weighted) for key in first.leakage_pj}
    summed = dataclasses.replace(first, layers=layers, total=_sum_layers([_scaled(c.total, n) for n, c in weighted]),
                                 leakage_pj=leakage, ops=(), step=None, kept=None)  # fmt: skip
    return GenerationCost(accel=accel, heads_per_layer=first.heads_per_layer, batch=batch, prompt=prompt,
                          new_tokens=new_tokens, policy=policy, prompt_costs=prompt_costs, step_costs=step_costs,
                          summed=summed)  # fmt: skip


def _scaled(cost: LayerCost, n: int) -> LayerCost:
    """``n`` runs of a pass: every count and energy times n; area is the chip's, not multiplied."""
    if n == 1:
        return cost
    values = {f.name: getattr(cost, f.name) * n for f in dataclasses.fields(cost)
              if f.name not in ("name", "heads", "area_mm2", "params", "param_bytes")}  # fmt: skip
    return dataclasses.replace(cost, **values)


def _sum_layers(costs: list[LayerCost]) -> LayerCost:
    """Passes one after another: counts, time and energy add; parameters and area are the model's, not added."""
    total = costs[0]
    for cost in costs[1:]:
        total = total + cost
    return dataclasses.replace(total, name=costs[0].name, heads=costs[0].heads, params=costs[0].params,
                               param_bytes=costs[0].param_bytes, area_mm2=costs[0].area_mm2)  # fmt: skip
