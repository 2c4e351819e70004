"""Which data a result scored: recorded by the task loaders, written by the sweep, checked on resume."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kick_tasks import data
from kick_tasks.factoid_qa import utils as factoid

FIXTURES = Path(__file__).parent / "fixtures" / "kick_data"


def read_factoid(folder: Path) -> list[dict]:
    data.forget_sources()
    factoid.load_freebaseqa(data_dir=str(folder))
    return data.sources_read()


def test_a_local_file_is_recorded_with_its_path_and_sha256(tmp_path):
    import hashlib

    (source,) = read_factoid(FIXTURES)
    path = FIXTURES / "freebaseqa" / "FreebaseQA-eval.json"
    assert source == {"path": str(path.resolve()), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def test_the_digest_names_contents_not_places(tmp_path):
    copy = tmp_path / "elsewhere"
    shutil.copytree(FIXTURES, copy)
    here, there = read_factoid(FIXTURES), read_factoid(copy)
    assert here[0]["path"] != there[0]["path"]
    assert data.sources_digest(here) == data.sources_digest(there)
    edited = copy / "freebaseqa" / "FreebaseQA-eval.json"
    edited.write_text(edited.read_text().replace("Questions", "Questions", 1) + " ")  # one byte more
    assert data.sources_digest(read_factoid(copy)) != data.sources_digest(here)


def test_forget_starts_a_new_record():
    read_factoid(FIXTURES)
    data.forget_sources()
    assert data.sources_read() == []


@pytest.mark.slow
def test_a_resumed_sweep_refuses_other_data_before_compressing(tiny_model_dir, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(FIXTURES, folder)
    out, cache = tmp_path / "out", tmp_path / "cache"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "KICK_DATA_DIR": str(folder)}

    def sweep(*methods: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "kick_models.sweep", "--model", str(tiny_model_dir), "--methods", *methods,
                   "--sparsity", "0.5", "--tasks", "kick_factoid_qa", "--limit", "2", "--device", "cpu",
                   "--model-args", "dtype=float32", "--cache-dir", str(cache), "--output", str(out)]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)

    first = sweep("dense")
    assert first.returncode == 0, first.stderr[-3000:]
    result = out / tiny_model_dir.name / "dense" / "kick_factoid_qa.json"
    saved = json.loads(result.read_text())
    block = saved["kick_provenance"]["kick_factoid_qa"]
    (source,) = saved["kick_sweep"]["data_sources"]
    assert source["path"] == str((folder / "freebaseqa" / "FreebaseQA-eval.json").resolve())
    assert block["data"] == {"sha256": data.sources_digest([source]), "files": 1}
    assert block["examples"]["count"] == 2
    assert block["prompt"]["chat_template"] is False and block["prompt"]["num_fewshot"] == 0
    assert saved["config"]["kick"]["data"] == [source]  # --model kick says it too

    questions = folder / "freebaseqa" / "FreebaseQA-eval.json"
    questions.write_text(questions.read_text() + "\n")  # same questions, other bytes: other data
    second = sweep("dense", "magnitude")
    assert second.returncode != 0
    assert "kick_factoid_qa: the data differ from those of the results already in" in second.stderr
    assert str(questions.resolve()) in second.stderr
    point = out / tiny_model_dir.name / "magnitude_sparsity-0.5"
    assert not (point / "kick_factoid_qa.json").exists()
    assert not cache.exists() or not any(cache.iterdir()), "compressed before refusing"
