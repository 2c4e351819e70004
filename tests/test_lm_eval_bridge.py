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


# lm-eval with EleutherAI/lm-evaluation-harness #4015: TaskManager indexes the folder of every
# `lm_eval.tasks` entry point together with its built-in tasks. Simulated on 0.4.13 by a
# constructor that hands those folders to the original one right after the defaults, installed
# before the bridge's hook runs on the module (run with the automatic bridge off, the hook is
# then applied by hand, as the bridge applies it when `lm_eval.tasks.manager` is imported).
UPSTREAM_READS_ENTRY_POINTS = '''
import importlib.metadata, importlib.util, json, logging, os
from lm_eval.tasks import manager
from lm_eval.tasks._index import TaskIndex
from kick_models import lm_eval_bridge

original = manager.TaskManager.__init__

def upstream_init(self, verbosity=None, include_path=None, include_defaults=True, metadata=None):
    plugins = [importlib.util.find_spec(ep.value).submodule_search_locations[0]
               for ep in importlib.metadata.entry_points(group="lm_eval.tasks")] if include_defaults else []
    user = [] if include_path is None else list(include_path) if isinstance(include_path, (list, tuple)) else [include_path]
    original(self, verbosity, (plugins + user) or None, include_defaults, metadata)
    self.include_path = include_path

manager.TaskManager.__init__ = upstream_init
lm_eval_bridge.patch_task_manager(manager)

roots = []
iter_yaml_files = TaskIndex._iter_yaml_files
def counting(root):
    roots.append(os.path.realpath(root))
    return iter_yaml_files(root)
TaskIndex._iter_yaml_files = staticmethod(counting)

class Collect(logging.Handler):
    messages = []
    def emit(self, record):
        self.messages.append(record.getMessage())
logging.getLogger("lm_eval.tasks._index").addHandler(Collect())

import kick_tasks
ours = os.path.realpath(os.path.dirname(kick_tasks.__file__))
tm = manager.TaskManager()
print(json.dumps({
    "kick_folder_indexed": roots.count(ours),
    "overrides": sum("overrides existing task" in m for m in Collect.messages),
    "kick_demo": "kick_demo" in tm.all_tasks,
    "kick_demo_from": os.path.realpath(str(tm.task_index["kick_demo"].yaml_path)).startswith(ours),
    "include_path": tm.include_path,
}))
'''


@pytest.mark.slow
def test_bridge_steps_aside_when_lm_eval_reads_the_task_entry_point():
    out = run([sys.executable, "-c", UPSTREAM_READS_ENTRY_POINTS], env={"LLM_KICK_NO_BRIDGE": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"kick_folder_indexed": 1, "overrides": 0, "kick_demo": True, "kick_demo_from": True,
                    "include_path": None}


@pytest.mark.slow
def test_task_manager_keeps_include_path_as_passed(tmp_path):
    probe = (
        "from lm_eval.tasks import TaskManager; import json, sys; "
        "given = TaskManager(include_path=sys.argv[1]); default = TaskManager(); "
        "print(json.dumps([given.include_path, default.include_path, 'kick_demo' in given.all_tasks, "
        "'kick_demo' in default.all_tasks]))"
    )
    out = run([sys.executable, "-c", probe, str(tmp_path)])
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [str(tmp_path), None, True, True]


def test_model_left_alone_when_lm_eval_registered_it_from_the_entry_point(monkeypatch):
    import importlib.metadata

    from lm_eval.api.registry import model_registry

    from kick_models import lm_eval_bridge

    (entry_point,) = importlib.metadata.entry_points(group="lm_eval.models", name="kick")
    monkeypatch.setitem(model_registry._objs, "kick", entry_point)  # as #4013 registers it
    lm_eval_bridge.register_model(None)
    assert model_registry._objs["kick"] is entry_point
