"""stdout is for results: a compression run through the real `lm_eval` command prints lm-eval's
results and nothing from llmcompressor, whose log goes to stderr at the level lm-eval's log
level (LMEVAL_LOG_LEVEL) implies; the compression draws one progress bar."""

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
# a tqdm bar as it is redrawn: "desc:  50%|█████     | 1/2 [...]" (each redraw after a "\r")
BAR = re.compile(r"^(?P<desc>.*?):?\s+\d+%\|.*\| (?P<n>\d+)/(?P<total>\d+) ")


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


def llmcompressor_levels(stderr: str) -> set[str]:
    return {line.split(" | ")[2].split(" - ")[0] for line in stderr.splitlines() if LLMCOMPRESSOR_LINE.match(line)}


def compression_bars(stderr: str) -> dict[str, tuple[int, int]]:
    """``{description: (last count, total)}`` of the bars drawn while the kick model compressed:
    after lm-eval's "Initializing kick model" and before the kick model's "new compressed
    checkpoint" line, without transformers' bars for reading the dense model and writing the
    compressed one."""
    window = stderr.split("Initializing kick model", 1)[1].split("new compressed checkpoint", 1)[0]
    bars = {}
    for redraw in re.split(r"[\r\n]", window):
        if (bar := BAR.match(redraw)) and bar["desc"] not in ("Loading weights", "Writing model shards"):
            bars[bar["desc"]] = (int(bar["n"]), int(bar["total"]))
    return bars


@pytest.mark.parametrize(("lm_eval_level", "shown", "hidden"), [
    (logging.ERROR, None, "| METRIC - "),
    (logging.INFO, None, "| METRIC - "),  # lm-eval's default
    (logging.INFO, None, "| INFO - "),
    (logging.DEBUG, "| INFO - Sparsifying", None),
    (logging.DEBUG, "| METRIC - time", None),
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
def test_lm_eval_compression_run_keeps_stdout_for_results_and_draws_one_bar(tiny_model_dir, tmp_path):
    run = lm_eval_wanda(tiny_model_dir, tmp_path, LMEVAL_LOG_LEVEL="INFO")  # lm-eval's default, whatever the caller's
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    # lm-eval's results: its run line ("kick ({model args}), gen_kwargs: ..."), then the table
    assert lines[0].startswith("kick (") and any("kick_demo" in line for line in lines)
    assert all(line == "" or line.startswith(("kick (", "|")) for line in lines), run.stdout
    assert not any(LLMCOMPRESSOR_LINE.match(line) for line in lines)
    # on stderr, of llmcompressor's log only its warnings (CPU: "No accelerator available!")
    assert llmcompressor_levels(run.stderr) <= {"WARNING"}, run.stderr[-3000:]
    # one bar, over the tiny model's two decoder layers, instead of llmcompressor's three per layer
    assert compression_bars(run.stderr) == {"WandaPruningModifier": (2, 2)}, run.stderr[-3000:]


@pytest.mark.slow
def test_lm_eval_log_level_debug_shows_llmcompressors_log(tiny_model_dir, tmp_path):
    run = lm_eval_wanda(tiny_model_dir, tmp_path, LMEVAL_LOG_LEVEL="DEBUG")
    assert run.returncode == 0, run.stderr[-3000:]
    assert not any(LLMCOMPRESSOR_LINE.match(line) for line in run.stdout.splitlines())
    assert {"DEBUG", "INFO", "METRIC"} <= llmcompressor_levels(run.stderr)
    assert any("| INFO - Sparsifying model.layers.1.mlp.down_proj" in line for line in run.stderr.splitlines())
    assert compression_bars(run.stderr) == {"WandaPruningModifier": (2, 2)}


@pytest.mark.slow
def test_lm_eval_log_level_error_silences_llmcompressors_metrics(tiny_model_dir, tmp_path):
    run = lm_eval_wanda(tiny_model_dir, tmp_path, LMEVAL_LOG_LEVEL="ERROR")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "kick_demo" in run.stdout
    assert not any(LLMCOMPRESSOR_LINE.match(line) for line in run.stdout.splitlines())
    assert not any("| METRIC - " in line for line in run.stderr.splitlines())
