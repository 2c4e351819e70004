"""`--model kick`'s keys: one declaration behind the README table, the accepted keys and
KickLM's own arguments; `ignore=` end to end through the lm_eval command."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compressors.options import CALIBRATION_OPTIONS, PRESET_OPTIONS, RECIPE_OPTIONS
from kick_core.provenance import RECIPE_FILE
from kick_models.model_args import KICK_OPTIONS, MODEL_OPTIONS, check_keys, markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_table() -> list[list[str]]:
    """The cells of the rows under the README's ``--model kick`` arguments heading."""
    section = README.read_text(encoding="utf-8").split("### `--model kick` arguments", 1)[1].split("\n#", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]


def test_readme_table_is_the_declaration():
    rows = readme_table()
    found = [(key.strip("`"), default) for key, _, default in rows]
    declared = [(name, option.default_text) for name, option in KICK_OPTIONS.items()]
    assert found == declared, "README's --model kick table: paste kick_models.model_args.markdown_table()"
    assert "\n".join(f"| {' | '.join(row)} |" for row in rows) in markdown_table()


def test_kick_keys_are_recipe_calibration_and_kicklm_arguments():
    from kick_models.kick_lm import KickLM

    assert list(KICK_OPTIONS) == [*RECIPE_OPTIONS, *CALIBRATION_OPTIONS, *PRESET_OPTIONS, *MODEL_OPTIONS]
    own = [name for name, p in inspect.signature(KickLM.__init__).parameters.items()
           if p.kind is p.POSITIONAL_OR_KEYWORD and name not in ("self", "pretrained")]
    assert own == list(MODEL_OPTIONS)
    check_keys({name: None for name in KICK_OPTIONS})  # ignore and seed included
    with pytest.raises(ValueError, match=r"\['ignores'\].*'ignore'"):
        check_keys({"ignores": "lm_head"})


@pytest.mark.slow
def test_ignore_keeps_modules_dense_through_lm_eval(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    cache = tmp_path / "cache"
    out = subprocess.run([
        str(Path(sys.executable).parent / "lm_eval"), "--model", "kick",
        "--model_args", f"pretrained={tiny_model_dir},method=magnitude,sparsity=0.5,ignore=lm_head;mlp.down_proj,"
                        f"cache_dir={cache},dtype=float32",
        "--tasks", "kick_demo", "--limit", "2", "--device", "cpu", "--output_path", str(tmp_path / "results"),
    ], capture_output=True, text=True, timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    (result,) = (tmp_path / "results").rglob("results_*.json")
    kick = json.loads(result.read_text())["config"]["kick"]
    assert kick["recipe"]["ignore"] == ["lm_head", "mlp.down_proj"]
    pruned = kick["compression"]["sparsity"]["layers"]
    assert pruned and not any(name.endswith(("down_proj", "lm_head")) for name in pruned)

    entry = Path(kick["cache"]["entry"])
    assert json.loads((entry / RECIPE_FILE).read_text())["recipe"]["ignore"] == ["lm_head", "mlp.down_proj"]
    weights = {k: v for f in entry.glob("*.safetensors") for k, v in load_file(f).items()}
    zeros = {name: float((w == 0).float().mean()) for name, w in weights.items() if name.endswith("proj.weight")}
    down = [z for name, z in zeros.items() if "down_proj" in name]
    others = [z for name, z in zeros.items() if "down_proj" not in name]
    assert len(down) == 2 and max(down) == 0.0  # both layers' down_proj stay dense
    assert others and min(others) == pytest.approx(0.5, abs=0.01)
    assert float((weights["lm_head.weight"] == 0).float().mean()) == 0.0
