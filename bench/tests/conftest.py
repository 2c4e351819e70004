"""Fixtures of the benchmarks' own tests (smoke modes on a tiny model): built here, not borrowed
from tests/, so that bench/ and tests/ stay apart. Offline, as the test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from kick_models.local_models import tiny_llama

    return tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")
