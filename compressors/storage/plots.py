"""PNG figures: load time against storage bandwidth, and compression ratios per checkpoint."""

from __future__ import annotations

import io
import os

import matplotlib.ticker
import numpy as np
# Figures built directly (no pyplot): saving to a file needs no GUI backend, and importing this
# module leaves the process's matplotlib backend as it was.
from matplotlib.figure import Figure

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


def _rep(summary: dict, representation: str) -> dict:
    reps = summary["representations"]
    return reps.get(representation, reps["grouped"])


def _save(fig, path) -> None:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=120)
    atomic_write_bytes(path, buf.getvalue())
