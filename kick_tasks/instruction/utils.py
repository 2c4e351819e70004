"""``kick_instruction``: LLM-KICK's 80 open "Vicuna-80" questions in 9 categories.

Questions come from ``kick_conversation/questions.jsonl`` in the local data folder. The
reference answer is gpt-3.5-turbo's, shipped with LLM-KICK (``gpt35``, the default), or any
answer files (:func:`kick_tasks.judged.reference_answers`); scoring is shared with
``kick_summarization`` in :mod:`kick_tasks.judged`.

``kick_reference_instruction`` (``protocol="reference"``) judges with the reference's three
prompts at its temperature of 0.2, once per question (:func:`kick_tasks.judged.judge_json`).
"""

from __future__ import annotations

from kick_tasks import data, judged
from kick_tasks.judge import rubric_for

CONVERSATION = "kick_conversation"
QUESTIONS = "kick_conversation/questions.jsonl"
GPT35 = "gpt35"
GPT35_ANSWERS = "kick_conversation/reference_answers_gpt35.jsonl"
REFERENCE_JUDGE_TEMPERATURE = 0.2  # mt_conversation/gpt4_judge.py


def gpt35_answers(folder) -> dict[int, str]:
    """The gpt-3.5-turbo answers by question id, from the local data folder."""
    path = folder / GPT35_ANSWERS
    if not path.is_file():
        raise data.KickDataError(f"missing local data file {str(path)!r}: expected JSON lines with question_id, text")
    return {int(r["question_id"]): str(r["text"]).strip() for r in data.read_jsonl(path, ["question_id", "text"], integers=["question_id"])}


def load_instruction(protocol: str = "kick", **metadata):
    """``custom_dataset`` of ``kick_instruction`` (and of ``kick_reference_instruction`` with
    ``protocol="reference"``): the 80 open questions in 9 categories."""
    reference_protocol = judged.check_protocol("kick_instruction", protocol) == "reference"
    task = "kick_reference_instruction" if reference_protocol else "kick_instruction"
    prompts = "reference" if reference_protocol else "ours"
    folder, rows = judged.read_questions(CONVERSATION, QUESTIONS, metadata)
    reference = str(metadata.get("reference") or GPT35)
    if reference == "highlights":
        raise data.KickDataError("kick_instruction: reference 'highlights' exists only for summarization; use 'gpt35' or a path")
    answers = gpt35_answers(folder) if reference == GPT35 else judged.reference_answers(reference, CONVERSATION, GPT35)
    judge = judged.judge_json(task, metadata, REFERENCE_JUDGE_TEMPERATURE if reference_protocol else None)
    docs = [
        {
            "set": CONVERSATION, "question_id": int(r["question_id"]), "category": r["category"],
            "rubric": rubric_for(CONVERSATION, r["category"], prompts), "prompt": r["text"],
            "input": judged.model_input(r["text"], metadata),
            "reference": answers.get(int(r["question_id"])), "reference_name": reference, "judge": judge,
        }
        for r in rows
    ]
    return judged.dataset(docs, task, reference)
