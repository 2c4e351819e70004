"""Read the two assistants' scores out of a judge's free-text reply.

The prompts ask for the scores on the first line(s), in the reference's format (LLM-KICK's
``gpt4_judge.py`` reads ``"8 7"`` per line). Real judges drift from it: GPT-4 replies in the
reference's own logs write ``8.5/10 for Assistant 1, 6/10 for Assistant 2.``, put a score
line per assistant (``Assistant 1: 10/10``) or end with a tuple ``(10, 4)``; the reference
parser turned all of those into ``-1`` and dropped them. This parser accepts, in order:

1. the requested layout: the first non-empty line (or, with several criteria, the first
   ``len(criteria)`` lines) each a score line holding both assistants' scores;
2. with several criteria, score lines that start with a criterion's name, in any order;
3. with one criterion, score lines anywhere that give Assistant 1 and Assistant 2 a score
   (one line for both, or a line each: ``Assistant 1: 10/10``; the first score of each
   assistant counts), or else the last ``(a, b)`` tuple on a line that holds nothing else
   or that speaks of scores (``So the final scores are (9, 2).``).

A score line has one of two shapes; anything else on the line makes it prose, not scores:

* bare: exactly two numbers, Assistant 1's first, with nothing but a leading label
  (``Coherence:``), ``/10`` or ``out of 10`` after a score, the words "and", "vs",
  "versus", "respectively", "score(s)" and punctuation (``8 7``, ``(10, 1)``,
  ``10/10 and 7/10``, ``Relevance: 8/10 6/10``; ``7/8`` or ``85%`` is no score);
* per assistant: every number tied to its assistant, in any order, either after it
  (``Assistant 2: 7, Assistant 1: 9``; ``Assistant 1 receives 8/10``; ``I would score
  Assistant 1 a 6``) or before it with "for", "to" or a parenthesis (``8.5/10 for
  Assistant 1``); besides a leading criterion label, the rest of the line is only linking
  words (``and``, ``while``, ``I would score``, ``The final scores are``, ...). A tie made
  with a verb or an article (``gets``, ``receives``, ``a 6``) counts only on a line that
  also says score, rate, grade, give, award or assign, or writes ``/10``: in a maths review,
  ``Assistant 1 gets 5, Assistant 2 gets 7.`` reports answers, not scores.

Scores must lie in [0, 10] (the prompts ask for 1-10; a 0 for an empty answer is still a
judgment); a score line or tuple with a number outside it (``-1 -1``, ``12 9``) makes the
whole reply invalid. Invalid replies return None: the caller records the reply as invalid
and counts it; it never becomes a score of zero.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# A number with its sign, never a piece of a word, a date or a version ("4x", "1.2.3", "8-7").
_NUMBER = r"(?<![\w.\-−])[-−]?\d+(?:\.\d+)?(?!\w|\.\d)"
_OF_TEN = r"\s*(?:/|out\s+of)\s*10(?:\.0+)?(?!\w|\.\d)"
_SCORE = rf"(?P<value>{_NUMBER})(?P<of_ten>{_OF_TEN})?"
_SCORES = re.compile(_SCORE, re.IGNORECASE)
_WHO = r"\bassistant\s*(?P<who>[12])(?:['’]s)?\b"
# Words a judge puts between an assistant and its score; the first group only ties on a line
# that speaks of scores (see the module docstring).
_VERB_TIES = ("gets", "get", "receives", "receive", "earns", "earn", "deserves", "deserve", "is", "was", "a", "an",
              "with", "of", "given")
_SCORE_TIES = ("scores", "score", "scored", "rated", "rating")
_AFTER = re.compile(
    rf"{_WHO}(?P<tie>(?:[\s:=(*\-–—]|\b(?:{'|'.join(_VERB_TIES + _SCORE_TIES)})\b)*?){_SCORE}", re.IGNORECASE
)
_BEFORE = re.compile(rf"{_SCORE}(?P<tie>\s+(?:for|to)\s+|\s*\(\s*){_WHO}", re.IGNORECASE)
_SPEAKS_OF_SCORES = re.compile(
    r"\b(?:scores?|scored|scoring|rate|rated|rating|ratings|grades?|graded|give|award|assign)\b", re.IGNORECASE
)
_LABEL = re.compile(r"^\W*([A-Za-z][A-Za-z ]*?)[\s*_]*[:\-–]\s*")
_TOKEN = re.compile(r"[A-Za-z'’]+|\d+|\S")
_PUNCTUATION = set(",;:.!?()[]{}*_#|=~\"'`-–—")
_BARE_WORDS = {"and", "vs", "versus", "respectively", "score", "scores"}
_LINKING_WORDS = _BARE_WORDS | {
    "while", "whereas", "but", "i", "i'd", "i’d", "would", "will", "give", "rate", "assign", "award", "the", "my",
    "final", "overall", "are", "is", "as", "follows", "so", "here", "thus", "therefore",
}
_TUPLE = rf"\(\s*(?P<first>{_NUMBER})(?:{_OF_TEN})?\s*,\s*(?P<second>{_NUMBER})(?:{_OF_TEN})?\s*\)"
_SCORE_TUPLE = re.compile(rf"\bscores?\b.*{_TUPLE}", re.IGNORECASE)
_BARE_TUPLE = re.compile(rf"^[\s*_#>.:\-–—]*{_TUPLE}[\s*_.!]*$")
# Criterion names as judges write them (the reference's own key is "consistent").
_ALIASES = {"consistency": ("consistency", "consistent"), "coherence": ("coherence", "coherent")}


class _InvalidReply(Exception):
    """A score line whose numbers cannot be scores: the reply is invalid, not read elsewhere."""


@dataclass(frozen=True)
class PairScores:
    """Scores per criterion for the answer shown first and the answer shown second."""

    first: tuple[float, ...]
    second: tuple[float, ...]


def _value(text: str) -> float:
    value = float(text.replace("−", "-"))
    if not 0.0 <= value <= 10.0:
        raise _InvalidReply
    return value


def _only(text: str, words: set[str]) -> bool:
    """Whether ``text`` holds nothing but punctuation and ``words``."""
    return all(t in _PUNCTUATION or t.lower() in words for t in _TOKEN.findall(text))


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


def _bare(line: str) -> dict[str, float] | None:
    """Both scores of a bare score line (``Coherence: 8/10 7/10``), or None if it is not one."""
    text = _LABEL.sub("", line, count=1)
    values = [m["value"] for m in _SCORES.finditer(text)]
    if len(values) != 2 or not _only(_SCORES.sub(" ", text), _BARE_WORDS):
        return None
    return {"1": _value(values[0]), "2": _value(values[1])}


def _per_assistant(line: str, criteria: Sequence[str]) -> dict[str, float] | None:
    """The scores a line ties to named assistants (one or both), or None if it is not such a line."""
    if _criterion_of(_label(line), criteria):
        line = _LABEL.sub("", line, count=1)
    ties = [(m.span(), m.span("value"), m) for pattern in (_AFTER, _BEFORE) for m in pattern.finditer(line)]
    if not ties:
        return None
    numbers = sorted(number for _, number, _ in ties)
    if any(a[1] > b[0] for a, b in zip(numbers, numbers[1:])):
        return None  # one number tied to both assistants ("Assistant 1: 6/10 for Assistant 2")
    rest, end = [], 0
    for (start, stop), _, _ in sorted(ties, key=lambda t: t[0]):
        if start < end:
            return None
        rest.append(line[end:start])
        end = stop
    rest.append(line[end:])
    if not _only(" ".join(rest), _LINKING_WORDS):
        return None
    verb_tied = any(set(re.findall(r"[a-z]+", m["tie"].lower())) & set(_VERB_TIES) for _, _, m in ties)
    if verb_tied and not (_SPEAKS_OF_SCORES.search(line) or any(m["of_ten"] for _, _, m in ties)):
        return None
    found: dict[str, float] = {}
    for _, _, m in ties:
        if m["who"] in found:
            return None  # the same assistant scored twice on one line: no reading is safe
        found[m["who"]] = _value(m["value"])
    return found


def _score_line(line: str, criteria: Sequence[str]) -> tuple[float, float] | None:
    """(Assistant 1's score, Assistant 2's score) of a score line holding both, else None."""
    found = _bare(line) or _per_assistant(line, criteria) or {}
    return (found["1"], found["2"]) if len(found) == 2 else None


def _from_leading_lines(lines: list[str], criteria: Sequence[str]) -> PairScores | None:
    head = lines[: len(criteria)]
    if len(head) < len(criteria):
        return None
    pairs = [_score_line(line, criteria) for line in head]
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
            pair = _score_line(line, criteria)
            if pair is not None:
                found[name] = pair
    if len(found) != len(criteria):
        return None
    return PairScores(tuple(found[c][0] for c in criteria), tuple(found[c][1] for c in criteria))


def _from_assistant_lines(lines: list[str], criteria: Sequence[str]) -> PairScores | None:
    found: dict[str, float] = {}
    for line in lines:
        for who, score in (_per_assistant(line, criteria) or {}).items():
            found.setdefault(who, score)
        if len(found) == 2:
            return PairScores((found["1"],), (found["2"],))
    return None


def _from_score_tuple(lines: list[str]) -> PairScores | None:
    for line in reversed(lines):
        match = _BARE_TUPLE.match(line) or _SCORE_TUPLE.search(line)
        if match:
            return PairScores((_value(match["first"]),), (_value(match["second"]),))
    return None


def parse_scores(reply: str | None, criteria: Sequence[str]) -> PairScores | None:
    """Scores of Assistant 1 and Assistant 2 per criterion, or None if the reply has none."""
    if not reply or not reply.strip():
        return None
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    try:
        result = _from_leading_lines(lines, criteria)
        if result is None and len(criteria) > 1:
            result = _from_labelled_lines(lines, criteria)
        if result is None and len(criteria) == 1:
            result = _from_assistant_lines(lines, criteria) or _from_score_tuple(lines)
    except _InvalidReply:
        return None
    return result
