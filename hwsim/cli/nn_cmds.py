"""``hwsim train``, ``hwsim prune``, ``hwsim eval``: thin wrappers over hwsim.nn (torch is imported inside commands)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def _data_source(data: Optional[str], kind: Optional[str]):
    from hwsim.nn.data import DataSource

    if data is None and kind is None:
        return None
    return DataSource.from_dict({"kind": kind or ("ptb" if data is None else "word"), "path": data or ""})


def _check_train_fits(recipe: Optional[Path], resume_from: Optional[Path], init_from: Optional[Path]) -> None:
    """Refuse a recipe whose model and batch cannot fit in memory, before training starts."""
    from hwsim.nn.checkpoint import load_checkpoint
    from hwsim.nn.config import check_fits_memory, train_config
    from hwsim.spec import ModelSpec, load_recipe

    if resume_from is not None:
        ckpt = load_checkpoint(resume_from)
        spec, raw = ckpt.spec, ckpt.recipe
    else:
        raw = load_recipe(recipe)
        spec = load_checkpoint(init_from).spec if init_from else ModelSpec.from_dict(raw["model"], source=str(recipe))
    cfg = train_config(raw.get("train"))
    check_fits_memory(spec, cfg.batch_size // cfg.accum_steps, training=True, what="training")


def _train_cmd(
    out: Path = typer.Option(..., "--out", help="Checkpoint directory to write (and to resume from)."),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="Recipe TOML ([model], [train], [gates], [data])."),
    gates: bool = typer.Option(False, "--gates", help="Gating phase: learn head gates (needs --init-from)."),
    lam: Optional[float] = typer.Option(None, "--lambda", help="Sparsity-loss coefficient (overrides [gates])."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start from this trained checkpoint."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run saved in --out exactly."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Total steps of this phase (overrides the recipe)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
    data: Optional[str] = typer.Option(None, "--data", help="Corpus path (default: the recipe's [data])."),
    data_kind: Optional[str] = typer.Option(None, "--data-kind", help="ptb, word (WikiText/plain text) or char."),
    sparsity_warmup: bool = typer.Option(True, "--sparsity-warmup/--no-sparsity-warmup", help="Method 1."),
    proper_init: bool = typer.Option(True, "--proper-init/--no-proper-init", help="Method 2 (log alpha 2.0)."),
    output_scaling: bool = typer.Option(True, "--output-scaling/--no-output-scaling", help="Method 3."),
    train_state: bool = typer.Option(True, "--train-state/--no-train-state",
                                     help="Save optimizer/RNG/memory state for exact resume."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train an All-Attention / Transformer-XL LM (baseline phase, or the gating phase with --gates)."""
    from hwsim.errors import SpecError
    from hwsim.nn.checkpoint import check_checkpoint_target
    from hwsim.nn.config import resolve_device, train_overrides
    from hwsim.nn.train import train

    check_checkpoint_target(out)
    if recipe is None and not resume:
        raise SpecError("--recipe is required (except with --resume)")
    overrides = train_overrides(resume=resume, gating=gates, steps=steps, seed=seed, lam=lam,
                                sparsity_warmup=sparsity_warmup, proper_init=proper_init, output_scaling=output_scaling)
    device = resolve_device(device)
    _check_train_fits(recipe, out if resume else None, init_from)
    result = train(recipe, out, gates=gates, init_from=init_from, resume=resume, overrides=overrides,
                   data=_data_source(data, data_kind), device=device, progress=not quiet,
                   save_train_state=train_state)
    print(json.dumps({"checkpoint": str(result.checkpoint_path), "steps": result.steps,
                      "valid_perplexity": result.valid_perplexity, "heads_open": list(result.heads_open),
                      "tokens_per_s": round(result.tokens_per_s, 1)}))


def _prune_cmd(
    checkpoint: Path = typer.Argument(..., help="Checkpoint directory to prune."),
    out: Path = typer.Option(..., "--out", help="Where to write the pruned checkpoint."),
    heads_per_layer: Optional[str] = typer.Option(
        None, "--heads-per-layer", help="Heads to keep per layer, e.g. 8,6,6,4 (default: the open gates)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Physically remove closed heads; the smaller model equals the gated one with those gates fixed."""
    from hwsim.heads import parse_heads
    from hwsim.nn.checkpoint import check_checkpoint_target
    from hwsim.nn.prune import prune_checkpoint

    check_checkpoint_target(out)
    heads = None
    if heads_per_layer is not None:
        from hwsim.nn.checkpoint import load_checkpoint

        heads = parse_heads(heads_per_layer, load_checkpoint(checkpoint).spec.n_layers)
    result = prune_checkpoint(checkpoint, out, heads)
    payload = {"checkpoint": str(result.path), "heads_per_layer": list(result.heads_per_layer),
               "params": result.params, "workload_params": result.workload_params}
    if as_json:
        print(json.dumps(payload))
    else:
        print(f"pruned -> {result.path}: heads per layer {list(result.heads_per_layer)}, "
              f"{result.params:,} parameters (cost model: {result.workload_params:,})")


def _eval_cmd(
    checkpoint: Path = typer.Argument(..., help="Checkpoint directory to evaluate."),
    heads_per_layer: Optional[str] = typer.Option(
        None, "--heads-per-layer", help="Keep this many heads per layer, chosen by gate score / importance."
    ),
    split: str = typer.Option("valid", "--split", help="train, valid or test."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Score at most this many tokens."),
    data: Optional[str] = typer.Option(None, "--data", help="Corpus path (default: the checkpoint's)."),
    data_kind: Optional[str] = typer.Option(None, "--data-kind", help="ptb, word or char."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    weight_bits: Optional[int] = typer.Option(None, "--weight-bits", help="Evaluate as the array computes: weights "
                                              "at 4, 8 or 16 bits (per output channel)."),
    act_bits: Optional[int] = typer.Option(None, "--act-bits", help="... and activations at 8 or 16 bits (per "
                                           "token); default 8 when --weight-bits is given."),
    acc_bits: int = typer.Option(32, "--acc-bits", help="Accumulator width (checked against the longest sum)."),
    scheme: str = typer.Option("rtn", "--scheme", help="rtn (round to nearest) or g128 (weights in groups of 128)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Perplexity / bits per token over a split, memory carried across segments; with --weight-bits/--act-bits at
    an accelerator's bit widths (every GEMM quantised, integer accumulation)."""
    from hwsim.api import perplexity
    from hwsim.heads import parse_heads

    heads = None
    if heads_per_layer is not None:
        from hwsim.nn.checkpoint import load_checkpoint

        heads = parse_heads(heads_per_layer, load_checkpoint(checkpoint).spec.n_layers)
    numerics = None
    if weight_bits is not None or act_bits is not None or scheme != "rtn" or acc_bits != 32:
        from hwsim.numerics import Numerics

        numerics = Numerics(weight_bits=8 if weight_bits is None else weight_bits,
                            act_bits=8 if act_bits is None else act_bits, acc_bits=acc_bits, scheme=scheme)
    result = perplexity(checkpoint, heads, split=split, max_tokens=max_tokens, device=device, data=data,
                        data_kind=data_kind, numerics=numerics)  # fmt: skip
    if as_json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"{result.split}: perplexity {result.perplexity:.2f}, {result.bits_per_token:.4f} bits/token "
              f"over {result.tokens:,} tokens, heads per layer {list(result.heads_per_layer)}, {result.numerics}")


def _read_prompt(prompt: Optional[str], prompt_file: Optional[Path]) -> Optional[str]:
    from hwsim.errors import DataError

    if prompt is not None and prompt_file is not None:
        raise DataError("give --prompt or --prompt-file, not both")
    if prompt_file is not None:
        try:
            prompt = prompt_file.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"prompt file {prompt_file} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except OSError as exc:
            raise DataError(f"cannot read prompt file {prompt_file}: {exc.strerror or exc}") from None
    return prompt  # an empty prompt is refused by hwsim.api.generate


def _generate_cmd(
    checkpoint: Path = typer.Argument(..., help="Checkpoint directory (word- or byte-level)."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Text to continue (default: a sentence start)."),
    prompt_file: Optional[Path] = typer.Option(None, "--prompt-file", help="Read the prompt from this UTF-8 file."),
    new_tokens: int = typer.Option(50, "--new-tokens", help="Tokens to generate (words or bytes)."),
    temperature: float = typer.Option(1.0, "--temperature", help="Sampling temperature; 0 = greedy."),
    top_k: int = typer.Option(0, "--top-k", help="Sample among the k most likely tokens (0: all)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (the same seed gives the same text)."),
    heads_per_layer: Optional[str] = typer.Option(
        None, "--heads-per-layer", help="Keep this many heads per layer, chosen by gate score / importance."
    ),
    policy: str = typer.Option("segment", "--policy", help="Context: segment (as evaluated) or window."),
    cache: str = typer.Option("kv", "--cache", help="kv (keys/values cached) or states (re-projected each step)."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object: text, tokens, tokens_per_s, timings."),
) -> None:
    """Generate text token by token with the cached incremental decoder; prints the continuation and tokens/s."""
    import sys

    from hwsim.api import generate
    from hwsim.heads import parse_heads
    from hwsim.nn.checkpoint import load_checkpoint

    text = _read_prompt(prompt, prompt_file)
    heads = None
    if heads_per_layer is not None:
        heads = parse_heads(heads_per_layer, load_checkpoint(checkpoint).spec.n_layers)
    result = generate(checkpoint, text, new_tokens, temperature=temperature, top_k=top_k, seed=seed,
                      heads_per_layer=heads, policy=policy, cache=cache, device=device)  # fmt: skip
    unknown = result.pop("unknown")
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        what = "left out (never seen in training)" if result["bytes_level"] else "read as <unk>"
        print(f"note: {len(unknown)} prompt token(s) not in the vocabulary, {what}: {shown}", file=sys.stderr)
    if as_json:
        print(json.dumps({k: v for k, v in result.items() if k != "bytes_level"}))
    else:
        print(result["text"])
        print(f"[{len(result['tokens'])} tokens, {result['tokens_per_s']:.1f} tokens/s decoding, first token after "
              f"{result['time_to_first_token_s'] * 1e3:.1f} ms ({len(result['prompt_tokens'])} prompt tokens)]",
              file=sys.stderr)


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command("train")(_train_cmd)
    app.command("prune")(_prune_cmd)
    app.command("eval")(_eval_cmd)
    app.command("generate")(_generate_cmd)
