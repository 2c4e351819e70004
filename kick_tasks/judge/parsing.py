"""Read the two assistants' scores out of a judge's free-text reply.

The prompts ask for the scores on the first line(s), in the reference's format (LLM-KICK's
``gpt4_judge.py`` reads ``"8 7"`` per line). Real judges drift from it: GPT-4 replies in the
reference's own logs write ``8.5/10 for Assistant 1, 6/10 for Assistant 2.``, put a score
line per assistant (``Assistant 1: 10/10``) or end with a tuple ``(10, 4)``; the reference
parser turned all of those into ``-1`` and dropped them. This parser accepts, in order:

1. the requested layout: the first non-empty line (or, with several criteria, the first
   ``len(criteria)`` lines) each holding exactly two scores; "Assistant 1/2" mentions, a
   leading label (``Coherence:``) and ``/10`` or ``out of 10`` after a score are ignored;
2. with several criteria, lines that start with a criterion's name, in any order;
3. with one criterion, a line ``Assistant 1: <score>`` and a line ``Assistant 2: <score>``,
   or else the last ``(a, b)`` tuple on a line that speaks of scores.

Scores must lie in [0, 10] (the prompts ask for 1-10; a 0 for an empty answer is still a
judgment). Anything else returns None: the caller records the reply as invalid and counts it;
it never becomes a score of zero.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_NUMBER = r"\d+(?:\.\d+)?"
_OUT_OF_TEN = re.compile(r"\s*(?:/|out\s+of)\s*10(?:\.0+)?\b", re.IGNORECASE)
_ASSISTANT = re.compile(r"\bassistant\s*[12]\b", re.IGNORECASE)
_LABEL = re.compile(r"^\W*([A-Za-z][A-Za-z ]*?)[\s*_]*[:\-–]\s*")
# "The final scores are (10, 4)": a tuple counts only on a line that speaks of scores.
_SCORE_TUPLE = re.compile(rf"\bscores?\b.*\(\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\)", re.IGNORECASE)
# "Assistant 1: 10/10" alone on its line.
_ASSISTANT_LINE = re.compile(
    rf"^\W*assistant\s*([12])\W*(?:score)?\W*?({_NUMBER})(?:{_OUT_OF_TEN.pattern})?\W*$", re.IGNORECASE
)
# Criterion names as judges write them (the reference's own key is "consistent").
_ALIASES = {"consistency": ("consistency", "consistent"), "coherence": ("coherence", "coherent")}


@dataclass(frozen=True)
class PairScores:
    """Scores per criterion for the answer shown first and the answer shown second."""

    first: tuple[float, ...]
    second: tuple[float, ...]


def _valid(values: Sequence[float]) -> bool:
    return all(0.0 <= v <= 10.0 for v in values)


def _scores_on_line(line: str) -> tuple[float, float] | None:
    """The two scores of one line, or None unless it holds exactly two numbers in range."""
    text = _ASSISTANT.sub(" ", line)
    text = _OUT_OF_TEN.sub(" ", text)
    numbers = [float(n) for n in re.findall(rf"(?<![\w.]){_NUMBER}(?!\w)", text)]
    if len(numbers) != 2 or not _valid(numbers):
        return None
    return numbers[0], numbers[1]


def _label(line: str) -> str | None:
    match = _LABEL.match(line)
    return match.group(1).strip().lower() if match else None


def _criterion_of(label: str | None, criteria: Sequence[str]) -> str | None:
    if label is None:
        return None
    for name in criteria:
        if label in _ALIASES.get(name, (name,)):
            return name
    return None


def _from_leading_lines(lines: list[str], criteria: Sequence[str]) -> PairScores | None:
    head = lines[: len(criteria)]
    if len(head) < len(criteria):
        return None
    pairs = [_scores_on_line(line) for line in head]
    if any(p is None for p in pairs):
        return None
    labels = [_criterion_of(_label(line), criteria) for line in head]
    if len(criteria) > 1 and any(labels) and labels != list(criteria):
        return None  # labelled in another order: leave it to the labelled reading
    return PairScores(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))


def _from_labelled_lines(lines: list[str], criteria: Sequence[str]) -> PairScores | None:
    found: dict[str, tuple[float, float]] = {}
    for line in lines:
        name = _criterion_of(_label(line), criteria)
        if name and name not in found:
            pair = _scores_on_line(line)
            if pair is not None:
                found[name] = pair
    if len(found) != len(criteria):
        return None
    return PairScores(tuple(found[c][0] for c in criteria), tuple(found[c][1] for c in criteria))


def _from_assistant_lines(lines: list[str]) -> PairScores | None:
    found: dict[str, float] = {}
    for line in lines:
        match = _ASSISTANT_LINE.match(line)
        if match:
            found.setdefault(match.group(1), float(match.group(2)))
    if set(found) != {"1", "2"} or not _valid(list(found.values())):
        return None
    return PairScores((found["1"],), (found["2"],))


def _from_score_tuple(lines: list[str]) -> PairScores | None:
    for line in reversed(lines):
        match = _SCORE_TUPLE.search(line)
        if match:
            a, b = float(match.group(1)), float(match.group(2))
            return PairScores((a,), (b,)) if _valid((a, b)) else None
    return None


def parse_scores(reply: str | None, criteria: Sequence[str]) -> PairScores | None:
    """Scores of Assistant 1 and Assistant 2 per criterion, or None if the reply has none."""
    if not reply or not reply.strip():
        return None
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    result = _from_leading_lines(lines, criteria)
    if result is None and len(criteria) > 1:
        result = _from_labelled_lines(lines, criteria)
    if result is None and len(criteria) == 1:
        result = _from_assistant_lines(lines) or _from_score_tuple(lines)
    return result
