"""Storage analysis speed and sampling accuracy (compressors.storage).

Three measurements on one checkpoint, every speed in MB of weights per CPU-second of one
core (process CPU time, so other work on a shared machine does not distort it):

1. Overhead of our code: for each codec, the bare library (``compress`` then ``decompress``
   of every tensor's bytes, in a loop) against ``analyze`` restricted to the same bytes
   (``layouts=("plain",)``, one worker, round-trip check on). The ratio is what reading,
   bookkeeping, the identity codec, entropy counting and verification add.
2. The full analysis (all layouts) per core, and with all workers: wall-clock throughput per
   core, which shows how well the thread pool scales.
3. Sampling mode against the full run, for a few block sizes: estimated ratio, the true
   ratio, the relative error, whether the 95% interval covered it (it covers sampling error
   only; smaller blocks add the cost of coding each block on its own), and the CPU speed-up.

    python bench/storage_throughput.py [PATH] [--codecs zstd-3,lz4] [--sample 0.1] [--json out.json]
    python bench/storage_throughput.py --smoke [PATH]   # tiny model, seconds (used by a test)
    python bench/storage_throughput.py 7B --parts scaling --scaling-workers 16   # a big checkpoint: part 2 only

``--parts`` picks the measurements (sampling needs scaling's full run), ``--scaling-workers``
the worker counts of part 2; each part is printed, and the JSON rewritten, as it finishes.

PATH defaults to the small real model (SmolLM2-135M-Instruct, bf16), or with ``--smoke``
a tiny random Llama written to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from compressors.storage.analyze import AnalysisOptions, analyze, default_workers
from compressors.storage.checkpoint import open_checkpoint
from compressors.storage.codecs import CODECS
from compressors.storage.report import summarize

DEFAULT_CODECS = "zstd-1,zstd-3,lz4,brotli-1,snappy"
PARTS = ("overhead", "scaling", "sampling")


def raw_codec_seconds(path, codec_name: str) -> tuple[int, float]:
    """Bytes of all tensors and the CPU seconds the bare codec takes to compress and
    decompress each tensor's bytes once."""
    codec = CODECS[codec_name]
    total, seconds = 0, 0.0
    for record in open_checkpoint(path).tensors:
        data = record.read_rows(0, record.rows).tobytes()
        t0 = time.process_time()
        codec.decompress(codec.compress(data))
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
                "block_kib": options.block_kib,
                "representation": rep,
                "codec": codec,
                "full_ratio": truth,
                "sampled_ratio": est["ratio"],
                "ci95": ci,
                "rel_error": est["ratio"] / truth - 1,
                "covered": None if ci is None else bool(ci[0] <= truth <= ci[1]),
                "read_fraction": sampled["read_bytes"] / sampled["raw_bytes"],
                "speedup": full_cpu_s / cpu_s,
            })
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
    p.add_argument("--sample", type=float, default=0.1)
    p.add_argument("--block-kib", default="128,1024", help="sampling block sizes to try, KiB, comma-separated")
    p.add_argument("--min-blocks", type=int, default=4)
    p.add_argument("--workers", type=int, default=default_workers(), help="the thread pool of part 2's parallel run")
    p.add_argument("--scaling-workers", help="worker counts of part 2, comma-separated (default: 1 and --workers)")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    p.add_argument("--json", type=Path, help="write the results here (rewritten after every part)")
    args = p.parse_args(argv)
    parts = [part.strip() for part in args.parts.split(",")]
    if set(parts) - set(PARTS) or ("sampling" in parts and "scaling" not in parts):
        p.error(f"--parts {args.parts!r}: choose from {', '.join(PARTS)} (sampling needs scaling)")
    codecs = [c.strip() for c in ("zstd-1,lz4" if args.smoke else args.codecs).split(",")]
    blocks, min_blocks = ([4], 2) if args.smoke else ([int(b) for b in args.block_kib.split(",")], args.min_blocks)
    workers = [int(n) for n in args.scaling_workers.split(",")] if args.scaling_workers else [1, args.workers]
    results: dict = {"codecs": codecs}

    def done(part: str, rows: list[dict], table: str) -> None:
        print(table, flush=True)
        print(flush=True)
        results[part] = [{k: v for k, v in row.items() if k != "summary"} for row in rows]
        if args.json:
            args.json.write_text(json.dumps(results, indent=1) + "\n")

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
            rows = [row for kib in blocks for row in sampling_rows(path, codecs, full, AnalysisOptions(
                codecs=tuple(codecs), sample=args.sample, block_kib=kib, min_blocks=min_blocks, workers=1), full_cpu)]
            done("sampling", rows, render(
                f"3. sampling {args.sample:.0%} (at least {min_blocks} blocks per tensor) vs the full run; "
                "the interval covers sampling error, not the cost of coding blocks on their own", rows,
                {"block_kib": "", "representation": "", "codec": "", "full_ratio": ".4f", "sampled_ratio": ".4f",
                 "rel_error": "+.2%", "covered": "", "read_fraction": ".1%", "speedup": ".1f"}))
    return 0


def _default_model(smoke: bool, tmp: Path):
    from kick_models.local_models import smollm2_instruct, tiny_llama

    return tiny_llama(tmp / "tiny-llama") if smoke else smollm2_instruct()


if __name__ == "__main__":
    raise SystemExit(main())
