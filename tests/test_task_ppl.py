"""``kick_ppl`` (lm-eval's WikiText-2 perplexity) end to end on the tiny model, and its data errors."""

from __future__ import annotations

import math

import pytest
from fixtures.kick_eval import FIXTURE_DATA, data_error, evaluate

from kick_tasks.ppl import utils as ppl_utils

TASK = "kick_ppl"
LOCAL = "wikitext2/wikitext2_test.txt"
HUB = "'EleutherAI/wikitext_document_level'"


def test_runs_end_to_end_with_limit(tiny_model_dir):
    out = evaluate(tiny_model_dir, [TASK], FIXTURE_DATA, limit=2)
    samples = out["samples"][TASK]
    assert [s["doc"]["page"].split("\n")[0] for s in samples] == [" = Alpha Tower = ", " = Beta Canal = "]
    loglikelihoods = [s["filtered_resps"][0] for s in samples]
    words = sum(s["word_perplexity"][1] for s in samples)
    result = out["results"][TASK]
    assert result["word_perplexity,none"] == pytest.approx(math.exp(-sum(loglikelihoods) / words))
    assert 0 < result["bits_per_byte,none"] < 16 and result["byte_perplexity,none"] > 1


def test_articles_are_cut_at_title_lines_only():
    text = (FIXTURE_DATA / LOCAL).read_text(encoding="utf-8")
    alpha, beta = ppl_utils.split_articles(text)
    assert alpha.startswith(" = Alpha Tower = \n") and " = = History = = \n" in alpha
    assert beta.startswith(" = Beta Canal = \n") and alpha + beta == text.lstrip("\n")


def test_missing_local_file_is_a_one_line_error(tmp_path):
    message = data_error(TASK, tmp_path)
    assert str(tmp_path / LOCAL) in message and "blank lines" in message and HUB in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"no title line here\n\n", "no ' = Title = ' article line"), (b"\xff\xfe = T = \n", "not UTF-8")],
)
def test_malformed_local_file_is_a_one_line_error(tmp_path, content, problem):
    (tmp_path / LOCAL).parent.mkdir(parents=True)
    (tmp_path / LOCAL).write_bytes(content)
    message = data_error(TASK, tmp_path)
    assert "malformed" in message and problem in message and str(tmp_path / LOCAL) in message


def test_unreachable_hub_without_local_copy_is_a_one_line_error(monkeypatch):
    monkeypatch.delenv("KICK_DATA_DIR", raising=False)
    message = data_error(TASK)
    assert HUB in message and "wikitext-2-raw-v1" in message and "KICK_DATA_DIR" in message
