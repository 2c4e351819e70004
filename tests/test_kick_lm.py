"""`--model kick`: compress on load, cache, export, provenance, validation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kick_core.provenance import RECIPE_FILE
from kick_models.kick_lm import KickLM


def make(tiny_model_dir, tmp_path, **kwargs):
    args = dict(pretrained=str(tiny_model_dir), cache_dir=str(tmp_path / "cache"), device="cpu", dtype="float32")
    return KickLM(**{**args, **kwargs})


def logits(lm, text="The capital of France is Paris."):
    ids = torch.tensor([lm.tok_encode(text)])
    with torch.no_grad():
        return lm._model_call(ids)


def test_second_run_loads_from_cache_without_pruning(tiny_model_dir, tmp_path, monkeypatch):
    first = make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.5)
    info = first.get_model_info()["kick"]
    assert info["cache"]["hit"] is False
    assert info["compression"]["sparsity"]["overall"] == pytest.approx(0.5, abs=1e-3)

    import compressors.api

    def no_pruning(*args, **kwargs):
        raise AssertionError("the second run must not prune")

    monkeypatch.setattr(compressors.api, "compress", no_pruning)
    second = make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.5)
    assert second.get_model_info()["kick"]["cache"]["hit"] is True
    assert torch.equal(logits(first), logits(second))


def test_cache_key_changes_with_recipe(tiny_model_dir, tmp_path):
    a = make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.5).get_model_info()["kick"]["cache"]
    b = make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.3).get_model_info()["kick"]["cache"]
    c = make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.5, scope="global").get_model_info()["kick"]["cache"]
    assert len({a["key"], b["key"], c["key"]}) == 3


def test_cache_key_changes_with_the_compression_dtype(tiny_model_dir, tmp_path):
    """A float32 build and one in the checkpoint's own dtype are different files."""
    fp32 = make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.5)
    own = make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.5, dtype="auto")
    keys = [lm.get_model_info()["kick"]["cache"] for lm in (fp32, own)]
    assert keys[0]["key"] != keys[1]["key"] and keys[1]["hit"] is False


def test_results_record_what_was_evaluated(tiny_model_dir, tmp_path):
    info = make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.5, pattern="2:4").get_model_info()
    kick = info["kick"]
    assert kick["recipe"] == {"method": "magnitude", "sparsity": 0.5, "pattern": "2:4", "scope": None, "ignore": ["lm_head"]}
    report = kick["compression"]
    assert report["sparsity"]["min"] == report["sparsity"]["max"] == 0.5
    assert report["wall_s"] >= 0 and "torch" in report["versions"]
    assert {"torch", "transformers", "llmcompressor", "compressed-tensors", "llm-kick"} <= set(kick["versions"])
    json.dumps(info, default=str)  # lm-eval writes it into the results file


def test_export_round_trip_through_model_hf(tiny_model_dir, tmp_path):
    from lm_eval.models.huggingface import HFLM

    kick = make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.5, export=str(tmp_path / "export"))
    exported = Path(kick.get_model_info()["kick"]["export"])
    assert {p.suffix for p in exported.iterdir()} >= {".safetensors", ".json"}
    assert not any(p.suffix in {".bin", ".pt", ".pkl"} for p in exported.iterdir())
    hf = HFLM(pretrained=str(exported), device="cpu", dtype="float32")
    assert torch.equal(logits(kick), logits(hf))


KILLED_CHILD = r"""
import shutil, sys, time
from kick_models.kick_lm import KickLM
original = shutil.copy2
def slow_copy(src, dst, **kw):
    out = original(src, dst, **kw)
    print("copied", flush=True)
    time.sleep(60)
    return out
if sys.argv[2] == "export":
    shutil.copy2 = slow_copy
else:
    import compressors.api as api
    real = api.save_checkpoint
    def slow_save(*a, **k):
        real(*a, **k)
        print("copied", flush=True)
        time.sleep(60)
    api.save_checkpoint = slow_save
KickLM(pretrained=sys.argv[1], method="magnitude", sparsity=0.5, cache_dir=sys.argv[3], export=sys.argv[4],
       device="cpu", dtype="float32")
"""


@pytest.mark.parametrize("phase", ["export", "build"])
def test_run_killed_half_way_leaves_nothing_trusted(tiny_model_dir, tmp_path, phase):
    cache, export = tmp_path / "cache", tmp_path / "export"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(tiny_model_dir), phase, str(cache), str(export)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    # llmcompressor, imported on the way, logs its warnings to stdout: read up to the marker
    assert "copied" in (line.strip() for line in iter(child.stdout.readline, ""))
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not (export / RECIPE_FILE).exists()
    complete = [p for p in cache.iterdir() if (p / RECIPE_FILE).exists()]
    assert len(complete) == (1 if phase == "export" else 0)

    lm = KickLM(pretrained=str(tiny_model_dir), method="magnitude", sparsity=0.5, cache_dir=str(cache),
                export=str(export), device="cpu", dtype="float32")
    assert (export / RECIPE_FILE).exists()
    assert lm.get_model_info()["kick"]["cache"]["hit"] is (phase == "export")


def test_export_refuses_a_folder_holding_another_model(tiny_model_dir, tmp_path):
    make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.5, export=str(tmp_path / "out"))
    with pytest.raises(FileExistsError, match="different llm-kick checkpoint"):
        make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.3, export=str(tmp_path / "out"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "magnitude", "sparsity": 1.5}, "sparsity=1.5"),
        ({"method": "magnitude", "sparsity": -0.1}, "sparsity=-0.1"),
        ({"method": "magnitude", "pattern": "3:2"}, "pattern='3:2'"),
        ({"method": "wanda", "sparsity": 0.3, "pattern": "2:4"}, "2:4"),
        ({"method": "obs-magic", "sparsity": 0.5}, "method='obs-magic'"),
        ({"method": "magnitude", "sparsityy": 0.5}, "sparsityy"),
    ],
)
def test_bad_model_args_fail_before_loading(tiny_model_dir, tmp_path, kwargs, message):
    with pytest.raises(ValueError) as err:
        make(tiny_model_dir, tmp_path, **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "cache").exists()


def test_calibration_unavailable_offline_names_the_fix(tiny_model_dir, tmp_path):
    from compressors.calibration import CalibrationError

    with pytest.raises(CalibrationError, match="calibration=builtin"):
        make(tiny_model_dir, tmp_path, method="wanda", sparsity=0.5, calibration="c4")


def test_storage_summary_joins_the_results(tiny_model_dir, tmp_path):
    info = make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.5, storage=True).get_model_info()["kick"]
    storage = info["storage"]
    assert storage["raw_bytes"] > 0 and storage["best"]["ratio"] > 1.0
    assert 0.25 < storage["zero_fraction"] < 0.5  # half of the Linears; embeddings and head stay dense


def test_kick_storage_builds_a_recipe_then_measures_it(tiny_model_dir, tmp_path, capsys):
    from kick_models.cli import main

    spec = f"mag50=kick:pretrained={tiny_model_dir},method=magnitude,sparsity=0.5,cache_dir={tmp_path / 'cache'}"
    assert main(["storage", spec, "--codecs", "zstd-3", "--out", str(tmp_path / "out")]) == 0
    assert "mag50" in capsys.readouterr().out
    assert any((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("cudnn_attention", [False, True])
def test_generation_leaves_out_cudnn_attention_unless_asked(tiny_model_dir, tmp_path, monkeypatch, cudnn_attention):
    """cuDNN's attention plans every new shape (each decoding step), which made generation
    1.5x slower on an H200; KickLM generates without it unless cudnn_attention=true. The
    setting holds only inside generation."""
    lm = make(tiny_model_dir, tmp_path, cudnn_attention=cudnn_attention)
    seen = []
    forward = lm.model.forward

    def recording(*args, **kwargs):
        seen.append((torch.backends.cuda.cudnn_sdp_enabled(), torch.backends.cuda.mem_efficient_sdp_enabled()))
        return forward(*args, **kwargs)

    monkeypatch.setattr(lm.model, "forward", recording)
    context = torch.tensor([lm.tok_encode("The capital of France is")])
    out = lm._model_generate(context, context.shape[1] + 3, stop=[], do_sample=False)
    assert out.shape[1] == context.shape[1] + 3 and len(seen) == 3
    assert set(seen) == {(cudnn_attention, True)}
    assert torch.backends.cuda.cudnn_sdp_enabled()  # the process's own setting is back
    assert lm.get_model_info()["kick"]["generation_attention"] == ("sdpa" if cudnn_attention else "sdpa without cuDNN")


def test_an_entry_is_found_by_its_key_whatever_its_folder_name(tiny_model_dir, tmp_path):
    """Entries written under an older naming rule (e.g. ``..._lm_head_--<key16>``) stay hits."""
    first = make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.5, pattern="2:4").get_model_info()["kick"]
    (entry,) = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    renamed = entry.rename(entry.with_name(f"old_rule--magnitude_2_4_--{first['cache']['key'][:16]}"))
    again = make(tiny_model_dir, tmp_path, method="magnitude", sparsity=0.5, pattern="2:4").get_model_info()["kick"]
    assert again["cache"]["hit"] is True
    assert [p for p in (tmp_path / "cache").iterdir() if p.is_dir()] == [renamed]
