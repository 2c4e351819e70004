"""Answer matching of the LLM-KICK QA tasks on hand-made cases, edge cases included."""

from __future__ import annotations

import pytest

from kick_tasks.factoid_qa import utils as factoid_qa_utils
from kick_tasks.icrqa import utils as icrqa_utils
from kick_tasks.mmlu import utils as mmlu_utils
from kick_tasks.utils import (
    best_over_answers,
    exact_match,
    first_line,
    normalize_answer,
    squash,
    squashed_containment,
    token_f1,
    two_way_containment,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Beatles", "beatles"),
        ("  A  Tale of Two   Cities ", "tale of two cities"),
        ("U.S.", "u s"),  # TriviaQA turns punctuation into spaces (SQuAD would give "us")
        ("U.S.A.", "u s"),  # ... so a lone "a" is then an article
        ("‘Hamlet’", "hamlet"),
        ("rock_and_roll", "rock and roll"),
        ("George, Prince Regent", "george prince regent"),  # = its TriviaQA normalized alias
        ("Björk", "björk"),  # letters outside ASCII are kept
        ("ÉCOLE", "école"),
        ("Theatre", "theatre"),  # "the" only as a whole word
        ("“Paris”", "“paris”"),  # curly double quotes are not in TriviaQA's list: kept
        ("", ""),
        ("The", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_ignores_case_articles_punctuation_and_spacing():
    assert exact_match("The  Beatles!", "beatles") == 1.0
    assert exact_match("an apple", "Apple.") == 1.0
    assert exact_match("Beatles tribute", "Beatles") == 0.0
    assert exact_match("", "Beatles") == 0.0


def test_token_f1():
    assert token_f1("William Shakespeare", "Shakespeare") == pytest.approx(2 / 3)
    assert token_f1("the Shakespeare", "William Shakespeare") == pytest.approx(2 / 3)
    assert token_f1("Paris", "Paris, France") == pytest.approx(2 / 3)
    assert token_f1("Rome", "Paris") == 0.0
    assert token_f1("", "Paris") == 0.0


def test_two_way_containment_is_the_reference_exact_match_without_the_empty_answer_bug():
    assert two_way_containment("George IV of the United Kingdom", "George IV") == 1.0
    assert two_way_containment("IV", "George IV") == 1.0  # the reference is this lenient
    assert two_way_containment("Napoleon", "George IV") == 0.0
    # The reference scores an empty prediction 1 ("" is in every string); here it is 0.
    assert two_way_containment("", "George IV") == 0.0
    assert two_way_containment("...", "George IV") == 0.0


def test_squashed_containment_follows_the_freebaseqa_reference():
    assert squashed_containment("The answer is Sandi Toksvig.", "sandi toksvig") == 1.0
    assert squashed_containment("SandiToksvig", "sandi toksvig") == 1.0  # spaces removed
    assert squashed_containment("Sandi-Toksvig", "sandi toksvig") == 0.0  # punctuation kept
    assert squashed_containment("björk", "Björk") == 1.0
    assert squashed_containment("Bjork", "björk") == 0.0
    assert squashed_containment("", "paris") == 0.0


def test_best_over_answers_takes_the_best_alias_and_skips_empty_ones():
    aliases = ["George IV", "King George the Fourth", "Prinny"]
    assert best_over_answers(exact_match, "prinny", aliases) == 1.0
    # "king george" vs "king george fourth": precision 1, recall 2/3 (beats "george iv": 1/2, 1/2)
    assert best_over_answers(token_f1, "King George", aliases) == pytest.approx(0.8)
    assert best_over_answers(exact_match, "anything", []) == 0.0
    # An alias that normalises to nothing would match every output by containment.
    assert best_over_answers(two_way_containment, "Napoleon", ["The", "!"]) == 0.0
    assert best_over_answers(squashed_containment, "whatever", [" ", ""], key=squash) == 0.0


@pytest.mark.parametrize(
    ("generation", "line"),
    [(" Paris\nQ: next question", "Paris"), ("\n\n  Rome \nA: x", "Rome "), ("", ""), ("  \n ", "")],
)
def test_first_line_is_what_the_reference_reads(generation, line):
    assert first_line(generation) == line


def test_factoid_scores_the_generation_not_the_prompt():
    doc = {"question": "Was Hamlet written by William Shakespeare?", "answers": ["william shakespeare"]}
    # The reference decoded prompt + generation, so this would have been a hit there.
    assert factoid_qa_utils.process_results(doc, ["no idea, sorry"]) == {"contains": 0.0, "exact_match": 0.0}
    assert factoid_qa_utils.process_results(doc, [""]) == {"contains": 0.0, "exact_match": 0.0}
    hit = factoid_qa_utils.process_results(doc, ["William Shakespeare wrote it.\nPlease give answer"])
    assert hit == {"contains": 1.0, "exact_match": 0.0}
    assert factoid_qa_utils.process_results(doc, ["William Shakespeare.\nQ:"]) == {
        "contains": 1.0,
        "exact_match": 1.0,
    }


def test_factoid_answers_come_from_every_parse_in_both_layouts():
    parses = [
        {"Answers": [{"AnswersName": ["mars"]}, {"AnswersName": ["red planet"]}]},
        {"Answers": [{"AnswersName": ["mars", "planet mars"]}]},
    ]
    columns = {
        "Answers": [{"AnswersName": [["mars"], ["red planet"]]}, {"AnswersName": [["mars", "planet mars"]]}]
    }
    assert factoid_qa_utils.answer_names(parses) == ["mars", "red planet", "planet mars"]
    assert factoid_qa_utils.answer_names(columns) == ["mars", "red planet", "planet mars"]


def test_icrqa_scores_the_first_line_against_every_alias():
    doc = {"answer_aliases": ["The Quill", "River Quill"]}
    assert icrqa_utils.process_results(doc, ["  river quill\nQ: what else"]) == {
        "exact_match": 1.0,
        "f1": 1.0,
        "contains": 1.0,
    }
    partial = icrqa_utils.process_results(doc, [" the river Quill, in spring"])
    assert partial["exact_match"] == 0.0
    assert partial["f1"] == pytest.approx(2 * (2 / 4 * 1) / (2 / 4 + 1))
    assert partial["contains"] == 1.0
    assert icrqa_utils.process_results(doc, [""]) == {"exact_match": 0.0, "f1": 0.0, "contains": 0.0}


@pytest.mark.parametrize(
    ("generation", "acc"),
    [
        (" B", 1.0),
        ("B", 1.0),
        ("\nB", 1.0),
        (" (B", 1.0),
        ("B.", 0.0),
        (" b", 0.0),
        ("", 0.0),
        (" Because", 0.0),
    ],
)
def test_mmlu_reference_score_is_the_last_character_of_the_greedy_token(generation, acc):
    letter_scores = [(-3.0, False), (-1.0, True), (-2.0, False), (-4.0, False)]
    doc = {"answer": 1}
    assert mmlu_utils.process_results(doc, [*letter_scores, generation]) == {"acc": acc, "acc_mc": 1.0}


def test_mmlu_mc_score_is_the_letter_argmax():
    letter_scores = [(-3.0, False), (-1.0, True), (-2.0, False), (-0.5, False)]
    assert mmlu_utils.process_results({"answer": 3}, [*letter_scores, " A"]) == {"acc": 0.0, "acc_mc": 1.0}
    assert mmlu_utils.process_results({"answer": 1}, [*letter_scores, " B"]) == {"acc": 1.0, "acc_mc": 0.0}
