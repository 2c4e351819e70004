"""GPTQ against round-to-nearest, and GPTQ after pruning keeping the pruned zeros.

* The published property (Frantar et al., ICLR 2023, Tables 2-3): on the calibration inputs,
  GPTQ's layer output error ``||(W_hat - W) X||^2`` is lower than round-to-nearest's at the
  same bits and grid, here in every layer of a tiny random Llama at 4 and 3 bits.
* Our zero-keeping kernel (:mod:`compressors.quantization.sparse_gptq`) is llmcompressor's GPTQ
  when there is nothing to keep, and after SparseGPT it keeps the exact mask, where
  llmcompressor's own kernel does not.
"""

from __future__ import annotations

import pytest
import torch

from compressors.api import compress, measured_sparsity
from compressors.recipe import Recipe


def load(folder):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


@pytest.fixture(scope="module")
def tokens(tiny_model_dir):
    from transformers import AutoTokenizer

    from compressors.calibration import CalibrationConfig, calibration_tokens

    return calibration_tokens(AutoTokenizer.from_pretrained(tiny_model_dir), CalibrationConfig("builtin", nsamples=16, seqlen=64))


def linear_inputs(model, tokens) -> dict[str, torch.Tensor]:
    """The input rows reaching each quantized ``Linear`` on ``tokens`` (dense model)."""
    seen: dict[str, list[torch.Tensor]] = {}
    hooks = [
        module.register_forward_hook(lambda m, args, out, name=name: seen.setdefault(name, []).append(args[0].flatten(0, -2)))
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name != "lm_head"
    ]
    with torch.no_grad():
        model(tokens)
    for hook in hooks:
        hook.remove()
    return {name: torch.cat(rows) for name, rows in seen.items()}


@pytest.mark.parametrize("bits", [4, 3])
def test_gptq_layer_output_error_is_lower_than_rtn(tiny_model_dir, tokens, bits):
    dense = load(tiny_model_dir)
    inputs = linear_inputs(dense, tokens)
    weights = {name: module.weight.detach().clone() for name, module in dense.named_modules() if name in inputs}
    errors = {}
    for method in ("rtn", "gptq"):
        model = load(tiny_model_dir)
        compress(model, Recipe(method, bits=bits, group_size=32), tokens, device="cpu", progress=False)
        errors[method] = {
            name: float(((module.weight.detach() - weights[name]) @ inputs[name].T).square().sum())
            for name, module in model.named_modules() if name in inputs
        }
    assert len(errors["gptq"]) == 14
    worse = {name: errors["gptq"][name] / errors["rtn"][name] for name in inputs if errors["gptq"][name] >= errors["rtn"][name]}
    assert not worse, f"GPTQ not better than RTN at {bits} bits in {worse}"
    assert sum(errors["gptq"].values()) < 0.7 * sum(errors["rtn"].values())


def gptq_modifier(recipe: Recipe, keep_zeros: bool):
    """The GPTQ modifier ``compressors.quantization.gptq`` builds for ``recipe``, with or
    without the zero-keeping kernel, keeping the LM head dense."""
    from llmcompressor.modifiers.gptq import GPTQModifier

    from compressors.llmcompressor_adapter import weight_quantization
    from compressors.quantization.gptq import BLOCK_SIZE, DAMPENING, keeping_zeros_class
    from compressors.quantization.scheme import weight_args

    weights = weight_args(recipe)
    actorder = weights.pop("actorder")
    modifier_type = keeping_zeros_class() if keep_zeros else GPTQModifier
    return modifier_type(**weight_quantization(weights, ["lm_head"]), actorder=actorder,
                         block_size=BLOCK_SIZE, dampening_frac=DAMPENING)


@pytest.mark.parametrize("group_size", [32, 0])
def test_zero_keeping_kernel_is_llmcompressors_gptq_on_dense_weights(tiny_model_dir, tokens, group_size):
    from compressors.llmcompressor_adapter import run_oneshot

    recipe = Recipe("gptq", bits=4, group_size=group_size)
    results = []
    for keep_zeros in (False, True):
        model = load(tiny_model_dir)
        run_oneshot(model, [gptq_modifier(recipe, keep_zeros)], tokens, torch.device("cpu"))
        results.append({n: m.weight.detach() for n, m in model.named_modules() if hasattr(m, "weight_scale")})
    library, ours = results
    assert library.keys() == ours.keys() and len(ours) == 14
    for name in ours:
        same = torch.isclose(library[name], ours[name], atol=1e-6).float().mean()
        assert same > 0.999, (name, float(same))  # a rounding tie may fall the other way


@pytest.mark.parametrize("pattern, sparsity, group_size", [("unstructured", 0.5, 32), ("2:4", 0.0, 32), ("2:4", 0.0, 0)])
def test_sparsegpt_then_gptq_keeps_the_pruned_mask(tiny_model_dir, tokens, pattern, sparsity, group_size):
    pruned = load(tiny_model_dir)
    compress(pruned, Recipe("sparsegpt", sparsity=sparsity, pattern=pattern), tokens, device="cpu", progress=False)
    mask = {n: m.weight == 0 for n, m in pruned.named_modules() if isinstance(m, torch.nn.Linear) and n != "lm_head"}

    recipe = Recipe("sparsegpt+gptq", sparsity=sparsity, pattern=pattern, bits=4, group_size=group_size)
    model = load(tiny_model_dir)
    report = compress(model, recipe, tokens, device="cpu", progress=False)
    for name, module in model.named_modules():
        if name in mask:
            assert torch.equal(module.weight[mask[name]], torch.zeros_like(module.weight[mask[name]])), name
    assert report["sparsity"]["overall"] >= 0.5 - 1e-3
    assert report["quantization"]["levels"]["levels_ok"]
    assert [stage for stage in report["stages"]] == ["prune", "quantize"]
    if pattern == "2:4":
        assert report["sparsity"]["nm_groups_ok"]


def test_llmcompressors_own_gptq_after_pruning_loses_the_zeros(tiny_model_dir, tokens):
    """Why the zero-keeping kernel exists: the plain GPTQModifier refills pruned weights."""
    from compressors.llmcompressor_adapter import run_oneshot

    recipe = Recipe("sparsegpt+gptq", pattern="2:4", bits=4, group_size=32)
    model = load(tiny_model_dir)
    compress(model, Recipe("sparsegpt", pattern="2:4"), tokens, device="cpu", progress=False)
    run_oneshot(model, [gptq_modifier(recipe, keep_zeros=False)], tokens, torch.device("cpu"))
    assert not measured_sparsity(model, recipe)["nm_groups_ok"]


def test_pruning_then_rtn_keeps_the_mask_without_calibration(tiny_model_dir):
    recipe = Recipe("magnitude+rtn", pattern="2:4", bits=3, group_size=32, symmetric=False)
    report = compress(load(tiny_model_dir), recipe, device="cpu", progress=False)
    assert report["sparsity"]["nm_groups_ok"] and report["calibration_shape"] is None
    assert report["quantization"]["levels"]["levels_ok"]


@pytest.mark.parametrize("recipe", [Recipe("gptq", bits=4, group_size=32), Recipe("rtn", bits=4, group_size=32)],
                         ids=["gptq", "rtn"])
def test_only_fake_quantizing_methods_rewrite_the_weights_afterwards(tiny_model_dir, tokens, monkeypatch, recipe):
    """GPTQ leaves its grid values in the weights, so the pass that writes them (a second
    quantization of every weight, on the CPU for a large model) runs for RTN only; the
    levels check confirms the weights are on their grid either way."""
    import compressors.llmcompressor_adapter as adapter

    frozen = []
    freeze = adapter._freeze_quantized_weights
    monkeypatch.setattr(adapter, "_freeze_quantized_weights", lambda model: frozen.append(1) or freeze(model))
    report = compress(load(tiny_model_dir), recipe, tokens, device="cpu", progress=False)
    assert len(frozen) == (recipe.quant_method == "rtn")
    levels = report["quantization"]["levels"]
    assert levels["levels_ok"] and levels["layers"] == 14, levels
