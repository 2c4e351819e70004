"""The speed benchmarks (bench/) run end to end in their smoke modes, on a tiny random Llama,
and report what they promise: so they cannot rot between the GPU sessions that use them."""

from __future__ import annotations

import json

import pytest

from bench import cases as bench_cases

pytestmark = pytest.mark.bench


def run(module: str, tmp_path, *extra: str) -> dict:
    import importlib

    out = tmp_path / f"{module}.json"
    assert importlib.import_module(f"bench.{module}").main(["--smoke", "--json", str(out), *extra]) == 0
    return json.loads(out.read_text())


def test_compress_speed_times_ours_and_llmcompressor_on_identical_work(tmp_path, capsys):
    result = run("compress_speed", tmp_path)
    assert "1+2. compression" in capsys.readouterr().out
    rows = {row["case"]: row for row in result["rows"]}
    assert list(rows) == [name for name in bench_cases.DEFAULT if name in bench_cases.available()]
    assert {"wanda", "sparsegpt", "sparsegpt-2:4"} <= set(rows)
    for name in ("wanda", "sparsegpt", "sparsegpt-2:4"):
        row = rows[name]
        assert row["same_weights"], f"{name}: ours and llmcompressor direct pruned differently"
        assert row["sparsity"] == pytest.approx(0.5, abs=0.01)
        assert row["direct_s"] > 0 and row["ours_s"] > 0 and row["overhead"] == row["ours_s"] / row["direct_s"]
        assert row["layers"] == "2/2" and row["basis"] == "measured" and row["target_s"] is None
    assert result["machine"]["cores"] >= 1 and result["setup"]["calibration"]["source"] == "random"


def test_reload_speed_second_run_loads_without_compressing(tmp_path, capsys):
    result = run("reload_speed", tmp_path)
    assert "3. cached reload" in capsys.readouterr().out
    (row,) = result["rows"]
    assert row["case"] == "wanda" and row["checkpoint_gb"] > 0
    assert row["compress_s"] > 0 and row["cold_load_s"] > 0 and row["first_s"] > row["compress_s"]
    assert row["load_vs_compress"] == pytest.approx(row["cold_load_s"] / row["compress_s"])
    assert result["setup"]["disk_cold_read_GBps"] > 0


def test_eval_throughput_compares_kick_tasks_with_builtin_tasks_of_the_same_shape(tmp_path, capsys):
    result = run("eval_throughput", tmp_path, "--profile", str(tmp_path / "profile"), "--profile-docs", "2")
    assert "4. evaluation throughput" in capsys.readouterr().out
    rows = {row["task"]: row for row in result["rows"]}
    for row in rows.values():  # the request time, split: the model's batches and lm-eval around them
        assert 0 < row["batches_s"] <= row["model_s"] and row["around_batches_s"] >= -1e-3
        assert row["gc_s"] >= 0 and len(row["gc_collections"]) == 3
    for task in ("kick_icrqa_closed", "builtin_triviaqa_local_kickgen", "kick_mmlu_abstract_algebra",
                 "builtin_mmlu_abstract_algebra_local"):
        profile = rows[task]["profile"]
        assert profile["docs"] == 2 and "aten::" in (tmp_path / "profile" / f"{task}.txt").read_text()
        assert profile["top_self_cpu_us"]
    assert "profile" not in rows["builtin_triviaqa_local"]
    assert set(rows) == {"kick_icrqa_closed", "builtin_triviaqa_local_kickgen", "builtin_triviaqa_local",
                         "kick_mmlu_abstract_algebra", "builtin_mmlu_abstract_algebra_local"}
    assert all(row["docs"] == 2 and row["prompts_per_s"] > 0 for row in rows.values())
    # same questions, same request shape: prompts of about the same length in tokens
    qa, qa_builtin = rows["kick_icrqa_closed"], rows["builtin_triviaqa_local_kickgen"]
    assert qa["vs"] == "builtin_triviaqa_local_kickgen" and qa["ratio_prompts"] > 0
    assert abs(qa["prompt_tokens"] / qa_builtin["prompt_tokens"] - 1) < 0.2
    assert qa["gen_tokens"] <= 2 * 32 and qa_builtin["gen_tokens"] <= 2 * 32
    mmlu, mmlu_builtin = rows["kick_mmlu_abstract_algebra"], rows["builtin_mmlu_abstract_algebra_local"]
    assert mmlu["requests"] == "loglikelihood:8 generate_until:2" and mmlu_builtin["requests"] == "loglikelihood:8"
    assert abs(mmlu["prompt_tokens"] / mmlu_builtin["prompt_tokens"] - 1) < 0.05
    assert mmlu["vs"] == "builtin_mmlu_abstract_algebra_local" and mmlu["ratio_prompts"] > 0
    # the same log-likelihood requests on both sides: their rates compare directly
    assert mmlu["ll_req_per_s"] > 0 and mmlu["ratio_loglikelihood"] > 0 and qa["ratio_loglikelihood"] is None
    # paired tasks run twice in ABBA order, the fastest counts; the unpaired reference once
    for task in ("kick_icrqa_closed", "builtin_triviaqa_local_kickgen", "kick_mmlu_abstract_algebra",
                 "builtin_mmlu_abstract_algebra_local"):
        assert rows[task]["runs"] == 2 and rows[task]["prompts_per_s"] == max(rows[task]["prompts_per_s_runs"])
    assert rows["builtin_triviaqa_local"]["runs"] == 1


def test_cases_refuse_unknown_or_unavailable_methods():
    with pytest.raises(ValueError, match="'nope' is unknown"):
        bench_cases.parse("wanda,nope")
    missing = bench_cases.Case("x", {"method": "not-a-method"})
    assert "METHODS has no 'not-a-method'" in missing.missing()
    with pytest.raises(ValueError, match="cannot run"):
        missing.recipe()


def test_eval_scaling_cold_start_compresses_once_and_times_each_layout(tmp_path, capsys):
    result = run("eval_scaling", tmp_path)
    assert "evaluation over 2 GPUs" in capsys.readouterr().out
    assert "errors" not in result
    rows = {row["mode"]: row for row in result["rows"]}
    assert list(rows) == ["cold", "single"]
    cold, single = rows["cold"], rows["single"]
    assert sorted(cold["ranks"].values()) == ["cached", "new"]  # 2 processes raced; one compressed
    assert single["ranks"] == {"0": "cached"}  # JSON keys are strings
    assert single["docs"] == 2 and single["eval_s"] > 0 and single["speedup_eval"] == 1.0
    assert (tmp_path / "eval_scaling_single.log").is_file()


def test_compress_speed_phases_account_for_the_whole_run(tmp_path):
    result = run("compress_speed", tmp_path, "--cases", "sparsegpt,gptq-w4g128", "--phases")
    for row in result["rows"]:
        for side in ("ours", "direct"):
            phases = row["phases"][side]
            seconds = phases["seconds"]
            assert set(seconds) == {"statistics", "solve", "forward", "trace", "other"}
            assert sum(seconds.values()) == pytest.approx(phases["total_s"])
            # 2 decoder layers x 7 Linear modules, each solved once; statistics per batch once
            # per module (llmcompressor) or once per distinct input, 4 a layer (ours)
            assert phases["calls"]["solve"] == 14
            assert phases["calls"]["statistics"] >= (14 if side == "direct" else 8)
            assert phases["calls"]["trace"] == 1 and phases["calls"]["forward"] > 0
            assert seconds["solve"] > 0 and seconds["statistics"] > 0


def test_phase_clock_charges_nested_calls_to_the_inner_phase():
    import time

    from bench.phases import PhaseClock

    clock = PhaseClock()
    inner = clock.wrap("statistics", lambda: time.sleep(0.05))
    outer = clock.wrap("forward", lambda: (time.sleep(0.02), inner()))
    outer()
    breakdown = clock.breakdown(0.1)
    assert breakdown["seconds"]["statistics"] == pytest.approx(0.05, abs=0.02)
    assert breakdown["seconds"]["forward"] == pytest.approx(0.02, abs=0.02)
    assert breakdown["seconds"]["other"] == pytest.approx(0.1 - 0.07, abs=0.03)
    assert breakdown["calls"] == {"statistics": 1, "solve": 0, "forward": 1, "trace": 0}


def test_reload_speed_reports_the_first_runs_compression_phases(tmp_path):
    result = run("reload_speed", tmp_path, "--cases", "sparsegpt", "--phases")
    (row,) = result["rows"]
    phases = row["phases"]
    assert phases["total_s"] == pytest.approx(row["compress_s"])
    assert phases["calls"]["solve"] == 14 and phases["seconds"]["solve"] > 0
