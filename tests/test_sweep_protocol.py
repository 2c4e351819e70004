"""`kick sweep` end to end on the tiny model: a seed axis (one point per calibration seed, the
seed recorded and used) and each task in its own prompt format (raw, or the chat template)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from fixtures.sweep_task import write_task

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def prompts(result):
    """The prompts lm-eval sent, from the samples the result names."""
    (name,) = json.loads(result.read_text())["kick_sweep"]["samples"]
    lines = gzip.decompress((result.parent / name).read_bytes()).decode().splitlines()
    return [json.loads(line)["arguments"]["gen_args_0"]["arg_0"] for line in lines]


@pytest.mark.slow
def test_seeds_and_prompt_formats(tiny_model_dir, tmp_path):
    model = tmp_path / "tiny-chat"
    shutil.copytree(tiny_model_dir, model)
    (model / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    tasks = write_task(tmp_path / "tasks")
    chat_yaml = (tasks / "tiny_capitals.yaml").read_text().replace("task: tiny_capitals", "task: tiny_capitals_chat")
    (tasks / "tiny_capitals_chat.yaml").write_text(chat_yaml)
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "kick_models.sweep", "--model", str(model), "--methods", "dense", "wanda",
        "--sparsity", "0.5", "--calibration", "builtin", "--nsamples", "4", "--seqlen", "32", "--seed", "0", "1",
        "--tasks", "tiny_capitals", "tiny_capitals_chat", "--prompt-format", "tiny_capitals_chat=chat",
        "--include_path", str(tasks), "--limit", "2", "--device", "cpu", "--model-args", "dtype=float32",
        "--cache-dir", str(tmp_path / "cache"), "--output", str(out),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    points = sorted(p.name for p in (out / "tiny-chat").iterdir())
    assert points == ["dense", "wanda_sparsity-0.5_seed-0", "wanda_sparsity-0.5_seed-1"]  # dense once
    results = {(p, t): json.loads((out / "tiny-chat" / p / f"{t}.json").read_text())
               for p in points for t in ("tiny_capitals", "tiny_capitals_chat")}

    # each seed: its own calibration set, its own compressed model, recorded in the results
    seeds = {p: results[(p, "tiny_capitals")] for p in points[1:]}
    assert [r["kick_sweep"]["seed"] for r in seeds.values()] == [0, 1]
    assert [r["config"]["kick"]["calibration"]["seed"] for r in seeds.values()] == [0, 1]
    assert [r["config"]["torch_seed"] for r in seeds.values()] == [0, 1]  # lm-eval's generation seed
    assert results[("dense", "tiny_capitals")]["kick_sweep"]["seed"] is None
    entries = [r["config"]["kick"]["cache"]["entry"] for r in seeds.values()]
    weights = [load_file(next(Path(entry).glob("*.safetensors"))) for entry in entries]
    name = "model.layers.0.mlp.up_proj.weight"
    assert not (weights[0][name] == weights[1][name]).all()  # other calibration, other Wanda mask

    # each task in its format: the chat one through the template, recorded as lm-eval records it
    for point in points:
        raw, chat = results[(point, "tiny_capitals")], results[(point, "tiny_capitals_chat")]
        assert (raw["kick_sweep"]["prompt_format"], chat["kick_sweep"]["prompt_format"]) == ("raw", "chat")
        assert raw["chat_template"] is None and chat["chat_template"] == CHAT_TEMPLATE
    raw_prompts = prompts(out / "tiny-chat" / "dense" / "tiny_capitals.json")
    chat_prompts = prompts(out / "tiny-chat" / "dense" / "tiny_capitals_chat.json")
    assert raw_prompts[0] == "Q: What is the capital of France?\nA:"
    assert chat_prompts[0].startswith("<|user|>Q: What is the capital of France?") and "<|assistant|>" in chat_prompts[0]
