"""Exported and cached checkpoints fit the ecosystem: shareable file modes, and `kick report`
names the recipe of an export evaluated with plain `--model hf`."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kick_core.provenance import RECIPE_FILE
from kick_models.cli import main as kick_main
from kick_models.kick_lm import KickLM

BIN = Path(sys.executable).parent
REAL_HF_RESULTS = next((Path(__file__).parent / "fixtures/results/lm-eval-real/hf").rglob("results_*.json"))


@pytest.fixture(scope="module")
def exported(tiny_model_dir, tmp_path_factory):
    """A magnitude-50% export of the tiny model and its cache entry, made under umask 022."""
    root = tmp_path_factory.mktemp("exported")
    previous = os.umask(0o022)
    try:
        lm = KickLM(pretrained=str(tiny_model_dir), method="magnitude", sparsity=0.5, cache_dir=str(root / "cache"),
                    export=str(root / "export"), device="cpu", dtype="float32")
    finally:
        os.umask(previous)
    info = lm.get_model_info()["kick"]
    return Path(info["export"]), Path(info["cache"]["entry"])


def modes(folder: Path) -> set[tuple[str, str]]:
    found = {("dir", oct(stat.S_IMODE(folder.stat().st_mode)))}
    for path in folder.rglob("*"):
        found.add(("dir" if path.is_dir() else "file", oct(stat.S_IMODE(path.stat().st_mode))))
    return found


def test_export_and_cache_entry_get_the_modes_save_pretrained_gives(exported):
    export, entry = exported
    assert (export / RECIPE_FILE).is_file() and (entry / RECIPE_FILE).is_file()
    assert modes(export) == {("dir", "0o755"), ("file", "0o644")}
    assert modes(entry) == {("dir", "0o755"), ("file", "0o644")}


def report_rows(results: Path, out: Path) -> list[dict[str, str]]:
    assert kick_main(["report", str(results), "-o", str(out), "--no-plots", "--quiet"]) == 0
    with open(out / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_report_names_the_recipe_of_an_export_in_a_plain_hf_results_file(exported, tiny_model_dir, tmp_path):
    """A real `--model hf` results file, pointed at the export as `lm_eval` would write it."""
    export, _ = exported
    data = json.loads(REAL_HF_RESULTS.read_text())
    data["config"]["model_args"] = {**data["config"]["model_args"], "pretrained": str(export)}
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / REAL_HF_RESULTS.name).write_text(json.dumps(data))
    rows = report_rows(tmp_path / "results", tmp_path / "report")
    assert {(r["model"], r["recipe"], r["method"]) for r in rows} == {
        (os.path.normpath(str(tiny_model_dir)), "magnitude 50%", "magnitude")}


@pytest.mark.slow
def test_report_names_the_recipe_of_an_export_evaluated_by_lm_eval_model_hf(exported, tiny_model_dir, tmp_path):
    """The README's export workflow end to end: `lm_eval --model hf` on the export, then `kick report`."""
    export, _ = exported
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    for model, args in (("hf", f"pretrained={export}"), ("kick", f"pretrained={tiny_model_dir},method=dense")):
        run = subprocess.run(
            [str(BIN / "lm_eval"), "--model", model, "--model_args", f"{args},dtype=float32",
             "--tasks", "kick_demo", "--limit", "4", "--device", "cpu", "--output_path", str(tmp_path / "results" / model)],
            capture_output=True, text=True, env=env, timeout=900,
        )
        assert run.returncode == 0, run.stderr[-3000:]
    rows = report_rows(tmp_path / "results", tmp_path / "report")
    assert {(r["recipe"], r["method"]) for r in rows} == {("dense", "dense"), ("magnitude 50%", "magnitude")}
    assert {r["model"] for r in rows} == {os.path.normpath(str(tiny_model_dir))}
