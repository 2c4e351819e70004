"""``python -m compressors.storage`` (and ``kick storage``): measure, print, write files.

    python -m compressors.storage dense=/models/llama wanda=/models/llama-wanda50 \\
        --bandwidth 500MB/s,2GB/s --measure-bandwidth --out storage-report/

By default the slow codecs (``Codec.sampled``: zstd-9/19, gzip-6, brotli-9/11, ans) are
measured on ``--blocks`` chunks (of up to ``--chunk-mib``) drawn from the whole checkpoint,
with a 95% interval, and every other codec on every byte; ``--full`` codes every byte with every
codec, ``--sampled`` names the sampled codecs (``all``: every one).

Prints, per checkpoint, the ratio table (codec x representation, with the order-0 entropy
bound), the speed / load-time table and its practical choice (the best ratio among the codecs
at least as fast as ``--usable``: :func:`~compressors.storage.report.practical_choice`), then a
comparison of all checkpoints and their practical choices; ``--out``
also writes ``storage.json`` (everything, per tensor included), ``storage_totals.csv``,
``storage_tensors.csv``, ``storage.md`` and the PNG plots, and keeps a journal per
checkpoint there so that an interrupted run resumes. Exit status: 0 done, 1 a codec or
layout was not lossless, 2 bad input.

``--memory`` adds the memory-constrained load model (:mod:`compressors.storage.offload`): per
memory size and ``--bandwidth``, the time per pass when what does not fit is read from storage
on every pass, raw and with each codec, and each codec's break-even bandwidth; ``--out`` then
also writes ``offload.md`` and ``offload_<label>.png``. ``--from-json`` takes the checkpoints'
measurements from the ``storage.json`` of an earlier run instead of measuring again:

    kick storage --from-json storage-report/storage.json --memory 64MB,128MB --bandwidth 20MB/s,100MB/s
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from compressors.storage.analyze import AnalysisOptions, analyze, default_workers
from compressors.storage.checkpoint import StorageInputError, open_checkpoint
from compressors.storage.codecs import CODECS, NOT_DEFAULT, QUICK_CODECS, LosslessError, default_codecs
from compressors.storage.loadtime import (
    codec_loads,
    format_bandwidth,
    measure_read_bandwidth,
    parse_bandwidth,
    parse_size,
)
from compressors.storage.offload import OVERLAPS, breakeven_rows, offload_rows
from compressors.storage.report import (
    USABLE_MBPS,
    best_codec_rows,
    breakeven_table,
    comparison_table,
    headline,
    offload_table,
    practical_choice,
    practical_table,
    practical_text,
    ratio_table,
    speed_table,
    summarize,
    tensors_csv,
    totals_csv,
    usable_words,
    write_json,
)
from compressors.storage.streams import STREAMS
from kick_core.atomic import atomic_write_text
from kick_core.names import slug

DEFAULT_BANDWIDTHS = "100MB/s,1GB/s,10GB/s"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kick storage",
        description="Lossless compressibility of checkpoint weights, and what it means for load time. "
        "`kick storage` also takes [LABEL=]kick:<model_args>, e.g. "
        "wanda50=kick:pretrained=DIR,method=wanda,sparsity=0.5,calibration=builtin: the checkpoint "
        "`lm_eval --model kick` would evaluate, taken from its cache or compressed first (with the "
        "recipe's calibration: the default, 128 x 2,048 tokens, takes hours on a few CPU cores). "
        "`python -m compressors.storage` is the same command for folders and files only.",
    )
    p.add_argument("checkpoints", nargs="*", metavar="[LABEL=]PATH",
                   help="model folder (safetensors, compressed-tensors export) or .safetensors file; "
                   "under `kick storage` also kick:<model_args>")
    p.add_argument("--codecs", default="default",
                   help=f"comma-separated from {', '.join(CODECS)}; 'default' (all but {' and '.join(NOT_DEFAULT)}, "
                   f"and those whose package is missing) or 'quick' ({','.join(QUICK_CODECS)})")
    p.add_argument("--layouts", default=",".join(STREAMS), help=f"streams to measure, from {', '.join(STREAMS)}")
    p.add_argument("--grouping", default="fields", choices=["fields", "bytes"],
                   help="byte grouping: exponent apart from sign+mantissa (fields) or plain byte planes (bytes)")
    p.add_argument("--full", action="store_true", help="every codec on every byte (no sampling)")
    p.add_argument("--sampled", help="codecs measured on sampled blocks, comma-separated, or 'all' "
                   "(default: the slow ones of --codecs)")
    p.add_argument("--blocks", type=int, default=8,
                   help="chunks drawn from the whole checkpoint (with replacement) for the sampled codecs")
    p.add_argument("--chunk-mib", type=int, default=64, help="chunk size in MiB (bounds memory; the sampled unit)")
    p.add_argument("--sparse-min", type=float, default=0.1, help="zero fraction from which sparse layouts are measured")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-verify", action="store_true", help="skip the byte-for-byte round-trip check")
    p.add_argument("--workers", type=int, default=default_workers(), help="threads (default: all cores)")
    p.add_argument("--bandwidth", default=DEFAULT_BANDWIDTHS, help="storage bandwidths for load times, comma-separated")
    p.add_argument("--measure-bandwidth", action="store_true", help="also time reading the checkpoint files")
    p.add_argument("--decode-threads", type=int, default=1, help="cores that decode while loading")
    p.add_argument("--usable", default=f"{USABLE_MBPS['compress']:g}MB/s,{USABLE_MBPS['decompress']:g}MB/s",
                   help="COMPRESS,DECOMPRESS: the per-core speeds a codec must reach to be named a checkpoint's "
                   "practical choice (the best ratio among those that reach both)"),
    p.add_argument("--memory", help="device memory sizes for the memory-constrained load model, comma-separated "
                   "(e.g. 64MB,1GiB): per pass, what does not fit is read from storage")
    p.add_argument("--overhead", default="0", help="memory not available to weights (activations, KV cache), bytes")
    p.add_argument("--overlap", default="serial", choices=OVERLAPS,
                   help="load model: read then decode each chunk (serial) or read the next while decoding (pipelined)")
    p.add_argument("--compute", type=float, default=0.0, help="load model: seconds of compute per pass, added")
    p.add_argument("--from-json", type=Path, help="take the checkpoints' measurements from the storage.json of an "
                   "earlier run (--out or --json) instead of measuring; needs --memory")
    p.add_argument("--out", type=Path, help="folder for JSON, CSV, Markdown, PNG and the resume journals")
    p.add_argument("--json", type=Path, help="also write the full JSON here")
    p.add_argument("--csv", type=Path, help="also write the totals CSV here")
    p.add_argument("--no-resume", action="store_true", help="ignore journals of earlier runs in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except (StorageInputError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except LosslessError as err:
        print(f"NOT LOSSLESS: {err}", file=sys.stderr)
        return 1


def _run(args) -> int:
    if args.decode_threads < 1:
        raise ValueError(f"--decode-threads {args.decode_threads}: must be at least 1")
    codecs = {"default": default_codecs, "quick": lambda: QUICK_CODECS}.get(args.codecs, lambda: _names(args.codecs))()
    if args.full and args.sampled:
        raise ValueError("--full and --sampled exclude each other")
    sampled = None if args.sampled is None else tuple(c for c in codecs if c != "none") if args.sampled == "all" else _names(args.sampled)
    options = AnalysisOptions(
        codecs=codecs,
        layouts=_names(args.layouts),
        grouping=args.grouping,
        sampled=() if args.full else sampled,
        blocks=args.blocks,
        chunk_mib=args.chunk_mib,
        sparse_min=args.sparse_min,
        seed=args.seed,
        verify=not args.no_verify,
        workers=args.workers,
    ).validate()
    bandwidths = [parse_bandwidth(b) for b in args.bandwidth.split(",") if b.strip()]
    usable = _usable(args.usable)
    memories = [parse_size(m, "memory") for m in _names(args.memory or "")]
    if args.from_json:
        if args.checkpoints or not memories:
            raise ValueError("--from-json takes no checkpoints and needs --memory")
        return _offload_only(args, memories, bandwidths)
    if not args.checkpoints:
        raise ValueError("no checkpoint given (or --from-json storage.json --memory ...)")
    targets = [_label_path(c) for c in args.checkpoints]

    models = []
    for label, path in targets:
        measured = None
        if args.measure_bandwidth:
            measured = measure_read_bandwidth(open_checkpoint(path).files)
        journal = None if args.out is None else args.out / ".journal" / f"{slug(label)}.jsonl"
        if journal is not None and args.no_resume:
            journal.unlink(missing_ok=True)
        analysis = analyze(path, options, label=label, journal=journal, progress=not args.quiet)
        summary = summarize(analysis)
        bws = bandwidths + ([measured["bytes_per_s"]] if measured else [])
        loads = codec_loads(summary, bws, args.decode_threads)
        models.append({"summary": summary, "loads": loads, "measured_bandwidth": measured, "analysis": analysis,
                       "practical": practical_choice(summary, usable)})
        print(_model_text(models[-1], markdown=False))

    summaries = [m["summary"] for m in models]
    if len(models) > 1:
        print("\ncomparison (ratio raw/compressed):")
        print(comparison_table(summaries))
        print(f"\npractical choice (the best ratio of the codecs that {usable_words(usable)}):")
        print(practical_table(summaries, [m["practical"] for m in models]))
    payload = {"bandwidths_Bps": bandwidths, "decode_threads": args.decode_threads, "usable_MBps": usable, "models": models}
    if memories:
        payload["offload"] = _offload(args, summaries, memories, bandwidths)
    if args.json:
        write_json(args.json, payload)
    if args.csv:
        atomic_write_text(args.csv, totals_csv(summaries, [m["loads"] for m in models]))
    if args.out:
        _write_folder(args.out, payload, args.decode_threads)
        print(f"\nwrote {args.out}/storage.json, storage_totals.csv, storage_tensors.csv, storage.md and plots")
    return 0


def _offload_only(args, memories: list[float], bandwidths: list[float]) -> int:
    """The load model on the summaries of an earlier run's ``storage.json``."""
    try:
        summaries = [m["summary"] for m in json.loads(args.from_json.read_text())["models"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise StorageInputError(f"{args.from_json}: not the storage.json of kick storage --out/--json ({err})") from None
    _offload(args, summaries, memories, bandwidths)
    return 0


def _offload(args, summaries: list[dict], memories: list[float], bandwidths: list[float]) -> dict:
    """Print (and with ``--out`` write) the load model's tables and plots; return them."""
    from compressors.storage.plots import plot_offload

    overhead = parse_size(args.overhead, "overhead")
    options = dict(overhead=overhead, workers=args.decode_threads, overlap=args.overlap, compute=args.compute)
    what = (f"{args.overlap} read and decode on {args.decode_threads} core(s), overhead {overhead / 1e6:,.0f} MB, "
            f"compute {args.compute:g} s per pass")
    result, md = {"options": options, "models": {}}, [f"Time per pass, streaming what does not fit ({what}).", ""]
    for s in summaries:
        rows, breakeven = offload_rows(s, memories, bandwidths, **options), breakeven_rows(s, args.decode_threads)
        result["models"][s["label"]] = {"raw_bytes": s["raw_bytes"], "passes": rows, "breakeven": breakeven}
        print(f"\n{s['label']} ({s['raw_bytes'] / 1e6:,.1f} MB): time per pass, {what}")
        print(offload_table(rows) + "\n\n" + breakeven_table(breakeven))
        md += [f"## {s['label']} ({s['raw_bytes'] / 1e6:,.1f} MB)", "", offload_table(rows, markdown=True), "",
               breakeven_table(breakeven, markdown=True), ""]
        if args.out:
            plot_offload(s, args.out / f"offload_{slug(s['label'])}.png", memory=min(memories), **options)
    if args.out:
        atomic_write_text(args.out / "offload.md", "\n".join(md))
        print(f"\nwrote {args.out}/offload.md and offload_*.png")
    return result


def _model_text(model: dict, markdown: bool) -> str:
    summary, loads, measured = model["summary"], model["loads"], model["measured_bandwidth"]
    lines = ["", headline(summary)]
    if measured:
        lines.append(f"measured read bandwidth: {format_bandwidth(measured['bytes_per_s'])}"
                     + ("" if measured["cache_dropped"] else " (page cache not dropped: may be memory speed)"))
    lines += ["", ratio_table(summary, markdown), "", speed_table(summary, _best_loads(summary, loads), markdown), "",
              practical_text(model["practical"])]
    return "\n".join(lines)


def _best_loads(summary: dict, loads: dict) -> dict:
    return {row["codec"]: loads[row["representation"]][row["codec"]] for row in best_codec_rows(summary)}


def _write_folder(out: Path, payload: dict, threads: int) -> None:
    from compressors.storage.plots import plot_load_time, plot_ratios

    models = payload["models"]
    summaries = [m["summary"] for m in models]
    write_json(out / "storage.json", payload)
    atomic_write_text(out / "storage_totals.csv", totals_csv(summaries, [m["loads"] for m in models]))
    atomic_write_text(out / "storage_tensors.csv", tensors_csv([m["analysis"] for m in models]))
    md = [_model_text(m, markdown=True) for m in models]
    if len(models) > 1:
        md += ["", "Comparison (ratio raw/compressed):", "", comparison_table(summaries, markdown=True),
               "", f"Practical choice (the best ratio of the codecs that {usable_words(payload['usable_MBps'])}):", "",
               practical_table(summaries, [m["practical"] for m in models], markdown=True)]
    atomic_write_text(out / "storage.md", "\n".join(md).lstrip() + "\n")
    for s in summaries:
        plot_load_time(s, out / f"load_time_{slug(s['label'])}.png", threads)
    plot_ratios(summaries, out / "ratios.png")


def _label_path(arg: str) -> tuple[str, str]:
    if "=" in arg and not Path(arg).exists():
        label, path = arg.split("=", 1)
        return label, path
    return Path(arg).name or arg, arg


def _usable(text: str) -> dict[str, float]:
    """``--usable COMPRESS,DECOMPRESS`` in MB/s per core."""
    speeds = [s for s in text.split(",") if s.strip()]
    if len(speeds) != 2:
        raise ValueError(f"--usable {text!r}: give two per-core speeds, compress then decompress, e.g. 10MB/s,100MB/s")
    try:
        return {"compress": parse_bandwidth(speeds[0]) / 1e6, "decompress": parse_bandwidth(speeds[1]) / 1e6}
    except ValueError as err:
        raise ValueError(f"--usable {text!r}: {err}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())
