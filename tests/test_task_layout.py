"""The task package's layout: each task's ``!function`` helpers live beside its YAML, and a
new task is one folder (YAML + ``utils.py``) that lm-eval picks up (docs/extending.md)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest
from fixtures.kick_eval import KICK_TASKS
from lm_eval.api.model import LM

import kick_tasks

FUNCTION = re.compile(r"!function\s+(kick_tasks\.[\w.]+)\.(\w+)")
SHARED = {"kick_tasks.judged"}  # helpers shared by several tasks, at package level


def task_configs() -> list[Path]:
    return sorted(p for p in KICK_TASKS.rglob("*") if p.suffix == ".yaml" or p.name.endswith("_yaml"))


def test_every_function_is_in_its_folders_utils_or_a_shared_module_and_resolves():
    seen = 0
    for path in task_configs():
        own = "kick_tasks." + ".".join(path.parent.relative_to(KICK_TASKS).parts + ("utils",))
        for module_name, function in FUNCTION.findall(path.read_text(encoding="utf-8")):
            assert module_name in {own, *SHARED}, (path, module_name)
            assert callable(getattr(importlib.import_module(module_name), function)), (path, function)
            seen += 1
    assert seen > 20
    assert not list(KICK_TASKS.glob("*_utils.py"))


# ----------------------------------------------------------------------------- a new task

FOLDER = "probe_capitals"  # kick_tasks/probe_capitals/ for the duration of one test
TASK = "kick_probe_capitals"
TASK_YAML = f"""\
task: {TASK}
custom_dataset: !function kick_tasks.{FOLDER}.utils.load_docs
test_split: test
output_type: generate_until
num_fewshot: 0
doc_to_text: !function kick_tasks.{FOLDER}.utils.prompt
doc_to_target: answer
generation_kwargs:
  until: ["\\n"]
  do_sample: false
process_results: !function kick_tasks.{FOLDER}.utils.process_results
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""
UTILS = '''\
import datasets

DOCS = [{"country": "France", "answer": "Paris"}, {"country": "Peru", "answer": "Lima"}]


def load_docs(**metadata):
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(DOCS)})


def prompt(doc):
    return f"Capital of {doc['country']}:"


def process_results(doc, results):
    return {"exact_match": float(results[0].strip() == doc["answer"])}
'''
GROUP_YAML = f"group: kick_probe\ntask:\n  - {TASK}\nmetadata:\n  version: 1.0\n"


class KnowsFranceOnly(LM):
    """A stand-in model: answers Paris when the prompt names France, else Rome."""

    def generate_until(self, requests):
        return [" Paris" if "France" in r.args[0] else " Rome" for r in requests]

    def loglikelihood(self, requests):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests):
        raise NotImplementedError


@pytest.fixture
def new_task_root(tmp_path, monkeypatch):
    """A folder holding ``probe_capitals/`` (YAML + utils.py) and a group file, as a new task
    adds them. ``tmp_path`` joins ``kick_tasks.__path__`` (where Python looks for the
    package's sub-packages), so ``kick_tasks.probe_capitals.utils`` imports from it as it
    would from inside the package, and nothing is written into the package itself."""
    folder = tmp_path / FOLDER
    folder.mkdir()
    (folder / f"{TASK}.yaml").write_text(TASK_YAML, encoding="utf-8")
    (folder / "utils.py").write_text(UTILS, encoding="utf-8")
    (tmp_path / "_kick_probe.yaml").write_text(GROUP_YAML, encoding="utf-8")
    monkeypatch.setattr(kick_tasks, "__path__", [*kick_tasks.__path__, str(tmp_path)])
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith(f"kick_tasks.{FOLDER}")]:
        del sys.modules[name]


def test_a_new_task_folder_is_picked_up_and_its_helpers_resolve(new_task_root):
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_defaults=False, include_path=str(new_task_root))
    assert {TASK, "kick_probe"} <= set(manager.all_tasks)
    out = lm_eval.simple_evaluate(
        model=KnowsFranceOnly(), tasks=["kick_probe"], task_manager=manager, log_samples=True
    )
    samples = out["samples"][TASK]
    assert [s["arguments"][0][0] for s in samples] == ["Capital of France:", "Capital of Peru:"]
    assert [s["exact_match"] for s in samples] == [1.0, 0.0]
    assert out["results"][TASK]["exact_match,none"] == 0.5
    utils = sys.modules[f"kick_tasks.{FOLDER}.utils"]  # imported by name, not loaded from a path
    assert utils.__file__ == str(new_task_root / FOLDER / "utils.py")
