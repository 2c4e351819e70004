"""Calibration tokens: the reference's sampling, local files, and clear errors."""

from __future__ import annotations

import gzip
import json
import random

import pytest
import torch

from compressors.calibration import CalibrationConfig, CalibrationError, builtin_text, calibration_tokens


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _is_window(row: torch.Tensor, ids: torch.Tensor) -> bool:
    windows = ids.unfold(0, row.numel(), 1)
    return bool((windows == row).all(dim=1).any())


def test_builtin_windows_are_seeded_slices_of_the_text(tokenizer):
    config = CalibrationConfig("builtin", nsamples=6, seqlen=32, seed=0)
    tokens = calibration_tokens(tokenizer, config)
    assert tokens.shape == (6, 32) and tokens.dtype == torch.long
    assert torch.equal(tokens, calibration_tokens(tokenizer, config))
    assert not torch.equal(tokens, calibration_tokens(tokenizer, CalibrationConfig("builtin", 6, 32, seed=1)))
    ids = tokenizer(builtin_text(), return_tensors="pt").input_ids[0]
    assert all(_is_window(row, ids) for row in tokens)


def test_text_file_is_sampled_like_the_reference_wikitext2_loader(tokenizer, tmp_path):
    """The reference: random.seed(seed); start = randint(0, L - seqlen - 1) per sample."""
    path = tmp_path / "notes.txt"
    path.write_text(builtin_text("heldout_en"), encoding="utf-8")
    tokens = calibration_tokens(tokenizer, CalibrationConfig(str(path), nsamples=5, seqlen=40, seed=3))
    ids = tokenizer(path.read_text(encoding="utf-8"), return_tensors="pt").input_ids[0]
    random.seed(3)
    expected = []
    for _ in range(5):
        start = random.randint(0, ids.numel() - 40 - 1)
        expected.append(ids[start : start + 40])
    assert torch.equal(tokens, torch.stack(expected))


def _reference_c4(tokenizer, texts, nsamples, seqlen, seed):
    """The SparseGPT/Wanda get_c4 loop, written out plainly."""
    random.seed(seed)
    out = []
    for _ in range(nsamples):
        while True:
            i = random.randint(0, len(texts) - 1)
            ids = tokenizer(texts[i], return_tensors="pt").input_ids
            if ids.shape[1] > seqlen:
                break
        i = random.randint(0, ids.shape[1] - seqlen - 1)
        out.append(ids[0, i : i + seqlen])
    return torch.stack(out)


def _documents() -> list[str]:
    paragraphs = [p for p in builtin_text("heldout_en").split("\n\n") if p.strip()]
    return paragraphs + ["Short.", "Also short."]


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".json.gz"])
def test_document_files_replay_the_reference_c4_sampling(tokenizer, tmp_path, suffix):
    texts = _documents()
    path = tmp_path / f"shard{suffix}"
    if suffix == ".json":
        payload = json.dumps([{"text": t, "url": "x"} for t in texts])
    else:
        payload = "\n".join(json.dumps({"text": t, "timestamp": 0}) for t in texts)
    if suffix.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(payload)
    else:
        path.write_text(payload, encoding="utf-8")
    tokens = calibration_tokens(tokenizer, CalibrationConfig(str(path), nsamples=7, seqlen=64, seed=0))
    assert torch.equal(tokens, _reference_c4(tokenizer, texts, 7, 64, 0))


def test_random_tokens_are_seeded_and_in_vocabulary(tokenizer):
    tokens = calibration_tokens(tokenizer, CalibrationConfig("random", nsamples=4, seqlen=16, seed=5))
    assert tokens.shape == (4, 16)
    assert 0 <= int(tokens.min()) and int(tokens.max()) < len(tokenizer)
    assert torch.equal(tokens, calibration_tokens(tokenizer, CalibrationConfig("random", 4, 16, seed=5)))


@pytest.mark.parametrize("source", ["c4", "wikitext2"])
def test_hub_sources_offline_fail_with_the_fix(tokenizer, source, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CalibrationError) as err:
        calibration_tokens(tokenizer, CalibrationConfig(source, nsamples=2, seqlen=16))
    message = str(err.value)
    assert "\n" not in message
    assert "calibration=<path to a .txt/.jsonl/.json file>" in message and "calibration=builtin" in message


def test_too_short_text_says_so(tokenizer, tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("Only a few words here.", encoding="utf-8")
    with pytest.raises(CalibrationError, match="has [0-9]+ tokens; a window of seqlen=2048"):
        calibration_tokens(tokenizer, CalibrationConfig(str(path), nsamples=1, seqlen=2048))


def test_documents_too_short_for_seqlen_say_so(tokenizer, tmp_path):
    path = tmp_path / "short.jsonl"
    path.write_text('{"text": "tiny"}\n{"text": "also tiny"}\n', encoding="utf-8")
    with pytest.raises(CalibrationError, match="no document .* can reach seqlen=64"):
        calibration_tokens(tokenizer, CalibrationConfig(str(path), nsamples=1, seqlen=64))


@pytest.mark.parametrize(
    "content, words",
    [('{"title": "no text field"}\n', ["record 0", "'text'"]), ("not json at all\n", ["line 1 is not JSON"])],
)
def test_malformed_document_files_name_the_problem(tokenizer, tmp_path, content, words):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CalibrationError) as err:
        calibration_tokens(tokenizer, CalibrationConfig(str(path), nsamples=1, seqlen=8))
    assert all(word in str(err.value) for word in words)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(nsamples=0), ["nsamples=0", ">= 1"]),
        (dict(seqlen=-1), ["seqlen=-1"]),
        (dict(seed=True), ["seed=True"]),
        (dict(source="pile"), ["'pile'", "c4", "builtin", ".jsonl"]),
        (dict(source="/nowhere/calib.txt"), ["/nowhere/calib.txt", "does not exist"]),
    ],
)
def test_bad_config_values_are_named(kwargs, words):
    with pytest.raises(ValueError) as err:
        CalibrationConfig(**kwargs).validate()
    assert all(word in str(err.value) for word in words)


def test_as_dict_is_stable_and_identifies_files(tmp_path):
    assert CalibrationConfig().as_dict() == {
        "source": "c4", "nsamples": 128, "seqlen": 2048, "seed": 0,
        "hub": {"dataset": "allenai/c4", "data_files": "en/c4-train.00000-of-01024.json.gz"},
    }
    path = tmp_path / "a.txt"
    path.write_text("one", encoding="utf-8")
    first = CalibrationConfig(str(path)).as_dict()
    path.write_text("two", encoding="utf-8")
    second = CalibrationConfig(str(path)).as_dict()
    assert first["file"]["path"] == second["file"]["path"] and first["file"]["sha256"] != second["file"]["sha256"]
    assert json.loads(json.dumps(CalibrationConfig("builtin").as_dict()))["file"]["sha256"]


def test_project_texts_are_long_enough_and_distinct():
    calibration, heldout = builtin_text("calibration_en"), builtin_text("heldout_en")
    assert len(calibration.split()) >= 6000 and len(heldout.split()) >= 1500
    calibration_paragraphs = {p.strip() for p in calibration.split("\n\n")}
    assert not calibration_paragraphs & {p.strip() for p in heldout.split("\n\n")}


def test_builtin_text_holds_32_windows_of_256_smollm2_tokens(smollm2_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    assert tokenizer(builtin_text(), return_tensors="pt").input_ids.shape[1] >= 32 * 256


def test_from_args_reads_the_declared_keys():
    from compressors.options import CALIBRATION_OPTIONS, CALIBRATION_SOURCES

    config = CalibrationConfig.from_args(calibration="builtin", nsamples="8", seqlen=32, seed="3")
    assert config == CalibrationConfig("builtin", nsamples=8, seqlen=32, seed=3)
    assert CalibrationConfig() == CalibrationConfig(*(o.default for o in CALIBRATION_OPTIONS.values()))
    assert all(f"`{source}`" in CALIBRATION_OPTIONS["calibration"].help for source in CALIBRATION_SOURCES)
    with pytest.raises(ValueError, match=r"unknown calibration argument\(s\) \['samples'\]"):
        CalibrationConfig.from_args(samples=8)
    with pytest.raises(ValueError, match="seed=-1 is not allowed: give an integer >= 0"):
        CalibrationConfig.from_args(seed=-1)
    with pytest.raises(ValueError, match="nsamples='many' is not an integer"):
        CalibrationConfig.from_args(nsamples="many")
    with pytest.raises(ValueError, match="seqlen=0 is not allowed: give an integer >= 1"):
        CalibrationConfig(seqlen=0).validate()
