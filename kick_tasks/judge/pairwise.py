"""Judge (reference, candidate) pairs concurrently, cached, in both presentation orders.

LLM-KICK scores a compressed model's answer against a reference answer with a pairwise GPT-4
review on a 1-10 scale (Jaiswal et al., ICLR 2024). LLM judges favour one position (Zheng et
al., "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena", NeurIPS 2023: position bias), so
each pair is asked twice by default, once with the reference shown first and once with the
candidate first, and the two readings are averaged; how often the two orders disagree about
which answer is better is reported as a measure of that bias.

For pair *i* and criterion *c*, with valid orders *O_i* (1 or 2 of them)::

    ref_ic  = mean over o in O_i of the reference's score,   cand_ic likewise
    relative_c = sum_i cand_ic / sum_i ref_ic            (pairs with no valid order left out)

``relative`` over all criteria is the same ratio of the criterion-averaged scores. The paper's
own units are the absolute scores: :func:`mean_scores` gives ``(cand_ic, ref_ic)`` of one pair
(or the criterion averages), whose mean over pairs is what LLM-KICK plots. A pair whose every
reply is unparseable is left out of the ratios and of the means and counted, never scored as 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .asking import ask_all, warn_unreadable_replies
from .config import JudgeConfig
from .parsing import PairScores, parse_scores
from .prompts import RUBRICS, build_messages


@dataclass(frozen=True)
class Pair:
    """One comparison: the task text, the reference answer and the candidate's answer."""

    rubric: str
    question: str
    reference: str
    candidate: str


@dataclass(frozen=True)
class Verdict:
    """The judge's reading of one pair, averaged over the orders whose reply parsed."""

    reference: tuple[float, ...] | None
    candidate: tuple[float, ...] | None
    valid_orders: int
    invalid_orders: int
    orders_disagree: bool | None  # None unless both orders gave valid scores


def _orders(pair: Pair, both_orders: bool) -> list[tuple[bool, list]]:
    """(reference shown first?, messages) for each order asked."""
    forward = (True, build_messages(pair.rubric, pair.question, pair.reference, pair.candidate))
    if not both_orders:
        return [forward]
    return [forward, (False, build_messages(pair.rubric, pair.question, pair.candidate, pair.reference))]


def _mean(rows: list[tuple[float, ...]]) -> tuple[float, ...]:
    return tuple(sum(column) / len(rows) for column in zip(*rows, strict=True))


def _combine(readings: list[tuple[bool, PairScores | None]]) -> Verdict:
    ref_scores, cand_scores, preferences = [], [], []
    for reference_first, scores in readings:
        if scores is None:
            continue
        ref, cand = (scores.first, scores.second) if reference_first else (scores.second, scores.first)
        ref_scores.append(ref)
        cand_scores.append(cand)
        gap = sum(cand) - sum(ref)
        preferences.append((gap > 0) - (gap < 0))
    valid = len(ref_scores)
    if not valid:
        return Verdict(None, None, 0, len(readings), None)
    disagree = preferences[0] != preferences[1] if len(readings) == 2 and valid == 2 else None
    return Verdict(_mean(ref_scores), _mean(cand_scores), valid, len(readings) - valid, disagree)


def judge_pairs(
    pairs: Sequence[Pair], config: JudgeConfig, *, progress: bool = True, warn_unreadable: bool = True
) -> list[Verdict]:
    """One :class:`Verdict` per pair; judge calls run ``config.concurrency`` at a time.

    ``warn_unreadable=False`` skips the warning about unreadable replies, for a caller that
    re-reads, one pair at a time, a batch already judged (and warned about) as a whole.

    Raises :class:`JudgeUnavailableError` (or :class:`JudgeError` for a refused key or model)
    with every finished judgment already cached on disk.
    """
    plans, messages = [], []
    for pair in pairs:
        plan = []
        for reference_first, request in _orders(pair, config.both_orders):
            plan.append((reference_first, len(messages)))
            messages.append(request)
        plans.append((pair, plan))
    replies = ask_all(messages, config, progress=progress)
    verdicts, unreadable = [], []  # unreadable: one reply per (pair, order), as judge_invalid counts them
    for pair, plan in plans:
        criteria = RUBRICS[pair.rubric].criteria
        readings = []
        for reference_first, index in plan:
            reply = replies[index]
            scores = None if reply.rejected else parse_scores(reply.text, criteria)
            if scores is None and not reply.rejected:
                unreadable.append(reply)
            readings.append((reference_first, scores))
        verdicts.append(_combine(readings))
    # Per (pair, order), not per request: an identical reference and candidate, or a pair asked
    # twice, shares one request between several readings.
    if warn_unreadable:
        warn_unreadable_replies(unreadable, len(messages), "one per pair and order", "judge_invalid")
    return verdicts


def relative_score(verdicts: Sequence[Verdict], criterion: int | None = None) -> float:
    """Candidate's total over the reference's total (one criterion, or all averaged); NaN if none."""
    pick = (lambda s: s[criterion]) if criterion is not None else (lambda s: sum(s) / len(s))
    scored = [v for v in verdicts if v.reference is not None]
    reference = sum(pick(v.reference) for v in scored)
    if not scored or reference == 0:
        return math.nan
    return sum(pick(v.candidate) for v in scored) / reference


def mean_scores(verdict: Verdict, criterion: int | None = None) -> tuple[float, float] | None:
    """(candidate, reference) absolute 1-10 score of one pair: one criterion, or all averaged.

    None when no order of the pair gave readable scores (left out, never scored 0).
    """
    if verdict.reference is None:
        return None
    if criterion is not None:
        return verdict.candidate[criterion], verdict.reference[criterion]
    return sum(verdict.candidate) / len(verdict.candidate), sum(verdict.reference) / len(verdict.reference)


def invalid_count(verdicts: Sequence[Verdict]) -> int:
    """Judge replies that could not be read (or requests the endpoint refused)."""
    return sum(v.invalid_orders for v in verdicts)


def disagreement_rate(verdicts: Sequence[Verdict]) -> float:
    """Share of pairs, among those with both orders valid, whose two orders prefer differently."""
    both = [v.orders_disagree for v in verdicts if v.orders_disagree is not None]
    return sum(both) / len(both) if both else math.nan

