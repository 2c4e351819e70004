"""``--model kick_vllm``: what this machine (no GPU, no vllm) can check. lm-eval's ``VLLM`` is
replaced by a recording stand-in to see what ``KickVLLM`` hands it; without vllm, the command
stops with one line before any weight is read (``kick sweep --engine vllm``: test_sweep.py)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import types
from importlib.util import find_spec

import pytest

from fixtures.sweep_task import write_task
from kick_models.checkpoint_cache import CheckpointCache
from kick_models.compressed_checkpoint import resolve_checkpoint, split_model_args

NO_VLLM = pytest.mark.skipif(find_spec("vllm") is not None, reason="vllm is installed here")


def recording_vllm():
    """A stand-in for lm_eval.models.vllm_causallms.VLLM (an lm-eval LM, as the registry asks)
    that keeps what it was built with and evaluates nothing."""
    from lm_eval.api.model import LM

    class RecordingVLLM(LM):
        def __init__(self, pretrained, **kwargs):
            super().__init__()
            self.pretrained, self.kwargs = pretrained, kwargs

        def loglikelihood(self, requests):
            raise NotImplementedError

        loglikelihood_rolling = generate_until = loglikelihood

    return RecordingVLLM


@pytest.fixture
def kick_vllm(monkeypatch):
    """kick_models.kick_vllm imported on the stand-in (and forgotten afterwards, registry too)."""
    from lm_eval.api.registry import model_registry

    stub = types.ModuleType("lm_eval.models.vllm_causallms")
    stub.VLLM = recording_vllm()
    monkeypatch.setitem(sys.modules, "lm_eval.models.vllm_causallms", stub)
    monkeypatch.delitem(sys.modules, "kick_models.kick_vllm", raising=False)
    # the registry holds the lazy placeholder; importing the module upgrades it to the class
    # built on the stand-in, which later tests must not find
    monkeypatch.setitem(model_registry._objs, "kick_vllm", "kick_models.kick_vllm:KickVLLM")
    module = importlib.import_module("kick_models.kick_vllm")
    monkeypatch.setattr(module, "_vllm_version", lambda: "stand-in")
    yield module
    sys.modules.pop("kick_models.kick_vllm", None)


def test_vllm_gets_the_checkpoint_kick_would_evaluate_compressed_once(kick_vllm, tiny_model_dir, tmp_path):
    cache = tmp_path / "cache"
    args = dict(method="magnitude", sparsity=0.5, cache_dir=str(cache), dtype="float32", gpu_memory_utilization=0.5)
    first = kick_vllm.KickVLLM(pretrained=str(tiny_model_dir), **args)
    assert (first.pretrained != str(tiny_model_dir)) and (cache / first.pretrained.rsplit("/", 1)[-1]).is_dir()
    # kick's own keys stay here; vLLM gets the rest
    assert first.kwargs == {"dtype": "float32", "gpu_memory_utilization": 0.5}
    info = first.get_model_info()["kick"]
    assert info["engine"] == "vllm" and info["recipe"]["method"] == "magnitude" and info["cache"]["hit"] is False
    assert info["checkpoint"] == first.pretrained and info["versions"]["vllm"] == "stand-in"

    second = kick_vllm.KickVLLM(pretrained=str(tiny_model_dir), **args)
    assert second.pretrained == first.pretrained and second.get_model_info()["kick"]["cache"]["hit"] is True
    # the path --model kick takes to its checkpoint finds the same entry, already built
    hf_args = {"method": "magnitude", "sparsity": 0.5}
    recipe, calibration = split_model_args(hf_args)
    folder, hf_info = resolve_checkpoint(str(tiny_model_dir), recipe, calibration, CheckpointCache(str(cache)),
                                         dtype="float32")
    assert folder == first.pretrained and hf_info["cache"]["hit"] is True

    dense = kick_vllm.KickVLLM(pretrained=str(tiny_model_dir), method="dense", revision="main", cache_dir=str(cache))
    assert dense.pretrained == str(tiny_model_dir) and dense.kwargs == {"revision": "main"}


@pytest.mark.parametrize("args, message", [
    ({"method": "nf4"}, "bitsandbytes while transformers loads"),
    ({"method": "magnitude", "sparsity": 0.5, "storage": True}, r"\['storage'\] of --model kick have no meaning"),
    ({"method": "magnitude", "sparsity": 1.5}, "sparsity"),
])
def test_what_vllm_cannot_run_is_refused_before_any_weight(kick_vllm, tiny_model_dir, tmp_path, args, message):
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=message):
        kick_vllm.KickVLLM(pretrained=str(tiny_model_dir), cache_dir=str(cache), **args)
    assert not cache.exists() or not any(cache.iterdir())


@NO_VLLM
@pytest.mark.slow
def test_lm_eval_model_kick_vllm_without_vllm_says_so_and_compresses_nothing(tiny_model_dir, tmp_path):
    tasks = write_task(tmp_path / "tasks")
    cache = tmp_path / "cache"
    done = subprocess.run(
        ["lm_eval", "--model", "kick_vllm", "--model_args",
         f"pretrained={tiny_model_dir},method=magnitude,sparsity=0.5,cache_dir={cache}",
         "--tasks", "tiny_capitals", "--include_path", str(tasks)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode != 0
    assert "the vllm package is not installed here" in done.stderr and "--model kick" in done.stderr
    assert not cache.exists()
