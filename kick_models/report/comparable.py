"""Whether a compressed run's task was measured as its dense run's was, from the results files.

A ratio to dense means something only on the same examples under the same prompt. A
difference in either makes the report refuse the comparison, with one line per difference
that names both values (``chat template: dense off, wanda 50% on (sha 1f2e3d4c)``):

* the examples: ``limit``, the number evaluated (``n-samples``), and where both runs carry
  ``kick_provenance`` (written by ``kick sweep``) its ``data`` and ``examples`` of the task;
* the prompt: ``n-shot``, ``chat_template``, ``system_instruction``, ``fewshot_as_multiturn``
  (compared where both files record them) and ``kick_provenance``'s ``prompt``.

Where both runs logged samples, :func:`.samples.pair` also compares them example by example
(``doc_hash``, ``prompt_hash``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kick_models.report.results import Run, TaskScore

PROVENANCE_BLOCKS = ("data", "examples", "prompt")
SHOWN_CHARACTERS = 40


def refusals(label: str, run: Run, score: TaskScore, dense_run: Run, dense: TaskScore) -> list[str]:
    """The reasons not to compare ``score`` with ``dense`` (empty: comparable)."""
    reasons: list[str] = []

    def differ(what: str, mine: Any, theirs: Any, show=_value) -> None:
        if mine != theirs:
            reasons.append(f"{what}: dense {show(theirs)}, {label} {show(mine)}")

    differ("n-shot", score.n_shot, dense.n_shot)
    differ("limit", run.limit, dense_run.limit)
    differ("examples evaluated", score.n_samples, dense.n_samples)
    if _both(run.prompt, dense_run.prompt, "chat_template"):
        differ("chat template", _template(run.prompt), _template(dense_run.prompt), show=str)
    if _both(run.prompt, dense_run.prompt, "system_instruction"):
        differ("system instruction", run.prompt["system_instruction"] or None,
               dense_run.prompt["system_instruction"] or None, show=_text)
    if _both(run.prompt, dense_run.prompt, "fewshot_as_multiturn"):
        differ("few-shot as multi-turn", bool(run.prompt["fewshot_as_multiturn"]),
               bool(dense_run.prompt["fewshot_as_multiturn"]), show=lambda v: "on" if v else "off")
    mine, theirs = run.provenance.get(score.task), dense_run.provenance.get(dense.task)
    if isinstance(mine, dict) and isinstance(theirs, dict):
        for block in PROVENANCE_BLOCKS:
            a, b = mine.get(block), theirs.get(block)
            if a is None or b is None or a == b:
                continue
            if isinstance(a, dict) and isinstance(b, dict):
                for key in sorted(set(a) | set(b)):
                    differ(f"{block} {key}", a.get(key), b.get(key), show=_text)
            else:
                differ(block, a, b, show=_text)
    return reasons


def _both(mine: dict[str, Any], theirs: dict[str, Any], key: str) -> bool:
    return key in mine and key in theirs


def _template(prompt: dict[str, Any]) -> str:
    """``off``, or ``on`` with the template's sha256 prefix (as lm-eval's ``chat_template_sha``)."""
    template = prompt.get("chat_template")
    if not template:
        return "off"
    return f"on (sha {hashlib.sha256(str(template).encode('utf-8')).hexdigest()[:8]})"


def _value(value: Any) -> str:
    if value is None:
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _text(value: Any) -> str:
    if value is None:
        return "none"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = repr(text) if isinstance(value, str) else text
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS - 1] + "…"
