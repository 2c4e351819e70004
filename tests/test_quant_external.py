"""Checkpoints quantized by other tools, evaluated with `method=none`.

GPTQ-format folders (AutoGPTQ / GPTQModel / optimum) load through gptqmodel, an optional
extra: without it the error names the versions that install beside llmcompressor; with it
(``pip install gptqmodel==7.6.0 optimum``) a GPTQ checkpoint made by transformers'
``GPTQConfig`` is evaluated and described like ours.
"""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
import torch

from kick_models.kick_lm import KickLM


def test_gptq_folder_without_gptqmodel_names_what_to_install(tiny_model_dir, tmp_path, monkeypatch):
    folder = tmp_path / "gptq-format"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4, "group_size": 32, "sym": True, "desc_act": False}
    (folder / "config.json").write_text(json.dumps(config))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gptqmodel" else real(name, *a))
    with pytest.raises(ImportError, match=r"GPTQ checkpoint needs gptqmodel.*gptqmodel==7\.6\.0"):
        KickLM(pretrained=str(folder), method="none", device="cpu", dtype="float32")


@pytest.mark.slow
def test_gptq_format_checkpoint_loads_with_method_none(tiny_model_dir, tmp_path, monkeypatch):
    pytest.importorskip("gptqmodel")
    pytest.importorskip("optimum")
    from transformers import AutoModelForCausalLM, AutoTokenizer, GPTQConfig

    from compressors.calibration import builtin_text

    monkeypatch.setenv("GPTQMODEL_CPU_WORKERS", "2")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = builtin_text()
    config = GPTQConfig(bits=4, group_size=32, sym=True, desc_act=False, tokenizer=tokenizer,
                        dataset=[text[i : i + 400] for i in range(0, 4000, 400)])
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float16, quantization_config=config)
    model.save_pretrained(tmp_path / "gptq")
    tokenizer.save_pretrained(tmp_path / "gptq")

    lm = KickLM(pretrained=str(tmp_path / "gptq"), method="none", device="cpu", dtype="float16")
    info = lm.get_model_info()["kick"]
    assert info["quantization"]["quant_method"] == "gptq"
    assert (info["quantization"]["bits"], info["quantization"]["group_size"]) == (4, 32)
    assert info["memory"]["after_load"]["quantized_layers"] == 14
    with torch.no_grad():
        assert torch.isfinite(lm._model_call(torch.tensor([lm.tok_encode("The capital of France is")]))).all()
