"""The ``kick`` group: it lists every LLM-KICK task, and no kick name clashes with lm-eval's own."""

from __future__ import annotations

from pathlib import Path

import lm_eval
import yaml
from fixtures.kick_eval import KICK_TASKS, task_manager

OURS = ["kick_factoid_qa", "kick_mmlu", "kick_icrqa_closed", "kick_icrqa_open", "kick_ppl"]


def test_group_lists_the_tasks_and_each_resolves():
    group = yaml.safe_load((KICK_TASKS / "_kick.yaml").read_text(encoding="utf-8"))
    assert group["group"] == "kick" and "aggregate_metric_list" not in group
    assert set(OURS) <= set(group["task"])
    assert set(group["task"]) <= set(task_manager().all_tasks)


def test_every_name_starts_with_kick_and_none_clashes_with_builtin_tasks():
    ours = set(task_manager().all_tasks)
    assert ours and all(name.startswith("kick") for name in ours)
    from lm_eval.tasks import TaskManager

    lm_eval_tasks = Path(lm_eval.__file__).parent / "tasks"
    manager = TaskManager(include_defaults=False, include_path=str(lm_eval_tasks))
    # the bridge adds the kick folder to every index: count lm-eval's own files only
    builtin = {name for name, entry in manager.task_index.items()
               if entry.yaml_path and Path(entry.yaml_path).is_relative_to(lm_eval_tasks)}
    assert len(builtin) > 1000 and not ours & builtin


def test_every_task_pins_its_shots_so_num_fewshot_reaches_only_mmlu():
    """lm-eval leaves a YAML ``num_fewshot: 0`` alone and overrides any other value, so
    ``--tasks kick --num_fewshot k`` changes MMLU's shots (default 5) and no other task's."""
    from lm_eval.tasks._yaml_loader import load_yaml

    shots = {}
    for path in KICK_TASKS.rglob("*.yaml"):
        config = load_yaml(path, resolve_func=False)
        if isinstance(config.get("task"), str) and "group" not in config:
            shots[config["task"]] = config.get("num_fewshot")
    assert len(shots) >= 57 + 8
    assert {task: n for task, n in shots.items() if n != 0} == {
        task: 5 for task in shots if task.startswith("kick_mmlu_")
    }
