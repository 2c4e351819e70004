"""Judge replies to scores, and judge settings from metadata and environment.

The replies below are written for these tests in the formats that the GPT-4 reviews of the
LLM-KICK reference repository show (``*_evaluation.jsonl``): scores on the first line(s),
``7.5``-style halves, ``x/10 for Assistant 1`` lines, a final ``(a, b)`` tuple, ``error``.
Each expected value is what the reference's own parser extracted from a reply of that
layout, or -1 where it failed and we succeed, as noted.
"""

from __future__ import annotations

import re

import pytest

from kick_tasks.judge import SUMMARY_CRITERIA, JudgeConfig, JudgeConfigError, judge_config, parse_scores

ONE = ("overall",)

SUMMARY_REPLIES = [
    (
        "7 6\n8 6\n9 8\n7 7\nThe first summary keeps the order of events and every fact it states "
        "comes from the story. The second one invents a date.",
        ((7, 8, 9, 7), (6, 6, 8, 7)),
    ),
    (
        "9 8.5\n9 8\n9 8.5\n9 8.5\n\nBoth summaries cover the trial and the verdict; the second "
        "leaves out the sentence handed down.",
        ((9, 9, 9, 9), (8.5, 8, 8.5, 8.5)),
    ),
    (  # labelled lines in another order: the reference parser failed (-1); we read the labels
        "Fluency: 9 8\nCoherence: 8 7\nRelevance: 8/10 6/10\nConsistency: 7 7\nExplanation follows.",
        ((8, 7, 9, 8), (7, 7, 8, 6)),
    ),
    (  # markdown bold labels in the asked order
        "**Coherence**: 6 5\n**Consistency**: 6 4\n**Fluency**: 7 7\n**Relevance**: 5 5\nBoth are short.",
        ((6, 6, 7, 5), (5, 4, 7, 5)),
    ),
]

INSTRUCTION_REPLIES = [
    ("10 9\nBoth answers list practical steps; the first adds a worked weekly plan.", (10, 9)),
    ("8 7.5\n\nThe first answer is better organised.", (8, 7.5)),
    (  # the reference parser failed (-1) on this layout
        "8.5/10 for Assistant 1, 6/10 for Assistant 2.\n\nAssistant 1:\nThe loop reads each line...",
        (8.5, 6),
    ),
    (  # math review that solves first, then scores per line; reference: -1
        "Let us solve it first: 4x - 7 = 9, so x = 4.\n\nAssistant 1 reaches x = 4 correctly.\n"
        "Assistant 2 drops the sign.\n\nScores:\nAssistant 1: 10/10\nAssistant 2: 3/10",
        (10, 3),
    ),
    (  # math review ending with a tuple; reference: -1
        "First, the distance between (1, 1) and (4, 5) is 5.\nAssistant 1 gets 5, Assistant 2 gets 7.\n"
        "So the final scores are (9, 2).",
        (9, 2),
    ),
]

# Shapes the first parser misread or missed (what it returned in the comment), and their
# near misses: each is read as the judge meant it, or counted invalid, never misread.
NEAR_MISS_REPLIES = [
    ("Assistant 2: 7, Assistant 1: 9\nThe second answer skips the edge case.", (9, 7)),  # was (7, 9)
    ("Scores: Assistant 2 - 4/10, Assistant 1 - 9/10", (9, 4)),
    ("Both answers run.\nAssistant 1 receives 8/10 while Assistant 2 receives 6/10.", (8, 6)),
    ("The first is more complete.\nI would score Assistant 1 a 6 and Assistant 2 a 5", (6, 5)),  # was None
    ("I would give Assistant 1 an 8 and Assistant 2 a 5.", (8, 5)),
    ("The first answer explains each step; the second only gives the result.\n(10, 1)", (10, 1)),  # was None
    ("The first answer explains each step.\n**(8/10, 7/10)**", (8, 7)),
    ("10/10 and 7/10\nBoth are correct; the second is terse.", (10, 7)),
    ("8 out of 10 and 7 out of 10", (8, 7)),
    ("Score: 8/10 (Assistant 1), 6/10 (Assistant 2)", (8, 6)),
    ("Assistant 1's score: 9\nThe second reply misreads the question.\nAssistant 2's score: 4", (9, 4)),
    ("The final scores are as follows: Assistant 1: 8, Assistant 2: 7", (8, 7)),
]

NEAR_MISS_INVALID = [
    "-1 -1",  # was (1, 1)
    "-1 -1\nThe points (2, 3) and (4, 5) were compared.\n(2, 3)",  # an invalid score line is not read around
    "Assistant 1: -1, Assistant 2: 8",
    "Explanation first.\nScores: (-1, -1)",
    "The first answer covers 3 of the 5 points.\nThe second covers all of them.",  # was (3, 5)
    "In 2019 the 2 teams met 3 times.",
    "The 2 teams met 3 times.",
    "Assistant 1 lists 3 steps and Assistant 2 lists 5.",
    "Assistant 1 gets 5, Assistant 2 gets 7.",  # a maths review reporting answers, not scores
    "Both solve for x.\nFinal answers: Assistant 1: 4, Assistant 2: 5",
    "Assistant 1: x = 4, Assistant 2: x = 5",
    "Assistant 1: 6/10 for Assistant 2",  # one number tied to both assistants
    "Assistant 1 scored 8 points and Assistant 2 scored 7 points",
    "7/8 6/8",
    "7/8",
    "85% 70%",
    "8-7",
    "2019 2020\nThe years compared.",
]

INVALID_REPLIES = [
    "error",
    "",
    "   \n  ",
    "Both summaries are good.",
    "8 7\n8 7\n9 8\nThe fourth line is missing.",  # three of four criteria
    "12 9\nOut of range.",
    "8 7 6\nThree numbers on the score line.",
    "The answer mentions the points (2, 3) and (4, 5) only.",  # tuples that are not scores
]


@pytest.mark.parametrize("reply,expected", SUMMARY_REPLIES)
def test_summary_replies_parse_per_criterion(reply, expected):
    scores = parse_scores(reply, SUMMARY_CRITERIA)
    assert scores is not None
    assert (scores.first, scores.second) == expected


@pytest.mark.parametrize("reply,expected", INSTRUCTION_REPLIES)
def test_instruction_replies_parse(reply, expected):
    scores = parse_scores(reply, ONE)
    assert scores is not None
    assert (scores.first[0], scores.second[0]) == expected


@pytest.mark.parametrize("reply,expected", NEAR_MISS_REPLIES)
def test_near_miss_replies_are_read_as_meant(reply, expected):
    scores = parse_scores(reply, ONE)
    assert scores is not None
    assert (scores.first[0], scores.second[0]) == expected


@pytest.mark.parametrize("reply", NEAR_MISS_INVALID)
def test_near_miss_replies_are_invalid_not_misread(reply):
    assert parse_scores(reply, ONE) is None


def test_summary_score_lines_per_assistant_and_out_of_range():
    swapped = "Coherence: Assistant 2: 7, Assistant 1: 8\nConsistency: 6 5\nFluency: 9 9\nRelevance: 7 7\nWhy."
    scores = parse_scores(swapped, SUMMARY_CRITERIA)
    assert (scores.first, scores.second) == ((8, 6, 9, 7), (7, 5, 9, 7))
    assert parse_scores(swapped.replace("Fluency: 9 9", "Fluency: -1 -1"), SUMMARY_CRITERIA) is None
    labelled = "Fluency: 9 8\nCoherence: 8 7\nRelevance: 8 6\nConsistency: -1 -1"
    assert parse_scores(labelled, SUMMARY_CRITERIA) is None


@pytest.mark.parametrize("reply", INVALID_REPLIES)
def test_unreadable_replies_are_none_not_zero(reply):
    criteria = SUMMARY_CRITERIA if reply.startswith("8 7\n8 7") else ONE
    assert parse_scores(reply, criteria) is None


def test_config_metadata_over_environment_and_types():
    env = {"KICK_JUDGE_BASE_URL": "http://env:1/v1", "KICK_JUDGE_MODEL": "env-model", "KICK_JUDGE_CONCURRENCY": "2"}
    config = judge_config({"judge_base_url": "http://meta:2/v1/", "judge_temperature": "0.2",
                           "judge_both_orders": "false", "pretrained": "x"}, env)
    assert config.base_url == "http://meta:2/v1" and config.model == "env-model"
    assert config.concurrency == 2 and config.temperature == 0.2 and config.both_orders is False
    assert judge_config({}, {}) is None
    assert JudgeConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize("metadata,message", [
    ({"judge_api_key": "sk-x"}, "must not be passed"),
    ({"judge_base_url": "http://h/v1", "judge_modle": "m"}, "unknown judge setting"),
    ({"judge_base_url": "http://h/v1"}, "judge_model is required"),
    ({"judge_base_url": "h:1/v1", "judge_model": "m"}, "must start with http"),
    ({"judge_base_url": "http://h/v1", "judge_model": "m", "judge_concurrency": 0}, "judge_concurrency=0"),
    ({"judge_base_url": "http://h/v1", "judge_model": "m", "judge_both_orders": "maybe"}, "judge_both_orders"),
])
def test_config_errors_name_the_setting(metadata, message):
    with pytest.raises(JudgeConfigError, match=message):
        judge_config(metadata, {})


def test_api_key_is_read_by_variable_name_and_never_serialised(monkeypatch):
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-never-stored-123")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-stored-456")
    judge = {"judge_base_url": "http://h/v1", "judge_model": "m"}
    own = judge_config(judge, {"KICK_JUDGE_API_KEY_ENV": "MY_JUDGE_KEY"})  # the user's environment: any name
    assert own.api_key_env == "MY_JUDGE_KEY" and own.api_key() == "sk-never-stored-123"
    shared = judge_config({**judge, "judge_api_key_env": "OPENAI_API_KEY"}, {"KICK_JUDGE_API_KEY_ENV": "MY_JUDGE_KEY"})
    assert shared.api_key() == "sk-never-stored-456"
    for config in (own, shared):
        assert "sk-never-stored" not in config.to_json() + repr(config)


@pytest.mark.parametrize("name", ["MY_JUDGE_KEY", "AWS_SECRET_ACCESS_KEY", "HOME", "_API_KEY", "OPENAI_API_KEY_2",
                                  "X_API_KEY; rm", 42])
def test_api_key_env_from_metadata_must_end_in_api_key(name):
    metadata = {"judge_base_url": "http://h/v1", "judge_model": "m", "judge_api_key_env": name}
    rule = re.escape(f"judge_api_key_env={name!r} is refused: ") + ".*ending in _API_KEY.*KICK_JUDGE_API_KEY_ENV"
    with pytest.raises(JudgeConfigError, match=rule):
        judge_config(metadata, {"KICK_JUDGE_API_KEY_ENV": "MY_JUDGE_KEY"})  # the environment does not lift it
