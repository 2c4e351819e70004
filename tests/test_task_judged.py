"""kick_summarization_* and kick_instruction through lm-eval, with and without the judge.

A small data folder written here (our own stories and questions, in LLM-KICK's file layout)
keeps the runs fast; the real sets in ``../shared/data`` are checked by the loaders only.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import socket
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from judge_server import StandInJudge, criterion_scores

from kick_tasks import judged
from kick_tasks.data import KickDataError
from kick_tasks.instruction.utils import load_instruction
from kick_tasks.judge import JudgeUnavailableError
from kick_tasks.judge import cache as cache_module
from kick_tasks.summarization.utils import LENGTH_GROUPS, load_summarization

KICK_TASKS = Path(judged.__file__).parent
INSTRUCTION = "Summarize the given story in less than 150 words while preserving high coherence, consistency, fluency, and relevance.\n\n"
STORIES = [
    ("small", "The town council opened a new library on Monday. Children lined up before dawn.",
     ["A new library opened on Monday", "Children queued before dawn"]),
    ("small", "A storm closed the harbour for two days. Fishing boats stayed tied up.",
     ["Storm shut the harbour for two days"]),
    ("mid", "Engineers finished the river bridge a month early. The mayor thanked the crews. "
            "Traffic will move to the bridge next week, and the old ferry will stop.",
     ["Bridge finished a month early", "Ferry service will end"]),
    ("mid", "The school choir won the regional contest. They sang three songs in two languages.",
     ["Choir wins regional contest"]),
    ("large", "Farmers reported a record apple harvest this autumn. Warm spring weather and steady "
              "rain helped the trees. Prices at the market fell as supply grew, and cider makers "
              "bought more fruit than in any year before.",
     ["Record apple harvest", "Prices fell as supply rose"]),
    ("large", "A museum returned a painting to the family that lost it eighty years ago. The work "
              "had hung in a gallery for decades before researchers traced its history.",
     ["Museum returns painting to family"]),
]
QUESTIONS = [
    ("generic", "How can I keep a small garden healthy?", "Water it in the morning and remove weeds each week."),
    ("coding", "Write a Python function that reverses a string.", "def reverse(s):\n    return s[::-1]"),
    ("math", "What is 12 times 11?", "12 times 11 is 132."),
    ("writing", "Write a short thank-you note to a neighbour.", "Dear neighbour, thank you for watering my plants."),
]
SECRET = "sk-test-never-written-7777"


@pytest.fixture(scope="module")
def kick_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kick_data")
    (root / "kick_summarization").mkdir()
    (root / "kick_conversation").mkdir()
    with open(root / "kick_summarization/questions.jsonl", "w") as out:
        for qid, (group, story, highlights) in enumerate(STORIES, 1):
            text = INSTRUCTION + story + "".join("@highlight" + h for h in highlights)
            out.write(json.dumps({"question_id": qid, "text": text, "category": group}) + "\n")
    with open(root / "kick_conversation/questions.jsonl", "w") as q, \
            open(root / "kick_conversation/reference_answers_gpt35.jsonl", "w") as a:
        for qid, (category, question, answer) in enumerate(QUESTIONS, 1):
            q.write(json.dumps({"question_id": qid, "text": question, "category": category}) + "\n")
            a.write(json.dumps({"question_id": qid, "text": answer, "answer_id": f"a{qid}"}) + "\n")
    return root


@pytest.fixture(autouse=True)
def _fresh_judge_state(fresh_judge_state):
    """conftest.py's fresh_judge_state for every test here."""


def evaluate(model_dir, tasks, metadata, **kwargs):
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_defaults=False, include_path=str(KICK_TASKS), metadata=metadata)
    kwargs.setdefault("bootstrap_iters", 0)
    return lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={model_dir},device=cpu,dtype=float32", tasks=tasks,
        task_manager=manager, gen_kwargs="max_gen_toks=12", **kwargs,
    )


def docs(loader, **kwargs):
    return list(loader(**kwargs)["test"])


def test_loaders_group_stories_cut_highlights_and_pick_rubrics(kick_data):
    small = docs(load_summarization, length="small", data_dir=str(kick_data))
    assert [d["question_id"] for d in small] == [1, 2]
    assert small[0]["prompt"] == INSTRUCTION + STORIES[0][1]
    assert small[0]["reference"] == "A new library opened on Monday.\nChildren queued before dawn."
    assert all(d["judge"] == "" and d["rubric"] == "summary" for d in small)
    instruction = docs(load_instruction, data_dir=str(kick_data))
    assert [d["rubric"] for d in instruction] == ["general", "coding", "math", "general"]
    assert instruction[2]["reference"] == "12 times 11 is 132."


def test_missing_local_copy_is_a_one_line_error_naming_files_and_switch(tmp_path):
    for loader, kwargs, expected in [
        (load_summarization, {"length": "mid"}, "kick_summarization/questions.jsonl"),
        (load_instruction, {}, "kick_conversation/questions.jsonl"),
    ]:
        with pytest.raises(KickDataError) as err:
            loader(**kwargs)
        message = str(err.value)
        assert "\n" not in message and expected in message and "KICK_DATA_DIR" in message and "data_dir" in message
    with pytest.raises(KickDataError, match="missing local data file"):
        load_instruction(data_dir=str(tmp_path))


@pytest.mark.parametrize("loader,kwargs,reference,message", [
    (load_instruction, {}, "highlights", "only for summarization"),
    (load_summarization, {"length": "small"}, "gpt35", "neither 'highlights' nor a path"),
    (load_instruction, {}, "/nowhere/samples_*.jsonl", "neither 'gpt35' nor a path"),
    (load_summarization, {"length": "huge"}, "highlights", "length 'huge' is not one of"),
])
def test_bad_reference_or_group_is_named(kick_data, loader, kwargs, reference, message):
    with pytest.raises(KickDataError, match=message):
        loader(data_dir=str(kick_data), reference=reference, **kwargs)


@pytest.mark.parametrize("loader,kwargs", [(load_summarization, {"length": "small"}), (load_instruction, {})])
def test_unknown_protocol_is_named(kick_data, loader, kwargs):
    with pytest.raises(KickDataError, match="protocol 'paper' is not one of \\['kick', 'reference'\\]"):
        loader(data_dir=str(kick_data), protocol="paper", **kwargs)


def test_reference_files_answer_lines_or_lm_eval_samples(kick_data, tmp_path):
    answers = tmp_path / "dense_answers.jsonl"
    answers.write_text("".join(json.dumps({"question_id": q, "text": f" answer {q} "}) + "\n" for q in (1, 2, 3)))
    samples = tmp_path / "samples_kick_instruction_x.jsonl"
    samples.write_text(
        json.dumps({"doc": {"set": "kick_conversation", "question_id": 4}, "filtered_resps": ["four"]}) + "\n"
        + json.dumps({"doc": {"set": "kick_summarization", "question_id": 1}, "filtered_resps": ["other task"]}) + "\n"
    )
    loaded = docs(load_instruction, data_dir=str(kick_data), reference=str(tmp_path / "*.jsonl"))
    assert [d["reference"] for d in loaded] == ["answer 1", "answer 2", "answer 3", "four"]
    (tmp_path / "other.jsonl").write_text(json.dumps({"question_id": 2, "text": "a different answer"}) + "\n")
    with pytest.raises(KickDataError, match="disagree on kick_conversation question 2"):
        load_instruction(data_dir=str(kick_data), reference=str(tmp_path / "*.jsonl"))


def test_question_missing_from_the_reference_fails_only_when_scored(kick_data, tmp_path, caplog):
    partial = tmp_path / "partial.jsonl"
    partial.write_text(json.dumps({"question_id": 1, "text": "only one"}) + "\n")
    loaded = docs(load_instruction, data_dir=str(kick_data), reference=str(partial))
    assert "has no answer for 3 of 4 questions" in caplog.text
    assert judged.process_results(loaded[0], ["only one"])["rougeL_proxy"] == 1.0
    with pytest.raises(KickDataError, match="question 2: reference .*partial.jsonl' has no answer"):
        judged.process_results(loaded[1], ["text"])


def test_without_judge_reports_rouge_proxies_and_says_so_once(tiny_model_dir, kick_data, caplog):
    results = evaluate(tiny_model_dir, ["kick_summarization", "kick_instruction"], {"data_dir": str(kick_data)}, limit=2)
    for task in ["kick_summarization_small", "kick_summarization_large", "kick_instruction", "kick_summarization"]:
        metrics = {k.split(",")[0] for k in results["results"][task] if "," in k and "stderr" not in k}
        proxies = {"rouge1_proxy", "rouge2_proxy", "rougeL_proxy"}
        assert metrics - {"unique_tokens", "unique_tokens_ref"} == proxies, task
        assert all(0.0 <= results["results"][task][f"{m},none"] <= 1.0 for m in proxies)
    assert caplog.text.count("no LLM judge configured") == 1


def expected_relative(samples, criteria):
    """Ratios the stand-in's scores imply for these lm-eval samples (per criterion, then overall)."""
    ref = [criterion_scores(s["doc"]["reference"], criteria) for s in samples]
    cand = [criterion_scores(s["filtered_resps"][0].strip(), criteria) for s in samples]
    per = [sum(c[i] for c in cand) / sum(r[i] for r in ref) for i in range(criteria)]
    return per, sum(map(sum, cand)) / sum(map(sum, ref))


def test_judged_scores_match_the_stand_in_and_rerun_is_free(tiny_model_dir, kick_data, tmp_path):
    with StandInJudge() as server:
        metadata = {"data_dir": str(kick_data), "judge_base_url": server.url, "judge_model": "stand-in",
                    "judge_cache_dir": str(tmp_path / "judge-cache"), "judge_concurrency": 3}
        run = dict(limit=2, log_samples=True, apply_chat_template=True)
        first = evaluate(tiny_model_dir, ["kick_summarization", "kick_instruction"], metadata, **run)
        assert len(server.requests) == 2 * (6 + 2)  # each pair asked in both orders, once
        cache_module._OPEN.clear()
        second = evaluate(tiny_model_dir, ["kick_summarization", "kick_instruction"], metadata, **run)
        assert len(server.requests) == 16  # all from the cache
    assert second["results"] == first["results"]
    results, samples = first["results"], first["samples"]
    assert "<|im_start|>user\n" in samples["kick_instruction"][0]["arguments"][0][0]  # --apply_chat_template
    for group in LENGTH_GROUPS:
        task = f"kick_summarization_{group}"
        per, overall = expected_relative(samples[task], 4)
        for criterion, value in zip(("coherence", "consistency", "fluency", "relevance"), per, strict=True):
            assert results[task][f"{criterion}_rel,none"] == pytest.approx(value)
        assert results[task]["judge_score_rel,none"] == pytest.approx(overall)
        assert results[task]["judge_invalid,none"] == 0 and results[task]["judge_order_disagree,none"] == 0
        # The paper's units: each side's absolute scores, averaged over the stories.
        cand = [criterion_scores(x["filtered_resps"][0].strip(), 4) for x in samples[task]]
        ref = [criterion_scores(x["doc"]["reference"], 4) for x in samples[task]]
        for side, rows in (("", cand), ("_ref", ref)):
            for i, criterion in enumerate(("coherence", "consistency", "fluency", "relevance")):
                assert results[task][f"{criterion}_score{side},none"] == pytest.approx(sum(r[i] for r in rows) / len(rows))
            assert results[task][f"judge_score{side},none"] == pytest.approx(sum(sum(r) / 4 for r in rows) / len(rows))
    groups = [results[f"kick_summarization_{g}"]["judge_score_rel,none"] for g in LENGTH_GROUPS]
    assert results["kick_summarization"]["judge_score_rel,none"] == pytest.approx(sum(groups) / 3)
    _, overall = expected_relative(samples["kick_instruction"], 1)
    assert results["kick_instruction"]["judge_score_rel,none"] == pytest.approx(overall)


def first_line_scores(reply: str) -> tuple[float, float] | None:
    """Assistant 1's and 2's score from a one-criterion reply of the stand-in, None if it has none."""
    first = reply.split("\n")[0].split()
    return (float(first[0]), float(first[1])) if len(first) == 2 and all(x.isdigit() for x in first) else None


def test_absolute_scores_are_the_means_of_the_judge_replies_with_stderr(tiny_model_dir, kick_data, tmp_path):
    """One order, a judge biased 2 points towards Assistant 1 (the reference) and a first reply
    with no scores: the absolute scores are the means of what the replies say, the unreadable
    pair is left out (not 0), and lm-eval's standard error comes with them."""
    with StandInJudge(position_bias=2) as server:
        server.script.append("garbage")
        metadata = {"data_dir": str(kick_data), "judge_base_url": server.url, "judge_model": "stand-in",
                    "judge_cache_dir": str(tmp_path), "judge_concurrency": 1, "judge_both_orders": False}
        out = evaluate(tiny_model_dir, ["kick_instruction"], metadata, limit=4, log_samples=True, bootstrap_iters=100)
        users = [r["body"]["messages"][-1]["content"] for r in server.requests]
        replies = ["Scores follow later."] + [server.reply_for(u) for u in users[1:]]
    assert len(users) == 4
    pairs = [first_line_scores(r) for r in replies]
    assert pairs[0] is None and None not in pairs[1:]
    results = out["results"]["kick_instruction"]
    for side, column in (("judge_score_ref", 0), ("judge_score", 1)):
        values = [p[column] for p in pairs[1:]]
        assert results[f"{side},none"] == pytest.approx(statistics.mean(values))
        assert results[f"{side}_stderr,none"] == pytest.approx(statistics.stdev(values) / math.sqrt(len(values)))
    assert results["judge_invalid,none"] == 1
    assert sum("judge_score" in s for s in out["samples"]["kick_instruction"]) == 3
    responses = [s["filtered_resps"][0].strip() for s in out["samples"]["kick_instruction"]]
    assert results["unique_tokens,none"] == pytest.approx(statistics.mean(judged.unique_tokens(r) for r in responses))
    assert results["unique_tokens_ref,none"] == pytest.approx(statistics.mean(
        judged.unique_tokens(a) for _, _, a in QUESTIONS))


def test_unique_tokens_are_distinct_lower_cased_words():
    assert judged.unique_tokens("The cat, the CAT; a dog_1 café!") == 5  # the, cat, a, dog_1, café
    assert judged.unique_tokens("def reverse(s):\n    return s[::-1]") == 5  # def, reverse, s, return, 1
    assert judged.unique_tokens("  ...  ") == 0


def test_judge_down_is_flagged_before_generation_and_stops_the_run(tiny_model_dir, kick_data, tmp_path, caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    metadata = {"data_dir": str(kick_data), "judge_base_url": dead, "judge_model": "m", "judge_max_retries": 1,
                "judge_backoff": 0.01, "judge_cache_dir": str(tmp_path)}
    with pytest.raises(JudgeUnavailableError, match=re.escape(dead) + ".*connection failed.*rerun"):
        evaluate(tiny_model_dir, ["kick_instruction"], metadata, limit=1)
    assert f"judge endpoint {dead} does not answer now" in caplog.text


@pytest.mark.slow
def test_lm_eval_command_then_dense_samples_as_reference(tiny_model_dir, kick_data, tmp_path):
    """The real console script with the stand-in judge; its --log_samples files then serve as
    the dense reference of a second run, which must score exactly 1.0 against itself."""
    out, cache = tmp_path / "dense", tmp_path / "judge-cache"
    with StandInJudge() as server:
        metadata = {"data_dir": str(kick_data), "judge_base_url": server.url, "judge_model": "stand-in",
                    "judge_cache_dir": str(cache)}
        command = [
            str(Path(sys.executable).parent / "lm_eval"), "--model", "hf",
            "--model_args", f"pretrained={tiny_model_dir},dtype=float32", "--device", "cpu",
            "--tasks", "kick_summarization,kick_instruction", "--limit", "2", "--gen_kwargs", "max_gen_toks=12",
            "--metadata", json.dumps(metadata), "--output_path", str(out), "--log_samples",
        ]
        env = {**os.environ, "KICK_JUDGE_API_KEY": SECRET, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert {r["headers"]["Authorization"] for r in server.requests} == {f"Bearer {SECRET}"}
        assert "judge_score_rel" in done.stdout and "coherence_rel" in done.stdout

        written = [p for p in [*out.rglob("*"), *cache.rglob("*")] if p.is_file()]
        assert any(p.name.startswith("samples_kick_instruction") for p in written)
        assert all(SECRET not in p.read_text(errors="ignore") for p in written)
        assert SECRET not in done.stdout + done.stderr

        dense = glob.escape(str(out)) + "/*/samples_kick_*.jsonl"  # lm-eval: <output>/<model>/samples_<task>_<time>.jsonl
        assert len(glob.glob(dense)) == 4
        again = evaluate(tiny_model_dir, ["kick_summarization", "kick_instruction"], {**metadata, "reference": dense}, limit=2)
    for task in ["kick_summarization_small", "kick_summarization_mid", "kick_summarization_large", "kick_instruction"]:
        assert again["results"][task]["judge_score_rel,none"] == 1.0
        assert again["results"][task]["rougeL_proxy,none"] == 1.0


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_real_llm_kick_sets_load_with_their_groups_and_references(shared_data):
    groups = {g: docs(load_summarization, length=g, data_dir=str(shared_data))
              for g in LENGTH_GROUPS}
    assert {g: len(d) for g, d in groups.items()} == {"small": 30, "mid": 30, "large": 30}
    stories = [json.loads(line) for line in (shared_data / "cnn_stories/selected_stories.jsonl").read_text().splitlines()]
    buckets = {(s["bucket"], squash(s["article"])) for s in stories}
    for group, rows in groups.items():
        for row in rows:
            assert "@highlight" not in row["prompt"] and row["reference"]
            assert (group, squash(row["prompt"].split("\n\n", 1)[1])) in buckets  # same length group
    instruction = docs(load_instruction, data_dir=str(shared_data))
    assert len(instruction) == 80 and all(d["reference"] for d in instruction)
    assert len({d["category"] for d in instruction}) == 9
    assert Counter(d["rubric"] for d in instruction) == {"general": 70, "coding": 7, "math": 3}
    reference = docs(load_summarization, length="mid", data_dir=str(shared_data), protocol="reference")
    assert all(d["prompt"].count("@highlight") >= 1 and d["rubric"] == "reference_summary" for d in reference)
    reference = docs(load_instruction, data_dir=str(shared_data), protocol="reference")
    assert Counter(d["rubric"] for d in reference) == {"reference_general": 70, "reference_coding": 7, "reference_math": 3}


def test_reference_protocol_sends_the_reference_prompts_once_at_its_temperatures(tiny_model_dir, kick_data, tmp_path):
    """kick_reference_*: highlights left in the prompt, sampling at T=0.7, the reference's judge
    prompts word for word, its temperatures (0.1 summaries, 0.2 answers), one order with the
    reference answer as Assistant 1, whatever judge_temperature and judge_both_orders say."""
    with StandInJudge() as server:
        metadata = {"data_dir": str(kick_data), "judge_base_url": server.url, "judge_model": "stand-in",
                    "judge_cache_dir": str(tmp_path), "judge_temperature": 0.5, "judge_both_orders": True}
        out = evaluate(tiny_model_dir, ["kick_reference_summarization_small", "kick_reference_instruction"],
                       metadata, limit=2, log_samples=True)
        bodies = [r["body"] for r in server.requests]
    assert len(bodies) == 2 + 2  # one order per pair
    summary = [b for b in bodies if b["messages"][-1]["content"].startswith("[Story]\n")]
    answers = [b for b in bodies if b["messages"][-1]["content"].startswith("[Question]\n")]
    assert len(summary) == 2 and len(answers) == 2
    assert {b["temperature"] for b in summary} == {0.1} and {b["temperature"] for b in answers} == {0.2}
    assert {b["max_tokens"] for b in bodies} == {1024}

    story_samples = out["samples"]["kick_reference_summarization_small"]
    first = story_samples[0]
    group, story, highlights = STORIES[0]
    full_text = INSTRUCTION + story + "".join("@highlight" + h for h in highlights)
    context, generation = first["arguments"][0]
    assert context == full_text  # highlights left in, no template
    assert generation["do_sample"] is True and generation["temperature"] == 0.7  # max_gen_toks: the test's 12
    for name in ["summarization/kick_reference_summarization_small.yaml", "instruction/kick_reference_instruction.yaml"]:
        assert yaml.safe_load((KICK_TASKS / name).read_text())["generation_kwargs"] == {
            "until": [], "do_sample": True, "temperature": 0.7, "max_gen_toks": 1024}
    # the judge is asked concurrently: take the request of the first story, not the first request
    (mine,) = [b for b in summary if b["messages"][1]["content"].startswith(f"[Story]\n{full_text}\n\n")]
    system, user = mine["messages"][0]["content"], mine["messages"][1]["content"]
    assert system == ("You are a helpful and precise assistant for checking the quality of the summarization "
                      "of two stories within 150 words.")
    candidate = first["filtered_resps"][0].strip()
    assert user == (
        f"[Story]\n{full_text}\n\n[The Start of Assistant 1's Summary]\n{first['doc']['reference']}\n\n"
        f"[The End of Assistant 1's Summary]\n\n[The Start of Assistant 2's Answer]\n{candidate}\n\n"
        "[The End of Assistant 2's Summary]\n\n[System]\nWe would like to request your feedback on the performance "
        "of two AI assistants in response to the user question displayed above.\nPlease rate the coherence, "
        "consistency, fluency, and relevance of summary generated. Each assistant receives a score on a scale of 1 "
        "to 10 for coherence, consistency, fluency and relevance, where a higher score indicates better overall "
        "performance.\nPlease first output four lines containing only two values indicating the scores for "
        "Assistant 1 and 2, respectively for each four metrices. The two scores are separated by a space. In the "
        "subsequent line, please provide a comprehensive explanation of your evaluation, avoiding any potential "
        "bias and ensuring that the order in which the responses were presented does not affect your judgment.\n\n"
    )
    general, coding = sorted((b["messages"][1]["content"] for b in answers), key=lambda u: "coding abilities" in u)
    assert "rate the helpfulness, relevance, accuracy, level of details, factual information, and length" in general
    assert coding.startswith(f"[Question]\n{QUESTIONS[1][1]}\n\n[The Start of Assistant 1's Answer]\n{QUESTIONS[1][2]}\n\n")
    assert "Your task is to evaluate the coding abilities of the above two assistants." in coding
    assert {b["messages"][0]["content"] for b in answers} == {
        "You are a helpful and precise assistant for checking the quality of the answer."}

    results = out["results"]
    cand = [criterion_scores(s["filtered_resps"][0].strip(), 4) for s in story_samples]
    assert results["kick_reference_summarization_small"]["judge_score,none"] == pytest.approx(
        statistics.mean(sum(c) / 4 for c in cand))
    assert "judge_order_disagree,none" not in results["kick_reference_instruction"]


def test_fastchat_template_is_optional_and_named_when_missing(kick_data, monkeypatch):
    monkeypatch.setitem(sys.modules, "fastchat", None)  # as if FastChat were not installed
    with pytest.raises(ImportError, match=r"fastchat_template='vicuna_v1.1' needs FastChat: pip install .*fschat==0.2.36"):
        load_instruction(data_dir=str(kick_data), fastchat_template="vicuna_v1.1")
    assert docs(load_instruction, data_dir=str(kick_data))[0]["input"] == QUESTIONS[0][1]


def test_fastchat_vicuna_template_wraps_the_model_prompt_only(kick_data):
    pytest.importorskip("fastchat.conversation", reason="FastChat not installed (pip install 'llm-kick[fastchat]')")
    loaded = docs(load_instruction, data_dir=str(kick_data), fastchat_template="vicuna_v1.1", protocol="reference")
    assert loaded[0]["input"] == (
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        f"detailed, and polite answers to the user's questions. USER: {QUESTIONS[0][1]} ASSISTANT:"
    )
    assert loaded[0]["prompt"] == QUESTIONS[0][1]  # the judge still sees the bare question
    with pytest.raises(KickDataError, match="'vicuna_v9' is not a FastChat conversation template"):
        load_instruction(data_dir=str(kick_data), fastchat_template="vicuna_v9")


def test_predict_only_asks_the_judge_nothing(tiny_model_dir, kick_data, tmp_path):
    with StandInJudge() as server:
        metadata = {"data_dir": str(kick_data), "judge_base_url": server.url, "judge_model": "stand-in",
                    "judge_cache_dir": str(tmp_path)}
        evaluate(tiny_model_dir, ["kick_instruction"], metadata, limit=1, predict_only=True, log_samples=True)
        assert server.requests == []
