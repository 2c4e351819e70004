"""`kick report`: metric choice, ratios to dense, issues, tables, plots, summary (hand-written results)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from kick_models.report.cli import main
from kick_models.report.compare import build_report
from kick_models.report.metrics import MetricError, choose_metric, parse_metric_override, ratio_to_dense
from kick_models.report.results import load_runs, read_run

FIXTURES = Path(__file__).parent / "fixtures" / "results"
SWEEP = FIXTURES / "sweep-smollm2"
MIXED = FIXTURES / "mixed"
SMOL = "/models/SmolLM2-135M-Instruct"


def report_of(*paths, tolerance=0.05, **kwargs):
    runs, skipped = load_runs(list(paths), **kwargs)
    return build_report(runs, tolerance, skipped)


def cell(report, label, task):
    (row,) = [r for r in report.rows if r.label == label and r.task == task]
    return row


def kinds(report):
    return [issue.kind for issue in report.issues]


# ----------------------------------------------------------------------------- metrics
def test_headline_metric_is_the_first_declared_and_prefers_filter_none():
    entry = {"alias": "t", "exact_match,strict": 0.1, "exact_match,none": 0.2, "exact_match_stderr,none": 0.01,
             "f1,none": 0.5}
    config = {"metric_list": [{"metric": "exact_match"}, {"metric": "f1"}]}
    choice = choose_metric("t", entry, config, {"exact_match": True, "f1": True})
    assert (choice.metric, choice.filter, choice.higher_is_better) == ("exact_match", "none", True)


def test_group_without_config_uses_higher_is_better_order_and_bare_groups_have_no_metric():
    group = {"alias": "g", "acc_mc,none": 0.3, "acc,none": 0.25, "sample_count": {"acc,none": 4}}
    assert choose_metric("g", group, None, {"acc": True, "acc_mc": True}).metric == "acc"
    assert choose_metric("g", {"alias": "g", "name": "g"}, None, {"acc": True}) is None


def test_metric_override_and_its_errors():
    entry = {"contains,none": 0.3, "exact_match,none": 0.2}
    assert choose_metric("t", entry, None, {"contains": True}, ("exact_match", None)).metric == "exact_match"
    with pytest.raises(MetricError, match=r"no metric 'f1'.*contains,none"):
        choose_metric("t", entry, None, {}, ("f1", None))
    assert parse_metric_override("kick_mmlu=acc_mc") == ("kick_mmlu", ("acc_mc", None))
    assert parse_metric_override("gsm8k=exact_match,strict-match") == ("gsm8k", ("exact_match", "strict-match"))
    with pytest.raises(ValueError, match="TASK=METRIC"):
        parse_metric_override("kick_mmlu")


def test_ratio_is_worse_below_one_for_both_directions():
    assert ratio_to_dense(0.27, 0.30, True) == pytest.approx(0.9)
    assert ratio_to_dense(20.0, 18.0, False) == pytest.approx(0.9)  # perplexity: dense / compressed
    assert ratio_to_dense(0.1, 0.0, True) is None
    assert ratio_to_dense(0.0, 18.0, False) is None


# ----------------------------------------------------------------------------- reading
def test_plain_hf_file_with_string_model_args_is_a_dense_run_of_its_model():
    (path,) = (MIXED / "hf").rglob("*.json")
    run = read_run(path)
    assert run.model == "/models/tiny-other" and run.is_dense and run.model_type == "hf"
    assert set(run.scores) == {"kick_factoid_qa", "kick_ppl"}
    assert run.scores["kick_ppl"].choice.higher_is_better is False
    assert run.bits == 32  # dense bit width from model_dtype torch.float32


def test_non_results_json_is_skipped_and_reported():
    report = report_of(MIXED)
    assert MIXED / "notes.json" in report.skipped
    assert "skipped-files" in kinds(report)


def test_storage_sizes_read_best_codec_or_fall_back_to_the_best_ratio(tmp_path):
    source = SWEEP / "SmolLM2-135M-Instruct" / "rtn_bits-4" / "kick_ppl.json"
    run = read_run(source)
    assert (run.size_bytes("raw"), run.size_bytes("compressed")) == (72000000, 66500000)
    data = json.loads(source.read_text())
    del data["config"]["kick"]["storage"]["best"]
    copy = tmp_path / "r.json"
    copy.write_text(json.dumps(data))
    ratios = data["config"]["kick"]["storage"]["ratios"]
    best = max(r for codecs in ratios.values() for r in codecs.values())
    assert read_run(copy).size_bytes("compressed") == pytest.approx(72000000 / best)


# ----------------------------------------------------------------------------- comparing
def test_sweep_ratios_marks_and_axes():
    report = report_of(SWEEP)
    assert report.models == [SMOL]
    assert cell(report, "magnitude 50%", "kick_factoid_qa").ratio == pytest.approx(0.18 / 0.30)
    assert cell(report, "magnitude 50%", "kick_factoid_qa").within is False
    ppl = cell(report, "magnitude 30%", "kick_ppl")
    assert ppl.ratio == pytest.approx(17.10 / 18.00) and ppl.within is True  # exactly 5% below: within
    assert cell(report, "wanda 2:4", "kick_mmlu").sparsity == 0.5
    quant = cell(report, "rtn 4-bit", "kick_ppl")
    assert (quant.axis, quant.bits, quant.within) == ("bits", 4, False)
    assert cell(report, "dense", "kick_mmlu").ratio == 1.0


def test_partial_sweep_is_reported_point_by_point():
    report = report_of(SWEEP)
    missing = [i.message for i in report.issues if i.kind == "missing-point"]
    assert len(missing) == 1 and "wanda 50%" in missing[0] and "kick_ppl" in missing[0]
    assert "missing-baseline" not in kinds(report)


def test_group_subtasks_are_rows_but_not_headline():
    report = report_of(SWEEP)
    assert report.tasks_for(SMOL) == ["kick_factoid_qa", "kick_mmlu", "kick_ppl"]
    assert "kick_mmlu_stem" in report.tasks_for(SMOL, headline_only=False)


def test_missing_baseline_mixed_models_and_version_mismatch_are_reported_not_averaged():
    report = report_of(SWEEP, MIXED)
    assert {"mixed-models", "missing-baseline", "version-mismatch"} <= set(kinds(report))
    assert set(report.models) == {SMOL, "/models/tiny-other", "/models/orphan"}
    orphan = report.rows_for("/models/orphan")
    assert [(r.ratio, r.within, r.dense_score) for r in orphan] == [(None, None, None)]
    mismatch = next(r for r in report.rows if r.model == "/models/tiny-other" and r.task == "kick_factoid_qa"
                    and r.axis != "dense")
    assert any("task version 2.0 vs dense 1.0" in note for note in mismatch.notes)


def test_duplicate_results_keep_the_newest_and_say_so(tmp_path):
    shutil.copytree(SWEEP, tmp_path / "a")
    newer = tmp_path / "b" / "dense_again.json"
    newer.parent.mkdir()
    data = json.loads((SWEEP / "SmolLM2-135M-Instruct" / "dense" / "kick_ppl.json").read_text())
    data["date"] += 10**6
    data["results"]["kick_ppl"]["word_perplexity,none"] = 17.5
    newer.write_text(json.dumps(data))
    report = report_of(tmp_path)
    assert "duplicate" in kinds(report)
    assert cell(report, "dense", "kick_ppl").score == 17.5
    assert cell(report, "magnitude 30%", "kick_ppl").dense_score == 17.5


def test_recipe_for_labels_an_hf_checkpoint_and_joins_its_base_model():
    recipes = {"/models/tiny-other": {"method": "magnitude", "sparsity": 0.4, "base": SMOL}}
    report = report_of(SWEEP, MIXED / "hf", recipes=recipes)
    row = cell(report, "magnitude 40%", "kick_factoid_qa")
    assert row.model == SMOL and row.ratio == pytest.approx(0.100 / 0.300)
    assert any("magnitude 40%" in i.message and "kick_mmlu" in i.message for i in report.issues)


def test_tolerance_moves_the_line():
    strict = report_of(SWEEP, tolerance=0.01)
    assert cell(strict, "magnitude 30%", "kick_mmlu").within is False  # 0.258/0.262 = 0.985
    assert cell(report_of(SWEEP), "magnitude 30%", "kick_mmlu").within is True
    with pytest.raises(ValueError, match="tolerance"):
        build_report([], tolerance=1.5)


# ----------------------------------------------------------------------------- outputs
def test_cli_writes_tables_plots_and_summary(tmp_path):
    out = tmp_path / "report"
    assert main([str(SWEEP), "--output", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert "| magnitude 50% | 269.1 (143.9) | 0.180 (0.60 ✗) | 0.249 (0.95 ✓) | 31.40 (0.54 ✗) |" in summary
    assert "kick_ppl word_perplexity ↓" in summary and "lm-eval 0.4.13" in summary and "llm-kick 0.1.0" in summary
    assert "magnitude (unstructured) | within up to 30%; below from 50%" in summary
    assert "wanda (unstructured) at 50% [calibration: source builtin" in summary
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 7 * 5 - 1  # 7 recipes x (3 tasks + 2 mmlu subtasks), minus the missing point
    assert {r["task"] for r in rows if r["headline"] == "False"} == {"kick_mmlu_stem", "kick_mmlu_humanities"}
    assert "kick_mmlu_stem" in (out / "results.md").read_text()

    import matplotlib.image

    for name in ("ratio-vs-sparsity", "ratio-vs-bits", "ratio-vs-size"):
        image = matplotlib.image.imread(out / "plots" / f"SmolLM2-135M-Instruct-{name}.png")
        assert image.shape[0] > 400 and image.shape[1] > 1000
        svg = (out / "plots" / f"SmolLM2-135M-Instruct-{name}.svg").read_text()
        assert "5% below dense" in svg and "dense" in svg
    assert "wanda (2:4)" in (out / "plots" / "SmolLM2-135M-Instruct-ratio-vs-sparsity.svg").read_text()


def test_cli_metric_override_strict_and_errors(tmp_path, capsys):
    out = tmp_path / "r"
    assert main([str(SWEEP), "-o", str(out), "--metric", "kick_factoid_qa=exact_match", "--no-plots"]) == 0
    assert "kick_factoid_qa exact_match ↑" in (out / "summary.md").read_text()
    assert not (out / "plots").exists()
    assert main([str(SWEEP), "-o", str(out), "--strict", "--no-plots"]) == 1  # the partial sweep
    assert main([str(SWEEP), "-o", str(out), "--metric", "kick_mmlu=f1", "--no-plots"]) == 0
    assert "no metric 'f1'" in capsys.readouterr().err
    assert main([str(MIXED / "notes.json"), "-o", str(out)]) == 2
    assert "no lm-eval results" in capsys.readouterr().err
    assert main([str(tmp_path / "absent"), "-o", str(out)]) == 2
    assert main([str(SWEEP), "-o", str(out), "--recipe-for", "/m=sparsity=0.5"]) == 2
    assert "PRETRAINED=method" in capsys.readouterr().err


def test_two_models_with_one_folder_name_get_their_own_figures(tmp_path):
    from kick_models.cli import main as kick_main

    twin = tmp_path / "twin"
    for source in (SWEEP / "SmolLM2-135M-Instruct").glob("[dm]*/kick_ppl.json"):  # dense and magnitude
        data = json.loads(source.read_text())
        data["config"]["model_args"]["pretrained"] = "/elsewhere/SmolLM2-135M-Instruct"
        target = twin / source.parent.name / source.name
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(data))
    out = tmp_path / "r"
    assert kick_main(["report", str(SWEEP), str(twin), "-o", str(out)]) == 0  # through the `kick` command
    assert (out / "plots" / "SmolLM2-135M-Instruct-ratio-vs-sparsity.png").is_file()
    assert (out / "plots" / "SmolLM2-135M-Instruct-2-ratio-vs-sparsity.png").is_file()


def test_zero_dense_score_leaves_ratios_empty_and_says_so(tmp_path):
    shutil.copytree(SWEEP, tmp_path / "s")
    dense = tmp_path / "s" / "SmolLM2-135M-Instruct" / "dense" / "kick_factoid_qa.json"
    data = json.loads(dense.read_text())
    data["results"]["kick_factoid_qa"]["contains,none"] = 0.0
    dense.write_text(json.dumps(data))
    report = report_of(tmp_path)
    assert cell(report, "magnitude 50%", "kick_factoid_qa").ratio is None
    (issue,) = [i for i in report.issues if i.kind == "zero-score"]
    assert "kick_factoid_qa" in issue.message and "rtn 4-bit (0.27)" in issue.message


def test_zero_scores_of_subtasks_are_one_issue_line(tmp_path):
    shutil.copytree(SWEEP, tmp_path / "s")
    dense = tmp_path / "s" / "SmolLM2-135M-Instruct" / "dense" / "kick_mmlu.json"
    data = json.loads(dense.read_text())
    for subtask in ("kick_mmlu_stem", "kick_mmlu_humanities"):
        data["results"][subtask]["acc,none"] = 0.0
    dense.write_text(json.dumps(data))
    (issue,) = [i for i in report_of(tmp_path).issues if i.kind == "zero-score"]
    assert issue.message.startswith(f"{SMOL}: 2 subtasks (kick_mmlu_humanities, kick_mmlu_stem)")


def test_a_group_without_its_own_direction_takes_its_subtasks(tmp_path):
    """lm-eval writes no ``higher_is_better`` for a group (kick_mmlu in lm-eval 0.4.13): the
    report takes its subtasks' direction where they agree, instead of guessing."""
    source = SWEEP / "SmolLM2-135M-Instruct" / "magnitude_sparsity-0.3" / "kick_mmlu.json"
    data = json.loads(source.read_text())
    del data["higher_is_better"]["kick_mmlu"]
    data["group_subtasks"] = {"kick_mmlu": ["kick_mmlu_stem", "kick_mmlu_humanities"],
                              "kick_mmlu_stem": ["kick_mmlu_abstract_algebra"]}
    data["higher_is_better"]["kick_mmlu_abstract_algebra"] = {"acc": True}
    target = tmp_path / "kick_mmlu.json"
    target.write_text(json.dumps(data))
    run = read_run(target)
    assert run.scores["kick_mmlu"].choice.higher_is_better is True
    data["higher_is_better"]["kick_mmlu_abstract_algebra"] = {"acc": False}  # disagreeing leaves: unknown
    target.write_text(json.dumps(data))
    assert read_run(target).scores["kick_mmlu"].choice.higher_is_better is None
