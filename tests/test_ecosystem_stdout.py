"""stdout is for results: a compression run through the real `lm_eval` command prints lm-eval's
results and nothing from llmcompressor, whose log goes to stderr at the level lm-eval's log
level (LMEVAL_LOG_LEVEL) implies."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BIN = Path(sys.executable).parent
# llmcompressor's console format: "2026-12-05T10:13:37.1045 | function | LEVEL - message"
LLMCOMPRESSOR_LINE = re.compile(r"^(\[Rank \d+\] )?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{4} \| \w+ \| [A-Z]+ - ")


def lm_eval_wanda(model_dir: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "lm_eval"), "--model", "kick", "--model_args",
         f"pretrained={model_dir},method=wanda,sparsity=0.5,calibration=builtin,nsamples=4,seqlen=64,"
         f"dtype=float32,cache_dir={out / 'cache'}",
         "--tasks", "kick_demo", "--limit", "3", "--device", "cpu", "--output_path", str(out / "results")],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **env},
    )


def test_importing_the_runner_prints_nothing_on_stdout():
    """llmcompressor logs 'No accelerator available!' while it is imported on a CPU machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_COMPRESSOR_")}
    child = subprocess.run([sys.executable, "-c", "import compressors.llmcompressor_adapter"],
                           capture_output=True, text=True, env=env, timeout=600)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout == ""


@pytest.mark.parametrize(("lm_eval_level", "shown", "hidden"), [
    (logging.ERROR, None, "| METRIC - "),
    (logging.INFO, "| METRIC - ", "| INFO - "),
    (logging.DEBUG, "| INFO - Sparsifying", None),
])
def test_llmcompressor_log_level_follows_lm_evals(tiny_model_dir, capfd, monkeypatch, lm_eval_level, shown, hidden):
    from transformers import AutoModelForCausalLM

    from compressors.api import compress
    from compressors.recipe import Recipe

    monkeypatch.delenv("LLM_COMPRESSOR_LOG_LEVEL", raising=False)
    monkeypatch.setattr(logging.getLogger("lm_eval"), "level", lm_eval_level)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    tokens = torch.randint(0, model.config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))
    capfd.readouterr()
    compress(model, Recipe("wanda", sparsity=0.5), tokens, device="cpu", progress=False)
    out, err = capfd.readouterr()
    assert out == ""
    assert shown is None or shown in err
    assert hidden is None or hidden not in err


@pytest.mark.slow
def test_lm_eval_compression_run_keeps_stdout_for_results(tiny_model_dir, tmp_path):
    run = lm_eval_wanda(tiny_model_dir, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    # lm-eval's results: its run line ("kick ({model args}), gen_kwargs: ..."), then the table
    assert lines[0].startswith("kick (") and any("kick_demo" in line for line in lines)
    assert all(line == "" or line.startswith(("kick (", "|")) for line in lines), run.stdout
    assert not any(LLMCOMPRESSOR_LINE.match(line) for line in lines)
    assert any(LLMCOMPRESSOR_LINE.match(line) and "| METRIC - " in line for line in run.stderr.splitlines())


@pytest.mark.slow
def test_lm_eval_log_level_error_silences_llmcompressors_metrics(tiny_model_dir, tmp_path):
    run = lm_eval_wanda(tiny_model_dir, tmp_path, LMEVAL_LOG_LEVEL="ERROR")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "kick_demo" in run.stdout
    assert not any(LLMCOMPRESSOR_LINE.match(line) for line in run.stdout.splitlines())
    assert not any("| METRIC - " in line for line in run.stderr.splitlines())
