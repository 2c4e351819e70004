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

Sampling mode (``sample=f``) reads a simple random sample, without replacement, of ``k =
max(min_blocks, ceil(f*N))`` of the N blocks of whole rows (about ``block_kib`` each) of
every tensor, seeded by ``seed`` and the tensor's name; a tensor with no more than ``k``
blocks is analysed whole. A block's compressed size c_i estimates the tensor's as ``C =
(R / r) * mean(c_i)`` (R tensor bytes, r block bytes), with standard error
``(R / r) * s / sqrt(k) * sqrt(1 - k/N)`` (Cochran, "Sampling Techniques", 3rd ed., 1977,
eq. 2.8 and 2.12: the mean of a simple random sample and its finite-population
correction). Tensors are sampled independently, so variances add; the report turns them
into a 95% interval on each total. The interval covers sampling error only: blocks are
coded on their own (a frame header, a fresh entropy model and no match history each), which
biases the estimate. ``bench/storage_throughput.py`` measures that bias against a full run:
on SmolLM2-135M it stayed within 0.1% at the default 1 MiB blocks and reached 0.4% (zstd)
and 3.7% (lz4 on byte planes) at 128 KiB blocks, so small blocks are for quick looks.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
import zlib
from collections import defaultdict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from compressors.storage import byte_planes, packed
from compressors.storage.checkpoint import Checkpoint, TensorRecord, open_checkpoint
from compressors.storage.codecs import DEFAULT_CODECS, CodecRun, get_codecs, measure
from compressors.storage.entropy import Histogram
from compressors.storage.persist import Journal
from compressors.storage.streams import STREAMS, LayoutPlan, build_streams, plan_layouts


def default_workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class AnalysisOptions:
    """What to measure and how. Every field is checked by :meth:`validate`."""

    codecs: tuple[str, ...] = DEFAULT_CODECS
    layouts: tuple[str, ...] = STREAMS
    grouping: str = "fields"
    sample: float | None = None
    block_kib: int = 1024
    min_blocks: int = 4
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
        if self.sample is not None and not 0 < self.sample < 1:
            raise ValueError(f"sample {self.sample}: must be a fraction in (0, 1), or None for a full run")
        for name in ("block_kib", "min_blocks", "chunk_mib", "workers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} {getattr(self, name)}: must be a positive integer")
        if not 0 <= self.sparse_min <= 1:
            raise ValueError(f"sparse_min {self.sparse_min}: must lie in [0, 1]")
        return self

    def fingerprint(self, checkpoint: Checkpoint) -> str:
        """Hash of everything the results depend on (not ``workers`` nor ``verify``)."""
        facts = {k: v for k, v in asdict(self).items() if k not in ("workers", "verify")}
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
    codecs = get_codecs(options.codecs)
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
            for first, rows in _units(record, options):
                job.queue_unit(record.read_rows(first, rows), pool, codecs)
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


def _units(record: TensorRecord, options: AnalysisOptions) -> list[tuple[int, int]]:
    """``(first_row, rows)`` of the chunks (full run) or sampled blocks of ``record``."""
    rows = record.rows
    if rows == 0:
        return []
    per_block = _rows_per(record, options.block_kib)
    blocks = rows // per_block
    if options.sample is not None:
        k = max(options.min_blocks, math.ceil(options.sample * math.ceil(rows / per_block)))
        if k < blocks:
            rng = np.random.default_rng([options.seed, zlib.crc32(record.name.encode())])
            chosen = np.sort(rng.choice(blocks, size=k, replace=False))
            return [(int(b) * per_block, per_block) for b in chosen]
    per_chunk = _rows_per(record, options.chunk_mib << 10)
    return [(r, min(per_chunk, rows - r)) for r in range(0, rows, per_chunk)]


def _sampling(record: TensorRecord, options: AnalysisOptions, units: int, read_bytes: int) -> tuple[float, float]:
    """``(scale, fpc)``: bytes of the tensor per byte read, and the finite-population
    correction 1 - k/N (0 when the tensor was read whole)."""
    if read_bytes >= record.nbytes:
        return 1.0, 0.0
    return record.nbytes / read_bytes, 1.0 - units / (record.rows // _rows_per(record, options.block_kib))


# -- one tensor ----------------------------------------------------------------------------


class _TensorJob:
    """Accumulates the results of one tensor's units as their streams are built and their
    codec runs finish, both in the pool (the shared state is updated under ``lock``)."""

    def __init__(self, record: TensorRecord, options: AnalysisOptions, bits: int | None):
        self.record, self.options, self.bits = record, options, bits
        self.kind = tensor_kind(record, bits)
        self.plan: LayoutPlan | None = None
        self.nm_broken = False
        self.lock = threading.Lock()
        self.prepares: list[tuple[int, Future]] = []
        self.futures: list[tuple[int, str, str, Future]] = []
        self.unit_bytes: list[int] = []
        self.zeros = 0
        self.parts: dict[str, dict[str, Histogram]] = defaultdict(dict)
        self.part_bytes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.layout_s: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        self.values = self._value_histogram()

    def _value_histogram(self) -> Histogram | None:
        if self.kind == "packed":
            return Histogram(1 << self.bits)
        return Histogram(1 << self.record.dtype.bits) if self.record.dtype.itemsize <= 2 else None

    def queue_unit(self, raw: np.ndarray, pool: ThreadPoolExecutor, codecs) -> None:
        """Queue the next unit: its streams are built in ``pool``, which then codes them. The
        layouts are chosen here, from the tensor's first unit."""
        o, record = self.options, self.record
        if self.plan is None:
            self.plan = plan_layouts(raw, record, o.layouts, o.grouping, o.sparse_min)
        unit = len(self.unit_bytes)
        self.unit_bytes.append(raw.size)
        future = pool.submit(self._prepare, unit, raw, pool, codecs)
        with self.lock:
            self.prepares.append((unit, future))

    def _prepare(self, unit: int, raw: np.ndarray, pool: ThreadPoolExecutor, codecs) -> None:
        """Streams of one unit, their symbol counts (entropy bounds) and their codec runs."""
        o, record = self.options, self.record
        streams = build_streams(raw, record, self.plan, o.verify)
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
        futures = [
            (unit, stream.name, codec.name,
             pool.submit(measure, codec, [p for _, p in stream.parts], o.verify,
                         f"{record.file}: tensor {record.name}: {stream.name}"))
            for stream in streams for codec in codecs
        ]
        with self.lock:
            self.nm_broken |= self.plan.nm is not None and "nm" not in {s.name for s in streams}
            self.zeros += zeros
            if values is not None:
                self.values.counts += values.counts
            for stream in streams:
                self.layout_s[stream.name][0] += stream.prepare_s
                self.layout_s[stream.name][1] += stream.restore_s
            for stream_name, name, histogram, size in parts:
                self.parts[stream_name].setdefault(name, Histogram()).counts += histogram.counts
                self.part_bytes[stream_name][name] += size
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
        """The tensor's JSON-ready result, every size scaled to the whole tensor."""
        for _, future in self.prepares:
            future.result()  # a failed preparation raises here
        record, plan = self.record, self.plan
        read = sum(self.unit_bytes)
        scale, fpc = _sampling(record, self.options, len(self.unit_bytes), read)
        runs: dict[tuple[str, str], list[CodecRun]] = defaultdict(list)
        for _, stream, codec, fut in self.futures:
            runs[stream, codec].append(fut.result())
        streams = {}
        for stream in plan.names() if plan else []:
            if stream == "nm" and self.nm_broken:
                continue
            parts = {
                name: {"bytes": scale * self.part_bytes[stream][name], "entropy_bits": hist.bits_per_symbol()}
                for name, hist in self.parts[stream].items()
            }
            codecs = {}
            for (s, codec), unit_runs in runs.items():
                if s != stream:
                    continue
                sizes = np.array([sum(r.part_bytes) for r in unit_runs], dtype=np.float64)
                # C = scale * sum(c_i); Var(sum) = k * s^2 * (1 - k/N) for k of N blocks.
                stderr = float(scale * sizes.std(ddof=1) * math.sqrt(sizes.size * fpc)) if fpc and sizes.size > 1 else 0.0
                codecs[codec] = {
                    "bytes": float(scale * sizes.sum()) if scale != 1.0 else int(sizes.sum()),
                    "stderr": stderr,
                    "compress_s": scale * sum(r.compress_s for r in unit_runs),
                    "decompress_s": scale * sum(r.decompress_s for r in unit_runs),
                    "parts": dict(zip(parts, (scale * sum(col) for col in zip(*(r.part_bytes for r in unit_runs))))),
                }
            streams[stream] = {
                "parts": parts,
                "entropy_bytes": sum(p["bytes"] * p["entropy_bits"] / 8 for p in parts.values()),
                "prepare_s": scale * self.layout_s[stream][0],
                "restore_s": scale * self.layout_s[stream][1],
                "codecs": codecs,
            }
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
            "read_bytes": read,
            "sampled": scale != 1.0,
            "zero_fraction": self.zeros / (read // record.dtype.itemsize) if record.dtype.kind == "float" and read else None,
            "nm_pattern": None if plan is None or plan.nm is None or self.nm_broken else "{}:{}".format(*plan.nm),
            "value_bits": value_bits,
            "value_entropy_bytes": None if value_bits is None else value_bits * value_count / 8,
            "streams": streams,
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
