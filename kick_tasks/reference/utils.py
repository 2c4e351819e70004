"""``kick_reference_*``: the LLM-KICK reference code's protocols, bugs included.

Jaiswal et al., "Compressing LLMs: The Truth is Rarely Pure and Never Simple" (ICLR 2024);
reference code VITA-Group/llm-kick. These tasks reproduce what the reference scripts score,
so that numbers can be set beside the paper's; the ``kick_*`` tasks are the sound versions.
Every departure of the reference from a sound protocol is kept on purpose and listed in
``kick_tasks/reference/README.md`` ("reference code, bugs included").

* ``kick_reference_factoid_qa`` (``factoid_qa/main_freebase.py``): FreebaseQA *train* in file
  order, its first 1,001 questions (``if num_example > args.num_examples: break`` with the
  default 1,000); gold = ``Parses[0].Answers[0].AnswersName`` only; a hit when a gold name,
  lower-cased with spaces removed, occurs in the decoded *prompt + generation*; a budget of
  ``3 x len(tokenizer(prompt).input_ids)`` tokens in total, i.e. twice the prompt in new
  tokens; the printed accuracy divides the hits by one less than the questions scored.
* ``kick_reference_icrqa_closed`` / ``_open`` (``incontext_qa/main_icrqa.py``): TriviaQA rc
  validation in order; gold = ``answer.normalized_aliases``; the prediction is the text after
  the prompt's instruction block, cut at any repeat of it, stripped, first line; "exact match"
  is two-way containment of the normalised strings, so an empty prediction (or an alias that
  normalises to nothing) scores 1.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, Sequence

from lm_eval.api.instance import Instance
from lm_eval.api.metrics import metric_max_over_ground_truths
from lm_eval.api.task import ConfigurableTask

from kick_tasks import data
from kick_tasks.factoid_qa import utils as factoid_qa
from kick_tasks.icrqa import utils as icrqa
from kick_tasks.tokens import load_tokenizer
from kick_tasks.utils import first_line, normalize_answer, squashed_containment, token_f1

# ----------------------------------------------------------------------------- factoid QA

FREEBASE_SPLIT = "train"  # the reference reads ./datasets/freebase/FreebaseQA-train.json
FREEBASE_LOCAL_FILE = "freebaseqa/FreebaseQA-train.json"
FREEBASE_QUESTIONS = 1001  # `--num_examples 1000` and `if num_example > num_examples: break`
FREEBASE_PROMPT = "Please give answer to this question: {question}\nThe answer is "
BUDGET_FACTOR = 3  # generate(max_length=3 * prompt tokens): prompt + 2x the prompt in new tokens


def load_freebaseqa_train(**metadata: Any):
    """``custom_dataset``: the first 1,001 FreebaseQA-train questions in file order."""
    import datasets

    def from_local(folder):
        return datasets.DatasetDict({FREEBASE_SPLIT: datasets.Dataset.from_list(read_freebase_train(folder))})

    def from_hub():
        # The hub builder yields FreebaseQA-train.json in file order, like the reference's loop.
        hub = data.load_hub(factoid_qa.HUB_ID, split=FREEBASE_SPLIT)
        hub = hub.select(range(min(FREEBASE_QUESTIONS, len(hub))))
        return datasets.DatasetDict(
            {FREEBASE_SPLIT: hub.map(freebase_doc, remove_columns=hub.column_names, desc="FreebaseQA train")}
        )

    return data.local_or_hub(metadata, from_local, from_hub)


def read_freebase_train(folder) -> list[dict[str, Any]]:
    """The first 1,001 documents of ``folder/freebaseqa/FreebaseQA-train.json``, checked."""
    return factoid_qa.read_local(folder, FREEBASE_LOCAL_FILE, freebase_doc, FREEBASE_QUESTIONS)


def freebase_doc(question: dict[str, Any]) -> dict[str, Any]:
    """One FreebaseQA record (official JSON or hub row) with the reference's gold answers."""
    if not isinstance(question["RawQuestion"], str):
        raise TypeError("'RawQuestion' must be a string")
    return {
        "question_id": question["Question-ID"],
        "question": question["RawQuestion"],
        "answers": first_answer_names(question["Parses"]),
    }


def first_answer_names(parses) -> list[str]:
    """``Parses[0]["Answers"][0]["AnswersName"]``: the reference's gold (``freebase_qa.py``).

    Hub rows hold ``Parses`` in datasets' column form, ``{"Answers": [{"AnswersName": [[...]]}]}``.
    """
    if isinstance(parses, dict):
        names = parses["Answers"][0]["AnswersName"][0]
    else:
        names = parses[0]["Answers"][0]["AnswersName"]
    if not (isinstance(names, list) and all(isinstance(name, str) for name in names)):
        raise TypeError("'AnswersName' must be a list of strings")
    return list(names)


def freebase_prompt(doc: dict[str, Any]) -> str:
    return FREEBASE_PROMPT.format(question=doc["question"])


class ReferenceFreebaseTask(ConfigurableTask):
    """lm-eval's generation task with the reference's per-question budget.

    lm-eval gives every request of a task the same ``generation_kwargs``; the reference's
    budget depends on the prompt's length in the model's tokens, so each request's
    ``max_gen_toks`` is set here to ``(3 - 1) x len(tokenizer(prompt).input_ids)`` (BOS counted,
    as the reference counts it). HFLM groups requests by their generation arguments, so each
    batch shares one budget. The budget is the protocol: ``--gen_kwargs max_gen_toks`` does not
    change it.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        # lm-eval hands Python tasks their whole YAML, including the `class` key itself.
        super().__init__(config={key: value for key, value in config.items() if key != "class"})

    @functools.cached_property
    def count_tokens(self) -> Callable[[str], int]:
        return reference_token_counter(self.config.metadata or {})

    def construct_requests(self, doc: dict, ctx: str, **kwargs: Any) -> list[Instance] | Instance:
        request = super().construct_requests(doc, ctx, **kwargs)
        for instance in request if isinstance(request, list) else [request]:
            context, generation_kwargs = instance.arguments
            instance.arguments = (
                context,
                {**generation_kwargs, "max_gen_toks": new_token_budget(self.count_tokens(freebase_prompt(doc)))},
            )
        return request


def new_token_budget(prompt_tokens: int) -> int:
    """New tokens the reference allows: ``max_length = 3 x prompt`` less the prompt itself."""
    return (BUDGET_FACTOR - 1) * prompt_tokens


def reference_token_counter(metadata: dict[str, Any]) -> Callable[[str], int]:
    """``len(tokenizer(text).input_ids)`` with the model's tokenizer, special tokens included.

    The tokenizer is ``metadata["tokenizer"]`` or else ``metadata["pretrained"]`` (lm-eval
    copies ``--model_args`` into the task metadata): a name, a folder or a tokenizer object.
    No fallback: the budget is part of the protocol being reproduced.
    """
    source = metadata.get("tokenizer") or metadata.get("pretrained")
    if isinstance(source, (str, os.PathLike)):
        tokenizer = load_tokenizer(str(source), metadata.get("revision"),
                                   metadata.get("trust_remote_code") is True, "kick_reference_factoid_qa")
    elif callable(source) and hasattr(source, "encode"):
        tokenizer = source
    else:
        raise ValueError(
            "kick_reference_factoid_qa sizes each question's budget in the model's tokens but no "
            f"tokenizer is named (got {source!r}); pass --model_args pretrained=... or "
            '--metadata \'{"tokenizer": "<name or folder>"}\''
        )
    return lambda text: len(tokenizer(text)["input_ids"])


def freebase_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """``contains`` and ``accuracy``: the reference's ``validate_response`` hit (both).

    The reference decodes prompt + generation together; lm-eval returns the generation, so the
    prompt text is put back in front. The match drops every space before comparing, so the
    spaces a joint decode adds or drops at the seam cannot change a hit, and the decoded prompt
    is the prompt text for the byte-level and SentencePiece tokenizers of the models used.
    No gold name is skipped: an empty one is a substring of everything, as in the reference.
    """
    (generation,) = results
    hit = metric_max_over_ground_truths(squashed_containment, freebase_prompt(doc) + generation, doc["answers"])
    return {"contains": float(hit), "accuracy": float(hit)}


def accuracy_over_one_less(hits: Sequence[float]) -> float:
    """The reference's printed accuracy: hits over ``num_examples``, one less than it scored.

    Its loop breaks only once ``num_example > num_examples``, so it scores ``num_examples + 1``
    questions and divides by ``num_examples``: 1,001 and 1,000 by default; ``--limit 11``
    reproduces a ``--num_examples 10`` run of its scripts.
    """
    if len(hits) < 2:
        raise ValueError(
            f"kick_reference_factoid_qa accuracy divides by the questions scored less one; {len(hits)} "
            "scored (the reference divides by zero there): use --limit 2 or more"
        )
    return sum(hits) / (len(hits) - 1)


# ----------------------------------------------------------------------------- ICR-QA


def load_triviaqa_reference(**metadata: Any):
    """``custom_dataset``: TriviaQA rc validation with ``normalized_aliases`` as the gold.

    From the hub: the rows' own ``answer.normalized_aliases``. From the local file (which
    holds ``answer_aliases``): each alias put through TriviaQA's normalisation, which is how
    the dataset's ``normalized_aliases`` were made; scoring normalises the gold again anyway.
    """
    import datasets

    def from_local(folder):
        path = data.local_file(
            folder, icrqa.LOCAL_FILE, fmt=f"JSON lines with fields {list(icrqa.FIELDS)}", hub_id=icrqa.HUB_ID
        )
        rows = [icrqa.checked(row, n, path) for n, row in enumerate(data.read_jsonl(path, icrqa.FIELDS, hub_id=icrqa.HUB_ID), 1)]
        docs = [
            {**row, "normalized_aliases": list(dict.fromkeys(map(normalize_answer, row["answer_aliases"])))}
            for row in rows
        ]
        return datasets.DatasetDict({icrqa.SPLIT: datasets.Dataset.from_list(docs)})

    def from_hub():
        hub = data.load_hub(icrqa.HUB_ID, icrqa.HUB_CONFIG, split=icrqa.SPLIT)
        return datasets.DatasetDict(
            {icrqa.SPLIT: hub.map(triviaqa_doc, remove_columns=hub.column_names, desc="TriviaQA rc")}
        )

    return data.local_or_hub(metadata, from_local, from_hub)


def triviaqa_doc(example: dict[str, Any]) -> dict[str, Any]:
    """:func:`kick_tasks.icrqa.utils.hub_to_doc` plus the reference's gold."""
    return {**icrqa.hub_to_doc(example), "normalized_aliases": list(example["answer"]["normalized_aliases"])}


def closed_book_prompt(doc: dict[str, Any]) -> str:
    return icrqa.closed_book_prompt(doc)


def open_book_prompt(doc: dict[str, Any]) -> str:
    return icrqa.open_book_prompt(doc)


def instruction_block(instruction: str, question: str) -> str:
    """The reference's ``prompt_end``, on which it splits the decoded output."""
    return f"{instruction}:\n\nQ: {question}\nA:"


def reference_prediction(generation: str, instruction: str, question: str) -> str:
    """``output.split(prompt_end)[1].strip().split("\\n")[0]`` on the generation alone.

    ``output`` is the decoded prompt + generation and the prompt ends with ``prompt_end``, so
    piece 1 is the generation up to any repeat of ``prompt_end``: a model that starts by
    repeating the instruction block answers the empty string, which then scores 1.
    """
    return first_line(generation.split(instruction_block(instruction, question))[0])


def reference_containment(prediction: str, gold: str) -> float:
    """The reference's ``exact_match_score``: either normalised string contains the other.

    An empty prediction or an empty normalised gold is a substring of anything: 1.
    """
    predicted, expected = normalize_answer(prediction), normalize_answer(gold)
    return float(expected in predicted or predicted in expected)


def icrqa_results(instruction: str) -> Callable[[dict[str, Any], list[str]], dict[str, float]]:
    def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
        prediction = reference_prediction(results[0], instruction, doc["question"])
        gold = doc["normalized_aliases"]
        return {
            "contains": float(metric_max_over_ground_truths(reference_containment, prediction, gold)),
            "f1": float(metric_max_over_ground_truths(token_f1, prediction, gold)),
        }

    return process_results


closed_book_results = icrqa_results(icrqa.CLOSED_BOOK)
open_book_results = icrqa_results(icrqa.OPEN_BOOK)
