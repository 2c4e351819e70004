"""``kick_icrqa_closed`` / ``kick_icrqa_open`` end to end through lm-eval, and their data errors."""

from __future__ import annotations

import json

import pytest
from fixtures.kick_eval import FIXTURE_DATA, data_error, evaluate

from kick_tasks.icrqa import utils as icrqa_utils

TASKS = ["kick_icrqa_closed", "kick_icrqa_open"]
LOCAL = "triviaqa/rc_with_context.jsonl"
HUB = "'mandarjoshi/trivia_qa'"


def test_both_books_run_end_to_end_on_the_same_questions(tiny_model_dir):
    out = evaluate(tiny_model_dir, TASKS, FIXTURE_DATA, limit=2)
    closed, opened = (out["samples"][task] for task in TASKS)
    assert (
        [s["doc"]["question_id"] for s in closed]
        == [s["doc"]["question_id"] for s in opened]
        == ["syn_0001", "syn_0002"]
    )
    assert all(s["arguments"][0][0].startswith("Answer these questions:") for s in closed)
    assert all(s["arguments"][0][0].startswith(s["doc"]["context"][:50]) for s in opened)
    for task, samples in zip(TASKS, (closed, opened), strict=True):
        for sample in samples:
            (generation,) = sample["filtered_resps"]
            expected = icrqa_utils.process_results(sample["doc"], [generation])
            assert {metric: sample[metric] for metric in expected} == expected
        for metric in ("exact_match", "f1", "contains"):
            assert out["results"][task][f"{metric},none"] == pytest.approx(
                sum(s[metric] for s in samples) / 2
            )


def test_hub_rows_put_wiki_evidence_before_web_evidence():
    answer = {"value": "Paris", "aliases": ["Paris", "Lutetia"], "normalized_aliases": ["paris", "lutetia"]}
    row = {
        "question_id": "tc_1",
        "question": "Capital of France?",
        "answer": answer,
        "entity_pages": {"wiki_context": ["Wiki one. ", "Wiki two."]},
        "search_results": {"search_context": ["Web one.", "Web two."]},
    }
    doc = icrqa_utils.hub_to_doc(row)
    assert doc == {
        "question_id": "tc_1",
        "question": "Capital of France?",
        "answer_value": "Paris",
        "answer_aliases": ["Paris", "Lutetia", "paris", "lutetia"],
        "context": "Wiki one. Web one.",
    }
    no_wiki = icrqa_utils.hub_to_doc({**row, "entity_pages": {"wiki_context": []}})
    assert no_wiki["context"] == "Web one."
    long_wiki = icrqa_utils.hub_to_doc({**row, "entity_pages": {"wiki_context": ["w" * 4000]}})
    assert long_wiki["context"] == "w" * 3072  # all the open-book prompt reads


def test_missing_local_file_is_a_one_line_error(tmp_path):
    message = data_error(TASKS[0], tmp_path)
    assert str(tmp_path / LOCAL) in message and "answer_aliases" in message and HUB in message


def good_row(**changes) -> str:
    row = {
        "question_id": "q",
        "question": "Who?",
        "answer_value": "X",
        "answer_aliases": ["X"],
        "context": "X did.",
    }
    return json.dumps({**row, **changes})


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{broken\n", "not JSON"),
        (json.dumps({"question": "Who?"}), "lacks"),
        (good_row(answer_aliases="X"), "answer_aliases"),
        (good_row(answer_aliases=[]), "answer_aliases"),
        (good_row(context=None), "'context'"),
        ("\n", "no rows"),
    ],
)
def test_malformed_local_file_is_a_one_line_error(tmp_path, content, problem):
    (tmp_path / LOCAL).parent.mkdir(parents=True)
    (tmp_path / LOCAL).write_text(content, encoding="utf-8")
    message = data_error(TASKS[1], tmp_path)
    assert (
        "malformed" in message and problem in message and str(tmp_path / LOCAL) in message and HUB in message
    )


def test_unreachable_hub_without_local_copy_is_a_one_line_error(monkeypatch):
    monkeypatch.delenv("KICK_DATA_DIR", raising=False)
    message = data_error(TASKS[0])
    assert HUB in message and "(rc)" in message and "KICK_DATA_DIR" in message
