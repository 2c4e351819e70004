"""Ask the judge a batch of chat requests: each answered once, kept on disk, asked concurrently.

What every judged protocol shares (LLM-KICK's pairwise 1-10 review in :mod:`.pairwise`,
MT-Bench's single-answer ratings and A/B verdicts in :mod:`.mtbench`): a request is a list of
chat messages; its reply comes from the on-disk cache (:mod:`.cache`) when the same request
(endpoint, judge model, temperature, reply budget, messages) was answered before, and is
otherwise asked through :class:`~.client.ChatClient` (retries with back-off),
``config.concurrency`` requests at a time. A judge that stays down stops the batch with
every finished reply already cached, so the same command resumes for free.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

from .cache import JudgmentCache, judgment_key, open_cache
from .client import ChatClient, JudgeError, JudgeRequestRejected, JudgeUnavailableError, request_body
from .config import JudgeConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """The judge's reply to one request: its text, or ``rejected`` (HTTP 400/413/422, no text)."""

    key: str
    text: str | None

    @property
    def rejected(self) -> bool:
        return self.key in _REJECTED


@dataclass(frozen=True)
class _Request:
    key: str
    messages: list


def request_key(config: JudgeConfig, messages: list) -> str:
    """The cache key of ``messages`` asked of ``config``'s judge."""
    return judgment_key({"base_url": config.base_url, **request_body(config, messages)})


def ask_all(requests: Sequence[list], config: JudgeConfig, *, progress: bool = True) -> list[Reply]:
    """One :class:`Reply` per request (a list of chat messages), in order.

    Raises :class:`JudgeUnavailableError` (or :class:`JudgeError` for a refused key or model)
    with every finished reply already cached on disk.
    """
    cache = open_cache(config.cache_path)
    keys = [request_key(config, messages) for messages in requests]
    unique: dict[str, _Request] = {}
    for key, messages in zip(keys, requests, strict=True):
        unique.setdefault(key, _Request(key, messages))
    _fetch_missing(unique, cache, config, progress)
    return [Reply(key, None if key in _REJECTED else cache.get(key)) for key in keys]


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




_WARNED: set[frozenset[str]] = set()


def warn_unreadable_replies(replies: list[Reply], total: int, unit: str, counted_in: str) -> None:
    """Say once per batch how many of ``total`` judgments (``unit``: what one judgment is) held
    nothing readable (counted in the metric ``counted_in``), with the first such reply."""
    keys = frozenset(reply.key for reply in replies)
    if not keys or keys in _WARNED:
        return
    _WARNED.add(keys)
    example = " ".join((replies[0].text or "").split())[:200]
    log.warning(
        "judge: %d of %d judgments (%s) hold no readable scores (counted in %s, left out of the scores); "
        "a weak judge or a changed reply format? First reply: %r",
        len(replies), total, unit, counted_in, example,
    )
