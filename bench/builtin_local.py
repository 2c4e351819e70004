"""lm-eval's built-in ``triviaqa`` and ``mmlu_<subject>`` tasks on the local data copy.

The built-in tasks download from the hub, which the machines running llm-kick cannot reach.
For a throughput comparison they must run anyway, on the same questions as the kick tasks,
so :func:`write_tasks` writes bench-only task YAMLs that ``include:`` the installed lm-eval's
own config files (by absolute path) and swap only the data source for a ``custom_dataset``
reading the local folder (``KICK_DATA_DIR`` layout, through the kick tasks' own readers):

* ``builtin_triviaqa_local`` – ``triviaqa`` as shipped (``Question: ...?\\nAnswer:``, stop at
  a newline, period or comma, up to 256 tokens) on the documents of ``kick_icrqa_closed``;
* ``builtin_triviaqa_local_kickgen`` – the same with ``kick_icrqa_closed``'s generation
  settings (read from its YAML: 32 greedy tokens, no stop string), the same request shape;
* ``builtin_mmlu_<subject>_local`` – ``mmlu_<subject>`` (log-likelihood of A-D), 5-shot from
  the first dev questions, as ``kick_mmlu_<subject>`` prompts.
"""

from __future__ import annotations

from pathlib import Path

import yaml

TRIVIAQA = "builtin_triviaqa_local"
TRIVIAQA_KICKGEN = "builtin_triviaqa_local_kickgen"


def mmlu_task(subject: str) -> str:
    return f"builtin_mmlu_{subject}_local"


def lm_eval_tasks_folder() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


def kick_tasks_folder() -> Path:
    import kick_tasks

    return Path(kick_tasks.__file__).parent


def triviaqa_docs(**metadata):
    """``custom_dataset``: ``kick_icrqa_closed``'s documents in ``trivia_qa``'s schema
    (``question``, ``answer.value``, ``answer.aliases``)."""
    import datasets

    from kick_tasks.icrqa.utils import load_triviaqa

    docs = load_triviaqa(**metadata)["validation"]
    return datasets.DatasetDict({
        "validation": datasets.Dataset.from_list([
            {"question_id": d["question_id"], "question": d["question"],
             "answer": {"value": d["answer_value"], "aliases": d["answer_aliases"]}}
            for d in docs
        ])
    })


def kick_generation_kwargs() -> dict:
    """``kick_icrqa_closed``'s ``generation_kwargs``, from its YAML template."""
    from lm_eval.tasks._yaml_loader import load_yaml

    template = load_yaml(kick_tasks_folder() / "icrqa" / "_icrqa_template_yaml", resolve_func=False)
    return template["generation_kwargs"]


def _write(folder: Path, task: str, config: dict, custom_dataset: str) -> None:
    text = yaml.safe_dump(config, sort_keys=False) + f"custom_dataset: !function {custom_dataset}\n"
    (folder / f"{task}.yaml").write_text(text)


def write_tasks(folder: str | Path, subject: str) -> list[str]:
    """Write the bench task YAMLs into ``folder``; return their task names."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    builtin = lm_eval_tasks_folder()
    mmlu_yaml = builtin / "mmlu" / "default" / f"mmlu_{subject}.yaml"
    if not mmlu_yaml.is_file():
        raise ValueError(f"subject={subject!r} has no built-in task {mmlu_yaml.name} in {mmlu_yaml.parent}")
    trivia = {"include": str(builtin / "triviaqa" / "default.yaml"), "training_split": None,
              "validation_split": "validation"}
    _write(folder, TRIVIAQA, {**trivia, "task": TRIVIAQA}, "bench.builtin_local.triviaqa_docs")
    _write(folder, TRIVIAQA_KICKGEN,
           {**trivia, "task": TRIVIAQA_KICKGEN, "generation_kwargs": kick_generation_kwargs()},
           "bench.builtin_local.triviaqa_docs")
    _write(folder, mmlu_task(subject),
           {"include": str(mmlu_yaml), "task": mmlu_task(subject), "tag": "bench_builtin_local",
            "num_fewshot": 5, "dataset_kwargs": {"subject": subject}},
           "kick_tasks.mmlu.utils.load_mmlu")
    return [TRIVIAQA, TRIVIAQA_KICKGEN, mmlu_task(subject)]


def task_manager(folder: str | Path, metadata: dict):
    """A TaskManager over ``kick_tasks/`` and the bench tasks in ``folder`` only (indexing
    every built-in task takes half a minute and is not needed: the YAMLs include theirs)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_defaults=False, include_path=[str(kick_tasks_folder()), str(folder)],
                       metadata=metadata)
