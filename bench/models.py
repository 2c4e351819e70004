"""The models the benchmarks run on, none of which needs the hub.

* a checkpoint folder (the small real SmolLM2-135M-Instruct, or the tiny random Llama of the
  smoke modes), loaded fresh for every run;
* a named shape with random weights: ``llama2-7b`` is Llama-2-7B (Touvron et al. 2023:
  hidden 4096, 32 layers, 32 heads, MLP 11008; ``llama-small`` is a CPU-sized Llama whose
  decoding, like a 7B's on a GPU, is bound by per-step overhead), built in memory with Hugging Face's own
  initialisation (normal, std 0.02) in bf16. Compression and evaluation speed depend on the
  shapes, not the values. ``layers`` builds fewer decoder layers of the same widths, for
  methods whose full run does not fit a device call (the scripts then say so and scale per
  layer).

A random model still needs a tokenizer (for evaluation prompts, and llmcompressor reads the
model's folder for one): SmolLM2's (49,152 tokens, a real BPE, so prompt lengths are
realistic) when it is cached or named with ``--tokenizer``, else the tiny BPE tokenizer of
:mod:`kick_models.local_models` (prompts then run about three times longer in tokens). The
vocabulary is the larger of the shape's and the tokenizer's, so every id is valid.

    python -m bench.models --shape llama2-7b [--layers 4] [--tokenizer DIR] OUT   # write a checkpoint
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

SHAPES: dict[str, dict] = {
    # per-step overhead dominates as in a 7B's decoding on a GPU, but it runs on 2 CPU cores
    "llama-small": dict(
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=8,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=32000,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
    ),
    "llama2-7b": dict(
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
    ),
}


def smollm2_tokenizer_folder() -> Path | None:
    """The cached SmolLM2-135M-Instruct folder, if it holds a tokenizer (never converts it)."""
    from kick_core.paths import cache_root

    folder = cache_root() / "models" / "SmolLM2-135M-Instruct"
    return folder if (folder / "tokenizer.json").is_file() else None


def bench_tokenizer(path: str | os.PathLike | None = None):
    """``(tokenizer, where it came from)``: ``path``, else SmolLM2's, else the tiny BPE one."""
    from transformers import AutoTokenizer

    from kick_models.local_models import tiny_tokenizer

    if path is not None:
        if not Path(path).is_dir():
            raise FileNotFoundError(f"tokenizer folder {str(path)!r} does not exist")
        return AutoTokenizer.from_pretrained(path), str(path)
    smol = smollm2_tokenizer_folder()
    if smol is not None:
        return AutoTokenizer.from_pretrained(smol), "SmolLM2-135M-Instruct"
    return tiny_tokenizer(), "tiny BPE tokenizer (prompts ~3x longer in tokens than a real one)"


def shape_config(shape: str, *, layers: int | None, tokenizer):
    from transformers import LlamaConfig

    if shape not in SHAPES:
        raise ValueError(f"shape={shape!r} is unknown: allowed {sorted(SHAPES)}")
    spec = dict(SHAPES[shape])
    if layers is not None:
        if not 1 <= layers <= spec["num_hidden_layers"]:
            raise ValueError(f"layers={layers} is not allowed for {shape}: 1 to {spec['num_hidden_layers']}")
        spec["num_hidden_layers"] = layers
    spec["vocab_size"] = max(spec["vocab_size"], len(tokenizer))
    return LlamaConfig(
        **spec,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )


@dataclass(frozen=True)
class ModelSource:
    """A model to benchmark. ``folder`` is a checkpoint, or for a ``shape`` a folder holding
    only its config and tokenizer (what llmcompressor's ``oneshot`` reads from
    ``config.name_or_path``); the weights are then built in memory by :meth:`load`."""

    folder: Path
    shape: str | None = None
    layers: int | None = None
    tokenizer_source: str = ""

    @classmethod
    def checkpoint(cls, folder: str | os.PathLike) -> ModelSource:
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{str(folder)!r} is not a checkpoint folder (no config.json)")
        return cls(folder=folder, tokenizer_source=str(folder))

    @classmethod
    def random(cls, workdir: str | os.PathLike, shape: str, *, layers: int | None = None,
               tokenizer: str | os.PathLike | None = None) -> ModelSource:
        """Write ``shape``'s config and tokenizer (no weights) under ``workdir``."""
        tok, where = bench_tokenizer(tokenizer)
        config = shape_config(shape, layers=layers, tokenizer=tok)
        folder = Path(workdir) / f"{shape}-{config.num_hidden_layers}L-config"
        config.save_pretrained(folder)
        tok.save_pretrained(folder)
        return cls(folder=folder, shape=shape, layers=config.num_hidden_layers, tokenizer_source=where)

    def load(self):
        """A fresh model on the CPU (compression moves one layer at a time to the GPU)."""
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        if self.shape is None:
            return AutoModelForCausalLM.from_pretrained(self.folder, dtype="auto")
        from transformers.initialization import no_init_weights

        config = AutoConfig.from_pretrained(self.folder)
        with no_init_weights():  # torch's CPU initialisers are serial: minutes for 7B
            model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        fill_normal_(model, std=config.initializer_range)
        model.config._name_or_path = str(self.folder)
        return model

    def tokenizer(self):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.folder)

    def describe(self) -> dict:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(self.folder)
        return {
            "model": f"{self.shape} shape, random weights" if self.shape else str(self.folder),
            "layers": config.num_hidden_layers,
            "full_layers": SHAPES[self.shape]["num_hidden_layers"] if self.shape else config.num_hidden_layers,
            "hidden_size": config.hidden_size,
            "intermediate_size": config.intermediate_size,
            "vocab_size": config.vocab_size,
            "tokenizer": self.tokenizer_source,
        }


def fill_normal_(model, std: float, seed: int = 0) -> None:
    """Draw every matrix of ``model`` (Linear and Embedding weights) from N(0, std^2), as
    Hugging Face's Llama initialisation does; vectors (the norms' ones) stay as built. The
    numbers are drawn on the GPU when there is one (seconds for 7B, where the CPU's serial
    generator takes about two minutes) and copied into the CPU-resident weights."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    generator = torch.Generator(device).manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                draw = torch.empty(parameter.shape, dtype=parameter.dtype, device=device)
                parameter.copy_(draw.normal_(0.0, std, generator=generator))


def tiny_checkpoint(workdir: str | os.PathLike) -> Path:
    """The smoke modes' model: a 2-layer random Llama whose widths (128, MLP 256) fit GPTQ's
    groups of 128 columns and N:M patterns."""
    from kick_models.local_models import tiny_llama

    return tiny_llama(Path(workdir) / "tiny-llama-128", hidden_size=128, intermediate_size=256)


def named_checkpoint(name: str, workdir: str | os.PathLike) -> Path:
    """``"tiny"`` (:func:`tiny_checkpoint`), ``"smollm2"`` (SmolLM2-135M-Instruct, converted
    once and cached) or a checkpoint folder."""
    from kick_models.local_models import smollm2_instruct

    if name == "tiny":
        return tiny_checkpoint(workdir)
    if name == "smollm2":
        return smollm2_instruct()
    return ModelSource.checkpoint(name).folder


def write_random_checkpoint(folder: str | os.PathLike, shape: str, *, layers: int | None = None,
                            tokenizer: str | os.PathLike | None = None) -> Path:
    """Save a random-weight ``shape`` model with its tokenizer to ``folder`` (kept if there)."""
    import tempfile

    from kick_core.atomic import atomic_folder

    folder = Path(folder)
    if (folder / "config.json").is_file():
        return folder
    with tempfile.TemporaryDirectory() as tmp:
        source = ModelSource.random(tmp, shape, layers=layers, tokenizer=tokenizer)
        model = source.load()
        with atomic_folder(folder) as staging:
            model.save_pretrained(staging)
            source.tokenizer().save_pretrained(staging)
    return folder


def checkpoint_folder(args, workdir: str | os.PathLike) -> Path:
    """The checkpoint a benchmark runs on: its ``--shape`` written (once) to ``--source-dir``
    (default: under ``workdir``) with ``--layers`` decoder layers if the script has that
    option, else its ``--model`` (:func:`named_checkpoint`)."""
    if args.shape:
        return write_random_checkpoint(args.source_dir or Path(workdir) / args.shape, args.shape,
                                       layers=getattr(args, "layers", None), tokenizer=args.tokenizer)
    return named_checkpoint(args.model, workdir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a random-weight checkpoint of a named shape.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--shape", default="llama2-7b", choices=sorted(SHAPES))
    parser.add_argument("--layers", type=int, help="decoder layers (default: the shape's)")
    parser.add_argument("--tokenizer", type=Path, help="tokenizer folder (default: SmolLM2's if cached)")
    args = parser.parse_args(argv)
    print(write_random_checkpoint(args.out, args.shape, layers=args.layers, tokenizer=args.tokenizer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
