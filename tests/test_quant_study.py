"""docs/storage/quant_study/analyze.py on `kick storage --json` output: synthetic files in the
real schema with known sizes (every figure checked against hand arithmetic), and one built by
the storage analysis from real RTN checkpoints of the tiny model."""

from __future__ import annotations

import gzip
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

MODULE = "model.layers.0.mlp.down_proj"
WEIGHTS = 64 * 64


def _analyze():
    spec = importlib.util.spec_from_file_location("quant_study_analyze", REPO_ROOT / "docs/storage/quant_study/analyze.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


analyze = _analyze()


def tensor(name, kind, dtype, shape, raw, streams, value_entropy_bytes=None):
    """A tensor entry as compressors.storage.analyze writes it; ``streams``: {stream: (entropy
    bytes, {codec: bytes})}."""
    return {
        "file": "model.safetensors", "name": name, "dtype": dtype, "shape": list(shape), "kind": kind,
        "raw_bytes": raw, "zero_fraction": None, "nm_pattern": None, "value_bits": None,
        "value_entropy_bytes": value_entropy_bytes,
        "streams": {s: {"parts": {}, "entropy_bytes": h, "prepare_s": 0.0, "restore_s": 0.0,
                        "codecs": {c: {"bytes": b, "compress_s": 0.0, "decompress_s": 0.0} for c, b in codecs.items()}}
                    for s, (h, codecs) in streams.items()},
        "blocks": [],
    }


EMBED = tensor("model.embed_tokens.weight", "float", "BF16", (300, 64), 38400,
               {"plain": (30000, {"none": 38400, "zstd-3": 33000}), "grouped": (29000, {"none": 38400, "zstd-3": 31000})})


def model(label, tensors, recipe=None, bits=None):
    raw = sum(t["raw_bytes"] for t in tensors)
    best = {"none": raw, **{c: sum(min(s["codecs"][c]["bytes"] for s in t["streams"].values() if c in s["codecs"])
                                  for t in tensors) for c in ("zstd-3",)}}
    return {
        "summary": {
            "label": label, "raw_bytes": raw,
            "quantization": None if bits is None else {"format": "pack-quantized", "quant_method": "compressed-tensors", "packed_bits": bits},
            "source": f"/cache/checkpoints/{label}",
            "kick": None if recipe is None else {"source": {"pretrained": "/models/Tiny-7B/", "revision": "main"},
                                                 "recipe": {"method": "rtn", "bits": bits, "ignore": ["lm_head"], **recipe}},
            "representations": {"best": {"codecs": {c: {"bytes": b, "ratio": raw / b} for c, b in best.items()}}},
        },
        "analysis": {"label": label, "tensors": tensors},
    }


def rtn4(label, group_size, symmetric, entropy_bits, zstd_bytes):
    """A 4-bit RTN checkpoint of one 64x64 module: packed codes with the given code entropy,
    one bf16 scale (and int8 zero point if asymmetric) per group."""
    groups = 1 if group_size == 0 else 64 * (64 // (64 if group_size == -1 else group_size))
    tensors = [EMBED, tensor(MODULE + ".weight_packed", "packed", "I32", (64, 8), WEIGHTS // 2,
                             {"plain": (1500, {"none": WEIGHTS // 2, "zstd-3": zstd_bytes, "lz4": WEIGHTS // 2 - 100})},
                             value_entropy_bytes=WEIGHTS * entropy_bits / 8),
               tensor(MODULE + ".weight_scale", "float", "BF16", (groups,), 2 * groups,
                      {"plain": (groups, {"none": 2 * groups, "zstd-3": 2 * groups + 9, "zipnn": 2 * groups - 1})})]
    if not symmetric:
        tensors.append(tensor(MODULE + ".weight_zero_point", "int", "I8", (groups,), groups,
                              {"plain": (groups / 4, {"none": groups, "zstd-3": groups // 2 + 9})}))
    return model(label, tensors, {"group_size": group_size, "symmetric": symmetric}, bits=4)


def dense():
    weight = tensor(MODULE + ".weight", "float", "BF16", (64, 64), 2 * WEIGHTS,
                    {"plain": (7000, {"none": 8192, "zstd-3": 7100}), "grouped": (6000, {"none": 8192, "zstd-3": 6300, "zipnn": 6200})})
    return model("dense", [EMBED, weight])


@pytest.fixture
def study(tmp_path):
    points = [dense(), rtn4("t-sym", 0, True, 1.5, 900), rtn4("t-asym", 0, False, 2.0, 1200),
              rtn4("g32-sym", 32, True, 3.0, 1700), rtn4("g32-asym", 32, False, 3.5, 1900)]
    path = tmp_path / "rtn.json.gz"  # as run.sh keeps them
    path.write_bytes(gzip.compress(json.dumps({"bandwidths_Bps": [1e8], "decode_threads": 1, "models": points}).encode()))
    return path


def test_parts_split_codes_qparams_and_rest_with_each_codec_in_its_best_layout(study):
    points = {p.label: p for p in analyze.load_points([study])}
    d, ts, ga = points["dense"], points["t-sym"], points["g32-asym"]
    assert d.bits is None and d.weights == WEIGHTS and d.codes.raw == 8192
    assert d.codes.codecs == {"none": 8192, "zstd-3": 6300, "zipnn": 6200} and d.codes.best_codec == "zipnn"
    assert d.codes.entropy == 6000 and d.qparams.raw == 0 and d.bits_per_weight("stored") == 16
    assert ts.weights == WEIGHTS and ts.granularity == "per-tensor" and ts.grid == "sym"
    assert ts.code_entropy_bits == pytest.approx(1.5)
    assert ts.codes.best_codec == "zstd-3" and ts.codes.best == 900
    assert set(ts.codes.codecs) == {"none", "zstd-3", "lz4"}
    assert ga.granularity == "g32" and ga.qparams.raw == 256 + 128 and ga.rest.raw == EMBED["raw_bytes"]
    assert ga.bits_per_weight("stored") == pytest.approx(8 * (2048 + 384) / WEIGHTS)  # 4.75
    # ZipNN codes the scales only: under it the int8 zero points count raw (128 B), not as 0 B
    assert ga.qparams.codecs == {"none": 384, "zstd-3": 265 + 73, "zipnn": 255 + 128}
    assert ga.qparams.best == pytest.approx(265 + 73) and ga.qparams.best_codec == "zstd-3"
    assert ga.bits_per_weight("best") == pytest.approx(8 * (1900 + 338) / WEIGHTS)
    assert ga.linear_ratio == pytest.approx((2048 + 384) / (1900 + 338))


def test_one_choice_at_a_time_holds_the_others_fixed(study):
    points = analyze.load_points([study])
    levels, rows = analyze.isolate("grid", points)
    assert levels == ["sym", "asym"]
    assert [key for key, _ in rows] == [("rtn", 4, "g32"), ("rtn", 4, "per-tensor")]
    assert analyze.mean_effect("grid", points, lambda p: p.code_entropy_bits) == {"sym": 2.25, "asym": 2.75}
    levels, rows = analyze.isolate("granularity", points)
    assert levels == ["per-tensor", "g32"] and len(rows) == 2
    assert analyze.isolate("method", points)[1] == []  # RTN only: nothing to pair
    table = analyze.isolation_table("granularity", points)
    by = {p.label: p for p in points}
    assert f"| rtn 4 sym | {by['t-sym'].linear_ratio:.3f} · 1.50/4 | {by['g32-sym'].linear_ratio:.3f} · 3.00/4 |" in table
    mean = math.sqrt(by["t-sym"].linear_ratio * by["t-asym"].linear_ratio)
    assert f"| geometric mean (2 rows) | {mean:.3f} |" in table


def test_report_states_the_findings_with_their_figures_and_writes_the_plot(study, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert analyze.main([str(study), "--out", str(out)]) == 0
    text = (out / "README.md").read_text()
    assert text.startswith("# Lossless compressibility of quantized weights (Tiny-7B)\n")
    assert "the most slack is in t-sym (1.50 bits of entropy in 4-bit codes" in text
    assert "the least in g32-asym (3.50 of 4 bits" in text
    assert "Q4_1 GGUF" in text and "Measured:" not in text  # no 8-bit asymmetric g32 point here
    assert "symmetric codes have less entropy than asymmetric ones in 2 of 2 otherwise equal checkpoints; " \
           "on average 2.25 bits against 2.75" in text
    assert "code entropy, row by row: per-tensor < g32 in 2 of 2; mean code entropy (bits per weight) per-tensor 1.75, g32 3.25" in text
    assert "no GPTQ checkpoint on an RTN checkpoint's grid in the input" in text
    assert "bash docs/storage/quant_study/run_gpu.sh" in text and "kick report docs/storage/quant_study/results" in text
    assert text.count("| t-asym | rtn | 4 | per-tensor | asym |") == 1
    assert (out / analyze.PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def nf4(label, entropy_bits):
    """A bitsandbytes NF4 checkpoint of the same module as transformers saves it: the codes two
    to a uint8, the block absmax quantized to 8 bits (one per 64 weights) with its own float
    scales, the 16-level code book and the packed quant state."""
    blocks = WEIGHTS // 64
    codes = tensor(MODULE + ".weight", "uint", "U8", (WEIGHTS // 2, 1), WEIGHTS // 2,
                   {"plain": (WEIGHTS * entropy_bits / 8, {"none": WEIGHTS // 2, "zstd-3": 2000})},
                   value_entropy_bytes=WEIGHTS * entropy_bits / 8)
    qparams = [tensor(MODULE + ".weight.absmax", "uint", "U8", (blocks,), blocks, {"plain": (50, {"none": blocks, "zstd-3": 60})}),
               tensor(MODULE + ".weight.nested_absmax", "float", "F32", (1,), 4, {"plain": (4, {"none": 4, "zstd-3": 13})}),
               tensor(MODULE + ".weight.quant_map", "float", "F32", (16,), 64, {"plain": (40, {"none": 64, "zstd-3": 60})}),
               tensor(MODULE + ".weight.nested_quant_map", "float", "F32", (256,), 1024, {"plain": (800, {"none": 1024, "zstd-3": 900})}),
               tensor(MODULE + ".weight.quant_state.bitsandbytes__nf4", "uint", "U8", (168,), 168, {"plain": (100, {"none": 168, "zstd-3": 120})})]
    out = model(label, [EMBED, codes, *qparams], {"group_size": 64})
    out["summary"]["quantization"] = {"format": None, "quant_method": "bitsandbytes", "packed_bits": None}
    out["summary"]["kick"]["recipe"] = {"method": "nf4", "bits": 4, "group_size": 64, "ignore": ["lm_head"]}
    return out


def test_bitsandbytes_nf4_is_read_as_4_bit_codes_with_its_absmax_and_code_book(tmp_path):
    """NF4 as transformers saves it: the uint8 weight is the codes (two a byte), everything
    bitsandbytes keeps beside it counts as its scales, and it pairs with RTN on the same scales."""
    path = tmp_path / "bnb.json"
    path.write_text(json.dumps({"models": [dense(), rtn4("g64-sym", 64, True, 3.5, 1800), nf4("nf4", 3.9)]}))
    points = {p.label: p for p in analyze.load_points([path])}
    n = points["nf4"]
    assert (n.method, n.bits, n.granularity, n.grid, n.weights) == ("nf4", 4, "g64", "sym", WEIGHTS)
    assert n.codes.raw == WEIGHTS // 2 and n.code_entropy_bits == pytest.approx(3.9)
    assert n.qparams.raw == WEIGHTS // 64 + 4 + 64 + 1024 + 168 and n.rest.raw == EMBED["raw_bytes"]
    assert points["dense"].weights == WEIGHTS  # the same module picked in the dense checkpoint
    levels, rows = analyze.isolate("method", list(points.values()))
    assert levels == ["rtn", "nf4"] and [key for key, _ in rows] == [(4, "g64", "sym")]
    (line,) = [f for f in analyze.findings(list(points.values())) if f.startswith("bitsandbytes")]
    assert f"nf4 3.90 / {n.bits_per_weight('best'):.2f} against g64-sym 3.50 / " in line


def test_gptq_is_compared_with_rtn_on_the_same_grid_only(tmp_path):
    gptq = rtn4("gptq-t-sym", 0, True, 1.2, 850)
    gptq["summary"]["kick"]["recipe"]["method"] = "gptq"
    path = tmp_path / "study.json"
    path.write_text(json.dumps({"models": [dense(), rtn4("t-sym", 0, True, 1.5, 900), rtn4("g32-sym", 32, True, 3.0, 1700),
                                           gptq, nf4("nf4", 3.9)]}))
    points = analyze.load_points([path])
    (line,) = [f for f in analyze.findings(points) if f.startswith("Method")]
    assert "GPTQ codes average 1.20 bits of entropy against 1.50 for RTN" in line
    assert "GPTQ lower in 1 of 1 pairs: gptq-t-sym 1.20 against t-sym 1.50" in line


def test_input_without_quantized_checkpoints_is_refused(tmp_path):
    path = tmp_path / "dense.json"
    path.write_text(json.dumps({"models": [dense()]}))
    with pytest.raises(ValueError, match="no quantized checkpoint"):
        analyze.load_points([path])
    assert analyze.main(["--out", str(tmp_path / "empty")]) == 2


@pytest.mark.slow
def test_real_rtn_checkpoints_of_the_tiny_model(tiny_model_dir, tmp_path):
    """End to end on the storage analysis' own output: per-tensor and per-group RTN exports of
    the tiny model, analysed by `python -m compressors.storage`, read by analyze.py."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from compressors.api import compress, save_checkpoint
    from compressors.recipe import Recipe
    from compressors.storage.cli import main as storage_main

    specs = []
    for group_size in (0, 32):
        for symmetric in (True, False):
            folder = tmp_path / f"g{group_size}-{symmetric}"
            model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16)
            recipe = Recipe("rtn", bits=4, group_size=group_size, symmetric=symmetric)
            compress(model, recipe, device="cpu", progress=False)
            save_checkpoint(model, AutoTokenizer.from_pretrained(tiny_model_dir), folder)
            specs.append(f"{folder.name}={folder}")
    out = tmp_path / "study.json"
    assert storage_main([*specs, "--codecs", "zstd-3,lz4", "--workers", "1", "--quiet", "--json", str(out)]) == 0
    points = analyze.load_points([out])
    linears = sum(m.in_features * m.out_features for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n != "lm_head")
    assert [p.weights for p in points] == [linears] * 4 and {p.bits for p in points} == {4}
    for p in points:
        assert 0 < p.code_entropy_bits <= 4 and p.bits_per_weight("entropy") <= p.bits_per_weight("stored")
    # the tiny model's kick recipe is not recorded (plain folders): the labels carry the choice
    by = {p.label: p for p in points}
    assert by["g0-True"].code_entropy_bits < by["g32-False"].code_entropy_bits
    assert by["g0-True"].qparams.raw < by["g32-False"].qparams.raw
