"""Each pruning method on a tiny random Llama against a plain implementation of its paper's rule.

Magnitude and Wanda must give exactly the mask of the rule written out here; SparseGPT must
keep the pattern and reconstruct every layer's outputs better than magnitude pruning at the
same sparsity. Every run also checks the measured sparsity and that embeddings, norms and
the LM head are untouched.
"""

from __future__ import annotations

import pytest
import torch

from compressors.api import compress
from compressors.calibration import CalibrationConfig, calibration_tokens
from compressors.recipe import Recipe


@pytest.fixture(scope="module")
def tokens(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return calibration_tokens(tokenizer, CalibrationConfig("builtin", nsamples=8, seqlen=64))


def load(folder):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


def linears(model, skip=("lm_head",)):
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name not in skip
    }


def untouched(model) -> dict[str, torch.Tensor]:
    """Parameters no default recipe may change: embeddings, norms, LM head."""
    return {
        name: param.detach().clone()
        for name, param in model.named_parameters()
        if "embed" in name or "norm" in name or name.startswith("lm_head")
    }


def check_report(report, model, before, recipe):
    """Measured sparsity: unstructured within 0.1 point per layer, N:M exact per group."""
    sparsity = report["sparsity"]
    assert set(sparsity["layers"]) == set(linears(model))
    if recipe.nm:
        n, m = recipe.nm
        for name, module in linears(model).items():
            zeros = (module.weight == 0).reshape(module.weight.shape[0], -1, m).sum(dim=2)
            assert bool((zeros == n).all()), name
        assert sparsity["nm_groups_ok"]
    elif recipe.scope != "global":
        for name, value in sparsity["layers"].items():
            assert abs(value - recipe.sparsity) <= 0.001, (name, value)
    assert abs(sparsity["overall"] - recipe.sparsity) <= 0.001
    after = untouched(model)
    assert all(torch.equal(before[name], after[name]) for name in before)


def run(folder, recipe, tokens=None):
    model = load(folder)
    before = untouched(model)
    report = compress(model, recipe, tokens, device="cpu", progress=False)
    check_report(report, model, before, recipe)
    return model, report


# ----------------------------------------------------------------------------- magnitude
def plain_magnitude(weights: dict[str, torch.Tensor], sparsity, scope, nm):
    """|W| ranked in the group; the smallest pruned, ties to the earlier position."""
    masks = {}
    if nm:
        n, m = nm
        for name, w in weights.items():
            mask = torch.zeros_like(w, dtype=torch.bool)
            for row in range(w.shape[0]):
                for start in range(0, w.shape[1], m):
                    order = torch.argsort(w[row, start : start + m].abs(), stable=True)[:n]
                    mask[row, start + order] = True
            masks[name] = mask
        return masks
    if scope == "global":
        flat = torch.cat([w.abs().flatten() for w in weights.values()])
        chosen = torch.zeros_like(flat, dtype=torch.bool)
        chosen[torch.argsort(flat, stable=True)[: int(sparsity * flat.numel() + 0.5)]] = True
        offset = 0
        for name, w in weights.items():
            masks[name] = chosen[offset : offset + w.numel()].reshape(w.shape)
            offset += w.numel()
        return masks
    for name, w in weights.items():
        if scope == "row":
            k = int(sparsity * w.shape[1] + 0.5)
            mask = torch.zeros_like(w, dtype=torch.bool)
            for row in range(w.shape[0]):
                mask[row, torch.argsort(w[row].abs(), stable=True)[:k]] = True
        else:
            k = int(sparsity * w.numel() + 0.5)
            mask = torch.zeros(w.numel(), dtype=torch.bool)
            mask[torch.argsort(w.abs().flatten(), stable=True)[:k]] = True
            mask = mask.reshape(w.shape)
        masks[name] = mask
    return masks


@pytest.mark.parametrize(
    "recipe",
    [
        Recipe("magnitude", sparsity=0.5),
        Recipe("magnitude", sparsity=0.3),
        Recipe("magnitude", sparsity=0.75, scope="row"),  # per-row counts: 1/64 steps here
        Recipe("magnitude", sparsity=0.4, scope="global"),
        Recipe("magnitude", pattern="1:2"),
        Recipe("magnitude", pattern="2:4"),
        Recipe("magnitude", pattern="4:8"),
    ],
    ids=lambda r: f"{r.scope or r.pattern}-{r.sparsity}",
)
def test_magnitude_equals_the_plain_rule(tiny_model_dir, recipe):
    original = {name: m.weight.detach().clone() for name, m in linears(load(tiny_model_dir)).items()}
    expected = plain_magnitude(original, recipe.sparsity, recipe.scope, recipe.nm)
    model, report = run(tiny_model_dir, recipe)
    for name, module in linears(model).items():
        assert torch.equal(module.weight == 0, expected[name]), name
        assert torch.equal(module.weight[~expected[name]], original[name][~expected[name]]), name
    if recipe.scope == "global":
        layers = report["sparsity"]["layers"].values()
        assert max(layers) - min(layers) > 0.01  # one threshold: layers differ


# ----------------------------------------------------------------------------- wanda
def plain_wanda(model, tokens, sparsity, nm):
    """Sun et al. 2024, written out: layer by layer, score |W_ij| * ||X_j||_2 over all
    calibration tokens reaching the layer (earlier layers already pruned), prune per row."""
    for layer in model.model.layers:
        modules = {name: m for name, m in layer.named_modules() if isinstance(m, torch.nn.Linear)}
        norms = {name: torch.zeros(m.in_features, dtype=torch.float64) for name, m in modules.items()}

        def hook(name, norms=norms):
            def accumulate(_module, args):
                x = args[0].detach().reshape(-1, args[0].shape[-1]).double()
                norms[name] += (x * x).sum(dim=0)

            return accumulate

        handles = [m.register_forward_pre_hook(hook(name)) for name, m in modules.items()]
        with torch.no_grad():
            model(tokens)
        for handle in handles:
            handle.remove()
        for name, m in modules.items():
            score = m.weight.detach().abs().double() * norms[name].sqrt()
            mask = torch.zeros_like(score, dtype=torch.bool)
            for row in range(score.shape[0]):
                if nm:
                    n, size = nm
                    for start in range(0, score.shape[1], size):
                        order = torch.argsort(score[row, start : start + size], stable=True)[:n]
                        mask[row, start + order] = True
                else:
                    k = int(score.shape[1] * sparsity)  # the reference's count per row
                    mask[row, torch.argsort(score[row], stable=True)[:k]] = True
            m.weight.data[mask] = 0


@pytest.mark.parametrize(
    "recipe",
    [Recipe("wanda", sparsity=0.5), Recipe("wanda", sparsity=0.75), Recipe("wanda", pattern="2:4"), Recipe("wanda", pattern="4:8")],
    ids=lambda r: f"{r.pattern}-{r.sparsity}",
)
def test_wanda_equals_the_plain_rule(tiny_model_dir, tokens, recipe):
    expected_model = load(tiny_model_dir)
    plain_wanda(expected_model, tokens, recipe.sparsity, recipe.nm)
    model, report = run(tiny_model_dir, recipe, tokens)
    assert report["engine"].startswith("llmcompressor") and report["calibration_shape"] == [8, 64]
    expected = linears(expected_model)
    for name, module in linears(model).items():
        assert torch.equal(module.weight == 0, expected[name].weight == 0), name
        assert torch.equal(module.weight, expected[name].weight), name  # no weight update


# ----------------------------------------------------------------------------- sparsegpt
def layer_inputs(model, tokens) -> dict[str, torch.Tensor]:
    """Each pruned Linear's inputs on the calibration tokens, in the dense model."""
    inputs, handles = {}, []
    for name, module in linears(model).items():
        def keep(_module, args, name=name):
            inputs[name] = args[0].detach().reshape(-1, args[0].shape[-1]).double()

        handles.append(module.register_forward_pre_hook(keep))
    with torch.no_grad():
        model(tokens)
    for handle in handles:
        handle.remove()
    return inputs


@pytest.mark.parametrize(
    "recipe, baseline",
    [
        (Recipe("sparsegpt", sparsity=0.5), Recipe("magnitude", sparsity=0.5)),
        (Recipe("sparsegpt", pattern="2:4"), Recipe("magnitude", pattern="2:4")),
    ],
    ids=["unstructured", "2:4"],
)
def test_sparsegpt_keeps_the_pattern_and_beats_magnitude_reconstruction(tiny_model_dir, tokens, recipe, baseline):
    dense = load(tiny_model_dir)
    inputs = layer_inputs(dense, tokens)
    model, report = run(tiny_model_dir, recipe, tokens)
    assert report["options"]["block_size"] == 128 and report["options"]["dampening_frac"] == 0.01
    magnitude, _ = run(tiny_model_dir, baseline)
    pruned, reference = linears(model), linears(magnitude)
    def error(x, dense_weight, weight):
        """||X W^T - X W'^T||^2: the layer's output reconstruction error."""
        return float(((x @ (dense_weight - weight).double().T) ** 2).sum())

    for name, module in linears(dense).items():
        x, w = inputs[name], module.weight.detach().double()
        assert error(x, w, pruned[name].weight.detach()) < error(x, w, reference[name].weight.detach()), name
