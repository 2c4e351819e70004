"""`kick sweep` end to end on the tiny model: killed half way (SIGKILL), resumed, complete."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fixtures.sweep_task import write_task
from kick_models.report.compare import build_report
from kick_models.report.results import load_runs

POINTS = ("dense", "magnitude_sparsity-0.3", "magnitude_sparsity-0.5")


@pytest.mark.slow
def test_killed_sweep_resumes_skipping_done_points(tiny_model_dir, tmp_path):
    tasks = write_task(tmp_path / "tasks")
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "kick_models.sweep", "--model", str(tiny_model_dir), "--methods", "dense", "magnitude",
        "--sparsity", "0.3", "0.5", "--tasks", "tiny_capitals", "--include_path", str(tasks), "--limit", "2",
        "--device", "cpu", "--model-args", "dtype=float32", "--cache-dir", str(tmp_path / "cache"), "--output", str(out),
    ]
    files = [out / tiny_model_dir.name / point / "tiny_capitals.json" for point in POINTS]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while not any(f.exists() for f in files):
        assert first.poll() is None, first.stdout.read().decode(errors="replace")[-3000:]
        assert time.monotonic() < deadline, "no point finished in time"
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # the sweep and its worker, mid-grid
    first.wait()
    done = [f for f in files if f.exists()]
    assert 1 <= len(done) < len(files)
    stamps = {f: f.stat().st_mtime_ns for f in done}
    for f in done:  # what is there is complete
        assert json.loads(f.read_text())["kick_sweep"]["task"] == "tiny_capitals"
    # leftovers of a killed worker (the kill may also have left its own) in a point not yet done
    todo = files[-1].parent
    todo.mkdir(parents=True, exist_ok=True)
    (todo / ".tiny_capitals.json.partial-x1").write_text("{")
    (todo / ".tiny_capitals.samples.partial-x2").mkdir()

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"{len(done)} of {len(files)} results already done" in second.stderr
    assert all(f.exists() for f in files)
    assert {f: f.stat().st_mtime_ns for f in done} == stamps  # skipped, not redone
    for f in done:  # no worker was started again for a finished recipe
        assert (f.parent / "worker.log").read_text().count("=====") == 1
    leftovers = [p for p in out.rglob("*.partial-*")]
    assert leftovers == []
    for f in files:  # lm-eval's per-example samples beside each result, the ones it names
        record = json.loads(f.read_text())["kick_sweep"]
        assert record["prompt_format"] == "raw" and record["seed"] is None
        (name,) = record["samples"]
        assert name.startswith("tiny_capitals.samples/samples_tiny_capitals_") and name.endswith(".jsonl.gz")
        lines = gzip.decompress((f.parent / name).read_bytes()).decode().splitlines()
        assert [json.loads(line)["doc_id"] for line in lines] == [0, 1]
        assert [p.name for p in (f.parent / "tiny_capitals.samples").iterdir()] == [name.split("/")[1]]

    results = {f.parent.name: json.loads(f.read_text()) for f in files}
    assert results["magnitude_sparsity-0.5"]["config"]["kick"]["recipe"]["sparsity"] == 0.5
    assert results["dense"]["config"]["model"] == "kick"
    assert results["dense"]["n-samples"]["tiny_capitals"]["effective"] == 2
    runs, _ = load_runs([out])
    report = build_report(runs)
    assert [i.kind for i in report.issues] == []
    assert sorted(r.label for r in report.rows) == ["dense", "magnitude 30%", "magnitude 50%"]
    assert all(r.ratio is not None for r in report.rows)

    again = subprocess.run(command + ["--dry-run"], env=env, capture_output=True, text=True, timeout=60)
    assert "(3 done, 0 to run)" in again.stdout


@pytest.mark.slow
def test_slim_samples_keep_what_pairing_needs(tiny_model_dir, tmp_path):
    """--samples slim drops the document, prompt and target texts and the raw responses from each
    per-example row, keeps the document and prompt hashes, the scored responses and the metrics,
    says so in the result, and the report still pairs with dense."""
    tasks = write_task(tmp_path / "tasks")
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "kick_models.sweep", "--model", str(tiny_model_dir), "--methods", "dense", "magnitude",
        "--sparsity", "0.5", "--tasks", "tiny_capitals", "--include_path", str(tasks), "--limit", "3",
        "--device", "cpu", "--model-args", "dtype=float32", "--cache-dir", str(tmp_path / "cache"),
        "--output", str(out), "--samples", "slim",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for point in ("dense", "magnitude_sparsity-0.5"):
        result = out / tiny_model_dir.name / point / "tiny_capitals.json"
        record = json.loads(result.read_text())["kick_sweep"]
        assert record["samples_detail"] == "slim"
        (name,) = record["samples"]
        rows = [json.loads(line) for line in gzip.decompress((result.parent / name).read_bytes()).decode().splitlines()]
        assert [row["doc_id"] for row in rows] == [0, 1, 2]
        for row in rows:
            assert not {"doc", "arguments", "target", "target_hash", "resps"} & set(row)
            assert {"doc_hash", "prompt_hash", "filtered_resps", "acc"} <= set(row)
    runs, _ = load_runs([out])
    report = build_report(runs)
    (row,) = [r for r in report.rows if r.label == "magnitude 50%"]
    assert row.comparison is not None and row.comparison.paired and row.comparison.n == 3

    bad = subprocess.run(command[:-1] + ["bulky"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--samples" in bad.stderr and "slim" in bad.stderr
