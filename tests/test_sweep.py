"""`kick sweep` planning: the grid, point names, resume bookkeeping, bad input (no evaluation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kick_models import sweep
from kick_models.sweep import SweepError, expand_recipes, main, shortest_recipe


def slugs(recipes):
    return [r.slug for r in recipes]


def test_grid_adds_dense_first_and_lets_nm_fix_its_sparsity():
    recipes = expand_recipes(["magnitude", "wanda"], {"sparsity": [0.5, 0.3], "pattern": ["unstructured", "2:4"]})
    assert slugs(recipes) == [
        "dense",
        "magnitude_sparsity-0.3", "magnitude_sparsity-0.5", "magnitude_pattern-2-4",
        "wanda_sparsity-0.3", "wanda_sparsity-0.5", "wanda_pattern-2-4",
    ]
    assert recipes[3].model_args() == {"method": "magnitude", "pattern": "2:4"}


def test_per_method_axes_and_equal_spellings_are_one_point():
    recipes = expand_recipes(
        {"none": {}, "magnitude": {"sparsity": [0.5], "scope": ["layer", "global"]},
         "wanda": {"sparsity": [0.5], "pattern": ["unstructured"], "scope": ["row"]}},
        {},
    )
    assert slugs(recipes) == ["dense", "magnitude_sparsity-0.5", "magnitude_sparsity-0.5_scope-global", "wanda_sparsity-0.5"]
    assert shortest_recipe({"method": "wanda", "pattern": "2:4", "sparsity": 0.5}).slug == "wanda_pattern-2-4"


@pytest.mark.parametrize("methods, axes, message", [
    (["magnitude"], {}, r"method=magnitude\).*needs a sparsity"),
    (["magnitude"], {"sparsity": [1.5]}, r"sparsity=1.5\).*out of range"),
    (["prune-it"], {"sparsity": [0.5]}, r"method=prune-it.*unknown"),
    ({"wanda": {"sparsity": 0.5}}, {}, r"axis 'sparsity' needs a non-empty list"),
])
def test_bad_grid_points_fail_before_anything_runs(methods, axes, message):
    with pytest.raises(SweepError, match=message):
        expand_recipes(methods, axes)


def base_args(tmp_path, *extra):
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    return ["--model", str(model), "--tasks", "task_a,task_b", "--output", str(tmp_path / "out"), *extra]


def test_dry_run_lists_points_and_commands_and_writes_nothing(tmp_path, capsys):
    code = main(base_args(tmp_path, "--methods", "dense", "wanda", "--sparsity", "0.5", "--calibration", "builtin",
                          "--nsamples", "8", "--limit", "2", "--model-args", "dtype=float32", "--dry-run"))
    out = capsys.readouterr().out
    assert code == 0
    assert "2 recipes x 2 tasks = 4 points" in out and "(0 done, 4 to run)" in out
    assert "method=wanda,sparsity=0.5,calibration=builtin,nsamples=8,dtype=float32" in out
    assert "method=dense,dtype=float32 --tasks task_a,task_b --limit 2" in out  # no calibration for dense
    assert "[todo] task_b" in out and str(tmp_path / "out" / "model" / "wanda_sparsity-0.5" / "task_a.json") in out
    assert not (tmp_path / "out").exists()


def write_done(path, settings):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"results": {}, "config": {}, "kick_sweep": {"settings": settings}}))


def test_done_points_are_recognised_and_conflicting_settings_stop_the_sweep(tmp_path, capsys):
    args = base_args(tmp_path, "--methods", "magnitude", "--sparsity", "0.5", "--limit", "2")
    spec = sweep.sweep_from_args(sweep.build_parser().parse_args(args))
    done = spec.result_path(spec.recipes[1], "task_a")
    write_done(done, spec.settings(spec.recipes[1]))
    jobs = sweep.plan(spec)
    assert [(t, d) for t, _, d in jobs[1].tasks] == [("task_a", True), ("task_b", False)]
    assert [t for t, _ in jobs[1].pending] == ["task_b"]

    # cache and storage options do not change scores: still done
    moved = sweep.sweep_from_args(sweep.build_parser().parse_args(args + ["--cache-dir", "/elsewhere", "--storage"]))
    assert sweep.plan(moved)[1].tasks[0][2] is True

    assert main(base_args(tmp_path, "--methods", "magnitude", "--sparsity", "0.5", "--limit", "5", "--dry-run")) == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "limit was 2, now 5" in err and str(done) in err


def test_yaml_grid_with_flags_overriding(tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        f"model: {model}\ntasks: [task_a]\noutput: {tmp_path / 'out'}\nlimit: 4\n"
        "methods:\n  dense: {}\n  magnitude: {sparsity: [0.2, 0.4]}\n  wanda: {pattern: ['2:4']}\n"
        "calibration: builtin\nmetadata: {data_dir: /data}\n"
    )
    assert main(["--config", str(grid), "--limit", "3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 recipes x 1 tasks" in out and "magnitude_sparsity-0.2" in out and "wanda_pattern-2-4" in out
    assert "--limit 3" in out and "--metadata '{\"data_dir\": \"/data\"}'" in out
    grid.write_text("model: m\ntasks: [t]\nsparsities: [0.5]\n")
    assert main(["--config", str(grid), "--dry-run"]) == 2
    assert "unknown key(s) ['sparsities']" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--batch_size", "0"], "--batch_size '0'"),
    (["--metadata", "data_dir=/x"], "not a JSON object"),
    (["--model-args", "method=wanda"], "--model-args ['method']"),
    (["--limit", "0"], "--limit 0"),
    (["--recipe-arg", "scope"], "not KEY=V1,V2"),
    (["--tasks", "a", "a"], "name a task twice"),
])
def test_bad_options_are_named(tmp_path, capsys, extra, message):
    assert main(base_args(tmp_path, *extra, "--dry-run")) == 2
    assert message in capsys.readouterr().err


def test_missing_model_or_tasks(tmp_path, capsys):
    assert main(["--tasks", "a", "--dry-run"]) == 2
    assert "no model" in capsys.readouterr().err
    assert main(["--model", "m", "--dry-run"]) == 2
    assert "no tasks" in capsys.readouterr().err


def test_partial_folders_of_dead_workers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".partial-{dead.stdout.strip()}-abc"
    live = tmp_path / f".partial-{os.getpid()}-def"
    stale.mkdir()
    live.mkdir()
    sweep._remove_dead_partials(tmp_path)
    assert not stale.exists() and live.exists()
