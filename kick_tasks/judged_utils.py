"""``!function`` helpers of LLM-KICK's two judged tasks: summarization and instruction following.

Jaiswal et al. (ICLR 2024) test compressed LLMs on in-context summarization of 90 CNN stories
(grouped small / mid / large by length) and on the 80 open "Vicuna-80" questions; a GPT-4 judge
scores each answer against a reference answer on a 1-10 scale (:mod:`kick_tasks.judge`).

How this fits lm-eval's flow:

1. ``custom_dataset`` (:func:`load_summarization`, :func:`load_instruction`) reads the local
   data folder, resolves the reference answers and the judge settings once, and stores them in
   every doc (the settings as JSON, without the API key);
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

References (``--metadata '{"reference": ...}'``):

* summarization: ``highlights`` (default): the CNN highlights of each story;
* instruction: ``gpt35`` (default): the gpt-3.5-turbo answers shipped with LLM-KICK;
* either: a path or glob of answer files, for instance the dense model's own answers, the
  more useful reference for compression: lm-eval ``--log_samples`` files of a dense run
  (``samples_kick_*.jsonl``; rows of other tasks are skipped) or JSON lines with
  ``question_id`` and ``text``.
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
    rubric_for,
)

log = logging.getLogger(__name__)

SUMMARIZATION = "kick_summarization"
CONVERSATION = "kick_conversation"
QUESTIONS = {
    SUMMARIZATION: "kick_summarization/questions.jsonl",
    CONVERSATION: "kick_conversation/questions.jsonl",
}
GPT35_ANSWERS = "kick_conversation/reference_answers_gpt35.jsonl"
NAMED_REFERENCES = {SUMMARIZATION: ("highlights",), CONVERSATION: ("gpt35",)}
LENGTH_GROUPS = ("small", "mid", "large")
HIGHLIGHT = "@highlight"
PROXIES = ("rouge1", "rouge2", "rougeL")


def _questions(task_set: str, metadata: dict[str, Any]) -> tuple[Path, list[dict[str, Any]]]:
    """The data folder and the question rows of ``task_set``; one-line errors otherwise."""
    relative = QUESTIONS[task_set]
    fmt = "JSON lines with question_id, text, category"
    folder = data.configured_data_dir(metadata)
    if folder is None:
        raise data.KickDataError(
            f"{task_set}: LLM-KICK's question set has no public hub dataset; set {data.ENV_VAR}=/path/to/data "
            f"or --metadata '{{\"{data.METADATA_KEY}\": \"/path/to/data\"}}' to a folder holding {relative} ({fmt})"
        )
    path = data.local_file(folder, relative, fmt=fmt)
    return folder, data.read_jsonl(path, ["question_id", "text", "category"])


def _split_highlights(text: str) -> tuple[str, list[str]]:
    """The story prompt without CNN's ``@highlight`` lines, and those highlights.

    LLM-KICK's question file concatenates each raw ``.story`` file, highlights included, so
    its prompts hand the model the reference summary; we cut them off the prompt.
    """
    story, *highlights = text.split(HIGHLIGHT)
    return story.rstrip(), [h.strip() for h in highlights if h.strip()]


def _answers_from_file(path: str, task_set: str) -> dict[int, str]:
    """Answers by question id from an answer file or an lm-eval ``--log_samples`` file."""
    answers: dict[int, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise data.KickDataError(f"reference file {path!r}: line {number} is not JSON ({err.msg})") from None
            if isinstance(row.get("doc"), dict) and "filtered_resps" in row:  # lm-eval samples
                if row["doc"].get("set") != task_set:
                    continue
                qid, text = row["doc"]["question_id"], row["filtered_resps"][0]
            elif "question_id" in row and "text" in row:
                qid, text = row["question_id"], row["text"]
            else:
                raise data.KickDataError(
                    f"reference file {path!r}: line {number} is neither an answer (question_id, text) nor "
                    "an lm-eval --log_samples row (doc, filtered_resps)"
                )
            answers[int(qid)] = str(text).strip()
    return answers


def _reference_answers(spec: str, task_set: str, folder: Path) -> dict[int, str]:
    """Answers by question id for a reference given as a path or glob (see module doc)."""
    if spec == "gpt35" and task_set == CONVERSATION:
        path = folder / GPT35_ANSWERS
        if not path.is_file():
            raise data.KickDataError(f"missing local data file {str(path)!r}: expected JSON lines with question_id, text")
        return {int(r["question_id"]): str(r["text"]).strip() for r in data.read_jsonl(path, ["question_id", "text"])}
    paths = sorted(glob.glob(str(Path(spec).expanduser())))
    if not paths:
        raise data.KickDataError(
            f"reference {spec!r} is neither {' nor '.join(map(repr, NAMED_REFERENCES[task_set]))} nor a "
            "path or glob that matches a file"
        )
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


def _judge_json(task: str, metadata: dict[str, Any]) -> str:
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


def _dataset(docs: list[dict[str, Any]], task: str, reference: str):
    import datasets

    missing = [d["question_id"] for d in docs if d["reference"] is None]
    if missing:
        log.warning(
            "%s: reference %r has no answer for %d of %d questions (ids %s...); scoring any of them fails",
            task, reference, len(missing), len(docs), missing[:5],
        )
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def load_summarization(length: str | None = None, **metadata):
    """``custom_dataset`` of ``kick_summarization_<length>``: that length group's stories."""
    if length not in LENGTH_GROUPS:
        raise data.KickDataError(f"kick_summarization: length {length!r} is not one of {list(LENGTH_GROUPS)}")
    task = f"{SUMMARIZATION}_{length}"
    folder, rows = _questions(SUMMARIZATION, metadata)
    reference = str(metadata.get("reference") or "highlights")
    answers = None if reference == "highlights" else _reference_answers(reference, SUMMARIZATION, folder)
    judge = _judge_json(task, metadata)
    docs = []
    for row in rows:
        if row["category"] not in LENGTH_GROUPS:
            raise data.KickDataError(
                f"{folder / QUESTIONS[SUMMARIZATION]}: question {row['question_id']} has category "
                f"{row['category']!r}, expected one of {list(LENGTH_GROUPS)}"
            )
        if row["category"] != length:
            continue
        prompt, highlights = _split_highlights(row["text"])
        qid = int(row["question_id"])
        ref = ("\n".join(h.rstrip(".") + "." for h in highlights) or None) if answers is None else answers.get(qid)
        docs.append({
            "set": SUMMARIZATION, "question_id": qid, "category": length, "rubric": "summary",
            "prompt": prompt, "reference": ref, "reference_name": reference, "judge": judge,
        })
    return _dataset(docs, task, reference)


def load_instruction(**metadata):
    """``custom_dataset`` of ``kick_instruction``: the 80 open questions in 9 categories."""
    folder, rows = _questions(CONVERSATION, metadata)
    reference = str(metadata.get("reference") or "gpt35")
    if reference == "highlights":
        raise data.KickDataError("kick_instruction: reference 'highlights' exists only for summarization; use 'gpt35' or a path")
    answers = _reference_answers(reference, CONVERSATION, folder)
    judge = _judge_json("kick_instruction", metadata)
    docs = [
        {
            "set": CONVERSATION, "question_id": int(r["question_id"]), "category": r["category"],
            "rubric": rubric_for(CONVERSATION, r["category"]), "prompt": r["text"],
            "reference": answers.get(int(r["question_id"])), "reference_name": reference, "judge": judge,
        }
        for r in rows
    ]
    return _dataset(docs, "kick_instruction", reference)


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
