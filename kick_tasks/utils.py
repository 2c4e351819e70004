"""Answer matching for the LLM-KICK question-answering tasks (Jaiswal et al., ICLR 2024).

The scores follow the reference code (VITA-Group/llm-kick), which follows the official
TriviaQA evaluation script (Joshi et al., ACL 2017), itself an extension of SQuAD v1.1's
(Rajpurkar et al., 2016):

* :func:`normalize_answer`: TriviaQA's normalisation. Why our own code: lm-eval has no
  importable SQuAD/TriviaQA normaliser outside single task folders, and transformers'
  ``squad_metrics.normalize_answer`` *deletes* punctuation where TriviaQA's (the one the
  paper used) turns it into a space and also treats ‘ ’ ´ ` and ``_`` as separators:
  ``"U.S."`` is ``"us"`` for SQuAD but ``"u s"`` for TriviaQA, like TriviaQA's own
  ``normalized_aliases``.
* :func:`exact_match` and :func:`token_f1`: SQuAD's definitions on that normalisation.
* :func:`two_way_containment`: what ``incontext_qa/main_icrqa.py`` reports as "exact match".
* :func:`squashed_containment`: ``validate_response`` of ``factoid_qa/main_freebase.py``.
* :func:`best_over_answers`: the max over all gold aliases, through lm-eval's
  ``metric_max_over_ground_truths``.

Gold answers that are empty after normalisation are ignored: in the reference an empty
gold string is a substring of everything, so any output would score.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Callable, Iterable

from lm_eval.api.metrics import metric_max_over_ground_truths

_SEPARATORS = frozenset(string.punctuation + "‘’´`")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower-case; underscores and punctuation to spaces; drop a/an/the; collapse whitespace."""
    text = text.replace("_", " ").lower()
    text = "".join(" " if char in _SEPARATORS else char for char in text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when both normalise to the same string (SQuAD/TriviaQA exact match)."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of token precision and recall after normalisation (SQuAD F1)."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def two_way_containment(prediction: str, gold: str) -> float:
    """1.0 when either normalised string contains the other; an empty prediction scores 0.

    The reference scores an empty prediction 1 (the empty string is in every string): that
    would reward a model that says nothing, so it is the one deliberate difference.
    """
    predicted, expected = normalize_answer(prediction), normalize_answer(gold)
    return float(bool(predicted) and (expected in predicted or predicted in expected))


def squash(text: str) -> str:
    """FreebaseQA matching form of the reference: stripped, lower-cased, spaces removed."""
    return text.strip().replace(" ", "").lower()


def squashed_containment(generation: str, gold: str) -> float:
    """1.0 when the squashed gold answer occurs in the squashed generation."""
    return float(squash(gold) in squash(generation))


def best_over_answers(
    metric: Callable[[str, str], float],
    prediction: str,
    answers: Iterable[str],
    *,
    key: Callable[[str], str] = normalize_answer,
) -> float:
    """Max of ``metric(prediction, answer)`` over the answers whose ``key`` is non-empty."""
    usable = [answer for answer in answers if key(answer)]
    return float(metric_max_over_ground_truths(metric, prediction, usable)) if usable else 0.0


def first_line(generation: str) -> str:
    """The answer the reference reads from a generation: its first line once stripped."""
    return generation.strip().split("\n")[0]
