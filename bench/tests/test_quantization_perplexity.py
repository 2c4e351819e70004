"""The quantization perplexity benchmark's smoke mode runs every row through kick's cache."""

from __future__ import annotations

import json

import pytest

from bench import quantization_perplexity

pytestmark = pytest.mark.bench


def test_benchmark_smoke_mode(tiny_model_dir, tmp_path, capsys):
    bench = vars(quantization_perplexity)
    out = tmp_path / "bench.json"
    assert bench["main"](["--smoke", "--model", str(tiny_model_dir), "--cache-dir", str(tmp_path / "cache"),
                          "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| rtn-w4 | W4A16 int sym g32 |" in text and "| sparsegpt-50%+gptq-w4 |" in text
    result = json.loads(out.read_text())
    rows = {r["name"]: r for r in result["rows"]}
    assert list(rows) == ["dense", "rtn-w4", "gptq-w4", "sparsegpt-50%", "sparsegpt-50%+gptq-w4"]
    assert all(r["ppl"] > 1 for r in rows.values()) and rows["gptq-w4"]["cache_hit"] is False
    assert rows["dense"]["quantized_bits_per_weight"] is None and rows["sparsegpt-50%"]["scheme"] is None
    assert 4 < rows["gptq-w4"]["quantized_bits_per_weight"] < 5.5  # int4 codes + an fp32 scale per 32
    assert rows["sparsegpt-50%+gptq-w4"]["sparsity"] >= 0.5
    assert result["claims"] == []  # a random model: the published claims are checked on SmolLM2 only
    assert bench["claims"]([{"name": n, "ppl": p} for n, p in
                            [("dense", 10.0), ("rtn-w8", 10.05), ("gptq-w8", 10.2), ("rtn-w4", 12.0), ("gptq-w4", 11.0)]]) == [
        ("rtn-w8 within 1% of dense", True), ("gptq-w8 within 1% of dense", False), ("gptq-w4 better than rtn-w4", True)]
