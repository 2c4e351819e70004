"""Perplexity: the GPTQ-style number, and the published ordering of the pruning methods.

On SmolLM2-135M-Instruct with 32 x 256 tokens of the project's calibration text, perplexity
on the project's held-out text must order as in the SparseGPT and Wanda papers: dense best,
magnitude pruning at 50% clearly worst, SparseGPT and Wanda in between.
"""

from __future__ import annotations

import math

import pytest
import torch

from compressors.calibration import builtin_text
from kick_models.perplexity import perplexity


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)


def test_non_overlapping_windows_match_gptq_eval(tiny):
    """GPTQ's llama_eval: mean loss per full window, times seqlen, averaged over windows."""
    model, tokenizer = tiny
    text = builtin_text("heldout_en")
    ids = tokenizer(text, return_tensors="pt").input_ids
    seqlen = 64
    nlls = []
    with torch.no_grad():
        for i in range(ids.shape[1] // seqlen):
            batch = ids[:, i * seqlen : (i + 1) * seqlen]
            logits = model(batch).logits
            loss = torch.nn.functional.cross_entropy(logits[0, :-1], batch[0, 1:])
            nlls.append(float(loss) * seqlen)
    expected = math.exp(sum(nlls) / (len(nlls) * seqlen))
    assert perplexity(model, tokenizer, text, seqlen=seqlen, batch_size=3) == pytest.approx(expected, rel=1e-5)


def test_sliding_windows_score_every_token_once(tiny):
    """With stride 8 < seqlen 32, every token after the first is scored once, with more context."""
    model, tokenizer = tiny
    text = builtin_text("heldout_en")[:400]
    ids = tokenizer(text, return_tensors="pt").input_ids[0]
    seqlen, stride = 32, 8
    starts = range(0, ids.numel() - seqlen + 1, stride)
    last_end = list(starts)[-1] + seqlen
    nll = 0.0
    with torch.no_grad():
        for target in range(1, last_end):  # the window that first predicts `target`
            start = next(s for s in starts if s < target < s + seqlen)
            logits = model(ids[start : target].unsqueeze(0)).logits[0, -1]
            nll -= float(torch.log_softmax(logits.float(), dim=-1)[ids[target]])
    expected = math.exp(nll / (last_end - 1))
    assert perplexity(model, tokenizer, text, seqlen=seqlen, stride=stride) == pytest.approx(expected, rel=1e-4)


def test_bad_windows_are_refused(tiny):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="fewer than one window of seqlen=2048"):
        perplexity(model, tokenizer, "Too short.", seqlen=2048)
    with pytest.raises(ValueError, match="stride=0"):
        perplexity(model, tokenizer, "Too short.", seqlen=8, stride=0)


@pytest.mark.slow
def test_pruned_smollm2_perplexity_follows_the_published_ordering(smollm2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from compressors.api import compress
    from compressors.calibration import CalibrationConfig, calibration_tokens
    from compressors.recipe import Recipe

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    tokens = calibration_tokens(tokenizer, CalibrationConfig("builtin", nsamples=32, seqlen=256))
    heldout = builtin_text("heldout_en")
    ppl = {}
    for recipe in [Recipe(), Recipe("magnitude", 0.5), Recipe("wanda", 0.5), Recipe("sparsegpt", 0.5)]:
        model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32)
        report = compress(model, recipe, tokens, device="cpu", progress=False)
        if recipe.method != "dense":
            assert abs(report["sparsity"]["overall"] - 0.5) < 1e-3
        ppl[recipe.method] = perplexity(model, tokenizer, heldout, seqlen=256)
        del model
    print("\n| method (50% unstructured) | perplexity |\n|---|---|")
    for method, value in ppl.items():
        print(f"| {method} | {value:.2f} |")
    assert ppl["dense"] < ppl["sparsegpt"] < ppl["magnitude"]
    assert ppl["dense"] < ppl["wanda"] < ppl["magnitude"]
