"""The prompt format each task is run with: raw text, or wrapped in the model's chat template.

The LLM-KICK paper and its reference code prompt the QA tasks (factoid QA, MMLU, TriviaQA
closed and open book) and perplexity with raw text; a chat template would add the model's
system prompt (SmolLM2's injects one) and change the protocol. The judged tasks
(summarization, instruction following) ask an instruction-tuned model for free text and are
run with its chat template. lm-eval applies one setting per ``simple_evaluate`` call, and the
sweep calls it once per task, so each task gets its own.

The formats are declared here for now (one place); they are to move into each task's YAML
(``metadata: {prompt_format: raw|chat}``) once the task folders settle.
"""

from __future__ import annotations

from kick_models.sweep.grid import SweepError

RAW, CHAT = "raw", "chat"
FORMATS = (RAW, CHAT)

# Task (or group) -> format; a name's subtasks (``kick_mmlu_anatomy``, ``kick_summarization_small``)
# take their parent's.
PROMPT_FORMATS = {
    "kick_factoid_qa": RAW,
    "kick_mmlu": RAW,
    "kick_icrqa_closed": RAW,
    "kick_icrqa_open": RAW,
    "kick_ppl": RAW,
    "kick_demo": RAW,
    "kick_summarization": CHAT,
    "kick_instruction": CHAT,
}


def prompt_format(task: str, overrides: dict[str, str]) -> str:
    """The format ``task`` runs with: ``--prompt-format TASK=...`` if given, else the declared
    one (its own, or its parent's), else raw (lm-eval's default, for tasks not declared here).

    A group over declared tasks of both formats (``kick``) cannot be run in one call: the
    error says to list its tasks.
    """
    if task in overrides:
        return overrides[task]
    for name, value in PROMPT_FORMATS.items():
        if task == name or task.startswith(f"{name}_"):
            return value
    members = {name: value for name, value in PROMPT_FORMATS.items() if name.startswith(f"{task}_")}
    if len(set(members.values())) > 1:
        raise SweepError(
            f"task {task!r} groups tasks run raw ({', '.join(n for n, v in members.items() if v == RAW)}) and with the "
            f"chat template ({', '.join(n for n, v in members.items() if v == CHAT)}): list the tasks instead, or "
            f"give --prompt-format {task}=raw|chat"
        )
    return next(iter(members.values()), RAW)


def parse_overrides(items: list[str] | dict[str, str]) -> dict[str, str]:
    """``--prompt-format TASK=raw|chat`` (repeatable) or a grid file's ``{task: format}``."""
    pairs = list(items.items()) if isinstance(items, dict) else [str(item).partition("=")[::2] for item in items]
    overrides = {}
    for task, value in pairs:
        task, value = str(task).strip(), str(value).strip().lower()
        if not task or value not in FORMATS:
            raise SweepError(f"--prompt-format {task}={value} is not TASK=raw or TASK=chat")
        overrides[task] = value
    return overrides
