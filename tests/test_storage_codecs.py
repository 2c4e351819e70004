"""Every codec and every layout gives back the exact bytes, on random and on real weights."""

from __future__ import annotations

import numpy as np
import pytest

from compressors.storage.checkpoint import open_checkpoint
from compressors.storage.codecs import CODECS, DEFAULT_CODECS, Codec, LosslessError, get_codecs, measure
from compressors.storage.streams import LayoutPlan, build_streams, plan_layouts

RNG = np.random.default_rng(1)


def sample_buffers() -> dict[str, np.ndarray]:
    return {
        "uniform": RNG.integers(0, 256, size=100_000, dtype=np.uint8),
        "skewed": RNG.geometric(0.4, size=100_000).astype(np.uint8),
        "empty": np.zeros(0, dtype=np.uint8),
        "one byte": np.array([7], dtype=np.uint8),
    }


@pytest.mark.parametrize("name", list(CODECS))
def test_every_codec_round_trips_random_bytes(name):
    codec = CODECS[name]
    for label, buf in sample_buffers().items():
        packed = codec.compress(buf)
        assert np.array_equal(np.frombuffer(codec.decompress(packed), dtype=np.uint8), buf), label
    run = measure(codec, list(sample_buffers().values()))
    assert len(run.part_bytes) == 4 and run.compress_s >= 0 and run.decompress_s >= 0


def test_codecs_compress_skewed_bytes_and_not_uniform_ones():
    skewed, uniform = sample_buffers()["skewed"], sample_buffers()["uniform"]
    for name in DEFAULT_CODECS:
        assert len(CODECS[name].compress(skewed)) < 0.8 * skewed.size, name  # entropy: 0.3
        assert len(CODECS[name].compress(uniform)) > 0.99 * uniform.size, name


def test_measure_catches_a_codec_that_is_not_lossless():
    broken = Codec("broken", bytes, lambda b: bytes(b)[:-1] + b"\0")
    with pytest.raises(LosslessError, match="tensor t: plain: part 1: broken did not restore"):
        measure(broken, [np.zeros(4, np.uint8), np.arange(10, dtype=np.uint8)], where="tensor t: plain")
    measure(broken, [np.arange(10, dtype=np.uint8)], verify=False)  # the check can be switched off


def test_unknown_codec_names_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown codec.*'zstd-22'.*allowed: none, zstd-1"):
        get_codecs(["zstd-3", "zstd-22"])
    assert [c.name for c in get_codecs(["lz4"])] == ["none", "lz4"]


def real_chunks(folder, prune: str | None):
    """The first 32 rows of a few real tensors, optionally pruned here (2:4 or 50%)."""
    checkpoint = open_checkpoint(folder)
    picks = [t for t in checkpoint.tensors if t.name.endswith(("mlp.up_proj.weight", "self_attn.k_proj.weight"))][:2]
    picks += [t for t in checkpoint.tensors if t.name.endswith("norm.weight")][:1]
    for record in picks:
        raw = record.read_rows(0, min(32, record.rows))
        if prune and len(record.shape) == 2:
            words = raw.view("<u2").copy()
            magnitude = (words & 0x7FFF).reshape(-1, 4 if prune == "2:4" else words.size)
            cut = np.argsort(magnitude, axis=1, kind="stable")[:, : magnitude.shape[1] // 2]
            np.put_along_axis(words.reshape(magnitude.shape), cut, 0, axis=1)
            raw = words.view(np.uint8)
        yield record, raw


@pytest.mark.parametrize("prune", [None, "50%", "2:4"])
@pytest.mark.parametrize("grouping", ["fields", "bytes"])
def test_every_codec_and_layout_round_trips_real_weights(smollm2_dir, prune, grouping):
    codecs = get_codecs(DEFAULT_CODECS)
    seen = set()
    for record, raw in real_chunks(smollm2_dir, prune):
        plan = plan_layouts(raw, record, ("plain", "grouped", "bitmask", "nm"), grouping, 0.1)
        if prune == "2:4" and len(record.shape) == 2:
            assert plan == LayoutPlan(grouping, True, (2, 4))
        for stream in build_streams(raw, record, plan, verify=True):  # checks each layout
            seen.add(stream.name)
            for codec in codecs:
                measure(codec, [p for _, p in stream.parts], verify=True, where=f"{record.name}: {stream.name}")
    assert seen == {"plain", "grouped"} | ({"bitmask", "nm"} if prune == "2:4" else {"bitmask"} if prune else set())
