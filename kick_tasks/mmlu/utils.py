"""``kick_mmlu_<subject>``: MMLU (Hendrycks et al., ICLR 2021) as LLM-KICK scores it.

The reference (``multiple_choice_qa/main_mmlu.py`` of VITA-Group/llm-kick) builds a k-shot
prompt from the first k dev questions (``--ntrain``, 5 by default; the paper also reports
zero-shot and a k-shot study), drops shots from the end while the prompt is longer than 2,048
tokens, greedily decodes ONE token and takes the last character of the decoded text as the
answer letter. Here:

* :class:`KickMMLUTask` is lm-eval's multiple-choice task (log-likelihood of `` A``..`` D``)
  plus one greedy one-token generation request per question, the way lm-eval's own
  ``squadv2`` task mixes request types, so one run reports both scores. Its ``doc_to_text``
  builds the reference's whole k-shot prompt, k being lm-eval's ``num_fewshot`` (5 in the
  YAML, ``--num_fewshot 0..5`` overrides it, so the results' ``n-shot`` states it), and
  lm-eval adds no shots of its own. The shots are lm-eval's ``first_n`` sample of the
  ``dev`` split. The 2,048-token rule needs the model's tokenizer, which lm-eval hands to tasks
  in their metadata (``--model_args pretrained=...`` or ``tokenizer=...``, or ``--metadata
  '{"tokenizer": ...}'``); with no tokenizer named it falls back to 4 characters per token
  and warns. Prompts are built per requested question, so ``--limit`` runs stay cheap.
* :func:`load_mmlu` (the ``custom_dataset``) reads the dev and test questions.
* :func:`process_results`: ``acc`` is the reference's score (last character of the greedy
  token equals the answer letter), ``acc_mc`` the argmax over the four letters.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import math
import os
from typing import Any, Callable, Sequence

import numpy as np
from lm_eval.api.instance import Instance
from lm_eval.api.task import ConfigurableTask

from kick_tasks import data
from kick_tasks.tokens import load_tokenizer

log = logging.getLogger(__name__)

HUB_ID = "cais/mmlu"
LETTERS = ("A", "B", "C", "D")
MAX_SHOTS = 5  # MMLU has five dev questions per subject, the shot pool
MAX_PROMPT_TOKENS = 2048  # the reference: `while input_ids.shape[-1] > 2048: k -= 1`
CHARS_PER_TOKEN = 4  # fallback only: MMLU prompts run 4.0-4.7 characters per BPE token
LOCAL_FORMAT = "CSV with no header: question,A,B,C,D,answer letter"
GREEDY_ONE_TOKEN = {"until": [], "max_gen_toks": 1, "do_sample": False}

TokenCounter = Callable[[str], int]


def check_shots(value: Any) -> int:
    """``value`` if it is a shot count MMLU can give (0 to 5), else a one-line error naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SHOTS:
        raise ValueError(
            f"kick_mmlu: num_fewshot {value!r} is not allowed; use a whole number from 0 to {MAX_SHOTS} "
            f"(the shots are the subject's first dev questions, and MMLU has {MAX_SHOTS})"
        )
    return value


# ----------------------------------------------------------------------------- the prompt


def header(subject: str) -> str:
    """The reference's first line; it prefixes every word with a space, hence ``about  x``."""
    return (
        "The following are multiple choice questions (with answers) about "
        f"{''.join(' ' + word for word in subject.split('_'))}.\n\n"
    )


def format_question(doc: dict[str, Any], *, with_answer: bool) -> str:
    """``question\\nA. ..\\nB. ..\\nC. ..\\nD. ..\\nAnswer:`` (+ `` X\\n\\n`` for a shot)."""
    text = doc["question"] + "".join(
        f"\n{letter}. {choice}" for letter, choice in zip(LETTERS, doc["choices"], strict=True)
    )
    text += "\nAnswer:"
    return text + f" {LETTERS[doc['answer']]}\n\n" if with_answer else text


def reference_prompt(subject: str, shots: Sequence[dict[str, Any]], doc: dict[str, Any]) -> str:
    """Header, the given shots with answers, then the question ending in ``Answer:``."""
    return (
        header(subject)
        + "".join(format_question(s, with_answer=True) for s in shots)
        + format_question(doc, with_answer=False)
    )


def fit_prompt(
    subject: str,
    shots: Sequence[dict[str, Any]],
    doc: dict[str, Any],
    count_tokens: TokenCounter,
    max_tokens: int = MAX_PROMPT_TOKENS,
) -> str:
    """The prompt with the most leading shots that fits ``max_tokens``.

    Like the reference, shots are dropped from the end one at a time. The reference would loop
    forever if even the bare question were too long; here it stops at zero shots.
    """
    n_shots = len(shots)
    prompt = reference_prompt(subject, shots, doc)
    while n_shots > 0 and count_tokens(prompt) > max_tokens:
        n_shots -= 1
        prompt = reference_prompt(subject, shots[:n_shots], doc)
    return prompt


def token_counter(metadata: dict[str, Any]) -> TokenCounter:
    """Counts tokens like the reference (``len(tokenizer(prompt).input_ids)``, BOS included).

    The tokenizer is ``metadata["tokenizer"]`` or else ``metadata["pretrained"]`` (a name,
    a folder or a tokenizer object); without one, ``ceil(characters / 4)``.
    """
    source = metadata.get("tokenizer") or metadata.get("pretrained")
    if isinstance(source, (str, os.PathLike)):
        tokenizer = load_tokenizer(str(source), metadata.get("revision"),
                                   metadata.get("trust_remote_code") is True, "kick_mmlu")
    elif hasattr(source, "encode") and callable(source):
        tokenizer = source
    else:
        warn_no_tokenizer()
        return lambda text: math.ceil(len(text) / CHARS_PER_TOKEN)
    return lambda text: len(tokenizer(text)["input_ids"])


@functools.cache
def warn_no_tokenizer() -> None:
    log.warning(
        "kick_mmlu: no tokenizer in the task metadata (model_args pretrained/tokenizer); the "
        "reference's 2,048-token prompt limit is approximated as %d characters",
        MAX_PROMPT_TOKENS * CHARS_PER_TOKEN,
    )


# ----------------------------------------------------------------------------- the data


def load_mmlu(subject: str, **metadata: Any):
    """``custom_dataset`` hook: ``{"dev": shots, "test": questions}`` of one subject."""
    import datasets

    splits = data.local_or_hub(
        metadata, lambda folder: read_local(folder, subject), lambda: read_hub(subject)
    )
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_list([{**doc, "subject": subject} for doc in docs])
            for split, docs in zip(("dev", "test"), splits, strict=True)
        }
    )


def read_hub(subject: str) -> tuple[list[dict], list[dict]]:
    """Dev and test questions of ``cais/mmlu`` config ``subject``."""
    hub = data.load_hub(HUB_ID, subject)
    keep = ("question", "choices", "answer")
    return tuple([{key: row[key] for key in keep} for row in hub[split]] for split in ("dev", "test"))


def read_local(folder, subject: str) -> tuple[list[dict], list[dict]]:
    """Dev and test questions from ``mmlu/{dev,test}/<subject>_{dev,test}.csv``.

    Read with ``csv``, as the text is: the reference's ``pandas.read_csv`` turns answer options
    that read ``None`` (10 in the test set) into ``nan``.
    """
    return tuple(read_csv(folder, f"mmlu/{split}/{subject}_{split}.csv") for split in ("dev", "test"))


def read_csv(folder, relative: str) -> list[dict[str, Any]]:
    path = data.local_file(folder, relative, fmt=LOCAL_FORMAT, hub_id=HUB_ID)
    docs = []
    text = data.read_text(path, fmt=LOCAL_FORMAT, hub_id=HUB_ID)
    for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), 1):
        if len(row) != 6 or row[5] not in LETTERS:
            raise data.KickDataError(
                f"malformed local data file {str(path)!r}: row {number} has {len(row)} fields and "
                f"answer {row[-1] if row else None!r}; expected {LOCAL_FORMAT} (answer one of "
                f"{'/'.join(LETTERS)}; the layout of the LLM-KICK reference data, hub {HUB_ID!r})"
            )
        docs.append({"question": row[0], "choices": row[1:5], "answer": LETTERS.index(row[5])})
    if not docs:
        raise data.KickDataError(
            f"malformed local data file {str(path)!r}: it holds no rows; expected {LOCAL_FORMAT}"
        )
    return docs


# ----------------------------------------------------------------------------- the task


class KickMMLUTask(ConfigurableTask):
    """lm-eval's multiple-choice requests plus the reference's greedy one-token request."""

    def __init__(self, config: dict[str, Any]) -> None:
        check_shots(config.get("num_fewshot"))
        # lm-eval hands Python tasks their whole YAML, including the `class` key itself.
        super().__init__(config={key: value for key, value in config.items() if key != "class"})

    def set_config(self, key: str, value: Any, update: bool = False) -> None:
        """lm-eval's setter; ``--num_fewshot`` arrives here, checked before any prompt is built."""
        if key == "num_fewshot":
            check_shots(value)
        super().set_config(key, value, update)

    @functools.cached_property
    def count_tokens(self) -> TokenCounter:
        return token_counter(self.config.metadata or {})

    def doc_to_text(self, doc: dict[str, Any], doc_to_text=None) -> str:
        """The reference's k-shot prompt for ``doc`` (shots dropped while over 2,048 tokens)."""
        shots = self.sampler.sample(n=self.config.num_fewshot)  # first_n: the first k dev questions
        return fit_prompt(doc["subject"], shots, doc, self.count_tokens)

    def fewshot_context(self, doc: dict[str, Any], num_fewshot: int, **kwargs: Any):
        """lm-eval's context (chat template, system prompt) with no shots of its own:
        :meth:`doc_to_text` already holds the reference's, whose count depends on the prompt's
        length in tokens, which lm-eval's one count per task cannot express."""
        return super().fewshot_context(doc=doc, num_fewshot=0, **kwargs)

    def construct_requests(self, doc: dict, ctx: str, **kwargs: Any) -> list[Instance]:
        letters = super().construct_requests(doc, ctx, **kwargs)
        kwargs.pop("apply_chat_template", None)
        kwargs.pop("chat_template", None)
        greedy = Instance(
            request_type="generate_until",
            doc=doc,
            arguments=(ctx, dict(GREEDY_ONE_TOKEN)),
            idx=len(letters),
            **kwargs,
        )
        return [*letters, greedy]

    def process_results(self, doc: dict[str, Any], results: list) -> dict[str, Any]:
        if callable(self.config.process_results):  # the YAML's process_results (below)
            return self.config.process_results(doc, results)
        # --predict_only swaps the scoring for lm-eval's own: give it the letters only.
        return super().process_results(doc, results[:-1])


def process_results(doc: dict[str, Any], results: list) -> dict[str, float]:
    """``acc``: last character of the greedy token is the answer letter; ``acc_mc``: letter argmax."""
    *letter_scores, generation = results
    loglikelihoods = [loglikelihood for loglikelihood, _ in letter_scores]
    return {
        "acc": float(generation[-1:] == LETTERS[doc["answer"]]),
        "acc_mc": float(int(np.argmax(loglikelihoods)) == doc["answer"]),
    }
