"""Undefined scores: a judged task whose score is NaN stays that task's headline (no ratio,
no verdict), whether the file says ``NaN`` (older files, lm-eval) or ``null`` (standard JSON,
as ``kick sweep`` now writes)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from kick_core.atomic import atomic_write_json
from kick_models.report.compare import build_report
from kick_models.report.results import load_runs

SWEEP = Path(__file__).parent / "fixtures" / "results" / "sweep-smollm2"
TASK = "kick_factoid_qa"


def judged_failure(path: Path, undefined) -> None:
    """The task's score undefined (every judge reply invalid); judge_invalid counts them."""
    data = json.loads(path.read_text())
    entry = data["results"][TASK]
    entry.pop("exact_match,none")
    entry.pop("exact_match_stderr,none")
    entry["contains,none"] = undefined
    entry["contains_stderr,none"] = undefined
    entry["judge_invalid,none"] = 500
    data["higher_is_better"][TASK] = {"contains": True, "judge_invalid": False}
    data["configs"][TASK]["metric_list"].append({"metric": "judge_invalid", "aggregation": "sum",
                                                  "higher_is_better": False})
    path.write_text(json.dumps(data))  # Python writes the NaN literal, as lm-eval does


@pytest.mark.parametrize("undefined", [math.nan, None], ids=["NaN-literal", "null"])
def test_a_nan_score_in_both_runs_is_not_replaced_by_the_judge_invalid_count(tmp_path, undefined):
    """Before: the headline fell back to judge_invalid (500 == 500) and read 'within tolerance'."""
    root = tmp_path / "s"
    shutil.copytree(SWEEP, root)
    for point in ("dense", "magnitude_sparsity-0.5"):
        judged_failure(root / "SmolLM2-135M-Instruct" / point / f"{TASK}.json", undefined)
    runs, skipped = load_runs([root])
    report = build_report(runs, 0.05, skipped, resamples=200, seed=1)
    (row,) = [r for r in report.rows if r.label == "magnitude 50%" and r.task == TASK]
    assert row.metric == "contains" and math.isnan(row.score)
    assert row.ratio is None and row.verdict is None


def test_standard_json_writes_nan_as_null_and_refuses_it_otherwise(tmp_path):
    path = atomic_write_json(tmp_path / "r.json", {"a": [math.nan, 1.0, math.inf], "b": {"c": -math.inf}},
                             nan_as_null=True)
    assert json.loads(path.read_text()) == {"a": [None, 1.0, None], "b": {"c": None}}
    assert "NaN" not in path.read_text()
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "s.json", {"a": math.nan})
