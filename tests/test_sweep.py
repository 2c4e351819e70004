"""`kick sweep` planning: the grid, seeds, prompt formats, point names, resume bookkeeping, bad
input (no evaluation; the end-to-end runs are in test_sweep_resume.py and test_sweep_protocol.py)."""

from __future__ import annotations

import json
from importlib.util import find_spec

import pytest

from kick_models import sweep
from kick_models.sweep import SweepError, expand_recipes, main, shortest_recipe
from kick_models.sweep.worker import PointBusy, point_lock


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
    assert "2 points x 2 tasks = 4 results" in out and "(0 done, 4 to run)" in out
    assert "method=wanda,sparsity=0.5,calibration=builtin,nsamples=8,dtype=float32" in out
    assert "method=dense,dtype=float32 --tasks task_a,task_b --limit 2" in out  # no calibration for dense
    assert "[todo] task_b" in out and str(tmp_path / "out" / "model" / "wanda_sparsity-0.5" / "task_a.json") in out
    assert not (tmp_path / "out").exists()


def write_done(path, settings, samples=True):
    """A result file as the worker writes it: its samples folder, then the file naming them."""
    folder = path.with_suffix(".samples")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"samples_{path.stem}_2026-01-01T00-00-00.jsonl.gz"
    if samples:
        (folder / name).write_bytes(b"")
    record = {"settings": settings, "samples": [f"{folder.name}/{name}"]}
    path.write_text(json.dumps({"results": {}, "config": {}, "kick_sweep": record}))


def test_done_points_are_recognised_and_conflicting_settings_stop_the_sweep(tmp_path, capsys):
    args = base_args(tmp_path, "--methods", "magnitude", "--sparsity", "0.5", "--limit", "2")
    spec = parse(args)
    done = spec.result_path(spec.points[1], "task_a")
    write_done(done, spec.settings(spec.points[1], "task_a"))
    jobs = sweep.plan(spec)
    assert [(r.task, r.done) for r in jobs[1].tasks] == [("task_a", True), ("task_b", False)]
    assert [r.task for r in jobs[1].pending] == ["task_b"]

    # cache and storage options do not change scores: still done
    moved = parse(args + ["--cache-dir", "/elsewhere", "--storage"])
    assert sweep.plan(moved)[1].tasks[0].done is True

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
    assert "4 points x 1 tasks" in out and "magnitude_sparsity-0.2" in out and "wanda_pattern-2-4" in out
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


def parse(args):
    return sweep.sweep_from_args(sweep.build_parser().parse_args(args))


def test_done_needs_the_samples_its_result_names(tmp_path):
    """A result file counts only with the samples it lists: a worker killed between writing the
    samples folder and the result, or a result of an older sweep, runs again."""
    spec = parse(base_args(tmp_path, "--methods", "magnitude", "--sparsity", "0.5"))
    point = spec.points[1]
    result = spec.result_path(point, "task_a")
    write_done(result, spec.settings(point, "task_a"), samples=False)
    assert sweep.plan(spec)[1].tasks[0].done is False
    write_done(result, spec.settings(point, "task_a"))
    assert sweep.plan(spec)[1].tasks[0].done is True
    assert sweep.samples_path(result) == result.parent / "task_a.samples"


def test_results_of_an_older_sweep_are_named_not_overwritten(tmp_path, capsys):
    """Files written before per-task prompt formats and seeds record other settings: the sweep
    stops and names them rather than mixing them with new results."""
    args = base_args(tmp_path, "--methods", "magnitude", "--sparsity", "0.5")
    spec = parse(args)
    old = {k: v for k, v in spec.settings(spec.points[1], "task_a").items() if k not in ("prompt_format", "seed")}
    write_done(spec.result_path(spec.points[1], "task_a"), {**old, "apply_chat_template": True})
    assert main(args + ["--dry-run"]) == 2
    assert "prompt_format was None, now 'raw'" in capsys.readouterr().err


def test_seed_axis_makes_one_point_per_seed_for_calibrated_methods_only(tmp_path):
    spec = parse(base_args(tmp_path, "--methods", "magnitude", "wanda", "--sparsity", "0.5", "--calibration", "builtin",
                           "--seed", "0", "1"))
    assert [p.name for p in spec.points] == [
        "dense", "magnitude_sparsity-0.5", "wanda_sparsity-0.5_seed-0", "wanda_sparsity-0.5_seed-1"]
    dense, magnitude, seed0, seed1 = spec.points
    assert (dense.seed, magnitude.seed, seed0.seed, seed1.seed) == (None, None, 0, 1)
    assert spec.point_model_args(seed1) == {"pretrained": spec.model, "method": "wanda", "sparsity": 0.5,
                                            "calibration": "builtin", "seed": 1}
    assert spec.settings(seed1, "task_a")["seed"] == 1 and spec.settings(magnitude, "task_a")["seed"] is None
    command = sweep.lm_eval_command(spec, seed1, ["task_a"], "raw")
    assert "seed=1" in command and "--seed 0,1234,1,1234" in command
    assert "--seed" not in sweep.lm_eval_command(spec, dense, ["task_a"], "raw")


@pytest.mark.parametrize("seeds, names", [
    ([], ["dense", "wanda_sparsity-0.5"]),  # the default seed: folder names as before seeds existed
    (["0"], ["dense", "wanda_sparsity-0.5"]),
    (["3"], ["dense", "wanda_sparsity-0.5_seed-3"]),
])
def test_seed_is_in_a_folder_name_only_when_it_tells_points_apart(tmp_path, seeds, names):
    seed_args = ["--seed", *seeds] if seeds else []
    spec = parse(base_args(tmp_path, "--methods", "wanda", "--sparsity", "0.5", *seed_args))
    assert [p.name for p in spec.points] == names
    assert ("seed" in spec.point_model_args(spec.points[1])) is (seeds == ["3"])


@pytest.mark.parametrize("seeds, message", [
    (["0", "0"], "name a seed twice"),
    (["-1"], "--seed '-1': seed=-1 is not allowed: give an integer >= 0"),
    (["one"], "--seed 'one': seed='one' is not an integer"),
])
def test_bad_seeds_are_named(tmp_path, capsys, seeds, message):
    assert main(base_args(tmp_path, "--methods", "wanda", "--sparsity", "0.5", "--seed", *seeds, "--dry-run")) == 2
    assert message in capsys.readouterr().err


def test_each_task_runs_in_its_protocols_prompt_format(tmp_path, capsys):
    formats = {t: sweep.prompt_format(t, {}) for t in (
        "kick_factoid_qa", "kick_mmlu", "kick_mmlu_anatomy", "kick_icrqa_closed", "kick_icrqa_open", "kick_ppl",
        "kick_demo", "kick_summarization", "kick_summarization_small", "kick_instruction", "hellaswag")}
    assert {t for t, f in formats.items() if f == "chat"} == {"kick_summarization", "kick_summarization_small",
                                                              "kick_instruction"}
    assert sweep.prompt_format("kick_mmlu", {"kick_mmlu": "chat"}) == "chat"
    with pytest.raises(SweepError, match=r"'kick' groups tasks run raw .* and with the chat template"):
        sweep.prompt_format("kick", {})

    args = base_args(tmp_path, "--prompt-format", "task_b=chat", "--dry-run")
    assert main(args) == 0
    out = capsys.readouterr().out
    raw, chat = [line for line in out.splitlines() if "lm_eval --model kick" in line]
    assert "--tasks task_a" in raw and "--apply_chat_template" not in raw
    assert "--tasks task_b --apply_chat_template" in chat
    assert "[todo] task_b" in out and " chat " in out


@pytest.mark.parametrize("extra, grid, message", [
    (["--apply_chat_template"], None, "chooses the prompt format per task"),
    ([], "apply_chat_template: true\n", "--prompt-format TASK=chat"),
    (["--prompt-format", "task_c=chat"], None, "names ['task_c'], which are not among --tasks"),
    (["--prompt-format", "task_a=chatty"], None, "task_a=chatty is not TASK=raw or TASK=chat"),
])
def test_prompt_format_options_are_checked(tmp_path, capsys, extra, grid, message):
    if grid:
        (tmp_path / "grid.yaml").write_text(grid)
        extra = ["--config", str(tmp_path / "grid.yaml")]
    assert main(base_args(tmp_path, *extra, "--dry-run")) == 2
    assert message in capsys.readouterr().err


def test_any_recipe_key_is_an_axis_through_recipe_arg(tmp_path, capsys):
    spec = parse(base_args(tmp_path, "--methods", "magnitude", "--sparsity", "0.5",
                           "--recipe-arg", "ignore=lm_head,lm_head;mlp.down_proj"))
    assert [p.name for p in spec.points] == ["dense", "magnitude_sparsity-0.5",
                                            "magnitude_sparsity-0.5_ignore-lm_head+mlp.down_proj"]
    assert spec.point_model_args(spec.points[2])["ignore"] == "lm_head;mlp.down_proj"
    assert main(base_args(tmp_path, "--recipe-arg", "seed=1,2", "--dry-run")) == 2
    assert "--recipe-arg seed: not a recipe key taken here" in capsys.readouterr().err


def test_model_folder_names(tmp_path):
    assert sweep.model_label("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB__SmolLM2-135M"
    assert sweep.model_label(str(tmp_path / "model")) == "model"


def test_a_second_worker_on_the_same_point_is_refused(tmp_path):
    with point_lock(tmp_path):
        with pytest.raises(PointBusy, match="another kick sweep is evaluating"):
            with point_lock(tmp_path):
                pass
    with point_lock(tmp_path):  # released with the first
        pass


@pytest.mark.skipif(find_spec("vllm") is not None, reason="vllm is installed here")
def test_sweep_engine_vllm_without_vllm_stops_before_any_worker(tmp_path):
    with pytest.raises(SweepError, match="vllm package is not installed"):
        parse(base_args(tmp_path, "--engine", "vllm"))
    assert not (tmp_path / "out").exists()


def test_the_engine_is_a_setting_only_when_it_is_not_hf(tmp_path, monkeypatch):
    """Results written before there was an engine (hf) still count for an hf sweep; a vLLM
    sweep does not resume onto them."""
    from kick_models import engines
    from kick_models.sweep.plan import lm_eval_command

    monkeypatch.setattr(engines, "find_spec", lambda name: object())  # as if vllm were installed
    hf, vllm = parse(base_args(tmp_path)), parse(base_args(tmp_path, "--engine", "vllm"))
    assert hf.engine == "hf" and "engine" not in hf.settings(hf.points[0], "task_a")
    assert vllm.settings(vllm.points[0], "task_a")["engine"] == "vllm"
    assert "--model kick_vllm" in lm_eval_command(vllm, vllm.points[0], ["task_a"], "raw")
    write_done(hf.result_path(hf.points[0], "task_a"), hf.settings(hf.points[0], "task_a"))
    assert sweep.plan(hf)[0].tasks[0].done
    with pytest.raises(SweepError, match="engine was None, now 'vllm'"):
        sweep.plan(vllm)
