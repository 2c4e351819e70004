"""The .pth bridge: lm-eval 0.4.13 finds kick tasks and `--model kick` with no extra flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **kwargs.pop("env", {})}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, **kwargs)


def test_bridge_costs_nothing_at_startup():
    probe = (
        "import sys, json; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'lm_eval', 'torch', 'transformers', 'kick_tasks', 'compressors', 'importlib_metadata'}); "
        "finders = [type(f).__name__ for f in sys.meta_path]; "
        "print(json.dumps([heavy, finders]))"
    )
    heavy, finders = json.loads(run([sys.executable, "-c", probe]).stdout)
    assert heavy == []
    assert "_LmEvalFinder" in finders


def test_bridge_can_be_switched_off():
    out = run([sys.executable, "-c", "import sys; print([type(f).__name__ for f in sys.meta_path])"],
              env={"LLM_KICK_NO_BRIDGE": "1"})
    assert "_LmEvalFinder" not in out.stdout


def test_model_registered_lazily_beside_builtins():
    probe = (
        "import sys; from lm_eval.api.registry import get_model; "
        "assert get_model('hf').__name__ == 'HFLM'; "
        "print('kick_models.kick_lm' in sys.modules, get_model('kick').__name__)"
    )
    out = run([sys.executable, "-c", probe])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "KickLM"]


@pytest.mark.slow
def test_task_manager_indexes_kick_tasks_only_with_defaults(tmp_path):
    probe = (
        "from lm_eval.tasks import TaskManager; import json; "
        "with_defaults = TaskManager().all_tasks; "
        "without = TaskManager(include_defaults=False).all_tasks; "
        "print(json.dumps([[t for t in with_defaults if t.startswith('kick')], len(with_defaults), without]))"
    )
    out = run([sys.executable, "-c", probe])
    assert out.returncode == 0, out.stderr
    kick, total, without = json.loads(out.stdout.strip().splitlines()[-1])
    assert "kick_demo" in kick and total > 1000
    assert without == []


@pytest.mark.slow
def test_lm_eval_ls_tasks_lists_kick_tasks():
    out = run([str(BIN / "lm_eval"), "ls", "tasks"])
    assert out.returncode == 0, out.stderr[-2000:]
    assert "kick_demo" in out.stdout


@pytest.mark.slow
def test_lm_eval_cli_runs_model_kick_on_a_kick_task(tiny_model_dir, tmp_path):
    out = run([
        str(BIN / "lm_eval"), "--model", "kick",
        "--model_args", f"pretrained={tiny_model_dir},method=dense,dtype=float32",
        "--tasks", "kick_demo", "--limit", "3", "--device", "cpu",
        "--output_path", str(tmp_path / "results"),
    ])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "kick_demo" in out.stdout
    (result,) = (tmp_path / "results").rglob("results_*.json")
    config = json.loads(result.read_text())["config"]
    assert config["model"] == "kick" and config["kick"]["recipe"]["method"] == "dense"


def test_unknown_model_arg_is_one_line_error(tiny_model_dir):
    out = run([
        str(BIN / "lm_eval"), "--model", "kick",
        "--model_args", f"pretrained={tiny_model_dir},sparsityy=0.5",
        "--tasks", "kick_demo", "--limit", "1", "--device", "cpu",
    ])
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "sparsityy" in last and "sparsity" in last.replace("sparsityy", "")
