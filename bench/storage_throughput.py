"""Storage analysis speed and sampling accuracy (compressors.storage).

Four measurements on one checkpoint, every speed in MB of weights per CPU-second of one
core (process CPU time, so other work on a shared machine does not distort it):

1. Overhead of our code: for each codec, the bare library (``compress`` then ``decompress``
   of every tensor's bytes, in a loop) against ``analyze`` restricted to the same bytes
   (``layouts=("plain",)``, one worker, round-trip check on). The ratio is what reading,
   bookkeeping, the identity codec, entropy counting and verification add.
2. The full analysis (all layouts) per core, and with all workers: wall-clock throughput per
   core, which shows how well the thread pool scales.
3. Every codec sampled (``blocks`` draws of chunks) against the full run: estimated ratio,
   the true ratio, the relative error, whether the 95% interval covered it, and the CPU
   speed-up.
4. The cost of the default analysis (``AnalysisOptions()``: every default codec, slow ones
   sampled) in CPU seconds, as a multiple of one zstd-3 pass (compressing every tensor's
   bytes once) over the same bytes, split into the full pass (the codecs on every byte,
   layouts, entropy) and the sampled blocks, and scaled to a Llama-2-7B checkpoint: the full
   pass in proportion to the bytes, the sampled part in proportion to the sampled bytes
   (there ``blocks`` draws of whole 64 MiB chunks, an upper bound). Ratios measured within one run hold on a shared
   machine where absolute speeds do not.
5. Why the sampled unit is a whole chunk: one codec (zstd-19) on the first ``--whole-mib``
   of the largest tensor, coded whole and cut into blocks of ``--block-kib``: speed per
   core and ratio, plain and byte-grouped, each size timed twice in turn.

    python bench/storage_throughput.py [PATH] [--codecs zstd-3,lz4] [--blocks 8] [--json out.json]
    python bench/storage_throughput.py --smoke [PATH]   # tiny model, seconds (used by a test)
    python bench/storage_throughput.py 7B --parts scaling --scaling-workers 16   # a big checkpoint: part 2 only

``--parts`` picks the measurements (sampling needs scaling's full run), ``--scaling-workers``
the worker counts of part 2; each part is printed, and the JSON rewritten, as it finishes.
The JSON records the machine (:mod:`bench.machine`) and the command.

PATH defaults to the small real model (SmolLM2-135M-Instruct, bf16), or with ``--smoke``
a tiny random Llama written to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import describe
from compressors.storage.analyze import AnalysisOptions, analyze, default_workers
from compressors.storage.checkpoint import open_checkpoint
from compressors.storage.codecs import CODECS
from compressors.storage.report import summarize
from kick_core.atomic import atomic_write_text

DEFAULT_CODECS = "zstd-1,zstd-3,lz4,brotli-1,snappy"
PARTS = ("overhead", "scaling", "sampling", "cost", "blocksize")
#: Llama-2-7B in BF16: 6,738,415,616 parameters of 2 bytes (the scale of the cost estimate).
LLAMA2_7B_BYTES = 6_738_415_616 * 2


def raw_codec_seconds(path, codec_name: str, decompress: bool = True) -> tuple[int, float]:
    """Bytes of all tensors and the CPU seconds the bare codec takes to compress (and, with
    ``decompress``, decompress) each tensor's bytes once."""
    codec = CODECS[codec_name]
    total, seconds = 0, 0.0
    for record in open_checkpoint(path).tensors:
        data = record.read_rows(0, record.rows).tobytes()
        t0 = time.process_time()
        packed = codec.compress(data)
        if decompress:
            codec.decompress(packed)
        seconds += time.process_time() - t0
        total += len(data)
    return total, seconds


def timed_analysis(path, options: AnalysisOptions) -> tuple[dict, float, float]:
    """``(summary, cpu_seconds, wall_seconds)`` of one analysis."""
    c0, w0 = time.process_time(), time.perf_counter()
    summary = summarize(analyze(path, options, progress=False))
    return summary, time.process_time() - c0, time.perf_counter() - w0


def overhead_rows(path, codecs: list[str]) -> list[dict]:
    rows = []
    for codec in codecs:
        nbytes, raw_s = raw_codec_seconds(path, codec)
        _, ours_s, _ = timed_analysis(path, AnalysisOptions(codecs=(codec,), layouts=("plain",), workers=1))
        rows.append({
            "codec": codec,
            "bytes": nbytes,
            "raw_MBps": nbytes / raw_s / 1e6,
            "ours_MBps": nbytes / ours_s / 1e6,
            "overhead": ours_s / raw_s,
        })
    return rows


def scaling_rows(path, codecs: list[str], workers: list[int]) -> list[dict]:
    rows = []
    for n in sorted(set(workers)):
        summary, cpu_s, wall_s = timed_analysis(path, AnalysisOptions(codecs=tuple(codecs), workers=n))
        raw = summary["raw_bytes"]
        rows.append({"workers": n, "cpu_MBps_per_core": raw / cpu_s / 1e6, "wall_MBps_per_core": raw / wall_s / n / 1e6,
                     "cpu_s": cpu_s, "wall_s": wall_s, "summary": summary})
    return rows


def sampling_rows(path, codecs: list[str], full: dict, options: AnalysisOptions, full_cpu_s: float) -> list[dict]:
    sampled, cpu_s, _ = timed_analysis(path, options)
    rows = []
    for rep in ("plain", "grouped"):
        for codec in codecs:
            truth = full["representations"][rep]["codecs"][codec]["ratio"]
            est = sampled["representations"][rep]["codecs"][codec]
            ci = est["ratio_ci95"]
            rows.append({
                "representation": rep,
                "codec": codec,
                "full_ratio": truth,
                "sampled_ratio": est["ratio"],
                "ci95": ci,
                "rel_error": est["ratio"] / truth - 1,
                "covered": None if ci is None else bool(ci[0] <= truth <= ci[1]),
                "read_fraction": sampled["sampling"]["sampled_bytes"] / sampled["raw_bytes"],
                "speedup": full_cpu_s / cpu_s,
            })
    return rows


def cost_rows(path, workers: int, **sampling) -> tuple[list[dict], dict]:
    """Part 4: the default analysis (``sampling``: other ``blocks`` or ``chunk_mib``, for the
    smoke mode) against one zstd-3 pass, and its 7B-scale estimate."""
    nbytes, zstd3_s = raw_codec_seconds(path, "zstd-3", decompress=False)
    default = AnalysisOptions(workers=workers, **sampling)
    sampled = default.sampled_codecs()
    summary, cpu_s, wall_s = timed_analysis(path, default)
    fast = AnalysisOptions(codecs=tuple(c for c in default.codecs if c not in sampled), workers=workers, **sampling)
    _, full_pass_s, full_pass_wall = timed_analysis(path, fast)
    sampling = summary["sampling"]
    blocks_s = cpu_s - full_pass_s
    rows = [
        {"run": "zstd-3 pass (compress every tensor once)", "cpu_s": zstd3_s, "wall_s": None, "x_zstd3": 1.0},
        {"run": f"default analysis ({len(default.codecs)} codecs; {len(sampled)} sampled)", "cpu_s": cpu_s,
         "wall_s": wall_s, "x_zstd3": cpu_s / zstd3_s},
        {"run": "  its full pass (the other codecs, layouts, entropy)", "cpu_s": full_pass_s, "wall_s": full_pass_wall,
         "x_zstd3": full_pass_s / zstd3_s},
        {"run": f"  its sampled chunks ({sampling['draws']} draws, {sampling['sampled_bytes'] / 1e6:.1f} MB)",
         "cpu_s": blocks_s, "wall_s": None, "x_zstd3": blocks_s / zstd3_s},
    ]
    # 7B: the full pass and the zstd-3 pass scale with the bytes; the drawn chunks with the
    # sampled bytes, every draw taken as a whole chunk (its tensors are 32 MiB and more).
    sampled_7b = sampling["draws"] * sampling["chunk_mib"] << 20
    zstd3_7b = zstd3_s * LLAMA2_7B_BYTES / nbytes
    cpu_7b = full_pass_s * LLAMA2_7B_BYTES / nbytes + blocks_s * sampled_7b / sampling["sampled_bytes"]
    estimate = {
        "bytes": LLAMA2_7B_BYTES,
        "sampled_bytes": sampled_7b,
        "cpu_s": cpu_7b,
        "x_zstd3": cpu_7b / zstd3_7b,
        "wall_s_16_cores_ideal": cpu_7b / 16,
        "wall_s_16_cores_at_5.9x": cpu_7b / 5.9,
        "assumptions": "per-core speeds of this machine; full pass linear in bytes; sampled part linear in sampled "
                       "bytes, every draw a whole chunk; 16 cores either ideal or at the 5.9x that 16 workers reached "
                       "on the H200 host",
    }
    ratios = {rep: {c: {k: e[k] for k in ("ratio", "ratio_ci95", "mode", "blocks", "compress_MBps", "decompress_MBps")}
                    for c, e in r["codecs"].items()} | {"entropy bound": r["entropy_ratio"]}
              for rep, r in summary["representations"].items()}
    return rows, {"estimate_7b": estimate, "default_sampling": sampling, "ratios": ratios}


def block_size_rows(path, codec_name: str, whole_mib: float, block_kib: list[int]) -> list[dict]:
    """Part 5: ``codec`` on the first ``whole_mib`` MiB of the largest tensor, whole and in blocks."""
    from compressors.storage import byte_planes

    codec = CODECS[codec_name]
    record = max(open_checkpoint(path).tensors, key=lambda r: r.nbytes)
    row_bytes = record.row_length * record.dtype.itemsize
    raw = record.read_rows(0, min(record.rows, max(1, int(whole_mib * 2**20) // row_bytes)))
    layouts = {"plain": [raw]}
    if byte_planes.groupable(record.dtype):
        layouts["grouped"] = byte_planes.split(raw, record.dtype, "fields")
    rows = []
    for layout, planes in layouts.items():
        for _ in range(2):  # in turn, twice: a busy neighbour hits every size alike
            for kib in [None, *block_kib]:
                seconds, packed = 0.0, 0
                for plane in planes:
                    step = plane.size if kib is None else max(1, (kib << 10) * plane.size // raw.size)
                    for start in range(0, plane.size, step):
                        t0 = time.thread_time()
                        packed += len(codec.compress(plane[start : start + step]))
                        seconds += time.thread_time() - t0
                rows.append({"tensor": record.name, "layout": layout,
                             "unit": f"whole {raw.size / 2**20:.3g} MiB" if kib is None else f"{kib} KiB blocks",
                             "compress_MBps": raw.size / seconds / 1e6, "ratio": raw.size / packed})
    return rows


def render(title: str, rows: list[dict], columns: dict[str, str]) -> str:
    cells = [[format(r[k], f) if f and r[k] is not None else str(r[k]) for k, f in columns.items()] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(columns)]
    lines = [title, "  ".join(h.rjust(w) for h, w in zip(columns, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("path", nargs="?", help="checkpoint folder (default: SmolLM2-135M-Instruct, or a tiny model with --smoke)")
    p.add_argument("--smoke", action="store_true", help="tiny model, two fast codecs, small blocks: seconds")
    p.add_argument("--codecs", default=DEFAULT_CODECS)
    p.add_argument("--blocks", type=int, default=8, help="draws of part 3's sampled run")
    p.add_argument("--whole-mib", type=float, default=32, help="part 5: MiB of the largest tensor coded whole")
    p.add_argument("--block-kib", default="8192,4096,128", help="part 5: block sizes, KiB, comma-separated")
    p.add_argument("--workers", type=int, default=default_workers(), help="the thread pool of part 2's parallel run")
    p.add_argument("--scaling-workers", help="worker counts of part 2, comma-separated (default: 1 and --workers)")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    p.add_argument("--json", type=Path, help="write the results here (rewritten after every part)")
    args = p.parse_args(argv)
    parts = [part.strip() for part in args.parts.split(",")]
    if set(parts) - set(PARTS) or ("sampling" in parts and "scaling" not in parts):
        p.error(f"--parts {args.parts!r}: choose from {', '.join(PARTS)} (sampling needs scaling)")
    codecs = [c.strip() for c in ("zstd-1,lz4" if args.smoke else args.codecs).split(",")]
    draws = 8 if args.smoke else args.blocks
    workers = [int(n) for n in args.scaling_workers.split(",")] if args.scaling_workers else [1, args.workers]
    results: dict = {"benchmark": "storage_throughput", "command": "python bench/storage_throughput.py " + shlex.join(
        sys.argv[1:] if argv is None else argv), "machine": describe(), "codecs": codecs}

    def done(part: str, rows: list[dict], table: str) -> None:
        print(table, flush=True)
        print(flush=True)
        results[part] = [{k: v for k, v in row.items() if k != "summary"} for row in rows]
        if args.json:
            atomic_write_text(args.json, json.dumps(results, indent=1, default=str) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        path = args.path or _default_model(args.smoke, Path(tmp))
        raw_bytes = open_checkpoint(path).raw_bytes
        results["checkpoint"] = str(path)
        print(f"checkpoint: {path} ({raw_bytes / 1e6:.1f} MB)\n", flush=True)
        if "overhead" in parts:
            done("overhead", rows := overhead_rows(path, codecs), render(
                "1. overhead: bare codec vs analyze(layouts=plain), CPU time, one core", rows,
                {"codec": "", "raw_MBps": ".1f", "ours_MBps": ".1f", "overhead": ".2f"}))
        if "scaling" in parts:
            scaling = scaling_rows(path, codecs, workers)
            done("scaling", scaling, render(
                f"2. full analysis, all layouts, codecs {','.join(codecs)}", scaling,
                {"workers": "", "cpu_MBps_per_core": ".2f", "wall_MBps_per_core": ".2f", "wall_s": ".1f"}))
        if "sampling" in parts:
            full, full_cpu = scaling[0]["summary"], scaling[0]["cpu_s"]
            rows = sampling_rows(path, codecs, full, AnalysisOptions(
                codecs=tuple(codecs), sampled=tuple(codecs), blocks=draws, workers=1), full_cpu)
            done("sampling", rows, render(
                f"3. every codec sampled ({draws} draws of chunks from the whole checkpoint) vs the full run", rows,
                {"representation": "", "codec": "", "full_ratio": ".4f", "sampled_ratio": ".4f",
                 "rel_error": "+.2%", "covered": "", "read_fraction": ".1%", "speedup": ".1f"}))
        if "cost" in parts:
            rows, extra = cost_rows(path, args.workers, **(dict(blocks=draws, chunk_mib=1) if args.smoke else {}))
            results.update(extra)
            done("cost", rows, render(
                f"4. default analysis vs one zstd-3 pass, CPU seconds, {args.workers} workers", rows,
                {"run": "", "cpu_s": ".1f", "wall_s": ".1f", "x_zstd3": ".1f"}))
            e = extra["estimate_7b"]
            print(f"Llama-2-7B ({e['bytes'] / 1e9:.2f} GB, {e['sampled_bytes'] / 1e6:.0f} MB sampled): {e['cpu_s']:.0f} "
                  f"CPU-s = {e['x_zstd3']:.1f} zstd-3 passes; on 16 cores {e['wall_s_16_cores_ideal'] / 60:.1f} min "
                  f"(ideal) to {e['wall_s_16_cores_at_5.9x'] / 60:.1f} min (at 5.9x)", flush=True)
        if "blocksize" in parts:
            whole, sizes = (0.25, [64, 16]) if args.smoke else (args.whole_mib, [int(k) for k in args.block_kib.split(",")])
            rows = block_size_rows(path, "zstd-19", whole, sizes)
            done("blocksize", rows, render(
                f"5. zstd-19 on {rows[0]['tensor']}, whole and in blocks, CPU time, one core", rows,
                {"layout": "", "unit": "", "compress_MBps": ".2f", "ratio": ".4f"}))
    return 0


def _default_model(smoke: bool, tmp: Path):
    from kick_models.local_models import smollm2_instruct, tiny_llama

    return tiny_llama(tmp / "tiny-llama") if smoke else smollm2_instruct()


if __name__ == "__main__":
    raise SystemExit(main())
