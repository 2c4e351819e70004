"""``kick_factoid_qa`` end to end through lm-eval on the tiny model, and its data errors."""

from __future__ import annotations

import pytest
from fixtures.kick_eval import FIXTURE_DATA, data_error, evaluate, task_manager

from kick_tasks.factoid_qa import utils as factoid_qa_utils

TASK = "kick_factoid_qa"
LOCAL = "freebaseqa/FreebaseQA-eval.json"


def test_runs_end_to_end_with_limit(tiny_model_dir):
    out = evaluate(tiny_model_dir, [TASK], FIXTURE_DATA, limit=3)
    samples = out["samples"][TASK]
    assert [s["doc"]["question_id"] for s in samples] == [f"FreebaseQA-eval-{i}" for i in range(3)]
    assert samples[0]["doc"]["answers"] == ["mars", "planet mars"]  # both parses
    for sample in samples:
        (generation,) = sample["filtered_resps"]
        assert sample["arguments"][0][1]["max_gen_toks"] == 64
        expected = factoid_qa_utils.process_results(sample["doc"], [generation])
        assert {metric: sample[metric] for metric in expected} == expected
    for metric in ("contains", "exact_match"):
        assert out["results"][TASK][f"{metric},none"] == pytest.approx(sum(s[metric] for s in samples) / 3)


def test_reads_the_folder_named_by_kick_data_dir(monkeypatch):
    monkeypatch.setenv("KICK_DATA_DIR", str(FIXTURE_DATA))
    docs = task_manager().load([TASK])["tasks"][TASK].eval_docs
    assert len(docs) == 4 and docs[1]["answers"] == ["björk"]


def test_hub_rows_give_the_same_documents():
    """The hub's ``freebase_qa`` rows (``Parses`` in datasets' column form) map like the JSON."""
    import json

    import datasets

    questions = json.loads((FIXTURE_DATA / LOCAL).read_text(encoding="utf-8"))["Questions"]
    answers = datasets.Sequence(
        {"AnswersMid": datasets.Value("string"), "AnswersName": datasets.Sequence(datasets.Value("string"))}
    )
    features = datasets.Features(
        {
            "Question-ID": datasets.Value("string"),
            "RawQuestion": datasets.Value("string"),
            "Parses": datasets.Sequence({"Parse-Id": datasets.Value("string"), "Answers": answers}),
        }
    )
    rows = [
        {
            "Question-ID": q["Question-ID"],
            "RawQuestion": q["RawQuestion"],
            "Parses": {
                "Parse-Id": [p["Parse-Id"] for p in q["Parses"]],
                "Answers": [
                    {
                        "AnswersMid": [a["AnswersMid"] for a in p["Answers"]],
                        "AnswersName": [a["AnswersName"] for a in p["Answers"]],
                    }
                    for p in q["Parses"]
                ],
            },
        }
        for q in questions
    ]
    hub = datasets.Dataset.from_list(rows, features=features)
    assert [factoid_qa_utils.to_doc(row) for row in hub] == factoid_qa_utils.read_local(FIXTURE_DATA)


def test_missing_local_file_is_a_one_line_error(tmp_path):
    message = data_error(TASK, tmp_path)
    assert str(tmp_path / LOCAL) in message and "RawQuestion" in message and "'freebase_qa'" in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON"),
        ('{"Questions": [{"Question-ID": "q1", "RawQuestion": "Who?"}]}', "'Parses'"),
        (
            '{"Questions": [{"Question-ID": "q1", "RawQuestion": "Who?", "Parses": [{"Answers": [{"AnswersName": [7]}]}]}]}',
            "strings",
        ),
        ('{"Questions": []}', "no questions"),
    ],
)
def test_malformed_local_file_is_a_one_line_error(tmp_path, content, problem):
    (tmp_path / LOCAL).parent.mkdir(parents=True)
    (tmp_path / LOCAL).write_text(content, encoding="utf-8")
    message = data_error(TASK, tmp_path)
    assert (
        "malformed" in message
        and problem in message
        and str(tmp_path / LOCAL) in message
        and "'freebase_qa'" in message
    )


def test_unreachable_hub_without_local_copy_is_a_one_line_error(monkeypatch):
    monkeypatch.delenv("KICK_DATA_DIR", raising=False)
    message = data_error(TASK)
    assert "'freebase_qa'" in message and "KICK_DATA_DIR" in message
