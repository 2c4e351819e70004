"""compress / measured_sparsity / save_checkpoint: the report, the model's state, bad input."""

from __future__ import annotations

import json

import pytest
import torch

from compressors.api import compress, measured_sparsity, save_checkpoint
from compressors.recipe import Recipe


def load(folder):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


@pytest.fixture(scope="module")
def tokens(tiny_model_dir):
    return torch.randint(0, 300, (4, 32), generator=torch.Generator().manual_seed(0))


def test_dense_is_a_measured_no_op(tiny_model_dir):
    model = load(tiny_model_dir)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = compress(model, Recipe(), device="cpu", progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert report["sparsity"]["overall"] == 0.0 and report["engine"] is None
    assert report["calibration_shape"] is None


def test_report_is_json_and_complete(tiny_model_dir, tokens):
    model = load(tiny_model_dir)
    report = compress(model, Recipe("wanda", sparsity=0.5), tokens, device="cpu", progress=False)
    assert json.loads(json.dumps(report)) == report
    assert report["recipe"] == Recipe("wanda", sparsity=0.5).as_dict()
    assert report["skipped"] == ["lm_head"]
    assert report["calibration_shape"] == [4, 32] and report["wall_s"] > 0
    assert set(report["versions"]) >= {"torch", "transformers", "llmcompressor", "compressed-tensors"}
    sparsity = report["sparsity"]
    assert len(sparsity["layers"]) == 14 and sparsity["min"] <= sparsity["mean"] <= sparsity["max"]


def test_llmcompressor_leaves_a_plain_model(tiny_model_dir, tokens):
    from transformers import PreTrainedModel

    model = load(tiny_model_dir)
    compress(model, Recipe("sparsegpt", pattern="2:4"), tokens, device="cpu", progress=False)
    assert "save_pretrained" not in vars(model)  # llmcompressor's wrapper removed
    assert type(model.save_pretrained.__func__) is type(PreTrainedModel.save_pretrained)
    for module in model.modules():
        assert type(module._parameters) is dict  # no offloading cache left behind
    with torch.no_grad():
        assert torch.isfinite(model(tokens).logits).all()


def test_ignore_keeps_modules_dense_and_lm_head_can_be_asked_for(tiny_model_dir):
    model = load(tiny_model_dir)
    down = [m.weight.clone() for n, m in model.named_modules() if n.endswith("mlp.down_proj")]
    report = compress(model, Recipe("magnitude", sparsity=0.5, ignore=("lm_head", "mlp.down_proj")), device="cpu", progress=False)
    assert report["skipped"] == ["model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj", "lm_head"]
    assert all(torch.equal(a, m.weight) for a, (n, m) in zip(down, ((n, m) for n, m in model.named_modules() if n.endswith("mlp.down_proj"))))
    model = load(tiny_model_dir)
    report = compress(model, Recipe("magnitude", sparsity=0.5, ignore=()), device="cpu", progress=False)
    assert report["skipped"] == [] and abs(report["sparsity"]["layers"]["lm_head"] - 0.5) < 1e-3


def test_measured_sparsity_checks_nm_groups(tiny_model_dir):
    model = load(tiny_model_dir)
    recipe = Recipe("magnitude", pattern="2:4")
    assert not measured_sparsity(model, recipe)["nm_groups_ok"]
    compress(model, recipe, device="cpu", progress=False)
    report = measured_sparsity(model, recipe)
    assert report["nm_groups_ok"] and all(report["nm_groups_ok_per_layer"].values())
    assert report["overall"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "calibration, words",
    [
        (None, ["method='wanda' needs calibration tokens", "calibration_tokens"]),
        (torch.zeros(8), ["(nsamples, seqlen)", "(8,)"]),
        (torch.rand(2, 8), ["integer tensor"]),
        (torch.full((2, 8), 10**6), ["outside the model's vocabulary"]),
    ],
    ids=["missing", "1-d", "float", "out-of-vocab"],
)
def test_bad_calibration_is_refused(tiny_model_dir, calibration, words):
    with pytest.raises(ValueError) as err:
        compress(load(tiny_model_dir), Recipe("wanda", sparsity=0.5), calibration, device="cpu")
    assert all(word in str(err.value) for word in words)


def test_nm_needs_whole_groups_of_inputs(tiny_model_dir):
    with pytest.raises(ValueError, match="not a multiple of M=48"):
        compress(load(tiny_model_dir), Recipe("magnitude", pattern="24:48"), device="cpu")


def test_tied_lm_head_cannot_be_pruned(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    with pytest.raises(ValueError, match="lm_head shares its weight with the input embeddings"):
        compress(model, Recipe("magnitude", sparsity=0.5, ignore=()), device="cpu")
    compress(model, Recipe("magnitude", sparsity=0.5), device="cpu", progress=False)  # default: kept


def test_llmcompressor_methods_run_on_its_main_device(tiny_model_dir, tokens):
    if torch.cuda.is_available():
        pytest.skip("checks the refusal on a machine without an accelerator")
    with pytest.raises(ValueError, match="main device cpu, not cuda"):
        compress(load(tiny_model_dir), Recipe("wanda", sparsity=0.5), tokens, device="cuda")


def test_a_bare_cuda_device_is_the_current_gpu_of_a_data_parallel_rank(monkeypatch, tiny_model_dir):
    """Under ``accelerate launch`` rank 1's current GPU is cuda:1, and so is llmcompressor's
    main device: the default compression device ``cuda`` means that GPU, not GPU 0."""
    from compressors import llmcompressor_adapter as adapter

    monkeypatch.setattr(adapter, "get_main_device", lambda: torch.device("cuda:1"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    model = load(tiny_model_dir)
    assert adapter._main_device(model, torch.device("cuda")) == torch.device("cuda:1")
    assert adapter._main_device(model, torch.device("cuda:1")) == torch.device("cuda:1")
    with pytest.raises(ValueError, match="main device cuda:1, not cuda:0"):
        adapter._main_device(model, torch.device("cuda:0"))


def test_save_checkpoint_round_trips_safetensors_only(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    model = load(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    compress(model, Recipe("magnitude", pattern="2:4"), device="cpu", progress=False)
    folder = tmp_path / "pruned"
    save_checkpoint(model, tokenizer, folder)
    suffixes = {p.suffix for p in folder.iterdir()}
    assert ".safetensors" in suffixes and not suffixes & {".bin", ".pt", ".pth", ".pkl"}
    reloaded = load(folder)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reloaded.state_dict().values()))
    assert measured_sparsity(reloaded, Recipe("magnitude", pattern="2:4"))["nm_groups_ok"]
    assert not list(tmp_path.glob(".pruned.partial-*"))
    with pytest.raises(FileExistsError, match="not empty"):
        save_checkpoint(model, tokenizer, folder)
    staging = tmp_path / "staging"
    staging.mkdir()
    save_checkpoint(model, None, staging)  # a caller's empty staging folder is written in place
    assert (staging / "config.json").is_file()


def compress_counting_scans(model, recipe, tokens) -> tuple[dict, int]:
    """``compress``'s report and how many times it scanned the model for zeros."""
    import compressors.api as api

    scans = []
    original = api.measured_sparsity
    api.measured_sparsity = lambda *a, **k: scans.append(1) or original(*a, **k)
    try:
        return compress(model, recipe, tokens, device="cpu", progress=False), len(scans)
    finally:
        api.measured_sparsity = original


@pytest.mark.parametrize("method,pattern", [("wanda", "unstructured"), ("sparsegpt", "unstructured"),
                                            ("wanda", "2:4"), ("sparsegpt", "2:4")])
def test_zeros_counted_while_pruning_equal_a_scan_of_the_pruned_model(tiny_model_dir, tokens, method, pattern):
    model = load(tiny_model_dir)
    recipe = Recipe(method, sparsity=0.5) if pattern == "unstructured" else Recipe(method, pattern=pattern)
    report, scans = compress_counting_scans(model, recipe, tokens)
    assert scans == 0  # the counts taken while pruning were used, no second pass
    assert "zeros_counted" not in report
    assert report["sparsity"] == measured_sparsity(model, recipe)
    assert report["sparsity"]["overall"] == pytest.approx(0.5, abs=0.01)
    if pattern == "2:4":
        assert report["sparsity"]["nm_groups_ok"]


@pytest.mark.parametrize("method", ["wanda+rtn", "sparsegpt+gptq", "gptq"])
def test_zeros_of_quantized_weights_are_counted_in_the_levels_pass(tiny_model_dir, tokens, method):
    model = load(tiny_model_dir)
    pruned = "+" in method
    recipe = Recipe(method, bits=4, group_size=64, **({"pattern": "2:4"} if pruned else {}))
    report, scans = compress_counting_scans(model, recipe, tokens)
    assert scans == 0 and report["quantization"]["levels"]["levels_ok"]
    # the final (quantized) weights' zeros, which quantization can add to
    assert report["sparsity"] == measured_sparsity(model, recipe)
    if pruned:
        assert report["sparsity"]["nm_groups_ok"] and report["sparsity"]["overall"] >= 0.5
