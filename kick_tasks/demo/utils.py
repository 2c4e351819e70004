"""``kick_demo``: 40 easy factual questions written for llm-kick (not taken from any dataset).

They ship inside the package (``kick_tasks/demo/demo_questions.jsonl``: ``question_id``,
``question``, ``answers``), so the README's first run works offline; the task scores them
with the factoid-QA protocol of ``kick_factoid_qa``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kick_tasks.data import read_jsonl

QUESTIONS = Path(__file__).parent / "demo_questions.jsonl"


def load_demo(**_metadata: Any):
    """``custom_dataset`` hook: ``{"test": docs}`` from the packaged file."""
    import datasets

    rows = read_jsonl(QUESTIONS, ("question_id", "question", "answers"))
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
