"""Which number stands for a task, and how it compares with the dense model's.

An lm-eval results entry holds every metric of a task under ``"<metric>,<filter>"`` keys
(``"acc,none"``, ``"exact_match,strict-match"``) beside ``"<metric>_stderr,<filter>"``. The
headline metric of a task is the first one its YAML lists (``configs[task].metric_list``,
kept in order in the results file); a group has no config, so its ``higher_is_better`` keys
(also in declaration order) stand in. The filter ``none`` is preferred when there are several.
``--metric task=metric[,filter]`` overrides the choice.

A metric whose value is undefined (``NaN``; ``null`` in standard JSON, as ``kick sweep``
writes it; older files hold the literal ``NaN``) is still that task's headline: a judged
task whose judge failed scores NaN, and falling back to the next number (its
``judge_invalid`` count) would compare a count as if it were the score. It gets no ratio.

The ratio to dense follows LLM-KICK (Jaiswal et al., ICLR 2024, Figs. 1-6: "performance
relative to the dense model"): ``score / dense`` when higher is better, and ``dense / score``
when lower is better (perplexity), so that in both cases a ratio below 1 means the compressed
model is worse and ``ratio >= 1 - tolerance`` means "within tolerance of dense".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DEFAULT_TOLERANCE = 0.05


class MetricError(ValueError):
    """A requested metric is not in a results file; the message names what is there."""


@dataclass(frozen=True)
class MetricChoice:
    metric: str
    filter: str
    higher_is_better: bool | None  # None: the file does not say


def parse_metric_override(text: str) -> tuple[str, tuple[str, str | None]]:
    """``"task=metric"`` or ``"task=metric,filter"`` -> ``(task, (metric, filter or None))``."""
    task, sep, rest = text.partition("=")
    metric, _, filt = rest.partition(",")
    if not sep or not task.strip() or not metric.strip():
        raise ValueError(f"--metric {text!r} is not TASK=METRIC or TASK=METRIC,FILTER (e.g. kick_mmlu=acc)")
    return task.strip(), (metric.strip(), filt.strip() or None)


def available_metrics(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """``(metric, filter)`` pairs with a numeric or undefined (NaN / null) value in one
    results entry, in file order."""
    found = []
    for key, value in entry.items():
        metric, sep, filt = key.partition(",")
        if sep and not metric.endswith("_stderr") and (is_number(value) or is_undefined(value)):
            found.append((metric, filt))
    return found


def metric_value(value: Any) -> float:
    """A metric's value as a float: NaN for an undefined one (``null`` or ``NaN``)."""
    return float(value) if is_number(value) else math.nan


def choose_metric(
    task: str,
    entry: dict[str, Any],
    config: dict[str, Any] | None,
    higher_is_better: dict[str, Any] | None,
    override: tuple[str, str | None] | None = None,
) -> MetricChoice | None:
    """The headline metric of ``task``; ``None`` when the entry has no metric (a bare group)."""
    pairs = available_metrics(entry)
    if not pairs:
        return None
    direction = higher_is_better or {}
    if override is not None:
        metric, filt = override
        matches = [p for p in pairs if p[0] == metric and (filt is None or p[1] == filt)]
        if not matches:
            raise MetricError(
                f"task {task!r} has no metric {metric!r}"
                + (f" with filter {filt!r}" if filt else "")
                + f"; it has {sorted({f'{m},{f}' for m, f in pairs})}"
            )
    else:
        declared = [item.get("metric") for item in (config or {}).get("metric_list") or [] if isinstance(item, dict)]
        order = [m for m in [*declared, *direction, *(m for m, _ in pairs)] if isinstance(m, str)]
        metric = next(m for m in order if any(p[0] == m for p in pairs))
        matches = [p for p in pairs if p[0] == metric]
    chosen = next((p for p in matches if p[1] == "none"), matches[0])
    hib = direction.get(chosen[0])
    return MetricChoice(chosen[0], chosen[1], hib if isinstance(hib, bool) else None)


def ratio_to_dense(score: float, dense: float, higher_is_better: bool | None) -> float | None:
    """Score relative to dense (see the module docs); ``None`` where it is undefined."""
    if not (is_number(score) and is_number(dense)):
        return None
    if higher_is_better is False:
        return dense / score if score > 0 else None
    return score / dense if dense > 0 else None


def is_undefined(value: Any) -> bool:
    """``null`` (standard JSON's NaN) or a float NaN (older files' ``NaN`` literal)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
