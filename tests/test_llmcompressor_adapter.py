"""The llmcompressor runner's side effects: its log goes to stderr while it runs (lm-eval
prints results on stdout), llmcompressor's own configuration is back afterwards, and importing
the runner changes nothing in the process environment."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import compressors.llmcompressor_adapter  # noqa: F401  (llmcompressor's import-time log lines land before any capture)
from compressors.api import compress
from compressors.recipe import Recipe

REPO = Path(__file__).resolve().parents[1]


def load(folder):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


def wanda(model) -> dict:
    tokens = torch.randint(0, model.config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))
    return compress(model, Recipe("wanda", sparsity=0.5), tokens, device="cpu", progress=False)


def test_llmcompressor_logs_nothing_on_stdout_while_compressing(tiny_model_dir, capfd, monkeypatch):
    monkeypatch.setenv("LLM_COMPRESSOR_LOG_LEVEL", "INFO")
    model = load(tiny_model_dir)
    capfd.readouterr()
    report = wanda(model)
    out, err = capfd.readouterr()
    assert report["sparsity"]["overall"] == pytest.approx(0.5, abs=0.01)
    assert out == ""
    assert "| METRIC - time" in err and "| INFO - Sparsifying" in err


def test_the_users_log_level_is_honoured_and_llmcompressors_setup_is_back_afterwards(tiny_model_dir, capfd, monkeypatch):
    from loguru import logger

    monkeypatch.setenv("LLM_COMPRESSOR_LOG_LEVEL", "ERROR")
    model = load(tiny_model_dir)
    capfd.readouterr()
    wanda(model)
    out, err = capfd.readouterr()
    assert out == "" and "METRIC" not in err
    logger.error("after the run")  # llmcompressor's own sink again: stdout
    assert "after the run" in capfd.readouterr().out


@pytest.mark.parametrize(("recipe", "bar"), [
    (Recipe("wanda", sparsity=0.5), "WandaPruningModifier"),
    (Recipe("gptq", bits=4, group_size=16), "GPTQModifier"),
])
def test_one_bar_over_the_decoder_layers_and_llmcompressors_own_bars_back_afterwards(tiny_model_dir, capfd, recipe, bar):
    import llmcompressor.pipelines.sequential.pipeline as sequential
    from tqdm import tqdm

    model = load(tiny_model_dir)
    tokens = torch.randint(0, model.config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))
    capfd.readouterr()
    compress(model, recipe, tokens, device="cpu", progress=True)
    err = capfd.readouterr().err
    assert set(re.findall(r"([^\r\n]*?): +\d+%\|", err)) == {bar}, err
    assert f"{bar}: 100%" in err and "2/2" in err  # the tiny model has two decoder layers
    assert sequential.tqdm is tqdm
    model = load(tiny_model_dir)
    capfd.readouterr()
    compress(model, recipe, tokens, device="cpu", progress=False)
    assert "%|" not in capfd.readouterr().err


def test_importing_the_runner_leaves_the_environment_alone():
    """In a fresh process, after llmcompressor itself is imported (its own import sets a few
    variables), importing the runner and every method module changes no variable."""
    code = (
        "import json, os, llmcompressor, llmcompressor.modifiers.pruning, llmcompressor.modifiers.gptq\n"
        "before = dict(os.environ)\n"
        "import compressors.llmcompressor_adapter, compressors.engines\n"
        "from compressors.pruning import sparsegpt, wanda\n"
        "from compressors.quantization import gptq\n"
        "sparsegpt.modifier_class(); wanda.modifier_class(); gptq.keeping_zeros_class()\n"
        "after = dict(os.environ)\n"
        "print(json.dumps({k: [before.get(k), after.get(k)] for k in set(before) | set(after)"
        " if before.get(k) != after.get(k)}))\n"
    )
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    child = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr[-2000:]
    assert json.loads(child.stdout.strip().splitlines()[-1]) == {}
