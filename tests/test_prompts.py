"""The prompts lm-eval sends for each kick task equal the reference code's, character for character.

The expected strings are written out from the reference code (VITA-Group/llm-kick:
``factoid_qa/main_freebase.py``, ``incontext_qa/main_icrqa.py``,
``multiple_choice_qa/main_mmlu.py``); the prompts under test are the request arguments lm-eval
builds (``Task.build_all_requests``), i.e. what the model is given.
"""

from __future__ import annotations

import json
import logging

import pytest
from fixtures.kick_eval import FIXTURE_DATA, reference_mmlu_prompt, requests

from kick_tasks.mmlu import utils as mmlu_utils

MMLU_FIXTURE_HEADER = "The following are multiple choice questions (with answers) about  abstract algebra.\n\n"
MMLU_FIXTURE_SHOTS = (
    "What is the order of the identity element in any group?\nA. 0\nB. 1\nC. 2\nD. infinite\nAnswer: B\n\n",
    "How many elements does the cyclic group Z_4 have?\nA. 2\nB. 3\nC. 4\nD. 5\nAnswer: C\n\n",
    "Statement 1 | Every group of prime order is cyclic. Statement 2 | Every cyclic group is abelian."
    "\nA. True, True\nB. False, False\nC. True, False\nD. False, True\nAnswer: A\n\n",
    "Which of these is a field?\nA. Z_4\nB. Z_5\nC. Z_6\nD. Z_8\nAnswer: B\n\n",
    "What is the index of the trivial subgroup in Z_3?\nA. 1\nB. 2\nC. 3\nD. None\nAnswer: C\n\n",
)
MMLU_FIXTURE_QUESTION = "How many generators does Z_5 have?\nA. 1\nB. 2\nC. 4\nD. None\nAnswer:"
MMLU_FIXTURE_PROMPT = MMLU_FIXTURE_HEADER + "".join(MMLU_FIXTURE_SHOTS) + MMLU_FIXTURE_QUESTION  # 5 shots

def test_factoid_qa_prompt():
    _, (instance,) = requests("kick_factoid_qa", FIXTURE_DATA)
    prompt, gen_kwargs = instance.arguments
    assert prompt == (
        "Please give answer to this question: "
        "Which planet in our solar system is known as the Red Planet?\nThe answer is "
    )
    assert gen_kwargs["until"] == [] and gen_kwargs["do_sample"] is False


def first_triviaqa_row() -> dict:
    with open(FIXTURE_DATA / "triviaqa" / "rc_with_context.jsonl", encoding="utf-8") as handle:
        return json.loads(handle.readline())


def test_icrqa_closed_book_prompt():
    _, (instance,) = requests("kick_icrqa_closed", FIXTURE_DATA)
    assert instance.arguments[0] == "Answer these questions:\n\nQ: Who founded the Larkspur Observatory?\nA:"
    assert instance.arguments[1]["max_gen_toks"] == 32


def test_icrqa_open_book_prompt_keeps_the_first_3072_characters_of_evidence():
    row = first_triviaqa_row()
    assert len(row["context"]) > 3072
    # main_icrqa.py: prompt = f"{context[:3072]}\n\n{prompt_end}", tokenized as prompt.strip()
    prompt_end = f"Based on these texts, answer these questions:\n\nQ: {row['question']}\nA:"
    expected = f"{row['context'][:3072]}\n\n{prompt_end}".strip()
    _, (instance,) = requests("kick_icrqa_open", FIXTURE_DATA)
    assert instance.arguments[0] == expected
    assert instance.arguments[0] == row["context"][:3072] + "\n\n" + prompt_end


def test_mmlu_prompt_and_requests(tiny_model_dir):
    _, instances = requests("kick_mmlu_abstract_algebra", FIXTURE_DATA, tiny_model_dir)
    letters, greedy = instances[:4], instances[4]
    assert [i.request_type for i in instances] == ["loglikelihood"] * 4 + ["generate_until"]
    assert [i.arguments for i in letters] == [(MMLU_FIXTURE_PROMPT, f" {letter}") for letter in "ABCD"]
    assert greedy.arguments == (MMLU_FIXTURE_PROMPT, {"until": [], "max_gen_toks": 1, "do_sample": False})


@pytest.mark.parametrize(
    ("num_fewshot", "expected"),
    [
        (0, "The following are multiple choice questions (with answers) about  abstract algebra.\n\n"
            "How many generators does Z_5 have?\nA. 1\nB. 2\nC. 4\nD. None\nAnswer:"),
        (2, "The following are multiple choice questions (with answers) about  abstract algebra.\n\n"
            "What is the order of the identity element in any group?\nA. 0\nB. 1\nC. 2\nD. infinite\nAnswer: B\n\n"
            "How many elements does the cyclic group Z_4 have?\nA. 2\nB. 3\nC. 4\nD. 5\nAnswer: C\n\n"
            "How many generators does Z_5 have?\nA. 1\nB. 2\nC. 4\nD. None\nAnswer:"),
        (5, MMLU_FIXTURE_PROMPT),
    ],
)
def test_mmlu_prompt_with_num_fewshot(tiny_model_dir, num_fewshot, expected):
    _, instances = requests("kick_mmlu_abstract_algebra", FIXTURE_DATA, tiny_model_dir, num_fewshot=num_fewshot)
    assert {i.arguments[0] for i in instances} == {expected}
    assert expected == MMLU_FIXTURE_HEADER + "".join(MMLU_FIXTURE_SHOTS[:num_fewshot]) + MMLU_FIXTURE_QUESTION


def test_wikitext_request_is_lm_evals_detokenized_article():
    from lm_eval.tasks.wikitext.preprocess_wikitext import wikitext_detokenizer

    _, (instance,) = requests("kick_ppl", FIXTURE_DATA)
    gap = "\n\n\n\n\n"  # a row's own newline, then "\n\n", an empty row, "\n\n"
    page = (
        f" = Alpha Tower = {gap}"
        f" Alpha Tower is a fictional lighthouse built in 1850 on the rocky point of Ness . {gap}"
        f" = = History = = {gap}"
        f" The tower was raised by 12 @.@ 5 metres in 1901 , and its lamp was replaced by an electric one . {gap}"
    )
    assert instance.arguments == (wikitext_detokenizer({"page": page}),)
    assert "12.5 metres in 1901, and" in instance.arguments[0]


# ----------------------------------------------------------------------------- MMLU, real files


@pytest.mark.parametrize("num_fewshot", [0, 2, 5])
@pytest.mark.parametrize("subject", ["abstract_algebra", "high_school_european_history"])
def test_mmlu_prompt_on_the_real_files_with_the_token_limit(shared_data, tiny_model_dir, subject, num_fewshot):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    _, instances = requests(f"kick_mmlu_{subject}", shared_data, tiny_model_dir, limit=2, num_fewshot=num_fewshot)
    prompts = [instances[5 * doc_id].arguments[0] for doc_id in range(2)]
    for doc_id, prompt in enumerate(prompts):
        assert prompt == reference_mmlu_prompt(
            shared_data, subject, doc_id, lambda p: len(tokenizer(p).input_ids), n_shots=num_fewshot
        )
    shots = [prompt.count("\nAnswer:") - 1 for prompt in prompts]
    if subject == "high_school_european_history" and num_fewshot == 5:  # long passages: shots dropped
        assert all(n < 5 for n in shots)
    if subject == "abstract_algebra":  # short questions: every shot asked for fits
        assert shots == [num_fewshot, num_fewshot]


# ----------------------------------------------------------------------------- the 2,048-token rule


def test_fit_prompt_drops_shots_from_the_end_and_stops_at_zero():
    shots = [{"question": f"shot {i}", "choices": ["a", "b", "c", "d"], "answer": 0} for i in range(5)]
    short = {"question": "q", "choices": ["w", "x", "y", "z"], "answer": 2}
    huge = {"question": "q" * 500, "choices": ["w", "x", "y", "z"], "answer": 2}
    two_shots = mmlu_utils.reference_prompt("algebra", shots[:2], short)

    fitted = mmlu_utils.fit_prompt("algebra", shots, short, len, max_tokens=len(two_shots))
    assert fitted == two_shots and "shot 1" in fitted and "shot 2" not in fitted
    assert mmlu_utils.fit_prompt("algebra", shots, short, len, max_tokens=10**6).count("\nAnswer:") == 6
    bare = mmlu_utils.fit_prompt("algebra", shots, huge, len, max_tokens=len(two_shots))
    assert bare == mmlu_utils.reference_prompt("algebra", [], huge)


def test_token_counter_sources(tiny_model_dir, caplog):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "The following are multiple choice questions"
    expected = len(tokenizer(text).input_ids)
    assert mmlu_utils.token_counter({"pretrained": str(tiny_model_dir)})(text) == expected
    assert mmlu_utils.token_counter({"tokenizer": str(tiny_model_dir), "pretrained": "x"})(text) == expected
    assert mmlu_utils.token_counter({"tokenizer": tokenizer})(text) == expected
    mmlu_utils.warn_no_tokenizer.cache_clear()
    with caplog.at_level(logging.WARNING, logger="kick_tasks.mmlu.utils"):
        assert mmlu_utils.token_counter({})("x" * 9) == 3
    assert "approximated as 8192 characters" in caplog.text


def test_unloadable_tokenizer_is_a_one_line_error(tmp_path):
    with pytest.raises(ValueError) as err:
        mmlu_utils.token_counter({"pretrained": str(tmp_path / "no-such-model")})
    message = str(err.value)
    assert "\n" not in message and "no-such-model" in message and '"tokenizer"' in message
