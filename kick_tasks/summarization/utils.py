"""``kick_summarization_<length>``: LLM-KICK's in-context summarization of 90 CNN stories.

The stories come in three length groups (small / mid / large); each task reads one group from
``kick_summarization/questions.jsonl`` in the local data folder. The reference summary is the
story's own CNN highlights (``highlights``, the default) or any answer files
(:func:`kick_tasks.judged.reference_answers`); scoring is shared with ``kick_instruction``
in :mod:`kick_tasks.judged`.

``kick_reference_summarization_<length>`` (``protocol="reference"``) keeps the highlights in
the prompt, as the reference code does, and judges with the reference's prompt at its
temperature of 0.1, once per story (:func:`kick_tasks.judged.judge_json`).
"""

from __future__ import annotations

from kick_tasks import data, judged
from kick_tasks.judge import rubric_for

SUMMARIZATION = "kick_summarization"
QUESTIONS = "kick_summarization/questions.jsonl"
HIGHLIGHTS = "highlights"
LENGTH_GROUPS = ("small", "mid", "large")
HIGHLIGHT = "@highlight"
REFERENCE_JUDGE_TEMPERATURE = 0.1  # in-context_summarization/gpt4_judge.py


def split_highlights(text: str) -> tuple[str, list[str]]:
    """The story prompt without CNN's ``@highlight`` lines, and those highlights.

    LLM-KICK's question file concatenates each raw ``.story`` file, highlights included, so
    its prompts hand the model the reference summary; we cut them off the prompt.
    """
    story, *highlights = text.split(HIGHLIGHT)
    return story.rstrip(), [h.strip() for h in highlights if h.strip()]


def load_summarization(length: str | None = None, protocol: str = "kick", **metadata):
    """``custom_dataset`` of ``kick_summarization_<length>`` (and of its ``kick_reference_``
    twin with ``protocol="reference"``): that length group's stories."""
    if length not in LENGTH_GROUPS:
        raise data.KickDataError(f"kick_summarization: length {length!r} is not one of {list(LENGTH_GROUPS)}")
    reference_protocol = judged.check_protocol(SUMMARIZATION, protocol) == "reference"
    task = f"kick_reference_summarization_{length}" if reference_protocol else f"{SUMMARIZATION}_{length}"
    folder, rows = judged.read_questions(SUMMARIZATION, QUESTIONS, metadata)
    reference = str(metadata.get("reference") or HIGHLIGHTS)
    answers = None if reference == HIGHLIGHTS else judged.reference_answers(reference, SUMMARIZATION, HIGHLIGHTS)
    judge = judged.judge_json(task, metadata, REFERENCE_JUDGE_TEMPERATURE if reference_protocol else None)
    rubric = rubric_for(SUMMARIZATION, length, "reference" if reference_protocol else "ours")
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
        if reference_protocol:  # the reference hands model and judge the whole text, highlights too
            prompt = row["text"]
        qid = int(row["question_id"])
        ref = ("\n".join(h.rstrip(".") + "." for h in highlights) or None) if answers is None else answers.get(qid)
        docs.append({
            "set": SUMMARIZATION, "question_id": qid, "category": length, "rubric": rubric,
            "prompt": prompt, "input": judged.model_input(prompt, metadata), "reference": ref,
            "reference_name": reference, "judge": judge,
        })
    return judged.dataset(docs, task, reference)
