"""Every codec and every layout gives back the exact bytes, on random and on real weights;
ZipNN leaves its input alone; the entropy coder reaches the order-0 bound."""

from __future__ import annotations

import time

import numpy as np
import pytest

from compressors.storage import byte_planes
from compressors.storage.checkpoint import open_checkpoint
from compressors.storage.codecs import CODECS, Codec, LosslessError, default_codecs, get_codecs, measure, unavailable
from compressors.storage.dtypes import dtype_named
from compressors.storage.entropy import entropy_bits
from compressors.storage.streams import LayoutPlan, build_streams, plan_layouts

RNG = np.random.default_rng(1)


def need(name: str) -> None:
    """Skip where the codec's optional package is missing (CI installs it, README says how)."""
    reason = unavailable(name)
    if reason:
        pytest.skip(reason)


def bf16_weights(n: int, seed: int = 0) -> np.ndarray:
    """The bytes of ``n`` BF16 values shaped like trained weights (normal, std 0.02)."""
    f32 = (np.random.default_rng(seed).standard_normal(n) * 0.02).astype(np.float32)
    return (f32.view(np.uint32) >> 16).astype("<u2").view(np.uint8)


def sample_buffers() -> dict[str, np.ndarray]:
    return {
        "uniform": RNG.integers(0, 256, size=100_000, dtype=np.uint8),
        "skewed": RNG.geometric(0.4, size=100_000).astype(np.uint8),
        "empty": np.zeros(0, dtype=np.uint8),
        "one byte": np.array([7], dtype=np.uint8),
    }


@pytest.mark.parametrize("name", list(CODECS))
def test_every_codec_round_trips_random_bytes(name):
    need(name)
    codec = CODECS[name]
    for dtype in sorted(codec.dtypes or [None]):  # a typed codec: every float format it codes
        extra = () if dtype is None else (dtype,)
        buffers = sample_buffers()
        if dtype is not None:  # whole values only
            size = dtype_named(dtype).itemsize
            buffers = {label: buf[: buf.size // size * size] for label, buf in buffers.items()} | {"weights": bf16_weights(5000)}
        for label, buf in buffers.items():
            packed = codec.compress(buf, *extra)
            assert np.array_equal(np.frombuffer(codec.decompress(packed, *extra), dtype=np.uint8), buf), (label, dtype)
        run = measure(codec, list(buffers.values()), dtype=dtype)
        assert len(run.part_bytes) == len(buffers) and run.compress_s >= 0 and run.decompress_s >= 0


def test_codecs_compress_skewed_bytes_and_not_uniform_ones():
    skewed, uniform = sample_buffers()["skewed"], sample_buffers()["uniform"]
    for name in default_codecs():
        if CODECS[name].dtypes is None:
            assert len(CODECS[name].compress(skewed)) < 0.8 * skewed.size, name  # entropy: 0.3
            assert len(CODECS[name].compress(uniform)) > 0.99 * uniform.size, name


def test_zipnn_leaves_its_input_alone_and_beats_plain_zstd_on_weights():
    need("zipnn")
    zipnn = CODECS["zipnn"]
    weights = bf16_weights(1 << 20)
    before = weights.copy()
    packed = zipnn.compress(weights, "BF16")  # ZipNN's own compress() overwrites the buffer it gets
    assert np.array_equal(weights, before)
    run = measure(zipnn, [weights], dtype="BF16")  # the round trip, checked
    assert np.array_equal(weights, before) and run.part_bytes == (len(packed),)
    ratio = weights.size / len(packed)
    assert ratio > weights.size / len(CODECS["zstd-3"].compress(weights)) and 1.3 < ratio < 1.6
    assert zipnn.codes("plain", "BF16") and not zipnn.codes("grouped", "BF16") and not zipnn.codes("plain", "I64")


def test_zipnn_time_is_charged_to_the_call():
    """ZipNN works on a thread of its own: its CPU time must still be counted (the calling
    thread's clock alone saw almost none of it)."""
    need("zipnn")
    weights = bf16_weights(4 << 20)
    t0 = time.process_time()
    run = measure(CODECS["zipnn"], [weights], dtype="BF16")
    process = time.process_time() - t0
    assert 0.5 * process < run.compress_s + run.decompress_s <= process + 1e-3
    # calls from a pool, beside a codec that releases the GIL: none is charged another's work
    from concurrent.futures import ThreadPoolExecutor

    t0 = time.process_time()
    with ThreadPoolExecutor(3) as pool:
        jobs = [pool.submit(measure, CODECS["zipnn"], [weights], True, "", "BF16") for _ in range(4)]
        jobs.append(pool.submit(measure, CODECS["zstd-3"], [weights]))
        runs = [job.result() for job in jobs]
    process = time.process_time() - t0
    assert sum(r.compress_s + r.decompress_s for r in runs) <= process + 1e-3


def test_entropy_coder_reaches_the_order0_bound_of_each_byte_plane():
    need("ans")
    ans = CODECS["ans"]
    weights = bf16_weights(1 << 20, seed=3)
    for plane in byte_planes.split(weights, dtype_named("BF16"), "fields"):
        bound = plane.size * entropy_bits(np.bincount(plane, minlength=256)) / 8
        packed = ans.compress(plane)
        assert bound <= len(packed) < 1.002 * bound + 2048  # the stored histogram is < 2 KiB
        assert np.array_equal(np.frombuffer(ans.decompress(packed), dtype=np.uint8), plane)


def test_a_codec_whose_package_is_missing_is_named_in_one_line(monkeypatch):
    ghost = Codec("ghost", bytes, bytes, "ghost", requires="no_such_package_for_kick", install="pip install ghost")
    monkeypatch.setitem(CODECS, "ghost", ghost)
    with pytest.raises(ValueError, match=r"^codec 'ghost' is unavailable: import no_such_package_for_kick failed "
                       r"\(ModuleNotFoundError: .*\); install: pip install ghost$"):
        get_codecs(["zstd-3", "ghost"])
    assert "ghost" not in default_codecs() and "zstd-3" in default_codecs()


def test_measure_catches_a_codec_that_is_not_lossless():
    broken = Codec("broken", bytes, lambda b: bytes(b)[:-1] + b"\0", "a lossy stand-in")
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
    codecs = get_codecs(default_codecs())
    seen = set()
    for record, raw in real_chunks(smollm2_dir, prune):
        plan = plan_layouts(raw, record, ("plain", "grouped", "bitmask", "nm"), grouping, 0.1)
        if prune == "2:4" and len(record.shape) == 2:
            assert plan == LayoutPlan(grouping, True, (2, 4))
        for stream in build_streams(raw, record, plan, verify=True):  # checks each layout
            seen.add(stream.name)
            for codec in codecs:
                if codec.codes(stream.name, record.dtype.name):
                    measure(codec, [p for _, p in stream.parts], verify=True, where=f"{record.name}: {stream.name}",
                            dtype=record.dtype.name)
    assert seen == {"plain", "grouped"} | ({"bitmask", "nm"} if prune == "2:4" else {"bitmask"} if prune else set())
