"""``kick_mmlu`` end to end through lm-eval on the tiny model, its groups, configs and data errors."""

from __future__ import annotations

import importlib.util
from collections import Counter

import numpy as np
import pytest
import yaml
from fixtures.kick_eval import FIXTURE_DATA, KICK_TASKS, data_error, evaluate

from kick_tasks.mmlu import utils as mmlu_utils

CATEGORIES = ("stem", "humanities", "social_sciences", "other")


def generate_configs_module():
    spec = importlib.util.spec_from_file_location(
        "kick_mmlu_generate_configs", KICK_TASKS / "mmlu" / "_generate_configs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_sample(sample) -> None:
    """A logged sample's two scores follow from its five logged responses."""
    *letters, generation = sample["filtered_resps"]
    assert len(letters) == 4 and isinstance(generation, str)
    assert [args[1] for args in sample["arguments"][:4]] == [" A", " B", " C", " D"]
    assert sample["arguments"][4][1] == {"until": [], "max_gen_toks": 1, "do_sample": False}
    assert sample["acc"] == float(generation[-1:] == "ABCD"[sample["doc"]["answer"]])
    assert sample["acc_mc"] == float(np.argmax([ll for ll, _ in letters]) == sample["doc"]["answer"])


def test_subject_runs_end_to_end_with_limit(tiny_model_dir):
    task = "kick_mmlu_abstract_algebra"
    out = evaluate(tiny_model_dir, [task], FIXTURE_DATA, limit=3)
    samples = out["samples"][task]
    assert len(samples) == 3
    for sample in samples:
        check_sample(sample)
    assert samples[0]["doc"]["choices"][3] == "None"  # the reference's pandas would read nan
    for metric in ("acc", "acc_mc"):
        assert out["results"][task][f"{metric},none"] == pytest.approx(np.mean([s[metric] for s in samples]))
    assert out["n-shot"][task] == 5  # the reference's default, with no --num_fewshot
    assert all(s["arguments"][0][0].count("\nAnswer:") == 6 for s in samples)


@pytest.mark.parametrize("num_fewshot", [0, 2])
def test_num_fewshot_sets_the_shots_and_the_recorded_n_shot(tiny_model_dir, num_fewshot):
    task = "kick_mmlu_abstract_algebra"
    out = evaluate(tiny_model_dir, [task], FIXTURE_DATA, limit=2, num_fewshot=num_fewshot)
    assert out["n-shot"][task] == num_fewshot and out["configs"][task]["num_fewshot"] == num_fewshot
    for sample in out["samples"][task]:
        prompt = sample["arguments"][0][0]
        assert prompt.count("\nAnswer:") - 1 == num_fewshot
        assert prompt.startswith("The following are multiple choice questions (with answers) about  abstract algebra.\n\n")
        check_sample(sample)


@pytest.mark.parametrize("num_fewshot", [6, -1])
def test_num_fewshot_outside_0_to_5_is_a_one_line_error(tiny_model_dir, num_fewshot):
    with pytest.raises(ValueError) as err:
        evaluate(tiny_model_dir, ["kick_mmlu_abstract_algebra"], FIXTURE_DATA, limit=1, num_fewshot=num_fewshot)
    message = str(err.value)
    assert "\n" not in message and f"num_fewshot {num_fewshot}" in message and "from 0 to 5" in message


def test_predict_only_logs_both_requests(tiny_model_dir):
    task = "kick_mmlu_abstract_algebra"
    out = evaluate(tiny_model_dir, [task], FIXTURE_DATA, limit=1, predict_only=True)
    (sample,) = out["samples"][task]
    assert len(sample["resps"]) == 5 and isinstance(sample["filtered_resps"][4], str)
    assert "acc,none" not in out["results"][task]


@pytest.mark.slow
def test_group_reports_micro_averages_per_category(shared_data, tiny_model_dir):
    # One or two questions per subject, so that a micro average differs from a macro one.
    subjects = sorted(generate_configs_module().SUBCATEGORY)
    chosen = {f"kick_mmlu_{subject}": list(range(1 + i % 2)) for i, subject in enumerate(subjects)}
    out = evaluate(tiny_model_dir, ["kick_mmlu"], shared_data, limit=None, samples=chosen)
    samples = out["samples"]
    assert {task: len(s) for task, s in samples.items()} == {task: len(ids) for task, ids in chosen.items()}
    for subject_samples in samples.values():
        for sample in subject_samples:
            check_sample(sample)
    members = {category: [] for category in CATEGORIES}
    for group, tasks in out["group_subtasks"].items():
        if group.removeprefix("kick_mmlu_") in members:
            members[group.removeprefix("kick_mmlu_")] = tasks
    assert {c: len(t) for c, t in members.items()} == {
        "stem": 18,
        "humanities": 13,
        "social_sciences": 12,
        "other": 14,
    }
    assert "kick_mmlu_anatomy" in members["other"]  # the reference's categories, not lm-eval's
    # n-shot: 5 for every subject and category; lm-eval 0.4.13 propagates it one level up only,
    # so the top group has none (its children are groups).
    assert {t: n for t, n in out["n-shot"].items() if t != "kick_mmlu"} == dict.fromkeys(
        [*samples, *(f"kick_mmlu_{c}" for c in CATEGORIES)], 5
    )
    assert out["n-shot"].get("kick_mmlu", 5) == 5
    for metric in ("acc", "acc_mc"):
        pooled = [s[metric] for subject in samples.values() for s in subject]
        assert out["results"]["kick_mmlu"][f"{metric},none"] == pytest.approx(np.mean(pooled))
        for category, tasks in members.items():
            values = [s[metric] for task in tasks for s in samples[task]]
            assert out["results"][f"kick_mmlu_{category}"][f"{metric},none"] == pytest.approx(np.mean(values))


def test_checked_in_configs_match_the_generator(tmp_path):
    generator = generate_configs_module()
    written = generator.write_configs(tmp_path)
    assert len(written) == 57
    for path in written:
        assert path.read_text(encoding="utf-8") == (KICK_TASKS / "mmlu" / path.name).read_text(
            encoding="utf-8"
        )
    assert Counter(generator.CATEGORY_OF_SUBCATEGORY[s] for s in generator.SUBCATEGORY.values()) == {
        "stem": 18,
        "humanities": 13,
        "social_sciences": 12,
        "other": 14,
    }
    for category in CATEGORIES:
        group = yaml.safe_load(
            (KICK_TASKS / "mmlu" / f"_kick_mmlu_{category}.yaml").read_text(encoding="utf-8")
        )
        assert group["task"] == [f"kick_mmlu_{category}_tasks"]


def test_missing_local_file_is_a_one_line_error(tmp_path):
    message = data_error("kick_mmlu_anatomy", tmp_path)
    assert str(tmp_path / "mmlu" / "dev" / "anatomy_dev.csv") in message and "question,A,B,C,D" in message
    assert "'cais/mmlu'" in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [("Q?,a,b,c,d\n", "5 fields"), ("Q?,a,b,c,d,E\n", "answer 'E'"), ("", "no rows")],
)
def test_malformed_local_file_is_a_one_line_error(tmp_path, content, problem):
    for split in ("dev", "test"):
        (tmp_path / "mmlu" / split).mkdir(parents=True)
    (tmp_path / "mmlu" / "dev" / "anatomy_dev.csv").write_text(content, encoding="utf-8")
    message = data_error("kick_mmlu_anatomy", tmp_path)
    assert "malformed" in message and problem in message and "anatomy_dev.csv" in message


def test_unreachable_hub_without_local_copy_is_a_one_line_error(monkeypatch):
    monkeypatch.delenv("KICK_DATA_DIR", raising=False)
    message = data_error("kick_mmlu_anatomy")
    assert "'cais/mmlu' (anatomy)" in message and "KICK_DATA_DIR" in message


def test_prompt_without_a_tokenizer_uses_the_character_budget():
    shots = [{"question": "s" * 3000, "choices": list("abcd"), "answer": 0}] * 5
    doc = {"question": "q", "choices": list("wxyz"), "answer": 1}
    count = mmlu_utils.token_counter({})
    prompt = mmlu_utils.fit_prompt("virology", shots, doc, count)
    assert (
        prompt.count("\nAnswer:") - 1 == 2
        and len(prompt) <= mmlu_utils.MAX_PROMPT_TOKENS * mmlu_utils.CHARS_PER_TOKEN
    )
