"""The streaming engine against direct codec calls, sampling against full runs, resume, real weights."""

from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest
import zstandard

from compressors.storage.analyze import AnalysisOptions, analyze
from compressors.storage.checkpoint import open_checkpoint
from compressors.storage.codecs import CODECS, Codec, LosslessError
from compressors.storage.entropy import entropy_bits
from compressors.storage.report import summarize

torch = pytest.importorskip("torch")
engine = importlib.import_module("compressors.storage.analyze")  # the package re-exports analyze()


def zstd3(b) -> int:
    return len(zstandard.ZstdCompressor(level=3).compress(bytes(b)))


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    """BF16 weights: dense, 50% pruned, 2:4 pruned; an F32 norm and an I64 buffer."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    dense = torch.randn(256, 512, generator=g).bfloat16() * 0.02
    pruned = dense.clone()
    pruned[dense.abs() <= dense.abs().flatten().kthvalue(dense.numel() // 2).values] = 0
    groups = dense.clone().reshape(-1, 4)
    drop = groups.abs().topk(2, dim=1, largest=False).indices
    two_four = groups.scatter(1, drop, 0.0).reshape(dense.shape)
    folder = tmp_path_factory.mktemp("synthetic")
    tensors = {
        "dense.weight": dense,
        "pruned.weight": pruned,
        "two_four.weight": two_four,
        "norm.weight": torch.ones(512),
        "steps": torch.arange(7),
    }
    save_file(tensors, folder / "model.safetensors")
    return folder


def raw_bytes(tensor) -> np.ndarray:
    return tensor.contiguous().view(torch.uint8).numpy().reshape(-1)


def test_full_run_equals_direct_codec_calls(synthetic_dir):
    from safetensors.torch import load_file

    tensors = load_file(synthetic_dir / "model.safetensors")
    result = analyze(synthetic_dir, AnalysisOptions(codecs=("zstd-3", "lz4"), workers=2), progress=False)
    by_name = {t["name"]: t for t in result["tensors"]}
    assert set(by_name) == set(tensors)
    for name, tensor in tensors.items():
        t, raw = by_name[name], raw_bytes(tensor)
        assert t["raw_bytes"] == raw.size and not t["sampled"]
        plain = t["streams"]["plain"]
        assert plain["codecs"]["zstd-3"]["bytes"] == zstd3(raw)
        assert plain["codecs"]["none"]["bytes"] == raw.size
        assert plain["parts"]["raw"]["entropy_bits"] == pytest.approx(entropy_bits(np.bincount(raw, minlength=256)))
    # BF16 byte grouping, checked with plain integer arithmetic on the same values.
    words = raw_bytes(tensors["dense.weight"]).view(np.uint16)
    exponent = ((words >> 7) & 0xFF).astype(np.uint8)
    sign_mantissa = (((words >> 15) << 7) | (words & 0x7F)).astype(np.uint8)
    grouped = by_name["dense.weight"]["streams"]["grouped"]
    assert grouped["codecs"]["zstd-3"]["bytes"] == zstd3(exponent) + zstd3(sign_mantissa)
    assert grouped["parts"]["exponent"]["entropy_bits"] == pytest.approx(entropy_bits(np.bincount(exponent)))
    # Sparse layouts where, and only where, they apply.
    assert set(by_name["dense.weight"]["streams"]) == {"plain", "grouped"}
    assert set(by_name["pruned.weight"]["streams"]) == {"plain", "grouped", "bitmask"}
    assert set(by_name["two_four.weight"]["streams"]) == {"plain", "grouped", "bitmask", "nm"}
    assert by_name["two_four.weight"]["nm_pattern"] == "2:4" and by_name["pruned.weight"]["nm_pattern"] is None
    assert by_name["pruned.weight"]["zero_fraction"] == pytest.approx(0.5, abs=0.01)
    count = 256 * 512
    bitmask = by_name["pruned.weight"]["streams"]["bitmask"]["codecs"]["none"]["bytes"]
    assert bitmask == count / 8 + 2 * int(np.count_nonzero(raw_bytes(tensors["pruned.weight"]).view(np.uint16)))
    assert by_name["two_four.weight"]["streams"]["nm"]["codecs"]["none"]["bytes"] == count / 2 * 2 + count / 8
    assert set(by_name["steps"]["streams"]) == {"plain"} and by_name["steps"]["kind"] == "int"
    # Totals: each representation picks its layout per tensor, falling back where absent.
    summary = summarize(result)
    reps = summary["representations"]
    assert summary["raw_bytes"] == sum(raw_bytes(t).size for t in tensors.values())
    assert reps["nm"]["codecs"]["zstd-3"]["uses"] == {"nm": 1, "grouped": 3, "plain": 1}
    assert reps["grouped"]["codecs"]["zstd-3"]["ratio"] > reps["plain"]["codecs"]["zstd-3"]["ratio"]
    assert reps["nm"]["codecs"]["none"]["ratio"] > 1.0  # the layout alone saves space
    best = reps["best"]["codecs"]["zstd-3"]["bytes"]
    assert best <= min(r["codecs"]["zstd-3"]["bytes"] for r in reps.values())


def test_tensors_are_read_and_coded_in_chunks(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    from compressors.storage.checkpoint import TensorRecord

    big = torch.randn(1024, 640, generator=torch.Generator().manual_seed(1)).bfloat16()  # 1.25 MiB
    save_file({"w": big}, tmp_path / "model.safetensors")
    reads = []
    read_rows = TensorRecord.read_rows
    monkeypatch.setattr(TensorRecord, "read_rows", lambda self, first, n: reads.append(n) or read_rows(self, first, n))
    result = analyze(tmp_path, AnalysisOptions(codecs=("zstd-3",), chunk_mib=1, layouts=("plain",)), progress=False)
    assert reads == [819, 205]  # memory holds a chunk, not the tensor
    raw = raw_bytes(big)
    rows = (1 << 20) // (640 * 2)  # whole rows per 1 MiB chunk
    cut = rows * 640 * 2
    assert result["tensors"][0]["streams"]["plain"]["codecs"]["zstd-3"]["bytes"] == zstd3(raw[:cut]) + zstd3(raw[cut:])


def test_sampling_estimate_lies_in_its_interval(tmp_path):
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(2)
    w = torch.randn(8192, 2048, generator=g).bfloat16()  # 32 blocks of 1 MiB
    zeros = torch.linspace(0.2, 0.4, 8192).reshape(-1, 1)  # compressibility changes along the rows
    w[torch.rand(w.shape, generator=g) < zeros] = 0
    save_file({"w": w}, tmp_path / "model.safetensors")
    options = dict(codecs=("zstd-1",), layouts=("plain", "grouped"))
    full = summarize(analyze(tmp_path, AnalysisOptions(**options), progress=False))
    # 1 MiB blocks (the default): coding blocks on their own costs zstd < 0.01% here.
    part = summarize(analyze(tmp_path, AnalysisOptions(**options, sample=0.25), progress=False))
    assert part["sampled"] and part["read_bytes"] / part["raw_bytes"] == 0.25
    for rep in ("plain", "grouped"):
        truth = full["representations"][rep]["codecs"]["zstd-1"]
        low, high = part["representations"][rep]["codecs"]["zstd-1"]["ratio_ci95"]
        assert low < truth["ratio"] < high, rep
        assert high - low < 0.1 * truth["ratio"], rep  # and the interval is informative
    assert full["representations"]["plain"]["codecs"]["zstd-1"]["ratio_ci95"] is None


def test_small_tensors_are_read_whole_in_sampling_mode(synthetic_dir):
    result = analyze(synthetic_dir, AnalysisOptions(codecs=("lz4",), sample=0.01), progress=False)
    assert not any(t["sampled"] for t in result["tensors"])  # each has fewer than min_blocks blocks


def test_resume_reuses_finished_tensors(synthetic_dir, tmp_path, monkeypatch):
    journal = tmp_path / "journal.jsonl"
    options = AnalysisOptions(codecs=("lz4",))
    first = analyze(synthetic_dir, options, journal=journal, progress=False)
    with open(journal, "a") as fh:
        fh.write('{"key": "model.safetensors::cut sho')  # a line cut short by a kill

    def must_not_run(*args, **kwargs):
        raise AssertionError("a finished tensor was measured again")

    monkeypatch.setattr(engine, "measure", must_not_run)
    again = analyze(synthetic_dir, options, journal=journal, progress=False)
    assert again["tensors"] == first["tensors"]
    assert len(journal.read_text().splitlines()) == 1 + len(first["tensors"])
    with pytest.raises(AssertionError, match="measured again"):  # other options: a fresh start
        analyze(synthetic_dir, AnalysisOptions(codecs=("zstd-1",)), journal=journal, progress=False)
    assert json.loads(journal.read_text().splitlines()[0])["fingerprint"] != ""


def test_a_codec_that_loses_bytes_stops_the_analysis(synthetic_dir, monkeypatch):
    monkeypatch.setitem(CODECS, "lz4", Codec("lz4", bytes, lambda b: bytes(b)[1:]))
    with pytest.raises(LosslessError, match=r"model.safetensors: tensor .*: plain: part 0: lz4 did not restore"):
        analyze(synthetic_dir, AnalysisOptions(codecs=("lz4",)), progress=False)


def test_packed_weights_of_a_compressed_tensors_export(tmp_path):
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(3)
    values = torch.randn(64, 256, generator=g).mul(2).round().clamp(-8, 7).to(torch.int8)  # peaked, as real weights
    save_file(
        {
            "layer.weight_packed": pack_to_int32(values, 4),
            "layer.weight_scale": torch.rand(64, 4, generator=g).bfloat16(),
            "layer.weight_shape": torch.tensor([64, 256]),
        },
        tmp_path / "model.safetensors",
    )
    group = {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 64}}
    config = {"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {"group_0": group}}
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": config}))
    result = analyze(tmp_path, AnalysisOptions(codecs=("zstd-3",)), progress=False)
    assert result["quantization"]["packed_bits"] == 4
    packed = next(t for t in result["tensors"] if t["name"] == "layer.weight_packed")
    assert packed["kind"] == "packed" and set(packed["streams"]) == {"plain"}
    expected = entropy_bits(np.bincount((values.numpy().astype(int) + 8).reshape(-1), minlength=16))
    assert packed["value_bits"] == pytest.approx(expected)
    assert packed["value_entropy_bytes"] == pytest.approx(expected * values.numel() / 8)
    assert packed["streams"]["plain"]["codecs"]["zstd-3"]["bytes"] < packed["raw_bytes"]


def test_real_model_grouped_zstd_beats_plain_and_nears_the_entropy_bound(smollm2_dir):
    """The known effect (ZipNN, DFloat11) on the small real model, from a 5% sample of small
    blocks (their bias, a few tenths of a percent, is far below the effects tested)."""
    options = AnalysisOptions(codecs=("zstd-3",), sample=0.05, block_kib=128, min_blocks=2)
    summary = summarize(analyze(smollm2_dir, options, progress=False))
    reps = summary["representations"]
    plain, grouped = reps["plain"]["codecs"]["zstd-3"], reps["grouped"]["codecs"]["zstd-3"]
    assert grouped["ratio_ci95"][0] > plain["ratio_ci95"][1]
    size, bound = 1 / grouped["ratio"], 1 / reps["grouped"]["entropy_ratio"]
    assert 0 < size - bound < 0.05  # within 5 points of the order-0 bound of the byte planes
    assert set(summary["dtypes"]) == {"BF16"} and summary["tensors"] == len(open_checkpoint(smollm2_dir).tensors)


def test_options_are_checked():
    for bad, message in [
        (dict(sample=1.5), "sample 1.5: must be a fraction in"),
        (dict(codecs=("zip",)), "unknown codec"),
        (dict(layouts=("grouped",)), "must include 'plain'"),
        (dict(grouping="nibbles"), "grouping 'nibbles'"),
        (dict(workers=0), "workers 0: must be a positive integer"),
        (dict(sparse_min=2), "sparse_min 2"),
    ]:
        with pytest.raises(ValueError, match=message):
            AnalysisOptions(**bad).validate()
    assert math.isfinite(AnalysisOptions().workers)
