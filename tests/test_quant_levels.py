"""Quantized weights hold only the levels their scheme allows, in memory and in the checkpoint.

Counted directly: every group of ``group_size`` consecutive input weights of every output row
of every quantized ``Linear`` (every row per channel, the whole matrix per tensor) holds at
most ``2^bits`` distinct values, on the checkpoint as
transformers loads it back (compressed-tensors ``pack-quantized``, decompressed by a forward).
"""

from __future__ import annotations

import pytest
import torch

from compressors.api import compress, save_checkpoint
from compressors.recipe import Recipe


def load(folder):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(0, 300, (8, 64), generator=torch.Generator().manual_seed(0))


def distinct_per_group(weight: torch.Tensor, group_size: int) -> torch.Tensor:
    rows, columns = weight.shape
    if group_size == 0:  # per tensor: the whole matrix is one group
        weight, rows, columns = weight.reshape(1, -1), 1, rows * columns
    size = columns if group_size in (-1, 0) else group_size
    ordered = weight.reshape(rows, columns // size, size).sort(dim=-1).values
    return 1 + (ordered[..., 1:] != ordered[..., :-1]).sum(-1)


@pytest.mark.parametrize(
    "method, bits, symmetric, group_size",
    [
        ("rtn", 8, False, 64),
        ("rtn", 4, True, -1),
        ("rtn", 3, False, 32),
        ("rtn", 2, True, 32),
        ("gptq", 4, True, 32),
        ("gptq", 3, False, 32),
        ("rtn", 4, False, 0),
        ("rtn", 3, True, 0),
        ("gptq", 4, False, 0),
        ("gptq", 3, True, 0),
    ],
)
def test_every_group_holds_at_most_2_to_the_bits_values(tiny_model_dir, tmp_path, tokens, method, bits, symmetric, group_size):
    from transformers import AutoTokenizer

    recipe = Recipe(method, bits=bits, symmetric=symmetric, group_size=group_size)
    model = load(tiny_model_dir)
    dense_head = model.lm_head.weight.detach().clone()
    report = compress(model, recipe, tokens, device="cpu", progress=False)
    levels = report["quantization"]["levels"]
    assert levels["levels_ok"] and levels["layers"] == 14 and levels["allowed_levels"] == 2**bits
    assert levels["max_off_grid"] < 1e-3

    save_checkpoint(model, AutoTokenizer.from_pretrained(tiny_model_dir), tmp_path / "q")
    reloaded = load(tmp_path / "q")
    with torch.no_grad():
        reloaded(tokens[:1])  # compressed-tensors decompresses each layer on its first forward
    counted = 0
    for name, module in reloaded.named_modules():
        if isinstance(module, torch.nn.Linear) and name != "lm_head":
            counts = distinct_per_group(module.weight.detach(), group_size)
            assert int(counts.max()) <= 2**bits, (name, int(counts.max()))
            assert int(counts.max()) > 2 ** (bits - 1) or bits == 8, (name, int(counts.max()))  # the grid is used
            counted += 1
    assert counted == 14
    assert torch.equal(reloaded.lm_head.weight, dense_head)  # kept dense by ignore=("lm_head",)


def test_symmetric_grid_is_symmetric_and_asymmetric_has_zero_points(tiny_model_dir, tmp_path, tokens):
    """Symmetric: every level is an integer multiple of the group's scale (no offset)."""
    model = load(tiny_model_dir)
    compress(model, Recipe("rtn", bits=4, group_size=32), device="cpu", progress=False)
    module = model.model.layers[0].mlp.down_proj
    codes = module.weight.detach().reshape(64, -1, 32) / module.weight_scale.detach().reshape(64, -1, 1)
    assert torch.allclose(codes, codes.round(), atol=1e-4) and codes.round().min() >= -8 and codes.round().max() <= 7
    model = load(tiny_model_dir)
    compress(model, Recipe("rtn", bits=4, group_size=32, symmetric=False), device="cpu", progress=False)
    assert model.model.layers[0].mlp.down_proj.weight_zero_point.abs().sum() > 0


@pytest.mark.parametrize("method", ["rtn", "gptq"])
def test_per_tensor_export_has_one_scale_per_matrix_and_loads_back_equal(tiny_model_dir, tmp_path, tokens, method):
    """``group_size=0``: compressed-tensors' "tensor" strategy, one scale (and zero point) per
    weight matrix, saved as ``pack-quantized`` and read back by transformers unchanged."""
    from transformers import AutoTokenizer

    from compressors.quantization.describe import describe_quantization

    recipe = Recipe(method, bits=4, group_size=0, symmetric=False)
    model = load(tiny_model_dir)
    report = compress(model, recipe, tokens, device="cpu", progress=False)
    assert report["quantization"]["scheme"].startswith("W4A16 int asym per-tensor")
    module = model.model.layers[0].mlp.down_proj
    assert module.weight_scale.numel() == 1 and module.weight_zero_point.numel() == 1
    codes = module.weight.detach() / module.weight_scale + module.weight_zero_point
    assert torch.allclose(codes, codes.round(), atol=1e-3) and codes.round().min() >= -8 and codes.round().max() <= 7
    with torch.no_grad():
        expected = model(tokens[:2]).logits
    save_checkpoint(model, AutoTokenizer.from_pretrained(tiny_model_dir), tmp_path / "q")
    reloaded = load(tmp_path / "q")
    with torch.no_grad():
        assert torch.allclose(reloaded(tokens[:2]).logits, expected, atol=1e-5)
    described = describe_quantization(reloaded.config)
    assert described["group_size"] == 0 and described["format"] == "pack-quantized" and described["bits"] == 4
