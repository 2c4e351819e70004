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
from kick_models.report.tables import comparisons_table

FIXTURES = Path(__file__).parent / "fixtures" / "results"
SWEEP = FIXTURES / "sweep-smollm2"
MIXED = FIXTURES / "mixed"
PAIRED = FIXTURES / "paired"  # written by fixtures/results/make_paired.py
REAL = FIXTURES / "lm-eval-real"
SMOL = "/models/SmolLM2-135M-Instruct"
TINY = "/models/paired-tiny"


def report_of(*paths, tolerance=0.05, resamples=1000, seed=1234, **kwargs):
    runs, skipped = load_runs(list(paths), **kwargs)
    return build_report(runs, tolerance, skipped, resamples=resamples, seed=seed)


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
def test_sweep_ratios_verdicts_and_axes():
    """Results without samples: unpaired intervals from lm-eval's stderr (Fieller), none for
    perplexity (stderr N/A), which stays undecided however far its point estimate is."""
    report = report_of(SWEEP)
    assert report.models == [SMOL]
    factoid = cell(report, "magnitude 50%", "kick_factoid_qa")
    assert factoid.ratio == pytest.approx(0.18 / 0.30)
    assert factoid.verdict == "below" and factoid.comparison.interval == "unpaired (no samples), Fieller"
    assert factoid.low < factoid.ratio < factoid.high < 0.95
    ppl = cell(report, "magnitude 30%", "kick_ppl")
    assert ppl.ratio == pytest.approx(17.10 / 18.00) and ppl.verdict == "undecided" and ppl.low is None
    assert ppl.comparison.interval == "none (unpaired: no samples, no stderr)"
    assert cell(report, "wanda 2:4", "kick_mmlu").sparsity == 0.5
    quant = cell(report, "rtn 4-bit", "kick_ppl")
    assert (quant.axis, quant.bits, quant.verdict) == ("bits", 4, "undecided")
    assert cell(report, "dense", "kick_mmlu").ratio == 1.0 and cell(report, "dense", "kick_mmlu").verdict is None
    assert cell(report, "magnitude 30%", "kick_mmlu").n_samples == 60  # a group's examples: its subtasks'
    assert "- **Intervals** (95%): 12 unpaired (no samples: Fieller's, from lm-eval's standard errors; run " \
           "lm_eval with --log_samples to pair); 5 none (see each comparison), so undecided" in summary_of(report)


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
    assert [(r.ratio, r.verdict, r.dense_score) for r in orphan] == [(None, None, None)]
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
    ppl = cell(report_of(PAIRED), "magnitude 30%", "kick_ppl")  # 0.969, interval about 0.967-0.973
    assert ppl.verdict == "within"
    assert cell(report_of(PAIRED, tolerance=0.01), "magnitude 30%", "kick_ppl").verdict == "below"
    assert cell(report_of(PAIRED, tolerance=0.031), "magnitude 30%", "kick_ppl").verdict == "undecided"
    with pytest.raises(ValueError, match="tolerance"):
        build_report([], tolerance=1.5)
    with pytest.raises(ValueError, match="confidence"):
        build_report([], confidence=95)


# ----------------------------------------------------------------------------- outputs
def test_cli_writes_tables_plots_and_summary(tmp_path):
    out = tmp_path / "report"
    assert main([str(SWEEP), "--output", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert ("| magnitude 50% | 269.1 (143.9) | 0.180 (0.60 [0.47–0.75] ✗ ‡) | 0.249 (0.95 [0.48–1.85] ? ‡) | "
            "31.40 (0.54 ? ‡) |") in summary
    assert "| magnitude 50% | kick_factoid_qa | 0.180 | 0.300 | 0.600 | 0.471–0.751 | below | — | 500 | " \
           "unpaired (no samples), Fieller |" in summary
    assert "kick_ppl word_perplexity ↓" in summary and "lm-eval 0.4.13" in summary and "llm-kick 0.1.0" in summary
    assert "magnitude (unstructured) | undecided at 30%; below from 50% |" in summary
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
        assert "5% below dense" in svg and "dense" in svg and "95% interval" in svg
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


# ----------------------------------------------------------------------------- paired samples
def test_paired_fixture_intervals_verdicts_and_mcnemar():
    report = report_of(PAIRED)
    same = cell(report, "magnitude 30%", "kick_factoid_qa")  # the same answers as dense
    assert (same.ratio, same.low, same.high, same.verdict) == (1.0, 1.0, 1.0, "within")
    assert same.comparison.p_value == 1.0 and same.comparison.interval == "paired bootstrap (percentile)"
    lost = cell(report, "magnitude 50%", "kick_factoid_qa")  # 18 right answers lost, 2 gained (gzipped samples)
    assert lost.ratio == pytest.approx(0.3 / 0.5) and lost.verdict == "below" and lost.comparison.paired
    assert lost.comparison.n == 80 and lost.comparison.interval == "paired bootstrap (BCa)"
    # exact McNemar by hand: 2 * P(X <= 2 | 20, 1/2) = 2 * (1 + 20 + 190) / 2^20
    assert lost.comparison.p_value == pytest.approx(2 * (1 + 20 + 190) / 2 ** 20)
    assert lost.low < lost.ratio < lost.high < 0.95
    # Wilson for 24/80: (24 + z²/2) / (80 + z²) ± z / (80 + z²) * sqrt(24 * 56 / 80 + z²/4) = 0.3092 ± 0.0985
    assert lost.score_interval == (pytest.approx(0.2106, abs=1e-4), pytest.approx(0.4077, abs=1e-4))
    group = cell(report, "magnitude 50%", "kick_mmlu")  # a group: its two subtasks' questions pooled
    assert group.comparison.n == 50 and group.verdict == "undecided" and group.comparison.needs > 50
    ppl = cell(report, "magnitude 50%", "kick_ppl")  # documents paired; dense ÷ compressed perplexity
    assert ppl.ratio == pytest.approx(ppl.dense_score / ppl.score) and ppl.comparison.n == 20
    assert ppl.low < ppl.ratio < ppl.high < 0.95 and ppl.verdict == "below" and ppl.comparison.p_value is None
    assert cell(report, "magnitude 30%", "kick_ppl").verdict == "within"


def test_paired_intervals_are_seeded():
    first = cell(report_of(PAIRED, seed=5), "magnitude 50%", "kick_ppl")
    assert (first.low, first.high) == (cell(report_of(PAIRED, seed=5), "magnitude 50%", "kick_ppl").low,
                                       cell(report_of(PAIRED, seed=5), "magnitude 50%", "kick_ppl").high)
    assert first.low != cell(report_of(PAIRED, seed=6), "magnitude 50%", "kick_ppl").low


def test_runs_with_another_chat_template_are_not_compared():
    report = report_of(PAIRED)
    for task in ("kick_factoid_qa", "kick_mmlu", "kick_ppl"):
        row = cell(report, "wanda 50%", task)
        assert row.ratio is None and row.comparison is None
        assert any(n.startswith("not compared: chat template: dense off, wanda 50% on (sha ") for n in row.notes)
    (issue,) = [i for i in report.issues if i.kind == "not-comparable" and "wanda 50%" in i.message]
    assert issue.message.startswith(f"{TINY}: wanda 50% is not compared with dense on kick_factoid_qa, kick_mmlu, "
                                    "kick_ppl and 2 more: chat template: dense off, wanda 50% on (sha ")
    assert "\n" not in issue.message
    assert "| wanda (unstructured) |" not in summary_of(report)  # no verdict, so no reach


def test_other_documents_refuse_only_that_task():
    report = report_of(PAIRED)
    factoid = cell(report, "wanda 2:4", "kick_factoid_qa")
    assert factoid.ratio is None
    assert "not compared: document: kick_factoid_qa doc 7 has doc_hash " in factoid.notes[0]
    assert "in wanda 2:4 (1 of 80 examples differ)" in factoid.notes[0]
    assert cell(report, "wanda 2:4", "kick_ppl").comparison.paired


def test_runs_without_samples_fall_back_to_unpaired_and_say_so(tmp_path):
    report = report_of(PAIRED)
    row = cell(report, "rtn 4-bit", "kick_factoid_qa")
    assert row.comparison.interval == "unpaired (no samples), Fieller" and not row.comparison.paired
    assert row.comparison.p_value is None and row.low is not None
    assert cell(report, "rtn 4-bit", "kick_ppl").comparison.interval == "none (unpaired: no samples, no stderr)"
    out = tmp_path / "r"
    assert main([str(PAIRED), "-o", str(out), "--no-plots", "--resamples", "500"]) == 0
    summary = (out / "summary.md").read_text()
    assert "| rtn 4-bit | kick_factoid_qa | 0.475 | 0.500 | 0.950 | 0.683–1.314 | undecided | — | 80 | " \
           "unpaired (no samples), Fieller |" in summary
    assert "| magnitude 50% | kick_factoid_qa | 0.300 | 0.500 | 0.600 |" in summary
    assert "undecided: needs ~" in summary and "| 0.0004 | 80 | paired bootstrap (BCa) |" in summary
    with open(out / "results.csv", newline="") as handle:
        rows = {(r["recipe"], r["task"]): r for r in csv.DictReader(handle)}
    lost = rows[("magnitude 50%", "kick_factoid_qa")]
    assert (lost["verdict"], lost["n_compared"], lost["interval"]) == ("below", "80", "paired bootstrap (BCa)")
    assert float(lost["p_mcnemar"]) == pytest.approx(422 / 2 ** 20) and lost["confidence"] == "0.95"
    assert int(rows[("magnitude 50%", "kick_mmlu")]["needs_examples"]) > 50
    assert rows[("wanda 50%", "kick_ppl")]["verdict"] == ""


def test_confidence_flag_widens_intervals(tmp_path):
    narrow = cell(report_of(PAIRED), "magnitude 50%", "kick_factoid_qa")
    runs, _ = load_runs([PAIRED])
    wide = cell(build_report(runs, confidence=0.99, resamples=1000), "magnitude 50%", "kick_factoid_qa")
    assert wide.low < narrow.low and wide.high > narrow.high
    assert main([str(PAIRED), "-o", str(tmp_path / "r"), "--no-plots", "--confidence", "0.99"]) == 0
    assert "99% interval" in (tmp_path / "r" / "summary.md").read_text()
    assert main([str(PAIRED), "-o", str(tmp_path / "r"), "--confidence", "95"]) == 2


def copy_point(tmp_path, *points):
    """The paired fixture's dense run and the given points, to edit."""
    for point in ("dense", *points):
        shutil.copytree(PAIRED / "paired-tiny" / point, tmp_path / "paired-tiny" / point)
    return tmp_path / "paired-tiny"


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_prompt_settings_from_results_files_refuse_the_comparison(tmp_path):
    root = copy_point(tmp_path, "magnitude_sparsity-0.3")
    point = root / "magnitude_sparsity-0.3"
    edit_json(point / "kick_ppl.json", lambda d: d["n-shot"].update(kick_ppl=5))
    edit_json(point / "kick_factoid_qa.json", lambda d: d.update(system_instruction="Answer briefly."))
    edit_json(point / "kick_mmlu.json", lambda d: d.update(fewshot_as_multiturn=True))
    report = report_of(tmp_path)
    messages = [i.message for i in report.issues if i.kind == "not-comparable"]
    assert any(m.endswith("on kick_ppl: n-shot: dense 0, magnitude 30% 5") for m in messages)
    assert any(m.endswith("system instruction: dense none, magnitude 30% 'Answer briefly.'") for m in messages)
    assert any(m.endswith("few-shot as multi-turn: dense off, magnitude 30% on") for m in messages)
    assert all(cell(report, "magnitude 30%", t).ratio is None for t in ("kick_ppl", "kick_factoid_qa", "kick_mmlu"))


def test_sweep_provenance_that_differs_refuses_the_comparison(tmp_path):
    root = copy_point(tmp_path, "magnitude_sparsity-0.3")

    def provenance(revision, system_prompt):
        return lambda d: d.update(kick_provenance={"kick_ppl": {
            "data": {"source": "wikitext2", "revision": revision},
            "examples": {"count": 20, "ids_sha256": "ab" * 32},
            "prompt": {"chat_template": False, "system_prompt": system_prompt, "num_fewshot": 0}}})

    edit_json(root / "dense" / "kick_ppl.json", provenance("r1", None))
    edit_json(root / "magnitude_sparsity-0.3" / "kick_ppl.json", provenance("r2", "Be brief."))
    messages = [i.message for i in report_of(tmp_path).issues if i.kind == "not-comparable"]
    assert any(m.endswith("data revision: dense 'r1', magnitude 30% 'r2'") for m in messages)
    assert any(m.endswith("prompt system_prompt: dense none, magnitude 30% 'Be brief.'") for m in messages)
    edit_json(root / "magnitude_sparsity-0.3" / "kick_ppl.json", provenance("r1", None))
    assert cell(report_of(tmp_path), "magnitude 30%", "kick_ppl").comparison.paired


def test_samples_with_other_prompts_or_scores(tmp_path):
    import gzip

    root = copy_point(tmp_path, "magnitude_sparsity-0.5")
    (path,) = (root / "magnitude_sparsity-0.5" / "kick_ppl.samples").iterdir()
    rows = [json.loads(line) for line in gzip.decompress(path.read_bytes()).decode().splitlines()]
    rows[3]["prompt_hash"] = "f" * 64
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    row = cell(report_of(tmp_path), "magnitude 50%", "kick_ppl")
    assert row.ratio is None
    assert row.notes[0].startswith("not compared: prompt: kick_ppl doc 3 has prompt_hash ")
    assert row.notes[0].endswith(f"in dense, {'f' * 12} in magnitude 50% (1 of 20 examples differ)")
    # a reported score its samples do not give: compared unpaired, and said
    edit_json(root / "magnitude_sparsity-0.5" / "kick_factoid_qa.json",
              lambda d: d["results"]["kick_factoid_qa"].update({"contains,none": 0.31}))
    report = report_of(tmp_path)
    assert not cell(report, "magnitude 50%", "kick_factoid_qa").comparison.paired
    (issue,) = [i for i in report.issues if i.kind == "samples-mismatch"]
    assert "kick_factoid_qa contains from its samples is 0.3, the file says 0.31" in issue.message


def test_real_lm_eval_samples_pair_by_document():
    """Real `lm_eval --log_samples` output (SmolLM2-135M, kick_ppl --limit 2, dense with --model hf
    and magnitude 30% with --model kick; texts trimmed): the plain layout, results_<date>.json
    beside samples_<task>_<date>.jsonl, with [loglikelihood, words] per document."""
    report = report_of(REAL)
    row = cell(report, "magnitude 30%", "kick_ppl")
    assert row.ratio == pytest.approx(33.11883187666518 / 57.35197, rel=1e-6)
    assert row.comparison.paired and row.comparison.n == 2
    assert row.comparison.interval == "none (paired, fewer than 10 examples)" and row.verdict == "undecided"


def test_error_bars_on_every_point():
    from kick_models.report import plots

    report = report_of(PAIRED)
    rows = [r for r in report.rows_for(TINY) if r.ratio is not None]
    fig = plots._ratio_figure(report, TINY, rows, "sparsity", plots._styles(rows))
    ax = fig.axes[0]  # kick_factoid_qa: magnitude 30% and 50% have intervals
    bars = [c for c in ax.collections if c.get_segments()]
    assert len(bars) == 2
    assert [round(y, 6) for y in sorted(ax.get_ylim())][0] <= cell(report, "magnitude 50%", "kick_factoid_qa").low
    assert any(line.get_ydata()[0] == pytest.approx(0.95) for line in ax.get_lines())  # the tolerance line
    import matplotlib.pyplot as plt

    plt.close(fig)


def summary_of(report):
    from kick_models.report.summary import summary_markdown

    return summary_markdown(report)


def test_cli_prints_each_comparison_side_by_side(tmp_path, capsys):
    """The answer on the terminal: score, dense, ratio, interval and verdict of each run."""
    assert main([str(PAIRED), "-o", str(tmp_path), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "paired-tiny: each compressed run against dense" in out
    assert "| magnitude 50% | kick_factoid_qa | 0.300 | 0.500 | 0.600 | 0.441–0.788 | below | 0.0004 | 80 |" in out
    assert main([str(PAIRED), "-o", str(tmp_path), "--no-plots",
                 "--quiet"]) == 0
    assert "each compressed run" not in capsys.readouterr().out


def test_calibration_seeds_are_averaged_with_their_spread_beside_the_interval(tmp_path):
    """Two runs of one recipe with calibration seeds 0 and 1 make one row: the mean of the two
    (each example's value averaged, paired with dense), and each seed's own ratio."""
    root = tmp_path / "paired"
    shutil.copytree(PAIRED, root)
    model = root / "paired-tiny"
    seed_one = model / "magnitude_sparsity-0.5_seed-1"
    shutil.copytree(model / "magnitude_sparsity-0.3", seed_one)
    target = json.loads((model / "magnitude_sparsity-0.5" / "kick_factoid_qa.json").read_text())["config"]
    for folder, seed in ((model / "magnitude_sparsity-0.5", 0), (seed_one, 1)):
        for path in folder.glob("*.json"):
            data = json.loads(path.read_text())
            data["config"]["kick"] = {**target["kick"], "calibration": {"source": "builtin", "seed": seed}}
            data["config"]["model_args"] = target["model_args"]
            path.write_text(json.dumps(data))
    runs, _ = load_runs([root])
    report = build_report(runs)
    rows = [r for r in report.rows if r.label == "magnitude 50%" and r.task == "kick_factoid_qa"]
    assert len(rows) == 1 and not [i for i in report.issues if i.kind == "duplicate"]
    (row,) = rows
    scores = {}
    for name in ("dense", "magnitude_sparsity-0.3", "magnitude_sparsity-0.5"):
        scores[name] = json.loads((PAIRED / "paired-tiny" / name / "kick_factoid_qa.json").read_text())[
            "results"]["kick_factoid_qa"]["contains,none"]
    dense = scores["dense"]
    assert row.seeds == (0, 1)
    assert row.seed_ratios == pytest.approx((scores["magnitude_sparsity-0.5"] / dense,
                                             scores["magnitude_sparsity-0.3"] / dense))
    mean = (scores["magnitude_sparsity-0.5"] + scores["magnitude_sparsity-0.3"]) / 2
    assert row.score == pytest.approx(mean) and row.ratio == pytest.approx(mean / dense)
    assert row.comparison.paired and row.comparison.low < row.ratio < row.comparison.high
    assert row.comparison.p_value is None  # a mean over seeds is not a 0/1 outcome
    table = comparisons_table(report, TINY)
    assert "seeds: ratio each" in table
    assert f"| 2: {scores['magnitude_sparsity-0.5'] / dense:.3f}, {scores['magnitude_sparsity-0.3'] / dense:.3f} |" in table
