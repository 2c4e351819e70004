"""AWQ on a CUDA device (skipped without one: llmcompressor 0.14.0.1's AWQ cannot run on the CPU,
and the refusal there is tested in test_quant_kick.py).

On a tiny random Llama: AWQ 4-bit (asymmetric, groups of 32) holds only its grid, changes the
model's output less than round-to-nearest on the same grid (its scale search includes the
identity scale, Lin et al., MLSys 2024, eq. 5), keeps the zeros of a pruned model, and goes
through `--model kick` into a checkpoint that `--model hf` loads.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from compressors.api import compress
from compressors.recipe import Recipe

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="llmcompressor's AWQ needs a CUDA device")


def load(folder):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


@pytest.fixture(scope="module")
def tokens(tiny_model_dir):
    from transformers import AutoTokenizer

    from compressors.calibration import CalibrationConfig, calibration_tokens

    return calibration_tokens(AutoTokenizer.from_pretrained(tiny_model_dir), CalibrationConfig("builtin", nsamples=16, seqlen=64))


def output_error(model, dense_logits, tokens) -> float:
    with torch.no_grad():
        return float((model(tokens).logits - dense_logits).square().mean())


def test_awq_holds_its_grid_and_changes_the_output_less_than_rtn(tiny_model_dir, tokens):
    dense = load(tiny_model_dir)
    with torch.no_grad():
        reference = dense(tokens).logits
    errors = {}
    for method in ("rtn", "awq"):
        model = load(tiny_model_dir)
        report = compress(model, Recipe(method, bits=4, group_size=32, symmetric=False), tokens, device="cuda", progress=False)
        assert report["quantization"]["levels"]["levels_ok"], report["quantization"]["levels"]
        errors[method] = output_error(model.cpu(), reference, tokens)
    assert errors["awq"] <= errors["rtn"], errors


def test_pruning_then_awq_keeps_the_mask(tiny_model_dir, tokens):
    report = compress(load(tiny_model_dir), Recipe("wanda+awq", pattern="2:4", group_size=32), tokens,
                      device="cuda", progress=False)
    assert report["sparsity"]["nm_groups_ok"] and report["quantization"]["levels"]["levels_ok"]


def test_awq_through_kick_exports_a_checkpoint_model_hf_loads(tiny_model_dir, tmp_path):
    from lm_eval.models.huggingface import HFLM

    from kick_models.kick_lm import KickLM

    kick = KickLM(pretrained=str(tiny_model_dir), method="awq", group_size=32, calibration="builtin", nsamples=8,
                  seqlen=64, cache_dir=str(tmp_path / "cache"), export=str(tmp_path / "export"), device="cuda",
                  dtype="float32", compress_device="cuda")
    info = kick.get_model_info()["kick"]
    assert (info["quantization"]["bits"], info["quantization"]["group_size"], info["quantization"]["symmetric"]) == (4, 32, False)
    config = json.loads((Path(info["export"]) / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "compressed-tensors" and config["config_groups"]["group_0"]["weights"]["symmetric"] is False
    hf = HFLM(pretrained=info["export"], device="cuda", dtype="float32")
    ids = torch.tensor([kick.tok_encode("The capital of France is Paris.")])
    with torch.no_grad():
        assert torch.allclose(kick._model_call(ids.cuda()), hf._model_call(ids.cuda()), atol=1e-4)
