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

import logging
import math
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

from .cache import JudgmentCache, judgment_key, open_cache
from .client import ChatClient, JudgeError, JudgeRequestRejected, JudgeUnavailableError, request_body
from .config import JudgeConfig
from .parsing import PairScores, parse_scores
from .prompts import RUBRICS, build_messages

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class _Request:
    key: str
    messages: list


def _orders(pair: Pair, both_orders: bool) -> list[tuple[bool, list]]:
    """(reference shown first?, messages) for each order asked."""
    forward = (True, build_messages(pair.rubric, pair.question, pair.reference, pair.candidate))
    if not both_orders:
        return [forward]
    return [forward, (False, build_messages(pair.rubric, pair.question, pair.candidate, pair.reference))]


def _key(config: JudgeConfig, messages: list) -> str:
    return judgment_key({"base_url": config.base_url, **request_body(config, messages)})


# Requests the endpoint refused (HTTP 400/413/422) in this process: not cached on disk (a
# later run may use a judge that accepts them), but not asked again by this process either.
_REJECTED: dict[str, str] = {}


def _fetch_missing(requests: dict[str, _Request], cache: JudgmentCache, config: JudgeConfig, progress: bool) -> None:
    """Ask the judge for every request neither cached nor already refused in this process."""
    missing = [r for r in requests.values() if cache.get(r.key) is None and r.key not in _REJECTED]
    if not missing:
        return
    log.info(
        "judge %s at %s: %d request(s), %d cached, %d to ask (concurrency %d)",
        config.model, config.base_url, len(requests), len(requests) - len(missing), len(missing), config.concurrency,
    )
    from tqdm.auto import tqdm

    stop = threading.Event()
    stopping = threading.Lock()
    failures: list[BaseException] = []  # the failure that stopped the run, not the calls it ended
    rejected: dict[str, str] = {}
    with ChatClient(config, stop=stop) as client, tqdm(
        total=len(missing), desc=f"judge {config.model}", unit="call", disable=not progress
    ) as bar:

        def ask(request: _Request) -> None:
            try:
                try:
                    reply = client.complete(request.messages)
                except JudgeRequestRejected as err:
                    rejected[request.key] = str(err)
                else:
                    cache.put(request.key, config.model, reply)
            except BaseException as err:
                # Stop here, in the failing worker: it takes the next queued request as soon as
                # this returns, before the waiting thread has even woken up.
                with stopping:
                    if not stop.is_set():
                        failures.append(err)
                        stop.set()
                raise
            bar.update(1)

        pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="kick-judge")
        futures = [pool.submit(ask, r) for r in missing]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:  # on a failure or Ctrl-C: end the retry loops, drop queued calls, keep the cache
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
    if failures:
        err = failures[0]
        if not isinstance(err, JudgeError):
            raise err
        stopped = "stayed unavailable" if isinstance(err, JudgeUnavailableError) else "refused the run"
        raise type(err)(
            f"{err}. The judge {stopped}; {len(cache)} judgment(s) are safe in {cache.path}: "
            "fix the endpoint and rerun the same command to resume without paying for them again"
        ) from None
    if rejected:
        _REJECTED.update(rejected)
        log.warning(
            "judge refused %d request(s), counted as invalid judgments; first: %s",
            len(rejected), next(iter(rejected.values())),
        )


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
    cache = open_cache(config.cache_path)
    plans, requests = [], {}
    for pair in pairs:
        plan = []
        for reference_first, messages in _orders(pair, config.both_orders):
            key = _key(config, messages)
            requests.setdefault(key, _Request(key, messages))
            plan.append((reference_first, key))
        plans.append((pair, plan))
    _fetch_missing(requests, cache, config, progress)
    verdicts, unreadable = [], []  # unreadable: one key per (pair, order), as judge_invalid counts them
    for pair, plan in plans:
        criteria = RUBRICS[pair.rubric].criteria
        readings = []
        for reference_first, key in plan:
            scores = None if key in _REJECTED else parse_scores(cache.get(key), criteria)
            if scores is None and key not in _REJECTED:
                unreadable.append(key)
            readings.append((reference_first, scores))
        verdicts.append(_combine(readings))
    # Per (pair, order), not per request: an identical reference and candidate, or a pair asked
    # twice, shares one request between several readings.
    if warn_unreadable:
        _warn_unreadable(unreadable, sum(len(plan) for _, plan in plans), cache)
    return verdicts


_WARNED: set[frozenset[str]] = set()


def _warn_unreadable(keys: list[str], total: int, cache: JudgmentCache) -> None:
    """Say once per batch how many of ``total`` judgments (pair x order) had no readable scores."""
    if not keys or frozenset(keys) in _WARNED:
        return
    _WARNED.add(frozenset(keys))
    example = " ".join((cache.get(keys[0]) or "").split())[:200]
    log.warning(
        "judge: %d of %d judgments (one per pair and order) hold no readable scores (counted in "
        "judge_invalid, left out of the scores); a weak judge or a changed reply format? First reply: %r",
        len(keys), total, example,
    )


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

