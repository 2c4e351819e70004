"""Per-example results (lm-eval ``--log_samples``) of a results file, and pairing two runs' examples.

Where they are:

* ``lm_eval --log_samples --output_path X``: ``X/<model>/results_<date>.json`` beside
  ``samples_<task>_<date>.jsonl``, one file per (sub)task, of the same ``<date>``;
* ``kick sweep``: ``<out>/<model>/<point>/<task>.json`` and the folder ``<task>.samples/``
  beside it, holding lm-eval's ``samples_<subtask>_<date>.jsonl`` (or ``.jsonl.gz``); the
  newest ``<date>`` of a subtask is read.

A sample row (``lm_eval/evaluator.py``, ``evaluate``: one JSON line per example and filter)
holds ``doc_id``, ``doc_hash`` (of the document), ``prompt_hash`` (of its first request's
prompt), ``target_hash``, ``filter``, and one key per metric with the example's value: a number
for metrics aggregated by ``mean`` or ``perplexity`` (``"acc": 1.0``; a log-likelihood), and
``[loglikelihood, words or bytes]`` for ``weighted_perplexity`` and ``bits_per_byte``
(``lm_eval/api/task.py``, ``process_results`` of ``loglikelihood_rolling`` tasks). A group's
examples are its leaf tasks' examples pooled, keyed by ``(leaf task, doc_id)``: lm-eval's
group score with ``weight_by_size`` (the size-weighted mean of its subtasks' means) is their
plain mean; :meth:`Examples.score` lets the caller check that it reproduces the reported score.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_FILE = re.compile(
    r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)\.jsonl(?:\.gz)?$")
RESULTS_FILE = re.compile(r"^results_(?P<date>.+)\.json$")
SAMPLES_FOLDER_SUFFIX = ".samples"


@dataclass(frozen=True)
class Aggregation:
    """How lm-eval turns per-example values into a score: ``scale * g(sum(a) / sum(b))``."""

    exponential: bool  # g = exp (perplexities), else the identity
    pair: bool  # the per-example value is [loglikelihood, weight]
    negate: bool  # a = -value (log-likelihoods), else a = value
    scale: float = 1.0


# lm-eval's aggregations that a per-example value determines (lm_eval/api/metrics.py); others
# (corpus BLEU, F1, the judge's) are not re-computed here, and such comparisons stay unpaired.
AGGREGATIONS = {
    "mean": Aggregation(exponential=False, pair=False, negate=False),
    "perplexity": Aggregation(exponential=True, pair=False, negate=True),
    "weighted_perplexity": Aggregation(exponential=True, pair=True, negate=True),
    "bits_per_byte": Aggregation(exponential=False, pair=True, negate=True, scale=1 / math.log(2)),
}


class NoSamples(Exception):
    """No usable per-example values; the message says why (e.g. ``no samples``)."""


class NotComparable(Exception):
    """Two runs' examples differ (other documents or prompts); the message names both values."""


@dataclass(frozen=True)
class Examples:
    """One run's per-example contributions to a task's score, in file order."""

    keys: tuple[tuple[str, Any], ...]  # (leaf task, doc_id)
    doc_hashes: tuple[str, ...]
    prompt_hashes: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    aggregation: Aggregation

    @property
    def binary(self) -> bool:
        """0/1 outcomes (accuracy, exact match): the case for McNemar and Wilson."""
        return (not self.aggregation.pair and not self.aggregation.negate
                and bool(np.all((self.a == 0) | (self.a == 1))))

    def score(self) -> float:
        """The task's score as lm-eval aggregates these examples."""
        m = float(self.a.sum() / self.b.sum())
        return self.aggregation.scale * (math.exp(m) if self.aggregation.exponential else m)


def find_sample_files(results_path: Path) -> dict[str, Path]:
    """``{task: samples file}`` belonging to a results file (either layout); empty if none."""
    path = Path(results_path)
    plain = RESULTS_FILE.match(path.name)
    folder = path.parent if plain else path.parent / f"{path.stem}{SAMPLES_FOLDER_SUFFIX}"
    if not folder.is_dir():
        return {}
    found: dict[str, tuple[str, Path]] = {}
    for candidate in folder.iterdir():
        match = SAMPLE_FILE.match(candidate.name)
        if not match or (plain and match["date"] != plain["date"]):
            continue
        task, date = match["task"], match["date"]
        if task not in found or date > found[task][0]:
            found[task] = (date, candidate)
    return {task: file for task, (_, file) in sorted(found.items())}


def read_examples(files: dict[str, Path], leaves: tuple[str, ...], metric: str, filter_name: str,
                  aggregation: str | None) -> Examples:
    """The examples of ``leaves`` (a task, or a group's leaf tasks) for one metric and filter;
    raises :class:`NoSamples` saying why when they cannot be had."""
    if aggregation not in AGGREGATIONS:
        raise NoSamples(f"aggregation {aggregation!r} is not re-computable per example" if aggregation
                        else "no single aggregation for its subtasks")
    kind = AGGREGATIONS[aggregation]
    missing = [leaf for leaf in leaves if leaf not in files]
    if missing:
        raise NoSamples(f"no samples for {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
    keys, doc_hashes, prompt_hashes, a, b = [], [], [], [], []
    for leaf in leaves:
        for row in _rows(files[leaf]):
            if row.get("filter", "none") != filter_name:
                continue
            if metric not in row:
                raise NoSamples(f"{files[leaf].name} has no {metric!r} values")
            try:
                value, weight = (float(v) for v in row[metric]) if kind.pair else (float(row[metric]), 1.0)
            except (TypeError, ValueError):
                shape = "[loglikelihood, weight]" if kind.pair else "a number"
                raise NoSamples(f"{files[leaf].name}: {metric} of doc {row['doc_id']} is {row[metric]!r}, "
                                f"not {shape}") from None
            keys.append((leaf, row["doc_id"]))
            doc_hashes.append(str(row.get("doc_hash")))
            prompt_hashes.append(str(row.get("prompt_hash")))
            a.append(-value if kind.negate else value)
            b.append(weight)
    if not keys:
        raise NoSamples(f"no samples with filter {filter_name!r}")
    if len(set(keys)) != len(keys):
        raise NoSamples("a doc_id appears twice in the samples")
    return Examples(tuple(keys), tuple(doc_hashes), tuple(prompt_hashes), np.array(a), np.array(b), kind)


def pair(compressed: Examples, dense: Examples, label: str) -> tuple[Examples, Examples]:
    """The two runs' examples aligned on ``(task, doc_id)`` (dense order); raises
    :class:`NotComparable` when the example sets, their documents or their prompts differ."""
    mine = {key: i for i, key in enumerate(compressed.keys)}
    theirs = set(dense.keys)
    if set(mine) != theirs:
        only_dense, only_mine = sorted(theirs - set(mine), key=str), sorted(set(mine) - theirs, key=str)
        example = (f"{_key(only_dense[0])} only in dense" if only_dense else f"{_key(only_mine[0])} only in {label}")
        raise NotComparable(f"examples: dense {len(theirs)}, {label} {len(mine)} ({example})")
    order = [mine[key] for key in dense.keys]
    for what, field, name in (("document", "doc_hashes", "doc_hash"), ("prompt", "prompt_hashes", "prompt_hash")):
        ours = [getattr(compressed, field)[i] for i in order]
        differ = [i for i, (x, y) in enumerate(zip(ours, getattr(dense, field))) if x != y]
        if differ:
            i = differ[0]
            raise NotComparable(f"{what}: {_key(dense.keys[i])} has {name} {getattr(dense, field)[i][:12]} in dense, "
                                f"{ours[i][:12]} in {label} ({len(differ)} of {len(order)} examples differ)")
    aligned = Examples(dense.keys, dense.doc_hashes, dense.prompt_hashes, compressed.a[order], compressed.b[order],
                       compressed.aggregation)
    return aligned, dense


def _key(key: tuple[str, Any]) -> str:
    return f"{key[0]} doc {key[1]}"


def _rows(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as err:
                raise NoSamples(f"{path.name} line {number} is not JSON ({err})") from None
            if not isinstance(row, dict) or "doc_id" not in row:
                raise NoSamples(f"{path.name} line {number} is not an lm-eval sample (no doc_id)")
            yield row
