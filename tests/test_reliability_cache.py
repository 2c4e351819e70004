"""The checkpoint cache's guarantees, tried as a hostile user would: what identifies a source
(content, not size and mtime), integrity of entries and exports, cleanup of partials, one
entry for data installed in two places, and kill -9 during compression and export."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kick_core.provenance import RECIPE_FILE
from kick_models import checkpoint_cache
from kick_core.digests import FileDigests
from kick_models.checkpoint_cache import hub_fingerprint, source_fingerprint
from kick_models.kick_lm import KickLM
from kick_models.local_models import tiny_llama


def make(model, tmp_path, **kwargs):
    args = dict(pretrained=str(model), cache_dir=str(tmp_path / "cache"), device="cpu", dtype="float32",
                method="magnitude", sparsity=0.5)
    return KickLM(**{**args, **kwargs})


def logits(lm, text="The capital of France is Paris."):
    with torch.no_grad():
        return lm._model_call(torch.tensor([lm.tok_encode(text)]))


def cache_info(lm):
    return lm.get_model_info()["kick"]["cache"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def partials(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*.partial-*")]


# ------------------------------------------------------------------ wrong result 1: seqlen
def test_seqlen_beyond_the_models_positions_is_refused_before_compressing(tmp_path):
    """Before: windows of 32 tokens for a model that sees 16 compressed silently and were cached."""
    model = tiny_llama(tmp_path / "short", max_position_embeddings=16)
    with pytest.raises(ValueError) as err:
        make(model, tmp_path, method="wanda", calibration="builtin", nsamples=2, seqlen=32)
    message = str(err.value)
    assert "seqlen=32" in message and "seqlen=16 or less" in message and "\n" not in message
    assert not any((tmp_path / "cache").glob("*--*"))  # nothing compressed, nothing cached


# --------------------------------------------- wrong result 2: export without its weights
def test_export_folder_with_the_same_key_but_no_weights_is_exported_again(tiny_model_dir, tmp_path):
    """Before: the recipe file's key alone made it 'already exported'."""
    export = tmp_path / "export"
    first = make(tiny_model_dir, tmp_path, export=str(export))
    (export / "model.safetensors").unlink()
    again = make(tiny_model_dir, tmp_path, export=str(export))
    assert cache_info(again)["hit"] is True
    assert (export / "model.safetensors").is_file()
    entry = Path(cache_info(first)["entry"])
    assert sha(export / "model.safetensors") == sha(entry / "model.safetensors")


def test_export_folder_with_damaged_weights_is_exported_again(tiny_model_dir, tmp_path):
    export = tmp_path / "export"
    make(tiny_model_dir, tmp_path, export=str(export))
    weights = export / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, other content
    weights.write_bytes(bytes(data))
    lm = make(tiny_model_dir, tmp_path, export=str(export))
    assert sha(weights) == sha(Path(cache_info(lm)["entry"]) / "model.safetensors")


# ------------------------------------------- wrong result 3: same size, same mtime, new weights
def test_weights_replaced_with_same_size_and_mtime_are_a_new_source(tmp_path):
    """``cp -p`` of other weights of the same size: before, the old compressed model was served."""
    model = tiny_llama(tmp_path / "model", seed=0)
    other = tiny_llama(tmp_path / "other", seed=1)
    weights = model / "model.safetensors"
    assert weights.stat().st_size == (other / "model.safetensors").stat().st_size
    first = make(model, tmp_path)
    before = weights.stat()
    shutil.copyfile(other / "model.safetensors", weights)  # in place: same inode
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (weights.stat().st_size, weights.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    second = make(model, tmp_path)
    assert cache_info(second)["hit"] is False
    assert cache_info(second)["key"] != cache_info(first)["key"]
    assert not torch.equal(logits(first), logits(second))


def test_source_digests_are_remembered_not_recomputed(tiny_model_dir, tmp_path, monkeypatch):
    """A 13 GB model must not be hashed on every run: digests are kept by size, mtime, ctime, inode."""
    digests = FileDigests(tmp_path / "digests.json")
    first = source_fingerprint(str(tiny_model_dir), None, digests)
    import kick_core.digests

    calls = []
    monkeypatch.setattr(kick_core.digests, "sha256_file", lambda path: calls.append(path) or "x")
    again = source_fingerprint(str(tiny_model_dir), None, FileDigests(tmp_path / "digests.json"))
    assert again == first and calls == []
    assert first["files"]["model.safetensors"] == sha(tiny_model_dir / "model.safetensors")
    (tmp_path / "model").mkdir()
    shutil.copy2(tiny_model_dir / "config.json", tmp_path / "model" / "config.json")  # a new file: hashed
    source_fingerprint(str(tmp_path / "model"), None, FileDigests(tmp_path / "digests.json"))
    assert calls == [(tmp_path / "model" / "config.json").resolve()]


def test_hub_ids_are_keyed_by_their_commit_when_known_offline(tmp_path, monkeypatch, caplog):
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert hub_fingerprint("org/model", commit) == {"hub_id": "org/model", "commit": commit}
    hub = tmp_path / "hub"
    repo = hub / "models--org--model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    assert hub_fingerprint("org/model", "main") == {"hub_id": "org/model", "commit": commit}
    with caplog.at_level(logging.WARNING, logger="lm_eval.models.kick"):
        assert hub_fingerprint("org/absent", "main") == {"hub_id": "org/absent", "revision": "main"}
    assert "not known offline" in caplog.text and "revision=<commit>" in caplog.text


# ------------------------------------------------ one entry for data in two places
def test_same_model_recipe_and_data_in_two_install_locations_is_one_entry(tiny_model_dir, tmp_path):
    from compressors.calibration import builtin_text

    roots = [tmp_path / "install-a", tmp_path / "install-b"]
    for root in roots:
        shutil.copytree(tiny_model_dir, root / "model")
        (root / "data").mkdir()
        (root / "data" / "calibration_en.txt").write_text(builtin_text(), encoding="utf-8")
    runs = [make(root / "model", tmp_path, method="wanda", calibration=str(root / "data" / "calibration_en.txt"),
                 nsamples=2, seqlen=16) for root in roots]
    first, second = (cache_info(lm) for lm in runs)
    assert first["key"] == second["key"] and second["hit"] is True
    record = json.loads((Path(first["entry"]) / RECIPE_FILE).read_text())
    assert record["calibration"]["file"]["path"] == str(roots[0] / "data" / "calibration_en.txt")  # for people


def test_the_hessian_product_keys_sparsegpt_and_gptq_entries_only(tiny_model_dir, tmp_path, monkeypatch):
    """An engine setting that can move a weight (compressors.arithmetic) is part of the key of
    the recipes it applies to: changing it rebuilds those entries and leaves the others."""
    from compressors import arithmetic
    from compressors.recipe import Recipe

    cache = checkpoint_cache.CheckpointCache(tmp_path / "cache")
    recipes = {name: Recipe.from_args(**args) for name, args in {
        "wanda": {"method": "wanda", "sparsity": 0.5},
        "sparsegpt": {"method": "sparsegpt", "sparsity": 0.5},
        "gptq": {"method": "gptq", "bits": 4},
        "both": {"method": "sparsegpt+gptq", "sparsity": 0.5, "bits": 4},
    }.items()}

    def keys():
        return {name: cache.entry(str(tiny_model_dir), None, r.as_dict(), None, "float32",
                                  arithmetic.weight_arithmetic(r)).key for name, r in recipes.items()}

    before = keys()
    assert arithmetic.weight_arithmetic(recipes["wanda"]) == {}
    monkeypatch.setattr(arithmetic, "HESSIAN_MATMUL", "ieee")
    after = keys()
    assert after["wanda"] == before["wanda"]
    assert all(after[name] != before[name] for name in ("sparsegpt", "gptq", "both"))


def test_builtin_calibration_key_holds_no_path():
    from compressors.calibration import CalibrationConfig

    key = CalibrationConfig("builtin").cache_key()
    assert set(key["file"]) == {"sha256"} and "/" not in json.dumps(key)


# --------------------------------------------------------------------- integrity
def test_entry_with_truncated_weights_is_rebuilt_not_trusted(tiny_model_dir, tmp_path, caplog):
    first = make(tiny_model_dir, tmp_path)
    expected = logits(first).clone()  # before the file under its memory map is cut
    weights = Path(cache_info(first)["entry"]) / "model.safetensors"
    del first
    with open(weights, "r+b") as handle:
        handle.truncate(weights.stat().st_size // 2)
    with caplog.at_level(logging.WARNING, logger="lm_eval.models.kick"):
        second = make(tiny_model_dir, tmp_path)
    assert cache_info(second)["hit"] is False and "damaged" in caplog.text and "model.safetensors" in caplog.text
    assert torch.equal(expected, logits(second))


def test_full_verification_catches_same_size_corruption(tiny_model_dir, tmp_path, monkeypatch):
    first = make(tiny_model_dir, tmp_path)
    expected = logits(first).clone()
    weights = Path(cache_info(first)["entry"]) / "model.safetensors"
    del first
    data = bytearray(weights.read_bytes())
    data[-2] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert cache_info(make(tiny_model_dir, tmp_path))["hit"] is True  # sizes only: cheap
    monkeypatch.setenv(checkpoint_cache.VERIFY_ENV, "full")
    rebuilt = make(tiny_model_dir, tmp_path)
    assert cache_info(rebuilt)["hit"] is False
    assert torch.equal(expected, logits(rebuilt))


def test_the_integrity_record_lists_every_file(tiny_model_dir, tmp_path):
    entry = Path(cache_info(make(tiny_model_dir, tmp_path))["entry"])
    record = json.loads((entry / RECIPE_FILE).read_text())
    assert set(record["files"]) == {p.name for p in entry.iterdir()} - {RECIPE_FILE}
    assert record["files"]["model.safetensors"] == {"size": (entry / "model.safetensors").stat().st_size,
                                                    "sha256": sha(entry / "model.safetensors")}
    assert record["key_scheme"] == checkpoint_cache.KEY_SCHEME


# ----------------------------------------------------------------------- cleanup
def test_partials_are_removed_on_a_hit_and_on_export(tiny_model_dir, tmp_path):
    export = tmp_path / "out" / "export"
    entry = Path(cache_info(make(tiny_model_dir, tmp_path, export=str(export)))["entry"])
    dead_build = entry.parent / f".{entry.name}.partial-dead1"
    dead_export = export.parent / ".export.partial-dead2"
    for dead in (dead_build, dead_export):
        dead.mkdir()
        (dead / "model.safetensors").write_bytes(b"x" * 1000)  # fresh: no age limit spares it
    make(tiny_model_dir, tmp_path, export=str(export))
    assert not dead_build.exists() and not dead_export.exists()


def test_an_existing_empty_export_folder_keeps_its_permissions(tiny_model_dir, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    os.chmod(export, 0o755)
    make(tiny_model_dir, tmp_path, export=str(export))
    assert (export / "model.safetensors").is_file() and export.stat().st_mode & 0o777 == 0o755


# ------------------------------------------------------------------- kill -9
KILLED = r"""
import shutil, sys, time
from kick_models.kick_lm import KickLM
phase, marker = sys.argv[2], sys.argv[5]
if phase == "export":
    original = shutil.copy2
    def slow_copy(src, dst, **kw):
        out = original(src, dst, **kw)
        open(marker, "w").close()
        time.sleep(120)
        return out
    shutil.copy2 = slow_copy
else:
    import compressors.api as api
    real = api.save_checkpoint
    def slow_save(*a, **k):
        real(*a, **k)
        open(marker, "w").close()
        time.sleep(120)
    api.save_checkpoint = slow_save
KickLM(pretrained=sys.argv[1], method="magnitude", sparsity=0.5, cache_dir=sys.argv[3], export=sys.argv[4],
       device="cpu", dtype="float32")
"""


@pytest.mark.parametrize("phase", ["build", "export"])
def test_kill_9_mid_compression_or_export_leaves_no_partial_and_a_rerun_equals_a_clean_run(
        tiny_model_dir, tmp_path, phase):
    import time

    cache, export, marker = tmp_path / "cache", tmp_path / "out" / "export", tmp_path / "marker"
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(tiny_model_dir), phase, str(cache), str(export),
                              str(marker)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert partials(cache, export.parent)  # the kill left temporaries behind ...

    rerun = KickLM(pretrained=str(tiny_model_dir), method="magnitude", sparsity=0.5, cache_dir=str(cache),
                   export=str(export), device="cpu", dtype="float32")
    assert partials(cache, export.parent) == []  # ... which the rerun removed
    clean = make(tiny_model_dir, tmp_path / "clean", export=str(tmp_path / "clean-export"))
    assert torch.equal(logits(rerun), logits(clean))
    ours, theirs = Path(cache_info(rerun)["entry"]), Path(cache_info(clean)["entry"])
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        assert sha(ours / name) == sha(theirs / name) == sha(export / name)
