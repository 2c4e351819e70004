"""What LLM-KICK's two judged tasks share: summarization and instruction following.

Jaiswal et al. (ICLR 2024) test compressed LLMs on in-context summarization of 90 CNN stories
(grouped small / mid / large by length) and on the 80 open "Vicuna-80" questions; a GPT-4 judge
scores each answer against a reference answer on a 1-10 scale (:mod:`kick_tasks.judge`).

How this fits lm-eval's flow:

1. each task's ``custom_dataset`` (``load_summarization`` in ``summarization/utils.py``,
   ``load_instruction`` in ``instruction/utils.py``) reads the local data folder through
   :func:`read_questions`, resolves the reference answers (:func:`reference_answers`) and the
   judge settings (:func:`judge_json`) once, and stores them in every doc (the settings as
   JSON, without the API key);
2. the model answers with ``generate_until`` (greedy);
3. :func:`process_results` computes the ROUGE proxies per sample and hands each judged metric
   the sample's (task, reference, candidate) item, unjudged: judging one sample at a time
   there would be sequential;
4. the judged metrics' aggregations (:func:`judge_score_rel` and friends) receive the list of
   items and judge them all at once, concurrently, through the on-disk cache. Every judged
   metric of a task judges the same pairs: the first one pays, the others read the cache.

With no judge configured the judged metrics are not produced; the tasks report only the ROUGE
proxies (``rouge1_proxy`` ...: n-gram overlap with the reference answer, a much weaker signal)
and say once that the judged scores need an endpoint.

References (``--metadata '{"reference": ...}'``): each task has a named default (the CNN
highlights for summarization, the gpt-3.5-turbo answers for instruction; see its README), or
a path or glob of answer files, for instance the dense model's own answers, the more useful
reference for compression: lm-eval ``--log_samples`` files of a dense run
(``samples_kick_*.jsonl``; rows of other tasks are skipped) or JSON lines with ``question_id``
and ``text``.
"""

from __future__ import annotations

import glob
import json
import logging
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from kick_tasks import data
from kick_tasks.judge import (
    SUMMARY_CRITERIA,
    ChatClient,
    JudgeConfig,
    Pair,
    disagreement_rate,
    invalid_count,
    judge_config,
    judge_pairs,
    relative_score,
)

log = logging.getLogger(__name__)

PROXIES = ("rouge1", "rouge2", "rougeL")
QUESTIONS_FORMAT = "JSON lines with question_id, text, category"


def read_questions(task_set: str, relative: str, metadata: dict[str, Any]) -> tuple[Path, list[dict[str, Any]]]:
    """The data folder and the question rows of ``task_set`` in its file ``relative``.

    LLM-KICK's question sets have no public hub dataset: without a local data folder this is a
    one-line error naming the switch and the file.
    """
    folder = data.configured_data_dir(metadata)
    if folder is None:
        raise data.KickDataError(
            f"{task_set}: LLM-KICK's question set has no public hub dataset; set {data.ENV_VAR}=/path/to/data "
            f"or --metadata '{{\"{data.METADATA_KEY}\": \"/path/to/data\"}}' to a folder holding {relative} ({QUESTIONS_FORMAT})"
        )
    path = data.local_file(folder, relative, fmt=QUESTIONS_FORMAT)
    return folder, data.read_jsonl(path, ["question_id", "text", "category"], integers=["question_id"])


def _answers_from_file(path: str, task_set: str) -> dict[int, str]:
    """Answers by question id from an answer file or an lm-eval ``--log_samples`` file."""
    answers: dict[int, str] = {}
    text = data.read_text(Path(path), fmt="JSON lines of answers (question_id, text) or an lm-eval --log_samples file")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise data.KickDataError(f"reference file {path!r}: line {number} is not JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise data.KickDataError(f"reference file {path!r}: line {number} is a JSON {type(row).__name__}, not "
                                     "an object with question_id and text")
        if isinstance(row.get("doc"), dict) and "filtered_resps" in row:  # lm-eval samples
            if row["doc"].get("set") != task_set:
                continue
            qid, text = row["doc"].get("question_id"), row["filtered_resps"][0]
        elif "question_id" in row and "text" in row:
            qid, text = row["question_id"], row["text"]
        else:
            raise data.KickDataError(
                f"reference file {path!r}: line {number} is neither an answer (question_id, text) nor "
                "an lm-eval --log_samples row (doc, filtered_resps)"
            )
        if not data.is_integer(qid):
            raise data.KickDataError(f"reference file {path!r}: line {number} has question_id={qid!r}, not an "
                                     "integer; give the question ids of the question set")
        answers[int(qid)] = str(text).strip()
    return answers


def reference_answers(spec: str, task_set: str, named: str) -> dict[int, str]:
    """Answers by question id for a reference given as a path or glob (see module doc).

    ``named`` is the task's own named reference, for the error message when ``spec`` is
    neither it nor a path that matches a file.
    """
    paths = sorted(glob.glob(str(Path(spec).expanduser())))
    if not paths:
        raise data.KickDataError(f"reference {spec!r} is neither {named!r} nor a path or glob that matches a file")
    merged: dict[int, tuple[str, str]] = {}
    for path in paths:
        for qid, text in _answers_from_file(path, task_set).items():
            if qid in merged and merged[qid][0] != text:
                raise data.KickDataError(
                    f"reference files disagree on {task_set} question {qid}: {merged[qid][1]!r} and {path!r}; "
                    "pass one run's files"
                )
            merged[qid] = (text, path)
    if not merged:
        raise data.KickDataError(f"reference {spec!r}: no {task_set} answers in {paths}")
    return {qid: text for qid, (text, _) in merged.items()}


_told_no_judge = False


@cache
def _warn_if_unreachable(config: JudgeConfig) -> None:
    """Warn (once per endpoint) before generation when the judge does not answer at all."""
    with ChatClient(config) as client:
        problem = client.probe()
    if problem:
        log.warning(
            "judge endpoint %s does not answer now (%s); generation goes on, but judging at the end "
            "fails unless it is up by then", config.base_url, problem,
        )


def judge_json(task: str, metadata: dict[str, Any]) -> str:
    """The judge settings as JSON, or "" (with a one-time notice) when no judge is configured."""
    global _told_no_judge
    config = judge_config(metadata)
    if config is not None:
        _warn_if_unreachable(config)
        return config.to_json()
    if not _told_no_judge:
        log.warning(
            "%s (and any other judged kick task): no LLM judge configured, reporting ROUGE proxies "
            "only; the judged scores need an OpenAI-compatible endpoint (--metadata "
            "'{\"judge_base_url\": ..., \"judge_model\": ...}' or KICK_JUDGE_BASE_URL and KICK_JUDGE_MODEL)",
            task,
        )
        _told_no_judge = True
    return ""


def dataset(docs: list[dict[str, Any]], task: str, reference: str):
    """``custom_dataset``'s result: ``{"test": docs}``, warning of questions the reference lacks."""
    import datasets

    missing = [d["question_id"] for d in docs if d["reference"] is None]
    if missing:
        log.warning(
            "%s: reference %r has no answer for %d of %d questions (ids %s...); scoring any of them fails",
            task, reference, len(missing), len(docs), missing[:5],
        )
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


@lru_cache(maxsize=1)
def _rouge():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(PROXIES), use_stemmer=True)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """ROUGE proxies of one answer, and its judge item for each judged metric (see module doc)."""
    candidate = results[0].strip()
    if doc["reference"] is None:
        raise data.KickDataError(
            f"{doc['set']} question {doc['question_id']}: reference {doc['reference_name']!r} has no answer for it"
        )
    scores = _rouge().score(doc["reference"], candidate)
    out: dict[str, Any] = {f"{name}_proxy": scores[name].fmeasure for name in PROXIES}
    if doc["judge"]:
        item = {
            "rubric": doc["rubric"], "question": doc["prompt"], "reference": doc["reference"],
            "candidate": candidate, "judge": doc["judge"],
        }
        names = ["judge_score_rel", "judge_invalid"]
        if doc["rubric"] == "summary":
            names += [f"{c}_rel" for c in SUMMARY_CRITERIA]
        if JudgeConfig.from_json(doc["judge"]).both_orders:
            names.append("judge_order_disagree")
        out.update({name: item for name in names})
    return out


def _verdicts(items: list[dict[str, Any]]):
    configs = {item["judge"] for item in items}
    if len(configs) != 1:
        raise ValueError(f"one task's samples carry {len(configs)} different judge settings")
    pairs = [Pair(i["rubric"], i["question"], i["reference"], i["candidate"]) for i in items]
    return judge_pairs(pairs, JudgeConfig.from_json(configs.pop()))


def judge_score_rel(items: list[dict[str, Any]]) -> float:
    """Candidate's mean judge score over the reference's (all criteria averaged)."""
    return relative_score(_verdicts(items))


def judge_invalid(items: list[dict[str, Any]]) -> int:
    """How many judge replies could not be read (or were refused): left out, not zeroed."""
    return invalid_count(_verdicts(items))


def judge_order_disagree(items: list[dict[str, Any]]) -> float:
    """Share of pairs whose two presentation orders prefer different answers (position bias)."""
    return disagreement_rate(_verdicts(items))


def _criterion_rel(index: int) -> Callable[[list[dict[str, Any]]], float]:
    def aggregate(items: list[dict[str, Any]]) -> float:
        return relative_score(_verdicts(items), index)

    aggregate.__name__ = f"{SUMMARY_CRITERIA[index]}_rel"
    aggregate.__doc__ = f"Candidate's mean {SUMMARY_CRITERIA[index]} score over the reference's."
    return aggregate


coherence_rel, consistency_rel, fluency_rel, relevance_rel = (_criterion_rel(i) for i in range(len(SUMMARY_CRITERIA)))
