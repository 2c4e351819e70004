"""``kick_icrqa_closed`` / ``kick_icrqa_open``: TriviaQA (Joshi et al., ACL 2017) as LLM-KICK asks it.

In-context retrieval QA: the same questions with no evidence (closed book) and with the
first 3,072 characters of evidence before them (open book), as ``incontext_qa/main_icrqa.py``
of the reference code builds them. Documents carry ``question_id``, ``question``,
``answer_value``, ``answer_aliases`` and ``context`` (one evidence string). They come from
the hub dataset ``mandarjoshi/trivia_qa`` config ``rc`` (validation; the context is the
first Wikipedia page then the first web result, as in the reference) or from
``triviaqa/rc_with_context.jsonl`` under the local data folder (one passage per question);
both tasks read the same documents, so they score the same questions.
"""

from __future__ import annotations

from typing import Any

from kick_tasks import data
from kick_tasks.utils import best_over_answers, exact_match, first_line, token_f1, two_way_containment

HUB_ID = "mandarjoshi/trivia_qa"
HUB_CONFIG = "rc"
SPLIT = "validation"
LOCAL_FILE = "triviaqa/rc_with_context.jsonl"
FIELDS = ("question_id", "question", "answer_value", "answer_aliases", "context")
CONTEXT_CHARS = 3072  # the reference keeps context[:3072]

CLOSED_BOOK = "Answer these questions"
OPEN_BOOK = "Based on these texts, answer these questions"


def load_triviaqa(**kwargs: Any):
    """``custom_dataset`` hook: ``{"validation": docs}`` from the local copy or the hub."""
    import datasets

    def from_local(folder):
        path = data.local_file(
            folder, LOCAL_FILE, fmt=f"JSON lines with fields {list(FIELDS)}", hub_id=HUB_ID
        )
        docs = [
            checked(row, number, path)
            for number, row in enumerate(data.read_jsonl(path, FIELDS, hub_id=HUB_ID), 1)
        ]
        return datasets.DatasetDict({SPLIT: datasets.Dataset.from_list(docs)})

    def from_hub():
        hub = data.load_hub(HUB_ID, HUB_CONFIG, split=SPLIT)
        return datasets.DatasetDict(
            {SPLIT: hub.map(hub_to_doc, remove_columns=hub.column_names, desc="TriviaQA rc")}
        )

    return data.local_or_hub(kwargs, from_local, from_hub)


def checked(row: dict[str, Any], number: int, path) -> dict[str, Any]:
    """The task fields of local row ``number``; aliases must be a non-empty list of strings."""
    aliases = row["answer_aliases"]
    if not (isinstance(aliases, list) and aliases and all(isinstance(a, str) for a in aliases)):
        raise data.malformed(
            path,
            f"row {number}: 'answer_aliases' is {aliases!r}, not a non-empty list of strings",
            FIELDS,
            HUB_ID,
        )
    for key in ("question", "context"):
        if not isinstance(row[key], str):
            raise data.malformed(path, f"row {number}: {key!r} is not a string", FIELDS, HUB_ID)
    return {key: row[key] for key in FIELDS}


def hub_to_doc(example: dict[str, Any]) -> dict[str, Any]:
    """A ``trivia_qa/rc`` row as a document: wiki evidence, then web evidence, as the reference.

    Only the first 3,072 characters of evidence are kept: whole pages would fill the cache.
    """
    wiki, web = example["entity_pages"]["wiki_context"], example["search_results"]["search_context"]
    answer = example["answer"]
    return {
        "question_id": example["question_id"],
        "question": example["question"],
        "answer_value": answer["value"],
        "answer_aliases": list(dict.fromkeys(answer["aliases"] + answer["normalized_aliases"])),
        "context": ((wiki[0] if wiki else "") + (web[0] if web else ""))[
            :CONTEXT_CHARS
        ],  # all a prompt reads
    }


def reference_prompt(context: str, instruction: str, question: str) -> str:
    """``f"{context[:3072]}\\n\\n{instruction}:\\n\\nQ: {question}\\nA:"``, stripped, as the reference."""
    return f"{context[:CONTEXT_CHARS]}\n\n{instruction}:\n\nQ: {question}\nA:".strip()


def closed_book_prompt(doc: dict[str, Any]) -> str:
    return reference_prompt("", CLOSED_BOOK, doc["question"])


def open_book_prompt(doc: dict[str, Any]) -> str:
    return reference_prompt(doc["context"], OPEN_BOOK, doc["question"])


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """Exact match, token F1 and the reference's two-way containment of the first line."""
    prediction = first_line(results[0])
    answers = doc["answer_aliases"]
    return {
        "exact_match": best_over_answers(exact_match, prediction, answers),
        "f1": best_over_answers(token_f1, prediction, answers),
        "contains": best_over_answers(two_way_containment, prediction, answers),
    }
