"""``kick_summarization_<length>``: LLM-KICK's in-context summarization of 90 CNN stories.

The stories come in three length groups (small / mid / large); each task reads one group from
``kick_summarization/questions.jsonl`` in the local data folder. The reference summary is the
story's own CNN highlights (``highlights``, the default) or any answer files
(:func:`kick_tasks.judged.reference_answers`); scoring is shared with ``kick_instruction``
in :mod:`kick_tasks.judged`.
"""

from __future__ import annotations

from kick_tasks import data, judged

SUMMARIZATION = "kick_summarization"
QUESTIONS = "kick_summarization/questions.jsonl"
HIGHLIGHTS = "highlights"
LENGTH_GROUPS = ("small", "mid", "large")
HIGHLIGHT = "@highlight"


def split_highlights(text: str) -> tuple[str, list[str]]:
    """The story prompt without CNN's ``@highlight`` lines, and those highlights.

    LLM-KICK's question file concatenates each raw ``.story`` file, highlights included, so
    its prompts hand the model the reference summary; we cut them off the prompt.
    """
    story, *highlights = text.split(HIGHLIGHT)
    return story.rstrip(), [h.strip() for h in highlights if h.strip()]


def load_summarization(length: str | None = None, **metadata):
    """``custom_dataset`` of ``kick_summarization_<length>``: that length group's stories."""
    if length not in LENGTH_GROUPS:
        raise data.KickDataError(f"kick_summarization: length {length!r} is not one of {list(LENGTH_GROUPS)}")
    task = f"{SUMMARIZATION}_{length}"
    folder, rows = judged.read_questions(SUMMARIZATION, QUESTIONS, metadata)
    reference = str(metadata.get("reference") or HIGHLIGHTS)
    answers = None if reference == HIGHLIGHTS else judged.reference_answers(reference, SUMMARIZATION, HIGHLIGHTS)
    judge = judged.judge_json(task, metadata)
    docs = []
    for row in rows:
        if row["category"] not in LENGTH_GROUPS:
            raise data.KickDataError(
                f"{folder / QUESTIONS}: question {row['question_id']} has category "
                f"{row['category']!r}, expected one of {list(LENGTH_GROUPS)}"
            )
        if row["category"] != length:
            continue
        prompt, highlights = split_highlights(row["text"])
        qid = int(row["question_id"])
        ref = ("\n".join(h.rstrip(".") + "." for h in highlights) or None) if answers is None else answers.get(qid)
        docs.append({
            "set": SUMMARIZATION, "question_id": qid, "category": length, "rubric": "summary",
            "prompt": prompt, "reference": ref, "reference_name": reference, "judge": judge,
        })
    return judged.dataset(docs, task, reference)
