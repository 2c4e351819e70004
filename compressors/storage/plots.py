"""PNG figures: load time against storage bandwidth, compression ratios per checkpoint, and the
time per pass of a model that streams what does not fit in memory (over memory and bandwidth)."""

from __future__ import annotations

import io
import os

import matplotlib.patches
import matplotlib.ticker
import numpy as np
# Figures built directly (no pyplot): saving to a file needs no GUI backend, and importing this
# module leaves the process's matplotlib backend as it was.
from matplotlib.figure import Figure

from compressors.storage import offload
from compressors.storage.loadtime import breakeven_bandwidth, format_bandwidth, load_time
from compressors.storage.report import best_codec_rows
from kick_core.atomic import atomic_write_bytes


def plot_load_time(summary: dict, path: str | os.PathLike, threads: int = 1, span: tuple[float, float] = (1e7, 1e11)) -> None:
    """Load time t(B) = C/B + D/threads against bandwidth B (log-log), one line per codec at
    its best representation, with each codec's break-even bandwidth marked."""
    bw = np.logspace(np.log10(span[0]), np.log10(span[1]), 200)
    raw = summary["raw_bytes"]
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    ax.plot(bw, raw / bw, color="black", lw=2, label="raw (no codec)")
    for row in best_codec_rows(summary):
        if row["codec"] == "none":
            continue
        (line,) = ax.plot(bw, load_time(row["bytes"], row["decompress_s"], bw, threads), label=f"{row['codec']} ({row['representation']}, ×{row['ratio']:.2f})")
        b = breakeven_bandwidth(raw, row["bytes"], row["decompress_s"], threads)
        if b is not None and span[0] <= b <= span[1]:
            ax.plot([b], [raw / b], "o", color=line.get_color())
    ax.set(xscale="log", yscale="log", xlabel="storage bandwidth (bytes/s)", ylabel="time to load (s)")
    ax.set_title(f"{summary['label']}: load time, decode on {threads} core(s); dots: break-even", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: format_bandwidth(x)))
    ax.legend(fontsize=7)
    _save(fig, path)


def plot_ratios(summaries: list[dict], path: str | os.PathLike, representation: str = "best") -> None:
    """Grouped bars: compression ratio of each codec for each checkpoint, with the order-0
    entropy bound of that representation as a dashed line over each group."""
    codecs = [c for c in summaries[0]["representations"]["plain"]["codecs"] if c != "none"]
    width = 0.8 / max(1, len(codecs))
    fig = Figure(figsize=(max(6, 1.8 * len(summaries) + 2), 4.5))
    ax = fig.subplots()
    for j, codec in enumerate(codecs):
        ratios = [_rep(s, representation)["codecs"][codec]["ratio"] or 0 for s in summaries]
        ax.bar(np.arange(len(summaries)) + (j - (len(codecs) - 1) / 2) * width, ratios, width, label=codec)
    for i, s in enumerate(summaries):
        bound = _rep(s, representation)["entropy_ratio"]
        if bound:
            ax.hlines(bound, i - 0.4, i + 0.4, colors="black", linestyles="dashed")
    ax.set_xticks(range(len(summaries)), [s["label"] for s in summaries], rotation=15, fontsize=8)
    ax.set_ylabel("compression ratio (raw / compressed)")
    ax.set_title(f"lossless ratio, {representation} layout; dashed: order-0 entropy bound", fontsize=10)
    ax.legend(fontsize=7, ncol=3)
    ax.grid(True, axis="y", alpha=0.3)
    _save(fig, path)


def plot_offload(summary: dict, path: str | os.PathLike, *, memory: float | None = None, overhead: float = 0.0,
                 workers: int = 1, overlap: str = "serial", compute: float = 0.0,
                 span: tuple[float, float] = (1e7, 1e11)) -> None:
    """Two panels of :mod:`compressors.storage.offload`. Left: time per pass against bandwidth
    B at one memory size (default: half the checkpoint resident), raw and one line per codec,
    dots at the break-even bandwidths. Right: over memory M and bandwidth B, the fastest way to
    store the streamed layers (filled regions) and its time per pass (labelled contours)."""
    raw = summary["raw_bytes"]
    speeds = offload.codec_speeds(summary)
    memory = overhead + raw / 2 if memory is None else memory
    options = dict(workers=workers, overlap=overlap, compute=compute)
    bw = np.logspace(np.log10(span[0]), np.log10(span[1]), 200)
    fig = Figure(figsize=(13, 5))
    left, right = fig.subplots(1, 2)
    streamed = offload.streamed_bytes(raw, memory, overhead)
    left.plot(bw, [offload.pass_time(streamed, b, **options) for b in bw], color="black", lw=2, label="raw")
    for s in speeds:
        (line,) = left.plot(bw, [offload.pass_time(streamed, b, s.ratio, s.decode_Bps, **options) for b in bw],
                            label=f"{s.codec} ({s.representation}, ×{s.ratio:.2f}, {s.decode_Bps / 1e6:,.0f} MB/s)")
        b = offload.breakeven_bandwidth(s.ratio, s.decode_Bps, workers, overlap)
        if b is not None and span[0] <= b <= span[1] and streamed > 0:
            left.plot([b], [offload.pass_time(streamed, b, **options)], "o", color=line.get_color())
    left.set(xscale="log", yscale="log", xlabel="storage bandwidth B", ylabel="time per pass (s)")
    left.set_title(f"M = {memory / 1e6:,.0f} MB: {streamed / 1e6:,.0f} of {raw / 1e6:,.0f} MB streamed per pass; "
                   "dots: break-even", fontsize=9)
    left.grid(True, which="both", alpha=0.3)
    left.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: format_bandwidth(x)))
    left.legend(fontsize=7)

    memories = np.linspace(0, overhead + raw * 1.1, 120)
    bands = np.logspace(np.log10(span[0]), np.log10(span[1]), 120)
    names = ["raw", *(s.codec for s in speeds)]
    best = np.zeros((bands.size, memories.size))
    times = np.zeros_like(best)
    for i, b in enumerate(bands):
        for j, m in enumerate(memories):
            s_bytes = offload.streamed_bytes(raw, m, overhead)
            candidates = [offload.pass_time(s_bytes, b, **options)]
            candidates += [offload.pass_time(s_bytes, b, s.ratio, s.decode_Bps, **options) for s in speeds]
            k = int(np.argmin(candidates)) if s_bytes > 0 else 0
            best[i, j], times[i, j] = k, candidates[k]
    colors = matplotlib.colormaps["tab10"].colors
    right.contourf(memories / 1e6, bands, best, levels=np.arange(len(names) + 1) - 0.5,
                   colors=[colors[k % len(colors)] for k in range(len(names))], alpha=0.35)
    positive = times[times > 0]
    if positive.size:  # decades, down to 1/10,000 of the longest pass (they crowd where S -> 0)
        top = np.ceil(np.log10(positive.max()))
        levels = 10.0 ** np.arange(max(np.floor(np.log10(positive.min())), top - 4), top + 1)
        contours = right.contour(memories / 1e6, bands, np.where(times > 0, times, np.nan), levels=levels,
                                 colors="black", linewidths=0.8)
        right.clabel(contours, fmt=lambda v: f"{v:.2g} s", fontsize=7)
    right.axvline((overhead + raw) / 1e6, color="black", ls=":", lw=1)
    right.set(yscale="log", xlabel="device memory M (MB)", ylabel="storage bandwidth B")
    right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: format_bandwidth(x)))
    right.set_title("colour: fastest storage of the streamed layers; contours: its time per pass;\n"
                    "dotted: everything resident", fontsize=9)
    right.legend(handles=[matplotlib.patches.Patch(color=colors[k % len(colors)], alpha=0.35, label=name)
                          for k, name in enumerate(names) if (best == k).any()], fontsize=7, loc="lower left")
    fig.suptitle(f"{summary['label']}: streaming what does not fit, {overlap} read and decode on {workers} core(s)"
                 + (f", overhead {overhead / 1e6:,.0f} MB" if overhead else "")
                 + (f", compute {compute:g} s" if compute else ""), fontsize=10)
    _save(fig, path)


def _rep(summary: dict, representation: str) -> dict:
    reps = summary["representations"]
    return reps.get(representation, reps["grouped"])


def _save(fig, path) -> None:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=120)
    atomic_write_bytes(path, buf.getvalue())
