"""compressors.pruning.sparsegpt.sparsify: llmcompressor's SparseGPT solve, with fewer launches.

It replaces llmcompressor's ``sparsify_weight`` inside ``SparseGPTModifier`` (the subclass
``compressors.pruning.sparsegpt.modifier_class`` builds), so it must give the very same
weights on the same Hessian: unstructured and N:M, bf16 and float32 weights, widths that are
not a multiple of the block, inputs that never fire, and a Hessian that cannot be inverted.
(bench/tests/test_smoke.py checks the same end to end: a whole model through llm-kick and
through llmcompressor's ``oneshot``.)
"""

from __future__ import annotations

import logging

import pytest
import torch
from llmcompressor.modifiers.pruning.sparsegpt.sgpt_sparsify import (
    accumulate_hessian,
    make_empty_hessian,
    sparsify_weight,
)

from compressors.pruning.sparsegpt import sparsify


def layer_and_hessian(rows: int, columns: int, dtype: torch.dtype, dead: tuple[int, ...] = (), seed: int = 0):
    """A ``Linear`` and llmcompressor's Hessian of random inputs (some inputs always zero)."""
    torch.manual_seed(seed)
    layer = torch.nn.Linear(columns, rows, bias=False).to(dtype)
    inputs = torch.randn(6, 40, columns).to(dtype)
    inputs[..., list(dead)] = 0
    hessian, samples = make_empty_hessian(layer), 0
    for batch in inputs.split(2):
        hessian, samples = accumulate_hessian(batch, layer, hessian, samples)
    return layer, hessian


def theirs(layer, hessian, sparsity, nm, block_size=128, dampening=0.01):
    n, m = nm or (0, 0)
    return sparsify_weight(layer, {layer: hessian}, sparsity, n, m, block_size, dampening, False)


@pytest.mark.parametrize("nm", [None, (2, 4), (4, 8)], ids=["unstructured", "2:4", "4:8"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=["bf16", "fp32"])
@pytest.mark.parametrize("sparsity", [0.5, 0.7])
def test_same_weights_as_llmcompressor(nm, dtype, sparsity):
    # 328 columns: two full blocks of 128 and a short one; inputs 5 and 200 never fire
    layer, hessian = layer_and_hessian(48, 328, dtype, dead=(5, 200))
    loss_theirs, weight_theirs = theirs(layer, hessian.clone(), sparsity, nm)
    loss, weight = sparsify(layer.weight, hessian.clone(), sparsity, nm)
    assert weight.dtype == dtype and weight.shape == layer.weight.shape
    assert torch.equal(weight, weight_theirs)
    assert loss == pytest.approx(loss_theirs, rel=1e-5)
    assert bool((weight[:, [5, 200]] == 0).all())
    if nm is None:
        # per block of 128 columns, the sparsity fraction (plus ties) is pruned
        assert float((weight == 0).float().mean()) == pytest.approx(sparsity, abs=0.01)
    else:
        n, m = nm
        assert bool(((weight == 0).reshape(48, -1, m).sum(2) >= n).all())


def test_other_block_size_and_dampening_as_llmcompressor():
    layer, hessian = layer_and_hessian(32, 200, torch.float32, seed=1)
    _, weight_theirs = theirs(layer, hessian.clone(), 0.5, None, block_size=64, dampening=0.1)
    _, weight = sparsify(layer.weight, hessian.clone(), 0.5, block_size=64, dampening=0.1)
    assert torch.equal(weight, weight_theirs)


def test_a_hessian_that_cannot_be_inverted_falls_back_as_llmcompressor(caplog):
    layer, _ = layer_and_hessian(16, 64, torch.float32)
    hessian = -torch.eye(64)  # negative definite: Cholesky fails
    _, weight_theirs = theirs(layer, hessian.clone(), 0.5, None)
    with caplog.at_level(logging.WARNING, logger="compressors.pruning.sparsegpt"):
        _, weight = sparsify(layer.weight, hessian.clone(), 0.5)
    assert torch.equal(weight, weight_theirs)
    assert "could not be inverted" in caplog.text and "16x64" in caplog.text


def test_the_weight_is_not_changed_in_place():
    layer, hessian = layer_and_hessian(16, 64, torch.float32)
    before = layer.weight.detach().clone()
    _, weight = sparsify(layer.weight, hessian, 0.5)
    assert torch.equal(layer.weight, before) and not torch.equal(weight, before)


def test_the_modifier_runs_this_solver_for_every_pruned_linear(tiny_model_dir, monkeypatch):
    """Through compressors.api, the SparseGPT modifier solves each target with ``sparsify``
    and never with llmcompressor's own solver."""
    import llmcompressor.modifiers.pruning.sparsegpt.sgpt_sparsify as sgpt_sparsify
    from transformers import AutoModelForCausalLM

    import compressors.pruning.sparsegpt as sparsegpt
    from compressors.api import compress
    from compressors.recipe import Recipe

    solved, theirs_called = [], []

    def counting(weight, *args, **kwargs):
        solved.append(tuple(weight.shape))
        return sparsify(weight, *args, **kwargs)

    monkeypatch.setattr(sparsegpt, "sparsify", counting)
    monkeypatch.setattr(sgpt_sparsify, "sparsify_weight", lambda *a, **k: theirs_called.append(1) or sparsify_weight(*a, **k))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    calibration = torch.randint(0, model.config.vocab_size, (2, 16))
    report = compress(model, Recipe("sparsegpt", sparsity=0.5), calibration, device="cpu")
    assert len(solved) == len(report["sparsity"]["layers"]) > 0
    assert not theirs_called
    assert report["engine"].endswith(" SparseGPTModifier")


@pytest.mark.parametrize("cuda_graph", [False, True], ids=["eager", "graph-asked-on-cpu"])
def test_the_block_buffers_change_nothing(cuda_graph):
    """The column loop runs on buffers reused from block to block (what a CUDA graph needs),
    with llmcompressor's weights; a graph asked for on the CPU fails loudly rather than
    silently running the eager loop (so a GPU run with the flag on really replays graphs)."""
    layer, hessian = layer_and_hessian(24, 300, torch.float32, seed=3)
    _, weight_theirs = theirs(layer, hessian.clone(), 0.5, (2, 4))
    if cuda_graph:
        with pytest.raises((RuntimeError, AssertionError)):
            sparsify(layer.weight, hessian.clone(), 0.5, (2, 4), cuda_graph=True)
    else:
        _, weight = sparsify(layer.weight, hessian.clone(), 0.5, (2, 4), cuda_graph=False)
        assert torch.equal(weight, weight_theirs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="a CUDA graph needs a CUDA GPU")
@pytest.mark.parametrize("nm", [None, (2, 4)], ids=["unstructured", "2:4"])
def test_the_cuda_graph_gives_the_eager_loops_weights(nm):
    """On a GPU: the full blocks replayed from one captured graph give the weights of the eager
    loop and of llmcompressor's solver, bit for bit (three full blocks and a short one)."""
    layer, hessian = layer_and_hessian(4096, 3 * 128 + 40, torch.bfloat16, dead=(7,))
    layer, hessian = layer.cuda(), hessian.cuda()
    loss_graph, graph = sparsify(layer.weight, hessian.clone(), 0.5, nm, cuda_graph=True)
    loss_eager, eager = sparsify(layer.weight, hessian.clone(), 0.5, nm, cuda_graph=False)
    _, weight_theirs = theirs(layer, hessian.clone(), 0.5, nm)
    assert torch.equal(graph, eager) and torch.equal(graph, weight_theirs)
    assert loss_graph == loss_eager
