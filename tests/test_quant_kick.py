"""`--model kick` with quantization: cache, export through `--model hf`, what results record,
already quantized folders with `method=none`, and a clear early error for each bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from kick_models.kick_lm import KickLM

GPTQ = {"method": "gptq", "bits": 4, "group_size": 32, "calibration": "builtin", "nsamples": 8, "seqlen": 64}


def make(model_dir, tmp_path, **kwargs):
    args = {"pretrained": str(model_dir), "cache_dir": str(tmp_path / "cache"), "device": "cpu", "dtype": "float32"}
    return KickLM(**{**args, **kwargs})


def logits(lm, text="The capital of France is Paris."):
    ids = torch.tensor([lm.tok_encode(text)])
    with torch.no_grad():
        return lm._model_call(ids)


@pytest.fixture(scope="module")
def gptq_export(tiny_model_dir, tmp_path_factory):
    """A GPTQ W4 g32 checkpoint built through kick and exported: (KickLM, export folder)."""
    tmp_path = tmp_path_factory.mktemp("gptq")
    lm = make(tiny_model_dir, tmp_path, export=str(tmp_path / "export"), **GPTQ)
    return lm, Path(lm.get_model_info()["kick"]["export"])


def test_export_round_trip_through_model_hf(gptq_export):
    from lm_eval.models.huggingface import HFLM

    kick, exported = gptq_export
    assert {p.suffix for p in exported.iterdir()} >= {".safetensors", ".json"}
    assert not any(p.suffix in {".bin", ".pt", ".pkl"} for p in exported.iterdir())
    hf = HFLM(pretrained=str(exported), device="cpu", dtype="float32")
    assert torch.equal(logits(kick), logits(hf))
    assert type(hf.model.config.quantization_config).__name__ == "CompressedTensorsConfig"


def test_exported_config_carries_a_quantization_config_transformers_and_vllm_read(gptq_export):
    """The fields vLLM's compressed-tensors loader reads (its WNA16 kernels take 4 and 8 bits,
    group or channel strategy), validated by compressed-tensors' own schema."""
    from compressed_tensors.quantization import QuantizationConfig
    from transformers import AutoConfig

    _, exported = gptq_export
    config = json.loads((exported / "config.json").read_text())["quantization_config"]
    assert config["quant_method"] == "compressed-tensors" and config["format"] == "pack-quantized"
    assert config["ignore"] == ["lm_head"] and config["quantization_status"] == "compressed"
    (group,) = config["config_groups"].values()
    assert group["targets"] == ["Linear"] and group["input_activations"] is None
    assert {k: group["weights"][k] for k in ("num_bits", "type", "symmetric", "strategy", "group_size", "actorder")} == {
        "num_bits": 4, "type": "int", "symmetric": True, "strategy": "group", "group_size": 32, "actorder": "static"}
    parsed = QuantizationConfig.model_validate(config)
    assert parsed.config_groups["group_0"].weights.num_bits == 4
    assert AutoConfig.from_pretrained(exported).quantization_config["quant_method"] == "compressed-tensors"


def test_results_record_bits_group_scheme_calibration_and_memory(gptq_export):
    kick, _ = gptq_export
    info = kick.get_model_info()["kick"]
    assert info["recipe"] == {"method": "gptq", "sparsity": 0.0, "pattern": "unstructured", "scope": None,
                              "ignore": ["lm_head"], "bits": 4, "group_size": 32, "symmetric": True, "act_order": True}
    assert info["calibration"]["source"] == "builtin" and info["calibration"]["nsamples"] == 8
    assert info["compression"]["quantization"]["scheme"] == "W4A16 int sym g32 act-order"
    assert info["quantization"]["bits"] == 4 and info["quantization"]["group_size"] == 32
    memory = info["memory"]["after_load"]
    assert memory["quantized_layers"] == 14
    assert 4.0 < memory["quantized_bits_per_weight"] < 5.5  # 4-bit codes + one fp32 scale per 32
    assert "at_results" in info["memory"]
    json.dumps(info)


def test_second_run_loads_from_cache_without_quantizing(tiny_model_dir, gptq_export, tmp_path, monkeypatch):
    import compressors.api

    kick, exported = gptq_export
    monkeypatch.setattr(compressors.api, "compress", lambda *a, **k: pytest.fail("the second run must not quantize"))
    again = make(tiny_model_dir, exported.parent, **GPTQ)
    assert again.get_model_info()["kick"]["cache"]["hit"] is True
    assert torch.equal(logits(kick), logits(again))


def test_method_none_evaluates_an_already_quantized_folder(gptq_export):
    kick, exported = gptq_export
    none = KickLM(pretrained=str(exported), method="none", device="cpu", dtype="float32")
    info = none.get_model_info()["kick"]
    assert info["quantization"]["quant_method"] == "compressed-tensors" and info["quantization"]["bits"] == 4
    assert "compression" not in info and info["memory"]["after_load"]["quantized_layers"] == 14
    assert torch.equal(logits(kick), logits(none))


def test_a_quantized_source_is_not_quantized_again(gptq_export, tmp_path):
    _, exported = gptq_export
    with pytest.raises(ValueError, match="already quantized .*method=none"):
        make(exported, tmp_path, method="rtn", bits=8)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"method": "gptq", "bits": 5}, ["bits=5", "2, 3, 4, 8"]),
        ({"method": "gptq", "bits": 16}, ["bits=16", "2, 3, 4, 8"]),
        ({"method": "rtn", "bits": 4, "group_size": -2}, ["group_size=-2"]),  # 0 is per tensor, -1 per channel
        ({"method": "gptq", "bits": 4, "symmetric": "maybe"}, ["symmetric='maybe'"]),
        ({"method": "gptq", "bits": 4, "bitz": 4}, ["bitz"]),
    ],
)
def test_bad_quantization_args_fail_before_loading(tiny_model_dir, tmp_path, kwargs, words):
    with pytest.raises(ValueError) as err:
        make(tiny_model_dir, tmp_path, **kwargs)
    assert all(word in str(err.value) for word in words) and "\n" not in str(err.value)
    assert not (tmp_path / "cache").exists()


def test_group_size_not_dividing_a_layer_fails_before_any_weight_is_read(tiny_model_dir, tmp_path, monkeypatch):
    import transformers

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        lambda *a, **k: pytest.fail("weights were read before the group size check"))
    with pytest.raises(ValueError) as err:
        make(tiny_model_dir, tmp_path, method="rtn", bits=4, group_size=48)
    message = str(err.value)
    assert "group_size=48" in message and "model.layers.0.self_attn.q_proj" in message and "width 64" in message
    assert "-1 (per channel)" in message and "32, 64" in message and "\n" not in message
    assert not (tmp_path / "cache").exists()  # checked before the cache is even opened


def test_nf4_without_bitsandbytes_says_what_to_install(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    monkeypatch.setitem(sys.modules, "bitsandbytes.functional", None)
    with pytest.raises(ImportError, match=r"method='nf4' needs bitsandbytes.*pip install 'llm-kick\[bnb\]'"):
        make(tiny_model_dir, tmp_path, method="nf4")
    assert not (tmp_path / "cache").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_awq_without_cuda_names_the_device_it_needs(tiny_model_dir, tmp_path, monkeypatch):
    import transformers

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        lambda *a, **k: pytest.fail("weights were read before the device check"))
    with pytest.raises(ValueError, match="method=awq needs a CUDA GPU, not cpu"):
        make(tiny_model_dir, tmp_path, method="awq", group_size=32, calibration="builtin", nsamples=4, seqlen=32)


@pytest.mark.parametrize("method, bits, max_bits", [("int8", 8, 9.0), ("nf4", 4, 5.0)])
def test_bitsandbytes_methods_build_cache_and_export(tiny_model_dir, tmp_path, method, bits, max_bits):
    pytest.importorskip("bitsandbytes")
    from lm_eval.models.huggingface import HFLM

    kick = make(tiny_model_dir, tmp_path, method=method, export=str(tmp_path / "export"))
    info = kick.get_model_info()["kick"]
    assert info["quantization"]["quant_method"] == "bitsandbytes" and info["quantization"]["bits"] == bits
    memory = info["memory"]["after_load"]
    assert memory["quantized_layers"] == 14 and memory["quantized_bits_per_weight"] < max_bits
    hf = HFLM(pretrained=info["export"], device="cpu", dtype="float32")
    assert torch.equal(logits(kick), logits(hf))
    assert make(tiny_model_dir, tmp_path, method=method).get_model_info()["kick"]["cache"]["hit"] is True



def test_bitsandbytes_recipe_on_a_model_loaded_without_it_says_how_to_load(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from compressors.api import compress
    from compressors.recipe import Recipe

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with pytest.raises(ValueError, match=r"method='nf4' quantizes while loading.*bnb_config"):
        compress(model, Recipe("nf4"), device="cpu")
