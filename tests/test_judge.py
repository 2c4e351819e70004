"""The judge against a real HTTP server on loopback: retries, invalid replies, cache, resume."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from judge_server import StandInJudge, answer_score, criterion_scores

from kick_tasks.judge import (
    ChatClient,
    JudgeConfig,
    JudgeError,
    JudgeUnavailableError,
    JudgmentCache,
    Pair,
    disagreement_rate,
    invalid_count,
    judge_config,
    judge_pairs,
    relative_score,
)
from kick_tasks.judge import cache as cache_module
from kick_tasks.judge import client as client_module

SECRET = "sk-test-do-not-store-4242"


def words(n: int, tag: str = "w") -> str:
    """An answer with ``n`` distinct words: the stand-in scores it 1 + n // 4."""
    return " ".join(f"{tag}{i}" for i in range(n))


def config_for(server: StandInJudge, tmp_path: Path, **overrides) -> JudgeConfig:
    settings = dict(base_url=server.url, model="stand-in", cache_dir=str(tmp_path / "cache"), backoff=0.01,
                    timeout=5.0, concurrency=2)
    return JudgeConfig(**{**settings, **overrides})


@pytest.fixture(autouse=True)
def fresh_process_cache():
    """Each test reads the judgment file from disk, as a new process would."""
    cache_module._OPEN.clear()
    yield
    cache_module._OPEN.clear()


def test_scores_parsed_and_swapped_orders_cancel_position_bias(tmp_path):
    pairs = [Pair("general", "q1", words(24), words(12, "c")),   # true scores 7 vs 4: bias 2 cannot flip it
             Pair("general", "q2", words(12), words(16, "c"))]   # true scores 4 vs 5: bias 2 flips it
    with StandInJudge(position_bias=2) as server:
        both = judge_pairs(pairs, config_for(server, tmp_path), progress=False)
        one = judge_pairs(pairs, config_for(server, tmp_path, both_orders=False), progress=False)
        assert len(server.requests) == 4  # the single-order run reused the cached forward order
    assert [v.candidate[0] - v.reference[0] for v in both] == [-3.0, 1.0]  # bias cancelled
    assert [v.candidate[0] - v.reference[0] for v in one] == [-5.0, -1.0]  # bias of 2 for Assistant 1
    assert [v.orders_disagree for v in both] == [False, True]
    assert disagreement_rate(both) == 0.5
    assert relative_score(both) == pytest.approx((5 + 6) / (8 + 5))


def test_summary_rubric_scores_four_criteria(tmp_path):
    ref, cand = words(24), words(8, "c")
    with StandInJudge() as server:
        (verdict,) = judge_pairs([Pair("summary", "story", ref, cand)], config_for(server, tmp_path), progress=False)
    assert verdict.reference == tuple(criterion_scores(ref, 4))
    assert verdict.candidate == tuple(criterion_scores(cand, 4))
    expected = [c / r for c, r in zip(criterion_scores(cand, 4), criterion_scores(ref, 4), strict=True)]
    assert [relative_score([verdict], i) for i in range(4)] == pytest.approx(expected)


def test_retries_on_429_500_and_timeout(tmp_path):
    with StandInJudge(slow_s=3.0) as server:
        server.script.extend(["429", "500", "slow"])
        config = config_for(server, tmp_path, both_orders=False, timeout=1.0, concurrency=1)
        (verdict,) = judge_pairs([Pair("general", "q", words(8), words(4))], config, progress=False)
        assert len(server.requests) == 4
    assert (verdict.reference, verdict.candidate) == ((3.0,), (2.0,))


def test_unreadable_and_refused_replies_are_counted_not_zeroed(tmp_path, caplog):
    pairs = [Pair("general", "q1", words(8), words(8, "c")),
             Pair("general", "q2", words(8), "GARBAGE " + words(8, "c")),
             Pair("general", "q3", words(20), words(4, "c"))]
    with StandInJudge() as server:
        server.script.extend(["garbage", "ok", "ok", "ok", "400"])  # q1 forward unreadable, q3 swapped refused
        config = config_for(server, tmp_path, concurrency=1)
        verdicts = judge_pairs(pairs, config, progress=False)
        asked = len(server.requests)
        again = judge_pairs(pairs, config, progress=False)  # refused request not re-asked in-process
        assert len(server.requests) == asked == 6
    assert [v.valid_orders for v in verdicts] == [1, 0, 1]
    assert verdicts[1].reference is None and verdicts[1].candidate is None
    assert invalid_count(verdicts) == 4 and again == verdicts
    assert relative_score(verdicts) == pytest.approx((3 + 2) / (3 + 6))  # q2 left out, not 0
    assert "refused 1 request" in caplog.text
    assert caplog.text.count("3 of 6 judgments (one per pair and order) hold no readable scores") == 1  # said once
    assert len(JudgmentCache(config.cache_path)) == 5  # the refused one is not cached


def test_identical_answers_share_one_request_and_count_per_order(tmp_path, caplog):
    same = "GARBAGE " + words(8)  # the stand-in has no scores for it
    pairs = [Pair("general", "q1", same, same), Pair("general", "q2", words(8), words(4, "c"))]
    with StandInJudge() as server:
        verdicts = judge_pairs(pairs, config_for(server, tmp_path), progress=False)
        assert len(server.requests) == 3  # both orders of the identical pair are one request
    assert [v.invalid_orders for v in verdicts] == [2, 0] and invalid_count(verdicts) == 2
    assert "2 of 4 judgments (one per pair and order) hold no readable scores" in caplog.text  # was "2 of 3"


def test_concurrent_requests_stay_within_the_limit(tmp_path):
    pairs = [Pair("general", f"q{i}", words(8), words(4, "c")) for i in range(6)]
    with StandInJudge(delay=0.3) as server:
        judge_pairs(pairs, config_for(server, tmp_path, concurrency=4), progress=False)
        assert len(server.requests) == 12 and 2 <= server.max_in_flight <= 4


def test_rerun_is_served_from_disk_and_cache_key_covers_the_model(tmp_path):
    pairs = [Pair("general", f"q{i}", words(8), words(4, "c")) for i in range(3)]
    with StandInJudge() as server:
        first = judge_pairs(pairs, config_for(server, tmp_path), progress=False)
        cache_module._OPEN.clear()  # a new process
        second = judge_pairs(pairs, config_for(server, tmp_path), progress=False)
        assert len(server.requests) == 6 and second == first
        judge_pairs(pairs, config_for(server, tmp_path, model="other-judge"), progress=False)
        assert len(server.requests) == 12


def test_judge_down_ends_with_clear_error_and_intact_cache(tmp_path):
    pairs = [Pair("general", f"q{i}", words(8), words(4, "c")) for i in range(4)]
    with StandInJudge() as server:
        server.script.extend(["ok", "ok"] + ["500"] * 20)
        config = config_for(server, tmp_path, concurrency=1, max_retries=2)
        with pytest.raises(JudgeUnavailableError) as err:
            judge_pairs(pairs, config, progress=False)
    message = str(err.value)
    assert server.url in message and "failed 3 time(s)" in message and "HTTP 500" in message
    assert "2 judgment(s) are safe" in message and "rerun the same command to resume" in message
    lines = config.cache_path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["reply"] for line in lines)

    import socket

    with socket.socket() as probe:  # a port with nothing behind it
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    with pytest.raises(JudgeUnavailableError, match="connection failed"):
        judge_pairs(pairs, JudgeConfig(base_url=dead, model="m", cache_dir=str(tmp_path / "c2"), max_retries=1,
                                       backoff=0.01), progress=False)


def test_no_request_goes_out_once_the_judge_stays_down(tmp_path):
    pairs = [Pair("general", f"q{i}", words(8), words(4, "c")) for i in range(8)]
    with StandInJudge() as server:
        server.script.extend(["500"] * 50)
        config = config_for(server, tmp_path / "one", concurrency=1, max_retries=2)
        with pytest.raises(JudgeUnavailableError, match=r"failed 3 time\(s\)"):
            judge_pairs(pairs, config, progress=False)
        assert server.settle() == 3  # the first request's three tries, then nothing queued
    with StandInJudge() as server:
        server.script.append("401")
        with pytest.raises(JudgeError, match="HTTP 401"):
            judge_pairs(pairs, config_for(server, tmp_path / "refused", concurrency=1), progress=False)
        assert server.settle() == 1
    with StandInJudge(delay=0.05) as server:
        server.script.extend(["500"] * 50)
        config = config_for(server, tmp_path / "three", concurrency=3, max_retries=1)
        with pytest.raises(JudgeUnavailableError, match=r"failed 2 time\(s\)"):  # the failure, not its echoes
            judge_pairs(pairs, config, progress=False)
        server.settle()
        asked = {json.dumps(r["body"]["messages"]) for r in server.requests}
        assert len(asked) <= 3 and len(server.requests) <= 6  # the three in flight at most, none queued


@pytest.mark.parametrize("key_env", ["KICK_JUDGE_API_KEY", "MY_OWN_JUDGE_SECRET"])
def test_api_key_sent_but_never_stored_or_logged(tmp_path, monkeypatch, caplog, key_env):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(key_env, SECRET)
    pairs = [Pair("general", "q", words(8), words(4, "c"))]
    with StandInJudge() as server:
        environ = {"KICK_JUDGE_API_KEY_ENV": key_env}  # the user's own environment may name any variable
        config = judge_config({"judge_base_url": server.url, "judge_model": "stand-in", "judge_cache_dir":
                               str(tmp_path / "cache"), "judge_backoff": 0.01}, environ)
        verdicts = judge_pairs(pairs, config, progress=False)
        assert {r["headers"]["Authorization"] for r in server.requests} == {f"Bearer {SECRET}"}
        server.script.append("401")
        with pytest.raises(JudgeError, match=rf"HTTP 401.*\*\*\*.*{key_env}") as err:
            judge_pairs([Pair("general", "q2", words(8), words(4, "c"))], config, progress=False)
    assert SECRET not in str(err.value)
    assert SECRET not in config.cache_path.read_text()
    assert SECRET not in repr(verdicts) + config.to_json()
    assert SECRET not in caplog.text and "plain http" not in caplog.text  # 127.0.0.1 is this machine


@pytest.mark.parametrize("url,warned", [
    ("http://judge.example.org:8000/v1", True),
    ("http://10.1.2.3:8000/v1", True),
    ("http://[2001:db8::1]:8000/v1", True),
    ("http://localhost.example.org/v1", True),
    ("https://judge.example.org/v1", False),
    ("http://localhost:8000/v1", False),
    ("http://127.0.0.1:8000/v1", False),
    ("http://127.8.9.10:8000/v1", False),
    ("http://[::1]:8000/v1", False),
])
def test_key_over_plain_http_to_another_host_is_warned_once(tmp_path, monkeypatch, caplog, url, warned):
    monkeypatch.setattr(client_module, "_WARNED_IN_CLEAR", set())
    config = JudgeConfig(base_url=url, model="m", cache_dir=str(tmp_path))
    with ChatClient(config):  # no key, nothing to warn about
        pass
    assert "plain http" not in caplog.text
    monkeypatch.setenv("KICK_JUDGE_API_KEY", SECRET)
    for _ in range(2):
        with ChatClient(config):
            pass
    assert caplog.text.count("plain http") == (1 if warned else 0)
    assert SECRET not in caplog.text
    if warned:
        assert "$KICK_JUDGE_API_KEY" in caplog.text and url.rstrip("/") in caplog.text


def test_plain_http_warning_on_a_real_run_never_shows_the_key(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(client_module, "_WARNED_IN_CLEAR", set())
    monkeypatch.setenv("KICK_JUDGE_API_KEY", SECRET)
    config = JudgeConfig(base_url="http://192.0.2.1:9/v1", model="m", cache_dir=str(tmp_path), timeout=0.3,
                         max_retries=0)  # TEST-NET-1: never routed, the connection fails
    with pytest.raises(JudgeUnavailableError) as err:
        judge_pairs([Pair("general", "q", words(8), words(4, "c"))], config, progress=False)
    assert caplog.text.count("over plain http") == 1
    assert SECRET not in caplog.text + str(err.value)


WORKER = """
import json, sys
from kick_tasks.judge import JudgeConfig, Pair, judge_pairs, relative_score, invalid_count
pairs = [Pair(**p) for p in json.load(open(sys.argv[1]))]
verdicts = judge_pairs(pairs, JudgeConfig.from_json(open(sys.argv[2]).read()), progress=False)
print(json.dumps([relative_score(verdicts), invalid_count(verdicts), [v.candidate for v in verdicts]]))
"""


def test_killed_run_resumes_and_finishes_with_the_same_numbers(tmp_path):
    pairs = [Pair("general", f"q{i}", words(4 + i), words(20 - i, "c")) for i in range(10)]
    (tmp_path / "pairs.json").write_text(json.dumps([p.__dict__ for p in pairs]))
    with StandInJudge(delay=0.1) as server:
        config = config_for(server, tmp_path, concurrency=2)
        (tmp_path / "judge.json").write_text(config.to_json())
        command = [sys.executable, "-c", WORKER, str(tmp_path / "pairs.json"), str(tmp_path / "judge.json")]
        worker = subprocess.Popen(command, stdout=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = len(config.cache_path.read_text().splitlines()) if config.cache_path.exists() else 0
            if done >= 6:
                break
            time.sleep(0.02)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        asked_before = server.settle()  # requests the dead worker still had on the wire
        cached = len(JudgmentCache(config.cache_path))
        assert 6 <= cached < 20, "the worker was not killed half way"

        resumed = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert len(server.requests) - asked_before == 20 - cached  # nothing paid twice

        fresh = config_for(server, tmp_path / "fresh", concurrency=4)
        uninterrupted = judge_pairs(pairs, fresh, progress=False)
    expected = [relative_score(uninterrupted), invalid_count(uninterrupted), [list(v.candidate) for v in uninterrupted]]
    assert json.loads(resumed.stdout) == expected
    assert expected[0] == pytest.approx(
        sum(answer_score(p.candidate) for p in pairs) / sum(answer_score(p.reference) for p in pairs)
    )


def test_line_cut_by_a_kill_is_skipped_and_closed_off(tmp_path, caplog):
    path = tmp_path / "judgments.jsonl"
    cache = JudgmentCache(path)
    cache.put("k1", "m", "8 7\nfine")
    with open(path, "ab") as handle:
        handle.write(b'{"key": "k2", "model": "m", "rep')  # the process died here
    reopened = JudgmentCache(path)
    assert reopened.get("k1") == "8 7\nfine" and reopened.get("k2") is None
    assert "skipped 1 unreadable line" in caplog.text
    reopened.put("k3", "m", "6 6")
    assert JudgmentCache(path).get("k3") == "6 6"
