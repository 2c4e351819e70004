"""MT-Bench's judging: a 1-10 rating per answer, and an A/B/tie verdict against another model.

Zheng et al., "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena" (NeurIPS 2023), as its
code does it (FastChat, ``fastchat/llm_judge/common.py``: ``run_judge_single``,
``run_judge_pair``; ``show_result.py``). The judge prompts are MT-Bench's own, read from its
``judge_prompts.jsonl`` by the task and passed in here as rows (``name``, ``system_prompt``,
``prompt_template``, ``output_format``):

* single-answer grading: ``single-v1`` (turn 1) and ``single-v1-multi-turn`` (the whole
  two-turn conversation, judged on the second answer); for the categories with reference
  answers (``NEEDS_REFERENCE``: math, reasoning, coding) ``single-math-v1`` and
  ``single-math-v1-multi-turn``, which show the reference answer(s) too. The rating is the
  first ``[[x]]`` of the reply, else the first ``[x]`` (FastChat's ``one_score_pattern`` and its
  backup); a reply with neither has no rating (FastChat's -1: left out, counted);
* pairwise: ``pair-v2`` / ``pair-v2-multi-turn``, ``pair-math-v1`` / ``pair-math-v1-multi-turn``;
  the verdict is ``[[A]]``, ``[[B]]`` or ``[[C]]`` (tie), looked for in that order. Each pair is
  asked in both orders (candidate as A, then as B; ``judge_both_orders=false`` asks the first
  only); as in ``show_result.py``, a question whose verdict is unreadable in either order is
  left out, and one whose two orders disagree, or that either calls a tie, is a tie.

The messages are the system prompt and the filled template, as FastChat sends an OpenAI judge
(``conv.to_openai_api_messages()``). Asking goes through :func:`.asking.ask_all` (cache,
retries, concurrency) like every other judgment.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from typing import Any

NEEDS_REFERENCE = ("math", "reasoning", "coding")  # FastChat's NEED_REF_CATS (less arena-hard-200)
PROMPT_NAMES = tuple(
    f"{kind}{'-multi-turn' if turn == 2 else ''}"
    for kind in ("single-v1", "single-math-v1", "pair-v2", "pair-math-v1")
    for turn in (1, 2)
)
RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")  # FastChat's one_score_pattern
RATING_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")  # and its backup

Prompt = Mapping[str, Any]


def prompt_name(kind: str, category: str, turn: int) -> str:
    """The MT-Bench judge prompt for a ``kind`` ("single" or "pair") judgment of ``turn``."""
    if kind not in ("single", "pair") or turn not in (1, 2):
        raise ValueError(f"MT-Bench judgment kind={kind!r}, turn={turn!r}: allowed 'single'/'pair' and 1/2")
    math = category in NEEDS_REFERENCE
    base = {"single": ("single-v1", "single-math-v1"), "pair": ("pair-v2", "pair-math-v1")}[kind][math]
    return base + ("-multi-turn" if turn == 2 else "")


def _references(references: Sequence[str] | None, turn: int) -> dict[str, str]:
    if references is None:
        return {}
    return {f"ref_answer_{i + 1}": references[i] for i in range(turn)}


def _messages(prompt: Prompt, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": prompt["system_prompt"]}, {"role": "user", "content": user}]


def single_messages(
    prompt: Prompt, questions: Sequence[str], answers: Sequence[str], references: Sequence[str] | None
) -> list[dict[str, str]]:
    """The judge request rating the last of ``answers`` (one turn, or both: the conversation).

    ``references`` (MT-Bench's reference answers, one per turn) only for the prompts that
    show them (``*-math-*``).
    """
    turn = len(answers)
    if turn == 1:
        fields = {"question": questions[0], "answer": answers[0]}
    else:
        fields = {"question_1": questions[0], "question_2": questions[1], "answer_1": answers[0], "answer_2": answers[1]}
    return _messages(prompt, prompt["prompt_template"].format(**fields, **_references(references, turn)))


def pair_messages(
    prompt: Prompt, questions: Sequence[str], answers_a: Sequence[str], answers_b: Sequence[str],
    references: Sequence[str] | None,
) -> list[dict[str, str]]:
    """The judge request comparing assistant A's answers with assistant B's (one turn or both)."""
    turn = len(answers_a)
    if turn == 1:
        fields = {"question": questions[0], "answer_a": answers_a[0], "answer_b": answers_b[0]}
    else:
        fields = {
            "question_1": questions[0], "question_2": questions[1], "answer_a_1": answers_a[0],
            "answer_a_2": answers_a[1], "answer_b_1": answers_b[0], "answer_b_2": answers_b[1],
        }
    return _messages(prompt, prompt["prompt_template"].format(**fields, **_references(references, turn)))


def parse_rating(reply: str | None) -> float | None:
    """The ``[[rating]]`` of a single-answer judgment (FastChat: first ``[[x]]``, else ``[x]``)."""
    if not reply:
        return None
    match = RATING.search(reply) or RATING_BACKUP.search(reply)
    return float(ast.literal_eval(match.group(1))) if match else None


def parse_winner(reply: str | None) -> str | None:
    """``"A"``, ``"B"``, ``"tie"`` from a pairwise judgment, or None (FastChat's "error")."""
    for mark, winner in (("[[A]]", "A"), ("[[B]]", "B"), ("[[C]]", "tie")):
        if reply and mark in reply:
            return winner
    return None


def pair_outcome(candidate_first: str | None, candidate_second: str | None = None, *, both_orders: bool = True) -> str | None:
    """The candidate's ``"win"``, ``"loss"`` or ``"tie"`` from the verdict with the candidate as
    A (``candidate_first``) and, with ``both_orders``, as B; None when a verdict is unreadable.

    ``show_result.py`` (``display_result_pairwise``): error rows are dropped; a tie in the
    first game, or two games that disagree, make a tie.
    """
    games = [{"A": "win", "B": "loss"}.get(candidate_first, candidate_first)]
    if both_orders:
        games.append({"A": "loss", "B": "win"}.get(candidate_second, candidate_second))
    if any(game is None for game in games):
        return None
    return games[0] if all(game == games[0] for game in games) else "tie"
