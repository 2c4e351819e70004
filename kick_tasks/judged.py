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
2. the model answers with ``generate_until``;
3. :class:`JudgedTask` judges every (reference, candidate) pair of the task at once,
   concurrently, through the on-disk cache, right after lm-eval's filters and before it scores
   the samples one by one (judging one sample at a time would be sequential);
4. :func:`process_results` computes the ROUGE proxies per sample and reads the sample's
   judgment back from the cache: the absolute 1-10 scores of the candidate and of the
   reference (the paper's units: ``judge_score``, ``judge_score_ref`` and, for summaries,
   ``<criterion>_score`` and ``<criterion>_score_ref``) are per-sample values that lm-eval
   averages with its own ``mean``, standard error included; a sample whose judgment is
   unreadable has none (left out, never 0). It also hands each ratio metric the sample's
   (task, reference, candidate) item;
5. the ratio metrics' aggregations (:func:`judge_score_rel` and friends) receive the list of
   items and read their judgments from the cache (they judge whatever is missing, should the
   task run without :class:`JudgedTask`).

Instruction following also reports ``unique_tokens`` (and ``unique_tokens_ref`` for the
reference answer): see :func:`unique_tokens`.

With no judge configured the judged metrics are not produced; the tasks report only the ROUGE
proxies (``rouge1_proxy`` ...: n-gram overlap with the reference answer, a much weaker signal)
and say once that the judged scores need an endpoint.

Protocols (the loaders' ``protocol`` argument, set by each task's YAML): ``kick`` (ours: our
judge prompts, both presentation orders, judge temperature as configured) and ``reference``
(the ``kick_reference_*`` tasks: the reference code's judge prompts, its judge temperature,
one order with the reference answer as Assistant 1, and a 1,024-token reply budget); see
:func:`judge_json`. Either protocol can wrap the model's prompt in a FastChat conversation
template (``--metadata '{"fastchat_template": "vicuna_v1.1"}'``, :func:`model_input`), as the
reference code prompts its Vicuna models, for models without a chat template of their own.

References (``--metadata '{"reference": ...}'``): each task has a named default (the CNN
highlights for summarization, the gpt-3.5-turbo answers for instruction; see its README), or
a path or glob of answer files, for instance the dense model's own answers, the more useful
reference for compression: lm-eval ``--log_samples`` files of a dense run
(``samples_kick_*.jsonl``; rows of other tasks are skipped) or JSON lines with ``question_id``
and ``text``.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import re
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from lm_eval.api.task import ConfigurableTask

from kick_tasks import data
from kick_tasks.judge import (
    RUBRICS,
    SUMMARY_CRITERIA,
    ChatClient,
    JudgeConfig,
    Pair,
    disagreement_rate,
    invalid_count,
    judge_config,
    judge_pairs,
    mean_scores,
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
    rows = data.json_objects(text, lambda what: data.KickDataError(
        f"reference file {path!r}: {what}; expected answers with question_id and text, or lm-eval --log_samples rows"))
    for number, row in rows:
        if isinstance(row.get("doc"), dict) and "filtered_resps" in row:  # lm-eval samples
            if row["doc"].get("set") != task_set:
                continue
            qid, answer = row["doc"].get("question_id"), row["filtered_resps"][0]
        elif "question_id" in row and "text" in row:
            qid, answer = row["question_id"], row["text"]
        else:
            raise data.KickDataError(
                f"reference file {path!r}: line {number} is neither an answer (question_id, text) nor "
                "an lm-eval --log_samples row (doc, filtered_resps)"
            )
        if not data.is_integer(qid):
            raise data.KickDataError(f"reference file {path!r}: line {number} has question_id={qid!r}, not an "
                                     "integer; give the question ids of the question set")
        answers[int(qid)] = str(answer).strip()
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


PROTOCOLS = ("kick", "reference")
REFERENCE_JUDGE_MAX_TOKENS = 1024  # the reference judge scripts' --max-tokens default
FASTCHAT_TEMPLATE = "fastchat_template"
FASTCHAT_INSTALL = "pip install 'llm-kick[fastchat]' (or: pip install --no-deps fschat==0.2.36)"


def check_protocol(task: str, protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise data.KickDataError(f"{task}: protocol {protocol!r} is not one of {list(PROTOCOLS)}")
    return protocol


def judge_json(task: str, metadata: dict[str, Any], reference_temperature: float | None = None) -> str:
    """The judge settings as JSON, or "" (with a one-time notice) when no judge is configured.

    With ``reference_temperature`` (the ``reference`` protocol) the reference judge scripts'
    own settings replace ``judge_temperature``, ``judge_both_orders`` and ``judge_max_tokens``:
    that temperature, one order, 1,024 reply tokens. They are the protocol, not defaults.
    """
    global _told_no_judge
    config = judge_config(metadata)
    if config is not None:
        if reference_temperature is not None:
            config = dataclasses.replace(
                config, temperature=reference_temperature, both_orders=False, max_tokens=REFERENCE_JUDGE_MAX_TOKENS
            )
        _warn_if_unreachable(config)
        return config.to_json()
    if not _told_no_judge:
        log.warning(
            "%s (and any other judged kick task): no LLM judge configured, reporting only what needs "
            "no judge (ROUGE proxies; MT-Bench: unique tokens); the judged scores need an OpenAI-compatible endpoint (--metadata "
            "'{\"judge_base_url\": ..., \"judge_model\": ...}' or KICK_JUDGE_BASE_URL and KICK_JUDGE_MODEL)",
            task,
        )
        _told_no_judge = True
    return ""


def model_input(prompt: str, metadata: dict[str, Any]) -> str:
    """The text the model is given: ``prompt`` alone, or wrapped in the FastChat conversation
    template named by ``--metadata fastchat_template`` (e.g. ``vicuna_v1.1``).

    The reference code prompts its models through FastChat (``get_conversation_template``:
    the system line, ``USER: {prompt} ASSISTANT:`` for Vicuna v1.1). The templates are taken
    from FastChat itself, imported only when asked for; without it this is a one-line error
    naming the install. Do not combine with ``--apply_chat_template``, which would wrap the
    result a second time.
    """
    name = metadata.get(FASTCHAT_TEMPLATE)
    if not name:
        return prompt
    try:
        from fastchat.conversation import conv_templates, get_conv_template
    except ImportError:
        raise ImportError(f"{FASTCHAT_TEMPLATE}={name!r} needs FastChat: {FASTCHAT_INSTALL}") from None
    if name not in conv_templates:
        raise data.KickDataError(
            f"{FASTCHAT_TEMPLATE}={name!r} is not a FastChat conversation template; e.g. 'vicuna_v1.1' "
            f"(known: {len(conv_templates)}, see fastchat.conversation)"
        )
    conversation = get_conv_template(name)
    conversation.append_message(conversation.roles[0], prompt)
    conversation.append_message(conversation.roles[1], None)
    return conversation.get_prompt()


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


_WORD = re.compile(r"\w+")


def unique_tokens(text: str) -> int:
    """Distinct word tokens of one answer: maximal runs of Unicode letters, digits and ``_``
    (the regex ``\\w+``) after lower-casing; punctuation and white space are no tokens.

    LLM-KICK's Fig. 6c counts the unique tokens of the instruction-following answers to show
    that compressed models' answers grow repetitive; its reference code holds no counting
    script, so the tokenisation is ours. The model's tokenizer is not available to a metric
    (and would make counts incomparable across model families), hence word tokens.
    """
    return len(set(_WORD.findall(text.lower())))


def _scores_summary(rubric: str) -> bool:
    """Whether ``rubric`` scores the four summary criteria (ours or the reference's wording)."""
    return RUBRICS[rubric].criteria == SUMMARY_CRITERIA


def _judge_item(doc: dict[str, Any], candidate: str) -> dict[str, Any]:
    return {
        "rubric": doc["rubric"], "question": doc["prompt"], "reference": doc["reference"],
        "candidate": candidate, "judge": doc["judge"],
    }


def _absolute_scores(item: dict[str, Any]) -> dict[str, float]:
    """The sample's absolute judge scores, or nothing when its judgment is unreadable."""
    (verdict,) = _verdicts([item], warn_unreadable=False)
    overall = mean_scores(verdict)
    if overall is None:
        return {}
    out = {"judge_score": overall[0], "judge_score_ref": overall[1]}
    if _scores_summary(item["rubric"]):
        for index, criterion in enumerate(SUMMARY_CRITERIA):
            out[f"{criterion}_score"], out[f"{criterion}_score_ref"] = mean_scores(verdict, index)
    return out


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """ROUGE proxies, unique tokens and judge scores of one answer, and its judge item for each
    ratio metric (see module doc)."""
    candidate = results[0].strip()
    if doc["reference"] is None:
        raise data.KickDataError(
            f"{doc['set']} question {doc['question_id']}: reference {doc['reference_name']!r} has no answer for it"
        )
    scores = _rouge().score(doc["reference"], candidate)
    out: dict[str, Any] = {f"{name}_proxy": scores[name].fmeasure for name in PROXIES}
    summary = _scores_summary(doc["rubric"])
    if not summary:
        out.update(unique_tokens=unique_tokens(candidate), unique_tokens_ref=unique_tokens(doc["reference"]))
    if doc["judge"]:
        item = _judge_item(doc, candidate)
        names = ["judge_score_rel", "judge_invalid"]
        if summary:
            names += [f"{c}_rel" for c in SUMMARY_CRITERIA]
        if JudgeConfig.from_json(doc["judge"]).both_orders:
            names.append("judge_order_disagree")
        out.update({name: item for name in names})
        out.update(_absolute_scores(item))
    return out


class JudgedTask(ConfigurableTask):
    """lm-eval's generation task that judges all of its answers at once, before scoring.

    lm-eval scores samples one at a time (``process_results``) right after applying the
    filters; judging there would send one request at a time. Judging every pair here, in one
    concurrent batch, fills the cache that ``process_results`` then reads per sample.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        # lm-eval hands Python tasks their whole YAML, including the `class` key itself.
        super().__init__(config={key: value for key, value in config.items() if key != "class"})

    def apply_filters(self):
        filtered = super().apply_filters()
        if not callable(self.config.process_results):  # --predict_only: lm-eval replaced our scoring
            return filtered
        items = [
            _judge_item(instance.doc, response.strip())
            for instance in self.instances
            if instance.doc["judge"] and instance.doc["reference"] is not None
            for response in instance.filtered_resps.values()
        ]
        if items:
            _verdicts(items)
        return filtered


def _verdicts(items: list[dict[str, Any]], warn_unreadable: bool = True):
    configs = {item["judge"] for item in items}
    if len(configs) != 1:
        raise ValueError(f"one task's samples carry {len(configs)} different judge settings")
    pairs = [Pair(i["rubric"], i["question"], i["reference"], i["candidate"]) for i in items]
    return judge_pairs(
        pairs, JudgeConfig.from_json(configs.pop()), progress=warn_unreadable, warn_unreadable=warn_unreadable
    )


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
