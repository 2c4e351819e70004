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
from compressors.storage.codecs import CODECS, Codec, LosslessError, unavailable
from compressors.storage.entropy import entropy_bits
from compressors.storage.report import ratio_table, sampling_text, summarize, t975, totals_csv

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
        assert t["raw_bytes"] == raw.size and t["blocks"] == []
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


@pytest.fixture(scope="module")
def varied_dir(tmp_path_factory):
    """Six BF16 tensors of 4 MiB whose compressibility differs from tensor to tensor and
    along the rows (zeros from 5% to 45%), and a small norm."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(2)
    tensors = {}
    for i in range(6):
        w = (torch.randn(2048, 1024, generator=g) * 0.02).bfloat16()
        zeros = torch.linspace(0.05 + 0.06 * i, 0.15 + 0.06 * i, 2048).reshape(-1, 1)
        w[torch.rand(w.shape, generator=g) < zeros] = 0
        tensors[f"layer{i}.weight"] = w
    tensors["norm.weight"] = torch.ones(1024).bfloat16()
    folder = tmp_path_factory.mktemp("varied")
    save_file(tensors, folder / "model.safetensors")
    return folder


def test_sampled_interval_covers_the_full_ratio(varied_dir):
    options = dict(codecs=("zstd-1", "lz4"), layouts=("plain", "grouped"))
    full = summarize(analyze(varied_dir, AnalysisOptions(**options, sampled=(), chunk_mib=1), progress=False))
    part = summarize(analyze(varied_dir, AnalysisOptions(**options, sampled=("zstd-1",), blocks=12, chunk_mib=1),
                             progress=False))
    assert part["sampled"] and part["sampling"]["draws"] == 12 and part["sampling"]["design"] == "pps-with-replacement"
    assert part["sampling"]["sampled_bytes"] < 0.5 * part["raw_bytes"]
    for rep in ("plain", "grouped"):
        truth = full["representations"][rep]["codecs"]["zstd-1"]
        estimate = part["representations"][rep]["codecs"]["zstd-1"]
        low, high = estimate["ratio_ci95"]
        assert low < truth["ratio"] < high, rep
        assert high - low < 0.15 * truth["ratio"], rep  # and the interval is informative (12 draws, 5-45% zeros)
        assert (truth["mode"], estimate["mode"], estimate["blocks"]) == ("full", "sampled", 12)
        # the codec on every byte is the same in both runs
        assert part["representations"][rep]["codecs"]["lz4"]["bytes"] == full["representations"][rep]["codecs"]["lz4"]["bytes"]
    assert full["representations"]["plain"]["codecs"]["zstd-1"]["ratio_ci95"] is None and full["sampling"] is None


def test_t_quantiles_of_the_interval():
    for df, exact in [(1, 12.706), (2, 4.303), (3, 3.182), (5, 2.571), (7, 2.365), (31, 2.040), (1000, 1.962)]:
        assert abs(t975(df) - exact) < 0.004, df


def test_every_row_says_how_it_was_measured(varied_dir):
    options = AnalysisOptions(codecs=("zstd-1", "zstd-19"), layouts=("plain", "grouped"), blocks=3, chunk_mib=1)
    assert options.sampled_codecs() == ("zstd-19",)  # the registry's slow codec, by default
    summary = summarize(analyze(varied_dir, options, progress=False))
    table = ratio_table(summary)
    rows = {line.split()[0]: line for line in table.splitlines()[2:]}
    assert rows["zstd-1"].endswith("full") and rows["zstd-19"].endswith("sampled, 3 blocks") and "±" in rows["zstd-19"]
    assert "zstd-19 sampled: 3 draws of chunks (up to 1 MiB) from the whole checkpoint" in sampling_text(summary)
    measured = {(row.split(",")[2], row.split(",")[3]) for row in totals_csv([summary]).splitlines()[1:]}
    assert measured == {("none", "full"), ("zstd-1", "full"), ("zstd-19", "sampled")}


def test_a_sample_as_large_as_the_checkpoint_codes_every_chunk_once(varied_dir):
    options = AnalysisOptions(codecs=("zstd-3",), layouts=("plain",), sampled=("zstd-3",), blocks=1000, chunk_mib=1)
    result = analyze(varied_dir, options, progress=False)
    summary = summarize(result)
    assert result["sampling"]["design"] == "census" and result["sampling"]["chunks_in_checkpoint"] == 6 * 4 + 1
    blocks = [b for t in result["tensors"] for b in t["blocks"]]
    assert sum(b["raw_bytes"] for b in blocks) == summary["raw_bytes"] and {b["draws"] for b in blocks} == {1}
    entry = summary["representations"]["plain"]["codecs"]["zstd-3"]
    assert entry["mode"] == "full" and entry["ratio_ci95"] is None and not summary["sampled"]
    assert entry["bytes"] == sum(b["streams"]["plain"]["codecs"]["zstd-3"]["bytes"] for b in blocks)


def test_zipnn_codes_float_tensors_as_stored_and_counts_others_raw(synthetic_dir):
    if unavailable("zipnn"):
        pytest.skip(unavailable("zipnn"))
    from safetensors.torch import load_file

    tensors = load_file(synthetic_dir / "model.safetensors")
    result = analyze(synthetic_dir, AnalysisOptions(codecs=("zipnn",), layouts=("plain", "grouped")), progress=False)
    by_name = {t["name"]: t for t in result["tensors"]}
    dense = by_name["dense.weight"]["streams"]
    assert set(dense["plain"]["codecs"]) == {"none", "zipnn"} and set(dense["grouped"]["codecs"]) == {"none"}
    assert dense["plain"]["codecs"]["zipnn"]["bytes"] == len(CODECS["zipnn"].compress(raw_bytes(tensors["dense.weight"]), "BF16"))
    assert "zipnn" not in by_name["steps"]["streams"]["plain"]["codecs"]  # an I64 tensor: ZipNN codes floats only
    entry = summarize(result)["representations"]["grouped"]["codecs"]["zipnn"]
    assert entry["uses"] == {"plain": 4, "raw": 1} and entry["mode"] == "full"
    assert entry["bytes"] == sum(t["streams"]["plain"]["codecs"]["zipnn"]["bytes"] for t in by_name.values()
                                 if t["name"] != "steps") + by_name["steps"]["raw_bytes"]


def test_entropy_coder_total_sits_at_the_order0_bound(varied_dir):
    if unavailable("ans"):
        pytest.skip(unavailable("ans"))
    summary = summarize(analyze(varied_dir, AnalysisOptions(codecs=("ans",), layouts=("plain", "grouped"), sampled=()),
                                progress=False))
    for rep in ("plain", "grouped"):
        r = summary["representations"][rep]
        assert 0.999 < r["entropy_ratio"] / r["codecs"]["ans"]["ratio"] < 1.002, rep


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
    monkeypatch.setitem(CODECS, "lz4", Codec("lz4", bytes, lambda b: bytes(b)[1:], "a lossy stand-in"))
    with pytest.raises(LosslessError, match=r"model.safetensors: tensor .*: plain: part 0: lz4 did not restore"):
        analyze(synthetic_dir, AnalysisOptions(codecs=("lz4",)), progress=False)


def _packed_export(folder) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A compressed-tensors ``pack-quantized`` W4 export of one layer: its 4-bit values and tensors."""
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(3)
    values = torch.randn(64, 256, generator=g).mul(2).round().clamp(-8, 7).to(torch.int8)  # peaked, as real weights
    tensors = {
        "layer.weight_packed": pack_to_int32(values, 4),
        "layer.weight_scale": torch.rand(64, 4, generator=g).bfloat16(),
        "layer.weight_shape": torch.tensor([64, 256]),
    }
    save_file(tensors, folder / "model.safetensors")
    group = {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 64}}
    config = {"quant_method": "compressed-tensors", "format": "pack-quantized", "config_groups": {"group_0": group}}
    (folder / "config.json").write_text(json.dumps({"quantization_config": config}))
    return values, tensors


def test_zipnn_on_a_packed_export_codes_the_scales_and_counts_the_packed_words_raw(tmp_path):
    if unavailable("zipnn"):
        pytest.skip(unavailable("zipnn"))
    _, tensors = _packed_export(tmp_path)
    summary = summarize(analyze(tmp_path, AnalysisOptions(codecs=("zipnn",)), progress=False))
    for rep in ("plain", "grouped", "best"):  # a row in every representation, from the plain bytes
        entry = summary["representations"][rep]["codecs"]["zipnn"]
        assert entry["mode"] == "full" and entry["uses"] == {"plain": 1, "raw": 2}, rep
        scales = len(CODECS["zipnn"].compress(raw_bytes(tensors["layer.weight_scale"]), "BF16"))
        assert entry["bytes"] == scales + tensors["layer.weight_packed"].numel() * 4 + tensors["layer.weight_shape"].numel() * 8


def test_packed_weights_of_a_compressed_tensors_export(tmp_path):
    values, _ = _packed_export(tmp_path)
    result = analyze(tmp_path, AnalysisOptions(codecs=("zstd-3",)), progress=False)
    assert result["quantization"]["packed_bits"] == 4
    packed = next(t for t in result["tensors"] if t["name"] == "layer.weight_packed")
    assert packed["kind"] == "packed" and set(packed["streams"]) == {"plain"}
    expected = entropy_bits(np.bincount((values.numpy().astype(int) + 8).reshape(-1), minlength=16))
    assert packed["value_bits"] == pytest.approx(expected)
    assert packed["value_entropy_bytes"] == pytest.approx(expected * values.numel() / 8)
    assert packed["streams"]["plain"]["codecs"]["zstd-3"]["bytes"] < packed["raw_bytes"]


def test_real_model_grouped_zstd_beats_plain_and_nears_the_entropy_bound(smollm2_dir):
    """The known effect (ZipNN, DFloat11) on the small real model, from 24 sampled chunks."""
    options = AnalysisOptions(codecs=("zstd-3",), sampled=("zstd-3",), blocks=24)
    summary = summarize(analyze(smollm2_dir, options, progress=False))
    reps = summary["representations"]
    plain, grouped = reps["plain"]["codecs"]["zstd-3"], reps["grouped"]["codecs"]["zstd-3"]
    assert grouped["ratio_ci95"][0] > plain["ratio_ci95"][1]
    size, bound = 1 / grouped["ratio"], 1 / reps["grouped"]["entropy_ratio"]
    assert 0 < size - bound < 0.05  # within 5 points of the order-0 bound of the byte planes
    assert set(summary["dtypes"]) == {"BF16"} and summary["tensors"] == len(open_checkpoint(smollm2_dir).tensors)


def test_options_are_checked():
    for bad, message in [
        (dict(blocks=0), "blocks 0: must be a positive integer"),
        (dict(codecs=("zstd-3",), sampled=("zstd-19",)), "sampled codec.*'zstd-19': must be among the codecs measured"),
        (dict(codecs=("zip",)), "unknown codec"),
        (dict(layouts=("grouped",)), "must include 'plain'"),
        (dict(grouping="nibbles"), "grouping 'nibbles'"),
        (dict(workers=0), "workers 0: must be a positive integer"),
        (dict(sparse_min=2), "sparse_min 2"),
    ]:
        with pytest.raises(ValueError, match=message):
            AnalysisOptions(**bad).validate()
    assert math.isfinite(AnalysisOptions().workers)
