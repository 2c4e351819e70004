"""The memory-constrained load model (compressors.storage.offload) against measured passes.

A real checkpoint's tensors are cut into chunks (``--chunk-mib``) and, for each codec, every
chunk is compressed once into a file of its own (the raw checkpoint is its own file). A
*pass* keeps the chunks that fit in memory M resident (the first ones in file order, up to M
bytes) and streams the rest from that file through a throttled reader at bandwidth B, then
decodes them, either

* ``serial``: read a chunk, decode it, read the next; or
* ``pipelined``: a reader thread fetches chunks into a queue of two while the calling thread
  decodes (one decoding core).

The throttle is a token bucket without banking: a read of k bytes may not finish before k/B
seconds after it began or after the previous read's slot ended, whichever is later (the
machine has no cgroup I/O control, so the bandwidth is simulated here; the files are in the
page cache, so the device's own speed does not enter). Each pass's wall time is compared
with the model's prediction ``pass_time(S, B, r, D, overlap=..., chunks=n)``, where S is the
model's streamed bytes for M (not the measured chunk boundary), r the codec's ratio over the
whole checkpoint and D its decode speed, both measured in this run: every chunk decoded once,
wall clock, before and after each codec's passes (the mean is used; both are recorded). Each
pass also times its own decode calls, and the prediction with that pass's decode speed tests
the equation alone, apart from how well D was measured.
The machine is shared, so the decode speed of the same run is what the prediction must use.
With ``--analysis storage.json`` (``kick storage --out``) each point also gets the
prediction from that analysis's ratio and per-core decode speed (CPU time).

    python bench/storage_offload.py [PATH] --json docs/storage/offload_validation.json
    python bench/storage_offload.py --smoke [PATH]   # tiny model, seconds (used by a test)
    python bench/storage_offload.py --table docs/storage/offload_validation.json   # its Markdown table

Codecs are ``name`` (plain bytes) or ``name:grouped`` (byte planes, as the analysis's grouped
representation; decoding merges the planes). ZipNN codes float tensors only; other tensors
are stored raw for it, as the analysis counts them.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shlex
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.machine import describe
from compressors.storage import byte_planes
from compressors.storage.checkpoint import TensorRecord, open_checkpoint
from compressors.storage.codecs import CODECS, get_codecs
from compressors.storage.loadtime import format_bandwidth, parse_bandwidth, parse_size
from compressors.storage.offload import OVERLAPS, pass_time, streamed_bytes
from kick_core.atomic import atomic_write_text

DEFAULTS = {"codecs": "zstd-3:grouped,lz4:grouped,zipnn", "bandwidths": "20MB/s,50MB/s,100MB/s,300MB/s", "memories": "0,100MB,200MB",
            "chunk_mib": 2.0}
SMOKE = {"codecs": "zstd-1,lz4:grouped", "bandwidths": "2MB/s,5MB/s", "memories": "0,0.5", "chunk_mib": 1 / 32}


@dataclass(frozen=True)
class Chunk:
    """``length`` bytes of one tensor from byte ``start`` of it (whole elements)."""

    record: TensorRecord
    start: int
    length: int


class ThrottledReader:
    """``pread`` at no more than ``bandwidth`` bytes/s: a read of k bytes takes k/B from when
    it starts, which is when it is asked for or when the previous read's slot ends, whichever
    is later (an idle reader banks no bandwidth, as a device would not). The time by which
    ``sleep`` overshoots a slot's end is forgiven to the next read, so that scheduling noise
    on a busy machine does not lower the rate."""

    def __init__(self, bandwidth: float):
        self.bandwidth = bandwidth
        self.free_at = 0.0
        self.overshoot = 0.0

    def read(self, fd: int, offset: int, length: int) -> bytes:
        start = max(time.perf_counter() - self.overshoot, self.free_at)
        data = os.pread(fd, length, offset)
        self.free_at = start + length / self.bandwidth
        delay = self.free_at - time.perf_counter()
        self.overshoot = 0.0
        if delay > 0:
            time.sleep(delay)
            self.overshoot = max(0.0, time.perf_counter() - self.free_at)
        return data


class Stored:
    """Every chunk of a checkpoint as one codec stores it, in a file: how to read and decode it."""

    def __init__(self, spec: str, chunks: list[Chunk], folder: Path):
        name, _, layout = spec.partition(":")
        self.spec, self.layout = spec, layout or "plain"
        if self.layout not in ("plain", "grouped"):
            raise ValueError(f"codec {spec!r}: the layout after ':' must be plain or grouped")
        self.codec = None if name == "raw" else get_codecs([name])[-1]
        self.entries: list[tuple[int, list[int], str]] = []  # (offset, part lengths, how) per chunk
        if self.codec is None:
            self.path = None
            return
        self.path = folder / f"{spec.replace(':', '-')}.bin"
        with open(self.path, "wb") as fh:
            for chunk in chunks:
                raw = np.frombuffer(_read(chunk), dtype=np.uint8)
                dtype = chunk.record.dtype
                # as the analysis stores a tensor: grouped where it has byte planes, else plain;
                # raw where the codec codes neither (ZipNN: tensors that are not floats)
                how = "grouped" if self.layout == "grouped" and byte_planes.groupable(dtype) else "plain"
                how = how if self.codec.codes(how, dtype.name) else "raw"
                parts = byte_planes.split(raw, dtype, "fields") if how == "grouped" else [raw]
                blobs = [p.tobytes() if how == "raw" else bytes(self.codec.compress(p, *self._typed(chunk))) for p in parts]
                self.entries.append((fh.tell(), [len(b) for b in blobs], how))
                for blob in blobs:
                    fh.write(blob)

    def _typed(self, chunk: Chunk) -> tuple:
        return () if self.codec.dtypes is None else (chunk.record.dtype.name,)

    def stored_bytes(self, chunks: list[Chunk]) -> int:
        return sum(c.length for c in chunks) if self.codec is None else sum(sum(e[1]) for e in self.entries)

    def location(self, index: int, chunk: Chunk) -> tuple[str, int, int]:
        """File, offset and length of chunk ``index`` as stored."""
        if self.codec is None:
            return str(chunk.record.file), chunk.record.offset + chunk.start, chunk.length
        offset, lengths, _ = self.entries[index]
        return str(self.path), offset, sum(lengths)

    def decode(self, index: int, chunk: Chunk, blob: bytes) -> None:
        if self.codec is None:
            return
        _, lengths, how = self.entries[index]
        if how == "raw":
            return
        bounds = np.cumsum([0, *lengths])
        parts = [self.codec.decompress(blob[a:b], *self._typed(chunk)) for a, b in zip(bounds[:-1], bounds[1:])]
        if how == "grouped":
            byte_planes.merge([np.frombuffer(p, dtype=np.uint8) for p in parts], chunk.record.dtype, "fields")

    def decode_speed(self, chunks: list[Chunk]) -> float:
        """Bytes of output per wall-clock second, decoding every chunk once from memory."""
        if self.codec is None:
            return float("inf")
        blobs = []
        for index, chunk in enumerate(chunks):
            path, offset, length = self.location(index, chunk)
            with open(path, "rb") as fh:
                fh.seek(offset)
                blobs.append(fh.read(length))
        start = time.perf_counter()
        for index, (chunk, blob) in enumerate(zip(chunks, blobs)):
            self.decode(index, chunk, blob)
        return sum(c.length for c in chunks) / (time.perf_counter() - start)


def _read(chunk: Chunk) -> bytes:
    with open(chunk.record.file, "rb") as fh:
        fh.seek(chunk.record.offset + chunk.start)
        return fh.read(chunk.length)


def cut(records: list[TensorRecord], chunk_bytes: int, boundaries: list[float] = ()) -> list[Chunk]:
    """Every tensor in chunks of at most ``chunk_bytes`` (whole elements), also cut where the
    checkpoint's bytes, counted in file order, reach a value of ``boundaries`` (the memory
    sizes: the resident part of a pass then ends on a chunk boundary, to the element)."""
    chunks, before = [], 0
    for record in records:
        size = record.dtype.itemsize
        step = max(size, chunk_bytes // size * size)
        cuts = set(range(0, record.nbytes, step))
        cuts |= {int(b - before) // size * size for b in boundaries if before < b < before + record.nbytes}
        edges = sorted(cuts) + [record.nbytes]
        chunks += [Chunk(record, a, b - a) for a, b in zip(edges, edges[1:]) if b > a]
        before += record.nbytes
    return chunks


def streamed(chunks: list[Chunk], memory: float) -> list[int]:
    """Indices of the chunks a pass reads: all but the longest prefix that fits in ``memory``."""
    used, first = 0, 0
    while first < len(chunks) and used + chunks[first].length <= memory:
        used += chunks[first].length
        first += 1
    return list(range(first, len(chunks)))


def run_pass(stored: Stored, chunks: list[Chunk], indices: list[int], bandwidth: float,
             overlap: str) -> tuple[float, float]:
    """Wall seconds of one pass (read ``indices`` through the throttle and decode them), and of
    its decoding alone (the decode calls' wall time, summed)."""
    reader = ThrottledReader(bandwidth)
    fds: dict[str, int] = {}
    try:
        for index in indices:
            path = stored.location(index, chunks[index])[0]
            if path not in fds:
                fds[path] = os.open(path, os.O_RDONLY)

        def fetch(index: int) -> bytes:
            path, offset, length = stored.location(index, chunks[index])
            return reader.read(fds[path], offset, length)

        decoding = 0.0

        def decode(index: int, blob: bytes) -> None:
            nonlocal decoding
            if stored.codec is None:  # raw: nothing to decode
                return
            t0 = time.perf_counter()
            stored.decode(index, chunks[index], blob)
            decoding += time.perf_counter() - t0

        start = time.perf_counter()
        if overlap == "serial":
            for index in indices:
                decode(index, fetch(index))
            return time.perf_counter() - start, decoding
        ready: queue.Queue = queue.Queue(maxsize=2)
        failed: list[BaseException] = []

        def produce() -> None:
            try:
                for index in indices:
                    ready.put((index, fetch(index)))
            except BaseException as err:  # reported by the caller, which would otherwise wait forever
                failed.append(err)
            finally:
                ready.put(None)

        thread = threading.Thread(target=produce, daemon=True)
        thread.start()
        while (item := ready.get()) is not None:
            decode(*item)
        thread.join()
        if failed:
            raise failed[0]
        return time.perf_counter() - start, decoding
    finally:
        for fd in fds.values():
            os.close(fd)


def analysis_speeds(path: Path | None, label: str | None) -> dict[str, tuple[float, float]]:
    """``{spec: (ratio, per-core decode bytes/s)}`` from a storage.json (its first model, or ``label``)."""
    if path is None:
        return {}
    models = json.loads(path.read_text())["models"]
    summary = next((m["summary"] for m in models if label is None or m["summary"]["label"] == label), None)
    if summary is None:
        raise ValueError(f"{path}: no checkpoint labelled {label!r}")
    out = {}
    for layout in ("plain", "grouped"):
        for codec, entry in summary["representations"].get(layout, {}).get("codecs", {}).items():
            if entry["ratio"] and entry["decompress_s"] > 0:
                out[codec if layout == "plain" else f"{codec}:grouped"] = (
                    entry["ratio"], summary["raw_bytes"] / entry["decompress_s"])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("path", nargs="?", help="checkpoint (default: SmolLM2-135M-Instruct, or a tiny model with --smoke)")
    p.add_argument("--smoke", action="store_true", help="tiny model, two fast codecs, small chunks: seconds")
    p.add_argument("--codecs", help=f"comma-separated, NAME or NAME:grouped (default {DEFAULTS['codecs']})")
    p.add_argument("--bandwidths", help=f"throttled read bandwidths (default {DEFAULTS['bandwidths']})")
    p.add_argument("--memories", help=f"memory sizes, bytes, or fractions of the checkpoint when all are below 1 "
                                      f"(default {DEFAULTS['memories']})")
    p.add_argument("--overlaps", default=",".join(OVERLAPS), help="serial, pipelined or both")
    p.add_argument("--chunk-mib", type=float, help=f"chunk size (default {DEFAULTS['chunk_mib']})")
    p.add_argument("--analysis", type=Path, help="a kick storage storage.json: also predict from its speeds")
    p.add_argument("--analysis-label", help="the checkpoint's label in --analysis (default: its first)")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--table", type=Path, help="print the points of an earlier --json file as Markdown, and stop")
    args = p.parse_args(argv)
    if args.table:
        print(markdown(json.loads(args.table.read_text())))
        return 0
    preset = SMOKE if args.smoke else DEFAULTS
    specs = _names(args.codecs or preset["codecs"])
    bandwidths = [parse_bandwidth(b) for b in _names(args.bandwidths or preset["bandwidths"])]
    overlaps = _names(args.overlaps)
    if set(overlaps) - set(OVERLAPS):
        p.error(f"--overlaps {args.overlaps!r}: choose from {', '.join(OVERLAPS)}")
    unknown = [s for s in specs if s.partition(":")[0] not in CODECS]
    if unknown:
        p.error(f"--codecs: unknown {', '.join(unknown)}; allowed: {', '.join(CODECS)} (optionally :grouped)")
    from_analysis = analysis_speeds(args.analysis, args.analysis_label)
    results: dict = {"benchmark": "storage_offload", "command": "python bench/storage_offload.py " + shlex.join(
        sys.argv[1:] if argv is None else argv), "machine": describe()}

    with tempfile.TemporaryDirectory() as tmp:
        path = args.path or _default_model(args.smoke, Path(tmp))
        checkpoint = open_checkpoint(path)
        total = checkpoint.raw_bytes
        given = [parse_size(m, "memory") for m in _names(args.memories or preset["memories"])]
        memories = [m * total for m in given] if all(m < 1 for m in given) else given
        chunks = cut(checkpoint.tensors, int((args.chunk_mib or preset["chunk_mib"]) * 2**20), memories)
        results.update(checkpoint=str(path), raw_bytes=total, chunks=len(chunks), memories_bytes=memories,
                       bandwidths_Bps=bandwidths, codecs={}, points=[])
        print(f"checkpoint: {path} ({total / 1e6:.1f} MB, {len(chunks)} chunks)", flush=True)
        raw = Stored("raw", chunks, Path(tmp))
        for spec in specs:
            stored = Stored(spec, chunks, Path(tmp))
            ratio = total / stored.stored_bytes(chunks)
            before = stored.decode_speed(chunks)
            rows = []
            for memory in memories:
                indices = streamed(chunks, memory)
                model_s = streamed_bytes(total, memory)
                for bandwidth in bandwidths:
                    if spec == specs[0]:  # the raw pass, once per (M, B)
                        rows.append(_point("raw", "-", memory, bandwidth, model_s, chunks, indices,
                                           run_pass(raw, chunks, indices, bandwidth, "serial"), 1.0))
                    for overlap in overlaps:
                        rows.append(_point(spec, overlap, memory, bandwidth, model_s, chunks, indices,
                                           run_pass(stored, chunks, indices, bandwidth, overlap), ratio))
            after = stored.decode_speed(chunks)
            decode = (before + after) / 2
            results["codecs"][spec] = {"ratio": ratio, "decode_MBps_before": before / 1e6, "decode_MBps_after": after / 1e6,
                                       "decode_MBps": decode / 1e6, "analysis": _analysis_entry(from_analysis.get(spec))}
            for row in rows:
                _predict(row, ratio, decode, from_analysis.get(row["codec"]))
                results["points"].append(row)
            print(f"{spec}: ratio {ratio:.3f}, decode {before / 1e6:.0f} / {after / 1e6:.0f} MB/s (before / after)",
                  flush=True)
            print(render(rows), flush=True)
            if stored.path is not None:
                stored.path.unlink()
            if args.json:
                atomic_write_text(args.json, json.dumps(results, indent=1, default=str) + "\n")
    errors = [abs(r["error"]) for r in results["points"]]
    results["max_abs_error"] = max(errors)
    results["machine"]["load_average_end"] = describe()["load_average"]
    print(f"\n{len(errors)} points: largest |measured / predicted - 1| = {max(errors):.1%}")
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=1, default=str) + "\n")
    return 0


def _point(codec: str, overlap: str, memory: float, bandwidth: float, model_s: float, chunks: list[Chunk],
           indices: list[int], measured: tuple[float, float], ratio: float) -> dict:
    return {"codec": codec, "overlap": overlap, "memory_bytes": memory, "bandwidth_Bps": bandwidth,
            "streamed_bytes_model": model_s, "streamed_bytes_measured": sum(chunks[i].length for i in indices),
            "streamed_chunks": len(indices), "measured_s": measured[0], "decode_s_in_pass": measured[1]}


def _predict(row: dict, ratio: float, decode: float, analysis: tuple[float, float] | None) -> None:
    """The model's time for the row: raw, or the codec with this run's ratio and decode speed
    (and, where given, the analysis's)."""
    args = dict(workers=1, overlap="serial" if row["overlap"] == "-" else row["overlap"], chunks=row["streamed_chunks"] or None)
    if row["codec"] == "raw":
        row["predicted_s"] = pass_time(row["streamed_bytes_model"], row["bandwidth_Bps"], **args)
    else:
        row["predicted_s"] = pass_time(row["streamed_bytes_model"], row["bandwidth_Bps"], ratio, decode, **args)
        if row["decode_s_in_pass"] > 0:  # the equation alone: the decode speed this pass itself reached
            in_pass = row["streamed_bytes_measured"] / row["decode_s_in_pass"]
            row["predicted_in_pass_decode_s"] = pass_time(row["streamed_bytes_model"], row["bandwidth_Bps"], ratio,
                                                          in_pass, **args)
        if analysis:
            row["predicted_from_analysis_s"] = pass_time(row["streamed_bytes_model"], row["bandwidth_Bps"], *analysis, **args)
    row["error"] = row["measured_s"] / row["predicted_s"] - 1 if row["predicted_s"] > 0 else 0.0


def _analysis_entry(entry: tuple[float, float] | None) -> dict | None:
    return None if entry is None else {"ratio": entry[0], "decode_MBps_per_core": entry[1] / 1e6}


def render(rows: list[dict]) -> str:
    lines = [f"{'codec':>18} {'overlap':>9} {'memory MB':>9} {'bandwidth':>10} {'streamed MB':>11} "
             f"{'measured s':>10} {'predicted s':>11} {'error':>7}"]
    for r in rows:
        predicted = r.get("predicted_s")
        lines.append(f"{r['codec']:>18} {r['overlap']:>9} {r['memory_bytes'] / 1e6:>9.1f} "
                     f"{format_bandwidth(r['bandwidth_Bps']):>10} {r['streamed_bytes_measured'] / 1e6:>11.2f} "
                     f"{r['measured_s']:>10.3f} " + ("" if predicted is None else f"{predicted:>11.3f} {r['error']:>+7.1%}"))
    return "\n".join(lines)


def markdown(results: dict) -> str:
    """The points of a results file as a Markdown table, with each codec point's prediction by
    both equations (the matching one gives ``error``; the other shows whether overlap holds)."""
    lines = ["| codec | read/decode | M (MB) | B | streamed MB | measured s | predicted s | error | "
             "other equation s | its error | with the pass's own decode speed s | its error | from the analysis s | its error |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["points"]:
        other = ""
        if r["codec"] != "raw":
            c = results["codecs"][r["codec"]]
            flip = "pipelined" if r["overlap"] == "serial" else "serial"
            t = pass_time(r["streamed_bytes_model"], r["bandwidth_Bps"], c["ratio"], c["decode_MBps"] * 1e6, workers=1,
                          overlap=flip, chunks=r["streamed_chunks"] or None)
            other = f"{t:.3f} ({flip}) | {r['measured_s'] / t - 1:+.1%}"
        lines.append(f"| {r['codec']} | {r['overlap']} | {r['memory_bytes'] / 1e6:.0f} | {format_bandwidth(r['bandwidth_Bps'])} "
                     f"| {r['streamed_bytes_measured'] / 1e6:.1f} | {r['measured_s']:.3f} | {r['predicted_s']:.3f} "
                     f"| {r['error']:+.1%} | {other or '| '} | {_cells(r, 'predicted_in_pass_decode_s')} "
                     f"| {_cells(r, 'predicted_from_analysis_s')} |")
    return "\n".join(lines)


def _cells(row: dict, key: str) -> str:
    t = row.get(key)
    return "| " if t is None else f"{t:.3f} | {row['measured_s'] / t - 1:+.1%}"


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _default_model(smoke: bool, tmp: Path):
    from kick_models.local_models import smollm2_instruct, tiny_llama

    return tiny_llama(tmp / "tiny-llama") if smoke else smollm2_instruct()


if __name__ == "__main__":
    raise SystemExit(main())
