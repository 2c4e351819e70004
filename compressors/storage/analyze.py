"""The streaming engine: every tensor of a checkpoint, through every layout and codec.

Memory stays bounded by the chunk size, not the model: a tensor is read in chunks of whole
rows (``chunk_mib``, 64 MiB by default; a single row longer than that is one chunk), each
chunk is turned into its streams (:mod:`compressors.storage.streams`) and every (stream,
codec) pair is coded, both in a thread pool that covers all cores (the codecs and numpy's
large-array work release the GIL; the calling thread only reads). At most ``max(2, workers)
* chunk_mib`` of raw bytes are in flight at once, so the peak is a few times that plus one
compressed copy per worker. Finished tensors go to a :class:`Journal`, so an
interrupted run resumes where it stopped.

Chunks are coded independently, as a chunked file format would (ZipNN compresses in
chunks too); at 64 MiB the cost against coding a tensor whole is a frame header per chunk.

One pass over the chunks, two kinds of codec:

* the *full* codecs (those not sampled) and the layout sizes (the ``none`` codec), order-0
  entropy, zero and value counts cover every chunk;
* the *sampled* codecs (by default the slow ones, ``Codec.sampled``; none with
  ``sampled=()``, a full run) code only ``blocks`` draws of chunks from the whole checkpoint:
  a draw picks a chunk with probability proportional to its bytes, with replacement, seeded
  by ``seed``; a chunk drawn twice is coded once and counted twice. The sampled units are
  the full pass's own chunks (whole tensors up to ``chunk_mib``), so a sampled codec codes
  exactly what a full run would, and its speed is that of whole chunks: smaller blocks time
  the slow coders too fast and lose their long matches (``bench/storage_throughput.py``,
  part 5, measures both; ``bench/RESULTS.md`` has the figures).

Estimator (probability-proportional-to-size sampling with replacement, Hansen and Hurwitz,
1943; Cochran, "Sampling Techniques", 3rd ed., 1977, Sec. 9A.2): with R the checkpoint's raw
bytes and y_i = c_i/r_i the compressed bytes per raw byte of draw i, the compressed size is
C = R * mean(y_i), unbiased for the full run's size, and the draws are independent, so
:mod:`compressors.storage.report` gives mean(y) a Student-t 95% interval and maps it to the
ratio R/C = 1/mean(y). It covers sampling error, the only error here. When ``blocks`` is at
least the number of chunks in the checkpoint every chunk is coded once instead: every byte,
no interval.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from compressors.storage import byte_planes, packed
from compressors.storage.checkpoint import Checkpoint, TensorRecord, open_checkpoint
from compressors.storage.codecs import Codec, CodecRun, default_codecs, get_codecs, measure
from compressors.storage.entropy import Histogram
from compressors.storage.persist import Journal
from compressors.storage.streams import STREAMS, LayoutPlan, build_streams, plan_layouts


def default_workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class AnalysisOptions:
    """What to measure and how. Every field is checked by :meth:`validate`.

    ``sampled``: the codecs measured on sampled blocks; None for those of ``codecs`` that
    the registry marks slow, ``()`` for a full run (every codec on every byte).
    """

    codecs: tuple[str, ...] = field(default_factory=default_codecs)
    layouts: tuple[str, ...] = STREAMS
    grouping: str = "fields"
    sampled: tuple[str, ...] | None = None
    blocks: int = 8
    chunk_mib: int = 64
    sparse_min: float = 0.1
    seed: int = 0
    verify: bool = True
    workers: int = field(default_factory=default_workers)

    def validate(self) -> AnalysisOptions:
        get_codecs(self.codecs)
        bad = [s for s in self.layouts if s not in STREAMS]
        if bad or "plain" not in self.layouts:
            raise ValueError(f"layouts {list(self.layouts)}: must include 'plain' and come from {', '.join(STREAMS)}")
        if self.grouping not in byte_planes.SCHEMES:
            raise ValueError(f"grouping {self.grouping!r}: allowed {', '.join(byte_planes.SCHEMES)}")
        stray = [c for c in self.sampled or () if c not in self.codecs or c == "none"]
        if stray:
            raise ValueError(f"sampled codec(s) {', '.join(map(repr, stray))}: must be among the codecs measured "
                             f"({', '.join(self.codecs)}), and 'none' is always full")
        for name in ("blocks", "chunk_mib", "workers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} {getattr(self, name)}: must be a positive integer")
        if not 0 <= self.sparse_min <= 1:
            raise ValueError(f"sparse_min {self.sparse_min}: must lie in [0, 1]")
        return self

    def sampled_codecs(self) -> tuple[str, ...]:
        """The codecs measured on sampled blocks."""
        if self.sampled is None:
            return tuple(c.name for c in get_codecs(self.codecs) if c.sampled)
        return tuple(c for c in self.codecs if c in self.sampled)

    def fingerprint(self, checkpoint: Checkpoint) -> str:
        """Hash of everything the results depend on (not ``workers`` nor ``verify``)."""
        facts = {k: v for k, v in asdict(self).items() if k not in ("workers", "verify")}
        facts["sampled"] = self.sampled_codecs()
        facts["files"] = [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in checkpoint.files]
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def analyze(
    path: str | os.PathLike,
    options: AnalysisOptions | None = None,
    *,
    label: str | None = None,
    journal: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict:
    """Measure every tensor of the checkpoint at ``path``; a JSON-ready dict (see report.py).

    ``journal``: a file that records finished tensors, so that a rerun resumes.
    """
    options = (options or AnalysisOptions()).validate()
    checkpoint = open_checkpoint(path)
    sampled_names = options.sampled_codecs()
    codecs = get_codecs(options.codecs)
    full_codecs = [c for c in codecs if c.name not in sampled_names]
    sampled_codecs = [c for c in codecs if c.name in sampled_names]
    draws, sampling = draw_blocks(checkpoint, options) if sampled_codecs else ({}, None)
    bits = packed.packed_bits(checkpoint.quantization_config)
    fingerprint = options.fingerprint(checkpoint)
    start = time.perf_counter()
    log = Journal(journal, fingerprint) if journal else None
    done = dict(log.done) if log else {}
    todo = [r for r in checkpoint.tensors if _key(r) not in done]
    bar = tqdm(
        total=checkpoint.raw_bytes,
        initial=checkpoint.raw_bytes - sum(r.nbytes for r in todo),
        unit="B",
        unit_scale=True,
        desc=label or checkpoint.root.name,
        disable=not progress,
    )
    pool = ThreadPoolExecutor(max_workers=options.workers)
    pending: list[_TensorJob] = []
    # Enough chunks in flight to keep every worker busy (two at least, so that reading the
    # next overlaps coding the last); two chunks, with streams built on the calling thread,
    # kept about 2.3 of 16 cores busy.
    limit = max(2, options.workers) * options.chunk_mib << 20
    try:
        for record in todo:
            job = _TensorJob(record, options, bits)
            pending.append(job)
            drawn = draws.get(_key(record), {})
            for first, rows in _chunks(record, options.chunk_mib):
                count = drawn.get(first)
                unit_codecs = full_codecs + (sampled_codecs if count else [])
                job.queue_unit(record.read_rows(first, rows), pool, unit_codecs, first, count)
                while sum(j.inflight_bytes() for j in pending) > limit:
                    wait([f for j in pending for f in j.open_futures()], return_when=FIRST_COMPLETED)
                    _finish(pending, done, log, bar)
            _finish(pending, done, log, bar)
        while pending:
            wait(pending[0].open_futures(), return_when=FIRST_COMPLETED)
            _finish(pending, done, log, bar)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        bar.close()
        if log:
            log.close()
    pool.shutdown()
    q = checkpoint.quantization_config
    kick = checkpoint.kick_record
    return {
        "label": label or checkpoint.root.name,
        "source": str(Path(path)),
        "kick": None if kick is None else {k: kick.get(k) for k in ("source", "recipe", "calibration")},
        "files": [{"path": str(f), "bytes": f.stat().st_size} for f in checkpoint.files],
        "quantization": None if q is None else {"format": q.get("format"), "quant_method": q.get("quant_method"), "packed_bits": bits},
        "options": asdict(options),
        "sampling": sampling,
        "wall_s": time.perf_counter() - start,
        "tensors": [_strip(done[_key(r)]) for r in checkpoint.tensors],
    }


def tensor_kind(record: TensorRecord, bits: int | None) -> str:
    """``"packed"`` for packed quantized weights, else the dtype's kind (float, int, ...)."""
    return "packed" if packed.is_packed(record, bits) else record.dtype.kind


# -- units -------------------------------------------------------------------------------


def _rows_per(record: TensorRecord, kib: int) -> int:
    """Whole rows in about ``kib`` KiB (at least one)."""
    return max(1, (kib << 10) // max(1, record.row_length * record.dtype.itemsize))


def _chunks(record: TensorRecord, chunk_mib: int) -> list[tuple[int, int]]:
    """``(first_row, rows)`` of consecutive chunks of about ``chunk_mib`` MiB (the last shorter)."""
    per = _rows_per(record, chunk_mib << 10)
    return [(r, min(per, record.rows - r)) for r in range(0, record.rows, per)]


def draw_blocks(checkpoint: Checkpoint, options: AnalysisOptions) -> tuple[dict[str, dict[int, int]], dict]:
    """The chunks the sampled codecs code, ``{tensor key: {first_row: draws}}``, and a
    description of the sample (the module docstring gives the design)."""
    units = [(record, first, rows) for record in checkpoint.tensors if record.nbytes
             for first, rows in _chunks(record, options.chunk_mib)]
    sizes = np.array([rows * record.nbytes // record.rows for record, _, rows in units], dtype=np.float64)
    census = options.blocks >= len(units)
    if census:
        counts = np.ones(len(units), dtype=np.int64)
    else:
        picks = np.random.default_rng(options.seed).choice(len(units), size=options.blocks, replace=True, p=sizes / sizes.sum())
        counts = np.bincount(picks, minlength=len(units))
    draws: dict[str, dict[int, int]] = defaultdict(dict)
    for (record, first, _), count in zip(units, counts):
        if count:
            draws[_key(record)][first] = int(count)
    description = {
        "codecs": list(options.sampled_codecs()),
        "design": "census" if census else "pps-with-replacement",
        "chunks_in_checkpoint": len(units),
        "draws": int(counts.sum()),
        "distinct_chunks": int(np.count_nonzero(counts)),
        "sampled_bytes": int(sizes[counts > 0].sum()),
        "chunk_mib": options.chunk_mib,
        "seed": options.seed,
    }
    return dict(draws), description


# -- one tensor ----------------------------------------------------------------------------


class _TensorJob:
    """Accumulates the results of one tensor's chunks as their streams are built and their
    codec runs finish, both in the pool (the shared state is updated under ``lock``).

    A drawn chunk (``draws`` set) also runs the sampled codecs, whose results are kept
    apart, chunk by chunk, as the tensor's ``blocks``."""

    def __init__(self, record: TensorRecord, options: AnalysisOptions, bits: int | None):
        self.record, self.options, self.bits = record, options, bits
        self.kind = tensor_kind(record, bits)
        self.plan: LayoutPlan | None = None
        self.nm_broken = False
        self.lock = threading.Lock()
        self.prepares: list[tuple[int, Future]] = []
        self.futures: list[tuple[int, str, str, Future]] = []
        self.unit_bytes: list[int] = []
        self.blocks: dict[int, dict] = {}  # unit -> {"first_row", "rows", "raw_bytes", "draws"}
        self.zeros = 0
        self.parts: dict[str, dict[str, Histogram]] = defaultdict(dict)
        self.part_bytes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.layout_s: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        self.block_layout_s: dict[tuple[int, str], tuple[float, float]] = {}
        self.values = self._value_histogram()

    def _value_histogram(self) -> Histogram | None:
        if self.kind == "packed":
            return Histogram(1 << self.bits)
        return Histogram(1 << self.record.dtype.bits) if self.record.dtype.itemsize <= 2 else None

    def queue_unit(self, raw: np.ndarray, pool: ThreadPoolExecutor, codecs: list[Codec], first_row: int,
                   draws: int | None) -> None:
        """Queue the next chunk: its streams are built in ``pool``, which then codes them. The
        layouts are chosen here, from the tensor's first chunk."""
        o, record = self.options, self.record
        if self.plan is None:
            self.plan = plan_layouts(raw, record, o.layouts, o.grouping, o.sparse_min)
        unit = len(self.unit_bytes)
        self.unit_bytes.append(raw.size)
        if draws:
            rows = raw.size // (record.row_length * record.dtype.itemsize)
            self.blocks[unit] = {"first_row": first_row, "rows": rows, "raw_bytes": raw.size, "draws": draws}
        future = pool.submit(self._prepare, unit, raw, pool, codecs)
        with self.lock:
            self.prepares.append((unit, future))

    def _prepare(self, unit: int, raw: np.ndarray, pool: ThreadPoolExecutor, codecs: list[Codec]) -> None:
        """Streams of one chunk, their symbol counts (entropy bounds), zeros, values and codec runs."""
        o, record = self.options, self.record
        streams = build_streams(raw, record, self.plan, o.verify)
        futures = [
            (unit, stream.name, codec.name,
             pool.submit(measure, codec, [p for _, p in stream.parts], o.verify,
                         f"{record.file}: tensor {record.name}: {stream.name}", record.dtype.name))
            for stream in streams for codec in codecs if codec.codes(stream.name, record.dtype.name)
        ]
        zeros = 0
        if record.dtype.kind == "float":
            zeros = raw.size // record.dtype.itemsize - int(np.count_nonzero(raw.view(f"<u{record.dtype.itemsize}")))
        values = self._value_histogram()
        if self.kind == "packed":
            packed.add_fields(values, raw, record.row_length * record.dtype.itemsize, self.bits)
        elif values is not None:
            values.add(raw.view(f"<u{record.dtype.itemsize}"))
        parts = []
        for stream in streams:
            for name, part in stream.parts:
                histogram = Histogram()
                histogram.add(part)
                parts.append((stream.name, name, histogram, part.size))
        with self.lock:
            self.nm_broken |= self.plan.nm is not None and "nm" not in {s.name for s in streams}
            self.zeros += zeros
            if values is not None:
                self.values.counts += values.counts
            for stream_name, name, histogram, size in parts:
                self.parts[stream_name].setdefault(name, Histogram()).counts += histogram.counts
                self.part_bytes[stream_name][name] += size
            for stream in streams:
                times = self.layout_s[stream.name]
                times[0] += stream.prepare_s
                times[1] += stream.restore_s
                if unit in self.blocks:
                    self.block_layout_s[unit, stream.name] = (stream.prepare_s, stream.restore_s)
            self.futures.extend(futures)

    def open_futures(self) -> list[Future]:
        """The unit preparations and codec runs still running or queued."""
        with self.lock:
            return [f for _, f in self.prepares if not f.done()] + [f for *_, f in self.futures if not f.done()]

    def inflight_bytes(self) -> int:
        with self.lock:
            busy = {unit for unit, f in self.prepares if not f.done()}
            busy |= {unit for unit, *_, f in self.futures if not f.done()}
        return sum(self.unit_bytes[u] for u in busy)

    def done(self) -> bool:
        # a preparation is done only once it has queued its codec runs
        return not self.open_futures()

    def result(self) -> dict:
        """The tensor's JSON-ready result: the full pass per stream, and the sampled blocks."""
        for _, future in self.prepares:
            future.result()  # a failed preparation raises here
        record, plan = self.record, self.plan
        names = [s for s in (plan.names() if plan else []) if not (s == "nm" and self.nm_broken)]
        sampled = set(self.options.sampled_codecs())
        runs: dict[tuple[int | None, str, str], list[CodecRun]] = defaultdict(list)
        for unit, stream, codec, fut in self.futures:
            runs[unit if codec in sampled else None, stream, codec].append(fut.result())
        streams = {}
        for stream in names:
            parts = {
                name: {"bytes": self.part_bytes[stream][name], "entropy_bits": hist.bits_per_symbol()}
                for name, hist in self.parts[stream].items()
            }
            streams[stream] = {
                "parts": parts,
                "entropy_bytes": sum(p["bytes"] * p["entropy_bits"] / 8 for p in parts.values()),
                "prepare_s": self.layout_s[stream][0],
                "restore_s": self.layout_s[stream][1],
                "codecs": {
                    codec: {
                        "bytes": sum(sum(r.part_bytes) for r in unit_runs),
                        "compress_s": sum(r.compress_s for r in unit_runs),
                        "decompress_s": sum(r.decompress_s for r in unit_runs),
                        "parts": dict(zip(parts, (sum(col) for col in zip(*(r.part_bytes for r in unit_runs))))),
                    }
                    for (unit, s, codec), unit_runs in runs.items() if unit is None and s == stream
                },
            }
        blocks = []
        for unit, block in sorted(self.blocks.items(), key=lambda item: item[1]["first_row"]):
            block_streams = {}
            for stream in names:
                codecs = {codec: {"bytes": sum(r.part_bytes), "compress_s": r.compress_s, "decompress_s": r.decompress_s}
                          for (u, s, codec), unit_runs in runs.items() if u == unit and s == stream
                          for r in unit_runs}  # one run per drawn chunk
                if codecs:
                    prepare_s, restore_s = self.block_layout_s[unit, stream]
                    block_streams[stream] = {"prepare_s": prepare_s, "restore_s": restore_s, "codecs": codecs}
            blocks.append({**block, "streams": block_streams})
        value_bits = self.values.bits_per_symbol() if self.values is not None and self.values.total else None
        value_count = record.nbytes * 8 // self.bits if self.kind == "packed" else record.numel
        return {
            "key": _key(record),
            "file": record.file.name,
            "name": record.name,
            "dtype": record.dtype.name,
            "shape": list(record.shape),
            "kind": self.kind,
            "raw_bytes": record.nbytes,
            "zero_fraction": self.zeros / record.numel if record.dtype.kind == "float" and record.numel else None,
            "nm_pattern": None if plan is None or plan.nm is None or self.nm_broken else "{}:{}".format(*plan.nm),
            "value_bits": value_bits,
            "value_entropy_bytes": None if value_bits is None else value_bits * value_count / 8,
            "streams": streams,
            "blocks": blocks,
        }


def _finish(pending: list[_TensorJob], done: dict, log: Journal | None, bar) -> None:
    """Record the finished tensors at the head of ``pending`` (file order is kept)."""
    while pending and pending[0].done():
        job = pending.pop(0)
        entry = job.result()
        done[entry["key"]] = entry
        if log:
            log.append(entry)
        bar.update(job.record.nbytes)


def _key(record: TensorRecord) -> str:
    return f"{record.file.name}::{record.name}"


def _strip(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k != "key"}
