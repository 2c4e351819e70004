"""``kick_factoid_qa``: FreebaseQA (Jiang et al., NAACL 2019) as LLM-KICK asks it.

Documents carry ``question_id``, ``question`` (the ``RawQuestion``) and ``answers`` (every
``AnswersName`` of every parse, in order, without repeats). They come from the hub dataset
``freebase_qa`` (split ``test``, the official eval file) or from the official JSON file
``freebaseqa/FreebaseQA-eval.json`` under the local data folder.
"""

from __future__ import annotations

import json
from typing import Any

from kick_tasks import data
from kick_tasks.utils import best_over_answers, exact_match, first_line, squash, squashed_containment

HUB_ID = "freebase_qa"
HUB_SPLIT = "test"  # the hub builder maps FreebaseQA-eval.json to its test split
LOCAL_FILE = "freebaseqa/FreebaseQA-eval.json"
LOCAL_FORMAT = (
    'the official FreebaseQA JSON: {"Questions": [{"Question-ID", "RawQuestion", '
    '"Parses": [{"Answers": [{"AnswersName": [...]}]}]}]}'
)


def load_freebaseqa(**kwargs: Any):
    """``custom_dataset`` hook: ``{"test": docs}`` from the local copy or the hub."""
    import datasets

    def from_local(folder):
        return datasets.DatasetDict({HUB_SPLIT: datasets.Dataset.from_list(read_local(folder))})

    def from_hub():
        hub = data.load_hub(HUB_ID, split=HUB_SPLIT)
        return datasets.DatasetDict(
            {HUB_SPLIT: hub.map(to_doc, remove_columns=hub.column_names, desc="FreebaseQA")}
        )

    return data.local_or_hub(kwargs, from_local, from_hub)


def read_local(folder, relative: str = LOCAL_FILE, make_doc=None, count: int | None = None) -> list[dict[str, Any]]:
    """The documents of ``folder/relative`` (a FreebaseQA file in the official JSON layout),
    checked: each of its first ``count`` questions (all by default) through ``make_doc``
    (:func:`to_doc` by default; the reference variant passes its own gold rule)."""
    make_doc = make_doc or to_doc
    path = data.local_file(folder, relative, fmt=LOCAL_FORMAT, hub_id=HUB_ID)

    def bad(what: str) -> data.KickDataError:
        return data.KickDataError(
            f"malformed local data file {str(path)!r}: {what}; expected {LOCAL_FORMAT} "
            f"(the layout of the hub dataset {HUB_ID!r})"
        )

    try:
        questions = json.loads(data.read_text(path, fmt=LOCAL_FORMAT, hub_id=HUB_ID))["Questions"]
        docs = [make_doc(question) for question in questions[:count]]
    except json.JSONDecodeError as err:
        raise bad(f"not JSON ({err.msg} at line {err.lineno})") from None
    except (KeyError, TypeError, IndexError) as err:
        raise bad(f"missing or mistyped field {err}") from None
    if not docs:
        raise bad("it holds no questions")
    return docs


def to_doc(question: dict[str, Any]) -> dict[str, Any]:
    """One FreebaseQA record (official JSON or hub row) as a task document."""
    if not isinstance(question["RawQuestion"], str):
        raise TypeError("'RawQuestion' must be a string")
    return {
        "question_id": question["Question-ID"],
        "question": question["RawQuestion"],
        "answers": answer_names(question["Parses"]),
    }


def answer_names(parses) -> list[str]:
    """All ``AnswersName`` entries of all parses, first occurrence order.

    ``parses`` is a list of parse dicts (official JSON) or, for hub rows, the column form
    ``datasets`` gives a ``Sequence`` of dicts: ``{"Answers": [{"AnswersName": [[...]]}]}``.
    """
    if isinstance(parses, dict):
        names = [name for answers in parses["Answers"] for group in answers["AnswersName"] for name in group]
    else:
        names = [name for parse in parses for answer in parse["Answers"] for name in answer["AnswersName"]]
    if not all(isinstance(name, str) for name in names):
        raise TypeError("'AnswersName' must hold strings")
    return list(dict.fromkeys(names))


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """``contains``: the reference's hit; ``exact_match``: the first line equals an answer."""
    (generation,) = results
    return {
        "contains": best_over_answers(squashed_containment, generation, doc["answers"], key=squash),
        "exact_match": best_over_answers(exact_match, first_line(generation), doc["answers"]),
    }
