"""``kick_reference_*``: the reference code's protocols, bugs included, on hand-made fixtures.

The fixtures (``fixtures/reference_data``, the public schemas) hold one case per reference
behaviour; the expected scores are worked out by hand from ``factoid_qa/main_freebase.py`` and
``incontext_qa/main_icrqa.py`` of VITA-Group/llm-kick, not computed with the task's code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.kick_eval import task_manager
from lm_eval.api.model import LM

from kick_tasks import data
from kick_tasks.reference import utils

REFERENCE_DATA = Path(__file__).parent / "fixtures" / "reference_data"
FACTOID = "kick_reference_factoid_qa"
CLOSED, OPEN = "kick_reference_icrqa_closed", "kick_reference_icrqa_open"


class Scripted(LM):
    """A stand-in model: the generation scripted for the first key its prompt contains."""

    def __init__(self, script: dict[str, str]) -> None:
        super().__init__()
        self.script = script
        self.generation_kwargs: dict[str, dict] = {}

    def generate_until(self, requests):
        out = []
        for request in requests:
            prompt, kwargs = request.args
            key = next(key for key in self.script if key in prompt)
            self.generation_kwargs[key] = kwargs
            out.append(self.script[key])
        return out

    def loglikelihood(self, requests):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests):
        raise NotImplementedError


def run(model: LM, task: str, model_dir=None) -> dict:
    import lm_eval

    return lm_eval.simple_evaluate(
        model=model, tasks=[task], task_manager=task_manager(REFERENCE_DATA, model_dir), log_samples=True
    )


# ----------------------------------------------------------------------------- factoid QA


def test_factoid_docs_are_train_in_file_order_with_the_first_answer_of_the_first_parse():
    docs = task_manager(REFERENCE_DATA).load([FACTOID])["tasks"][FACTOID].eval_docs
    assert [doc["question_id"] for doc in docs] == [f"FreebaseQA-train-{i}" for i in range(4)]
    # question 1: 'red planet' (second answer) and 'planet mars' (second parse) are not gold
    assert [doc["answers"] for doc in docs] == [["london"], ["mars"], ["new york city", "nyc"], [""]]


def test_factoid_keeps_the_first_1001_questions(tmp_path):
    fixture = json.loads((REFERENCE_DATA / utils.FREEBASE_LOCAL_FILE).read_text(encoding="utf-8"))
    questions = [{**fixture["Questions"][1], "Question-ID": f"FreebaseQA-train-{i}"} for i in range(1003)]
    (tmp_path / "freebaseqa").mkdir()
    (tmp_path / utils.FREEBASE_LOCAL_FILE).write_text(json.dumps({"Questions": questions}), encoding="utf-8")
    docs = utils.read_freebase_train(tmp_path)
    assert len(docs) == 1001 and docs[-1]["question_id"] == "FreebaseQA-train-1000"


def test_factoid_hub_rows_give_the_same_documents():
    """``freebase_qa`` hub rows hold ``Parses`` in datasets' column form."""
    questions = json.loads((REFERENCE_DATA / utils.FREEBASE_LOCAL_FILE).read_text(encoding="utf-8"))["Questions"]
    for question in questions:
        row = {
            **question,
            "Parses": {
                "Parse-Id": [p["Parse-Id"] for p in question["Parses"]],
                "Answers": [
                    {
                        "AnswersMid": [a["AnswersMid"] for a in p["Answers"]],
                        "AnswersName": [a["AnswersName"] for a in p["Answers"]],
                    }
                    for p in question["Parses"]
                ],
            },
        }
        assert utils.freebase_doc(row) == utils.freebase_doc(question)


def test_factoid_scores_prompt_plus_generation_and_divides_by_one_less(tiny_model_dir):
    model = Scripted(
        {
            "2012 Summer Olympics": " I do not know.",  # 'London' is in the question: 1
            "Roman god of war": " The Red Planet.",  # 'red planet' is not gold: 0
            "Empire State": " NEWYORK city.",  # squashed 'newyorkcity.' holds 'newyorkcity': 1
            "Tosca": " Verdi",  # the empty gold name is in everything: 1
        }
    )
    out = run(model, FACTOID, tiny_model_dir)
    assert [s["contains"] for s in out["samples"][FACTOID]] == [1.0, 0.0, 1.0, 1.0]
    assert out["results"][FACTOID]["contains,none"] == pytest.approx(3 / 4)
    assert out["results"][FACTOID]["accuracy,none"] == pytest.approx(3 / 3)  # hits / (4 - 1)


def test_factoid_budget_is_twice_the_prompt_in_tokens_bos_included(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = Scripted({"Olympics": "", "Roman": "", "Empire": "", "Tosca": ""})
    run(model, FACTOID, tiny_model_dir)
    questions = {"Olympics": 0, "Roman": 1, "Empire": 2, "Tosca": 3}
    docs = utils.read_freebase_train(REFERENCE_DATA)
    budgets = {}
    for key, index in questions.items():
        ids = tokenizer(utils.freebase_prompt(docs[index]))["input_ids"]
        # the reference: generate(max_length=3 * len(ids)), ids starting with BOS
        bare = tokenizer(utils.freebase_prompt(docs[index]), add_special_tokens=False)["input_ids"]
        assert len(ids) == len(bare) + (tokenizer.bos_token_id is not None and ids[0] == tokenizer.bos_token_id)
        budgets[key] = model.generation_kwargs[key]["max_gen_toks"]
        assert budgets[key] == 3 * len(ids) - len(ids)
    assert len(set(budgets.values())) > 1  # one budget per question, not one per task


def test_factoid_without_a_tokenizer_is_a_one_line_error():
    task = task_manager(REFERENCE_DATA).load([FACTOID])["tasks"][FACTOID]
    with pytest.raises(ValueError, match="no tokenizer is named") as err:
        task.build_all_requests(limit=1, rank=0, world_size=1)
    assert "\n" not in str(err.value)


def test_factoid_accuracy_needs_two_questions():
    assert utils.accuracy_over_one_less([1.0, 0.0, 1.0]) == 1.0
    with pytest.raises(ValueError, match="--limit 2"):
        utils.accuracy_over_one_less([1.0])


def test_factoid_missing_train_file_names_it(tmp_path):
    with pytest.raises(data.KickDataError, match="FreebaseQA-train.json"):
        task_manager(tmp_path).load([FACTOID])


# ----------------------------------------------------------------------------- ICR-QA


def test_icrqa_gold_is_the_normalized_aliases():
    docs = task_manager(REFERENCE_DATA).load([CLOSED])["tasks"][CLOSED].eval_docs
    assert [doc["normalized_aliases"] for doc in docs] == [["quill", "river quill"], ["edith varnham", "varnham"], [""]]


def test_icrqa_hub_rows_take_the_rows_normalized_aliases():
    example = {
        "question_id": "tc_1",
        "question": "Q?",
        "answer": {"value": "U.S.", "aliases": ["U.S.", "USA"], "normalized_aliases": ["u s", "usa"]},
        "entity_pages": {"wiki_context": ["Wiki."]},
        "search_results": {"search_context": ["Web."]},
    }
    doc = utils.triviaqa_doc(example)
    assert doc["normalized_aliases"] == ["u s", "usa"] and doc["context"] == "Wiki.Web."


@pytest.mark.parametrize("task, instruction", [(CLOSED, "Answer these questions"), (OPEN, "Based on these texts, answer these questions")])
def test_icrqa_scores_relaxed_containment_with_empty_predictions_scoring_1(task, instruction):
    block = f"{instruction}:\n\nQ: Which river flows through Emberford?\nA:"
    model = Scripted(
        {
            # repeats the prompt's instruction block first: the reference's split leaves '' -> 1
            "Emberford?": f" {block} River Quill",
            # first line 'Edith Varnham was an astronomer.' contains 'edith varnham': 1; F1 2/3
            "Larkspur": " Edith Varnham was an astronomer.\nQ: next",
            # the only gold normalises to '' (The The): '' is in any prediction: 1; F1 0
            "Hello Nowhere": " Pink Floyd",
        }
    )
    out = run(model, task)
    samples = out["samples"][task]
    assert [s["contains"] for s in samples] == [1.0, 1.0, 1.0]
    assert [s["f1"] for s in samples] == pytest.approx([0.0, 2 / 3, 0.0])
    assert all(kwargs["max_gen_toks"] == 32 for kwargs in model.generation_kwargs.values())
    assert (instruction == "Based on these texts, answer these questions") == (
        "Emberford is a market town" in samples[0]["arguments"][0][0]
    )


def test_icrqa_reference_rules_by_hand():
    assert utils.reference_prediction("  Paris\nQ: x", "Answer these questions", "Q?") == "Paris"
    assert utils.reference_containment("", "paris") == 1.0  # empty prediction
    assert utils.reference_containment("the city of Paris", "Paris") == 1.0  # gold in prediction
    assert utils.reference_containment("Paris", "Paris, France") == 1.0  # prediction in gold
    assert utils.reference_containment("Lyon", "Paris") == 0.0


def test_factoid_runs_through_hflm_with_one_budget_per_question(tiny_model_dir):
    from fixtures.kick_eval import evaluate

    out = evaluate(tiny_model_dir, [FACTOID], REFERENCE_DATA, limit=2)
    samples = out["samples"][FACTOID]
    budgets = [s["arguments"][0][1]["max_gen_toks"] for s in samples]
    assert len(samples) == 2 and all(b > 0 for b in budgets)
    for sample in samples:
        assert sample["contains"] == utils.freebase_results(sample["doc"], sample["filtered_resps"])["contains"]
    assert out["results"][FACTOID]["accuracy,none"] == pytest.approx(sum(s["accuracy"] for s in samples) / 1)
