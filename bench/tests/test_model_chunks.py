"""bench/model_chunks.py: a bf16 checkpoint and extra folders cut into pieces of a set size come
back bit for bit, and damaged or missing pieces are refused."""

from __future__ import annotations

import hashlib

import pytest
import torch
from safetensors.torch import save_file

from bench import model_chunks

pytestmark = pytest.mark.bench


def test_pieces_join_back_bit_for_bit_and_damage_is_refused(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    torch.manual_seed(0)
    save_file({"a": torch.randn(300, 70).to(torch.bfloat16), "b": torch.randn(333).to(torch.bfloat16)},
              str(model / "model.safetensors"))
    (model / "config.json").write_text('{"x": 1}')
    extra = tmp_path / "data"
    (extra / "sub").mkdir(parents=True)
    (extra / "sub" / "q.jsonl").write_text("{}\n" * 50)
    pieces = model_chunks.split(model, tmp_path / "out", piece_mb=0.01, extra=[extra])
    assert len(pieces) > 3 and all(p.stat().st_size <= 10_000 for p in pieces)

    model_chunks.join(pieces, tmp_path / "back", extract_to=tmp_path / "unpacked")
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(tmp_path / "back" / "model.safetensors") == digest(model / "model.safetensors")
    assert (tmp_path / "back" / "config.json").read_text() == '{"x": 1}'
    assert (tmp_path / "unpacked" / "extra" / "data" / "sub" / "q.jsonl").read_text() == "{}\n" * 50

    with pytest.raises(ValueError, match="pieces given"):
        model_chunks.join(pieces[:-1], tmp_path / "again")
    pieces[1].write_bytes(b"x" + pieces[1].read_bytes()[1:])
    with pytest.raises(ValueError, match="do not make the payload"):
        model_chunks.join(pieces, tmp_path / "again")
