"""`kick sweep` killed with SIGKILL (no chance to stop its worker): the worker ends with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.sweep_task import write_task

ROOT = Path(__file__).resolve().parents[1]


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and PR_SET_PDEATHSIG are Linux's")
def test_a_sigkilled_sweep_leaves_no_worker_or_temp_files_and_resumes_to_the_same_results(tiny_model_dir, tmp_path):
    tasks = write_task(tmp_path / "tasks")
    command = [
        sys.executable, "-m", "kick_models.sweep", "--model", str(tiny_model_dir), "--methods", "magnitude",
        "--sparsity", "0.5", "--tasks", "tiny_capitals", "--include_path", str(tasks), "--limit", "2",
        "--device", "cpu", "--model-args", "dtype=float32", "--cache-dir", str(tmp_path / "cache"),
        "--output", str(tmp_path / "out"),
    ]
    (tmp_path / "tmp").mkdir()  # the sweep's own temp folder, to see that it leaves nothing there
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TMPDIR": str(tmp_path / "tmp")}
    parent = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while not workers:
            assert parent.poll() is None and time.monotonic() < deadline, "no worker started"
            workers = children(parent.pid)
            time.sleep(0.05)
        time.sleep(1.0)  # the worker is importing or loading
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5  # an orphan would go on loading and evaluating for far longer
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(w) for w in workers), "the worker outlived its killed sweep"
        assert not list((tmp_path / "tmp").iterdir()), "the killed sweep left files in the temp folder"
        # the same command again finishes the point, with the results of an uninterrupted run
        assert subprocess.run(command, env=env, capture_output=True, timeout=600).returncode == 0
        uninterrupted = [*command[:-1], str(tmp_path / "clean")]
        assert subprocess.run(uninterrupted, env=env, capture_output=True, timeout=600).returncode == 0
        resumed, clean = (json.loads(next((tmp_path / out).rglob("tiny_capitals.json")).read_text())
                          for out in ("out", "clean"))
        assert resumed["results"] == clean["results"] and resumed["kick_provenance"] == clean["kick_provenance"]
        assert list((tmp_path / "out").rglob("*.partial-*")) == []
    finally:
        os.killpg(parent.pid, signal.SIGKILL) if any(alive(w) for w in workers) else None
