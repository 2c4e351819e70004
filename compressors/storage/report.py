"""Totals of an analysis, and the tables, JSON and CSV made from them.

A *representation* is how a whole checkpoint would be stored: each tensor takes the first
stream of its preference list that it has (sparse layouts only exist for sparse float
tensors, byte planes only for 16/32-bit floats), so for instance the ``nm`` total of a 2:4
pruned model stores its pruned Linear weights as 2:4 metadata + values and everything else
byte-grouped. ``best`` takes, per tensor and codec, the smallest stream. A typed codec
(ZipNN) that does not code a stream falls back along the list too (ZipNN groups bytes
itself, so it always codes ``plain``), and a tensor it codes in no stream counts at its raw
size (``uses`` records it as ``raw``).

Ratios are raw bytes / compressed bytes. Speeds are per core: bytes of weights over CPU
seconds of one thread, layout transforms included. Each codec's totals say how they were
measured: ``"mode": "full"`` (every byte) or ``"sampled"`` (the estimator of
:mod:`compressors.storage.analyze` over ``blocks`` draws of chunks, with a Student-t 95%
interval in ``ratio_ci95``, :func:`ratio_interval`; speeds from the drawn chunks).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter

import numpy as np

from compressors.storage.codecs import CODECS
from compressors.storage.dtypes import DTYPES
from compressors.storage.loadtime import format_bandwidth
from kick_core.atomic import atomic_write_text

REPRESENTATIONS: dict[str, tuple[str, ...] | None] = {
    "plain": ("plain",),
    "grouped": ("grouped", "plain"),
    "bitmask": ("bitmask", "grouped", "plain"),
    "nm": ("nm", "grouped", "plain"),
    "best": None,
}


def summarize(analysis: dict) -> dict:
    """Model-level totals of one :func:`~compressors.storage.analyze.analyze` result."""
    tensors = analysis["tensors"]
    raw = sum(t["raw_bytes"] for t in tensors)
    codecs = list(dict.fromkeys(["none", *analysis["options"]["codecs"]]))
    sampling = analysis["sampling"]
    floats = [t for t in tensors if t["zero_fraction"] is not None]
    float_elems = sum(t["raw_bytes"] / _itemsize(t) for t in floats)
    reps = {}
    for rep, order in REPRESENTATIONS.items():
        if order and order[0] not in ("plain", "grouped") and not any(order[0] in t["streams"] for t in tensors):
            continue  # no tensor has this layout: the total would repeat "grouped"
        reps[rep] = _representation(tensors, order, codecs, sampling, raw)
    values = [t["value_entropy_bytes"] for t in tensors]
    return {
        "label": analysis["label"],
        "source": analysis["source"],
        "raw_bytes": raw,
        "sampling": sampling,
        "sampled": sampling is not None and sampling["design"] != "census",
        "tensors": len(tensors),
        "dtypes": dict(_bytes_by(tensors, "dtype")),
        "kinds": dict(_bytes_by(tensors, "kind")),
        "quantization": analysis["quantization"],
        "kick": analysis["kick"],
        "zero_fraction": sum(t["zero_fraction"] * t["raw_bytes"] / _itemsize(t) for t in floats) / float_elems if floats else None,
        "nm_patterns": dict(Counter(t["nm_pattern"] for t in tensors if t["nm_pattern"])),
        # Whole-value order-0 bound where the value stream is known, else the byte-plane bound.
        "value_entropy_bytes": sum(v if v is not None else _stream(t, ("grouped", "plain"))["entropy_bytes"] for t, v in zip(tensors, values)),
        "representations": reps,
        "wall_s": analysis["wall_s"],
        "options": analysis["options"],
    }


def _representation(tensors: list[dict], order: tuple[str, ...] | None, codecs: list[str], sampling: dict | None, raw: int) -> dict:
    entropy = sum((t["streams"][_stream_name(t, order)] if order else _best_entropy_stream(t))["entropy_bytes"]
                  for t in tensors if t["streams"])
    sampled = set(sampling["codecs"]) if sampling else set()
    out = {c: _sampled_total(tensors, order, c, raw, sampling) if c in sampled else _full_total(tensors, order, c, raw)
           for c in codecs}
    return {"entropy_bytes": entropy, "entropy_ratio": raw / entropy if entropy else None, "codecs": out}


def _chosen(streams: dict, order: tuple[str, ...] | None, codec: str) -> str | None:
    """The stream that stores a tensor (or block) for ``codec``; None: no stream has it."""
    have = [s for s in streams if codec in streams[s]["codecs"]]
    if order is None:
        return min(have, key=lambda s: streams[s]["codecs"][codec]["bytes"], default=None)
    return next((s for s in order if s in have), None)


def _full_total(tensors: list[dict], order: tuple[str, ...] | None, codec: str, raw: int) -> dict:
    size = compress_s = decompress_s = 0.0
    uses: Counter = Counter()
    for t in tensors:
        if not t["streams"]:
            continue
        name = _chosen(t["streams"], order, codec)
        uses[name or "raw"] += 1
        if name is None:
            size += t["raw_bytes"]
            continue
        s = t["streams"][name]
        run = s["codecs"][codec]
        size += run["bytes"]
        compress_s += run["compress_s"] + s["prepare_s"]
        decompress_s += run["decompress_s"] + s["restore_s"]
    return _entry(raw, size, None, compress_s, decompress_s, uses, "full", None)


def _sampled_total(tensors: list[dict], order: tuple[str, ...] | None, codec: str, raw: int, sampling: dict) -> dict:
    """Estimated totals from the sampled blocks (exact when every block was coded)."""
    sizes, raws, draws = [], [], []
    compress_s = decompress_s = 0.0
    uses: Counter = Counter()
    for t in tensors:
        for b in t["blocks"]:
            name = _chosen(b["streams"], order, codec)
            uses[name or "raw"] += b["draws"]
            size = b["raw_bytes"]
            if name is not None:
                s = b["streams"][name]
                run = s["codecs"][codec]
                size = run["bytes"]
                compress_s += run["compress_s"] + s["prepare_s"]
                decompress_s += run["decompress_s"] + s["restore_s"]
            sizes.append(size)
            raws.append(b["raw_bytes"])
            draws.append(b["draws"])
    sizes, raws, draws = np.array(sizes, dtype=np.float64), np.array(raws, dtype=np.float64), np.array(draws)
    census = sampling["design"] == "census"
    if census:
        size, ci = float(sizes.sum()), None
    else:
        per_byte = sizes / raws
        size = raw * float((per_byte * draws).sum() / draws.sum())
        ci = ratio_interval(per_byte, draws)
    scale = raw / raws.sum() if raws.size else 0.0  # per-core speed on the blocks, for the whole checkpoint
    return _entry(raw, size, ci, scale * compress_s, scale * decompress_s, uses, "full" if census else "sampled",
                  int(draws.sum()))


def ratio_interval(per_byte: np.ndarray, draws: np.ndarray) -> list[float] | None:
    """95% interval of raw/compressed = 1 / mean(y) from the draws (``per_byte[j]`` drawn
    ``draws[j]`` times): the Student-t interval of the mean of independent draws, mean(y) +-
    t(0.975, n-1) * s / sqrt(n), mapped through 1/y (monotone, so the coverage is kept).
    None for fewer than two draws."""
    sample = np.repeat(per_byte, draws)
    n = sample.size
    if n < 2:
        return None
    mean, half = float(sample.mean()), t975(n - 1) * float(sample.std(ddof=1)) / math.sqrt(n)
    return [1 / (mean + half), 1 / (mean - half) if mean > half else math.inf]


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom: exact for df 1 and 2
    (closed forms), else from the normal quantile by the Cornish-Fisher expansion (Abramowitz
    and Stegun, "Handbook of Mathematical Functions", 1964, 26.7.5), within 0.004 of the exact
    value at df = 3 (3.179 for 3.182) and 0.001 from df = 5. scipy is not a dependency here."""
    if df == 1:
        return math.tan(0.475 * math.pi)
    if df == 2:
        return 0.95 * math.sqrt(2 / (4 * 0.975 * 0.025))
    z = 1.959964
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
            + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * df**4))


def _entry(raw: int, size: float, ci: list[float] | None, compress_s: float, decompress_s: float, uses: Counter,
           mode: str, blocks: int | None) -> dict:
    return {
        "bytes": size,
        "ratio": raw / size if size else None,
        "ratio_ci95": ci,
        "mode": mode,
        "blocks": blocks,
        "compress_s": compress_s,
        "decompress_s": decompress_s,
        "compress_MBps": _mbps(raw, compress_s),
        "decompress_MBps": _mbps(raw, decompress_s),
        "uses": dict(uses),
    }


def _stream_name(t: dict, order: tuple[str, ...]) -> str:
    return next(s for s in order if s in t["streams"])


def _stream(t: dict, order: tuple[str, ...]) -> dict:
    return t["streams"][_stream_name(t, order)] if t["streams"] else {"entropy_bytes": 0.0}


def _best_entropy_stream(t: dict) -> dict:
    return min(t["streams"].values(), key=lambda s: s["entropy_bytes"])


def _bytes_by(tensors: list[dict], key: str) -> Counter:
    out: Counter = Counter()
    for t in tensors:
        out[t[key]] += t["raw_bytes"]
    return out


def _itemsize(t: dict) -> int:
    return DTYPES[t["dtype"]].itemsize


def _mbps(nbytes: float, seconds: float) -> float | None:
    return nbytes / seconds / 1e6 if seconds > 0 else None


def best_codec_rows(summary: dict) -> list[dict]:
    """Per codec, its representation with the highest ratio: the rows of speed tables and plots."""
    rows = []
    codecs = summary["representations"]["plain"]["codecs"]
    for codec in codecs:
        rep = max(
            (r for r in summary["representations"] if r != "best"),
            key=lambda r: summary["representations"][r]["codecs"][codec]["ratio"] or 0,
        )
        rows.append({"codec": codec, "representation": rep, **summary["representations"][rep]["codecs"][codec]})
    return rows


#: The per-core speeds a codec must reach to be named the practical choice (``kick storage
#: --usable``): compressing at 10 MB/s writes a 7B BF16 checkpoint (14 GB) in 90 s on 16 cores,
#: and decoding at 100 MB/s keeps 16 cores at 1.6 GB/s, an NVMe drive's speed, so that the
#: decoder does not hold a load back. zstd-19 and brotli-9 (1-7 MB/s to compress) and the rANS
#: coder (about 35 MB/s to decode) fall below; zstd-1/3, lz4 and ZipNN pass.
USABLE_MBPS = {"compress": 10.0, "decompress": 100.0}

#: How each layout stores a tensor, in words, for the practical choice.
LAYOUT_WORDS = {
    "plain": "on the bytes as stored",
    "grouped": "on byte planes (each byte of the value in a stream of its own)",
    "bitmask": "on a bitmask of the nonzeros plus the kept values",
    "nm": "on N:M metadata plus the kept values",
}


def practical_choice(summary: dict, usable: dict[str, float] | None = None) -> dict:
    """The codec and layout (of all pairs measured) with the best ratio among those that compress
    and decompress at ``usable`` MB/s per core or faster (default :data:`USABLE_MBPS`): ``pick`` (None when no codec
    shrinks the checkpoint at such speeds), and ``best_at_any_speed`` where that is another one."""
    usable = dict(usable or USABLE_MBPS)
    # every codec in every whole-checkpoint layout ("best" mixes layouts tensor by tensor, by size)
    rows = [{"codec": codec, "representation": rep, **entry} for rep, r in summary["representations"].items()
            if rep != "best" for codec, entry in r["codecs"].items() if entry["ratio"] and entry["ratio"] > 1]
    fast = [r for r in rows if (r["compress_MBps"] or 0) >= usable["compress"]
            and (r["decompress_MBps"] or 0) >= usable["decompress"]]
    pick = max(fast, key=lambda r: r["ratio"]) if fast else None
    best = max(rows, key=lambda r: r["ratio"]) if rows else None
    keep = ("codec", "representation", "ratio", "ratio_ci95", "mode", "compress_MBps", "decompress_MBps")
    return {"usable_MBps": usable,
            "pick": None if pick is None else {**{k: pick[k] for k in keep}, "tool": CODECS[pick["codec"]].tool},
            "best_at_any_speed": None if best is None or best is pick else {k: best[k] for k in keep}}


def usable_words(usable: dict[str, float]) -> str:
    return (f"compress at {usable['compress']:,g} MB/s and decompress at {usable['decompress']:,g} MB/s "
            "per core or faster")


def practical_text(choice: dict) -> str:
    """One sentence naming the practical tool and setting, and what a slower codec would add."""
    pick, best, bar = choice["pick"], choice["best_at_any_speed"], usable_words(choice["usable_MBps"])
    if pick is None:
        return f"practical choice: none: no codec measured shrinks this checkpoint and can {bar}"
    text = (f"practical choice: {pick['tool']} {LAYOUT_WORDS[pick['representation']]} ({pick['codec']}, "
            f"{pick['representation']}): ratio {_fmt_ratio(pick)}, {pick['compress_MBps']:,.1f} MB/s to compress and "
            f"{pick['decompress_MBps']:,.1f} MB/s to decompress per core, the best ratio of the codecs that {bar}")
    if best:
        text += (f"; at any speed: {best['codec']} {best['representation']}, {_fmt_ratio(best)}, "
                 f"{best['compress_MBps']:,.1f} / {best['decompress_MBps']:,.1f} MB/s")
    return text


def practical_table(summaries: list[dict], choices: list[dict], markdown: bool = False) -> str:
    """Each checkpoint's practical choice (:func:`practical_choice`) in a row."""
    header = ["model", "codec", "layout", "ratio", "compress MB/s", "decompress MB/s", "best at any speed"]
    rows = []
    for s, choice in zip(summaries, choices):
        pick, best = choice["pick"], choice["best_at_any_speed"]
        if pick is None:
            rows.append([s["label"], "-", "-", "-", "-", "-", "-" if best is None else f"{best['codec']} {best['representation']} {_fmt_ratio(best)}"])
            continue
        rows.append([s["label"], pick["codec"], pick["representation"], _fmt_ratio(pick), _fmt(pick["compress_MBps"], ",.1f"),
                     _fmt(pick["decompress_MBps"], ",.1f"),
                     "the same" if best is None else f"{best['codec']} {best['representation']} {_fmt_ratio(best)}"])
    return _table(header, rows, markdown)


# -- rendering -----------------------------------------------------------------------------


def _fmt_ratio(entry: dict) -> str:
    if entry["ratio"] is None:
        return "-"
    ci = entry.get("ratio_ci95")
    return f"{entry['ratio']:.3f}" + (f"±{(ci[1] - ci[0]) / 2:.2g}" if ci else "")


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isinf(value)) else format(value, spec)


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    fmt = lambda r: "  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(header), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows])


def headline(summary: dict) -> str:
    """One line saying what was measured."""
    dtypes = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in summary["dtypes"].items())
    mode = sampling_text(summary)
    extra = ""
    if summary["zero_fraction"] is not None and summary["zero_fraction"] >= 0.01:
        extra += f", {summary['zero_fraction']:.1%} zeros in float tensors"
    if summary["nm_patterns"]:
        extra += ", N:M: " + ", ".join(f"{k} in {v} tensors" for k, v in summary["nm_patterns"].items())
    q = summary["quantization"]
    if q and q.get("packed_bits"):
        extra += f", {q['packed_bits']}-bit packed ({q['format']})"
    recipe = (summary["kick"] or {}).get("recipe")
    if recipe:
        extra += ", kick recipe " + " ".join(f"{k}={v}" for k, v in recipe.items() if v not in (None, "", [], ()))
    return f"{summary['label']}: {summary['raw_bytes'] / 1e6:.1f} MB in {summary['tensors']} tensors ({dtypes}){extra}; {mode}"


def sampling_text(summary: dict) -> str:
    """How the codecs were measured: which ones on every byte, which on sampled blocks."""
    sampling = summary["sampling"]
    if sampling is None:
        return "full run: every codec on every byte"
    codecs = ", ".join(sampling["codecs"])
    if sampling["design"] == "census":
        return f"full run: every codec on every byte ({codecs}: on every one of the {sampling['chunks_in_checkpoint']} chunks)"
    share = sampling["sampled_bytes"] / summary["raw_bytes"]
    return (f"{codecs} sampled: {sampling['draws']} draws of chunks (up to {sampling['chunk_mib']} MiB) from the whole "
            f"checkpoint ({share:.1%} of the bytes), 95% t-intervals; every other codec on every byte")


def measured(entry: dict) -> str:
    """``"full"`` or ``"sampled, N blocks"`` for one codec's totals."""
    return "full" if entry["mode"] == "full" else f"sampled, {entry['blocks']} blocks"


def ratio_table(summary: dict, markdown: bool = False) -> str:
    """Rows: codecs, then the order-0 entropy bound; columns: representations, and how the
    codec was measured."""
    reps = summary["representations"]
    header = ["codec", *reps, "measured"]
    rows = [[codec, *(_fmt_ratio(reps[r]["codecs"][codec]) for r in reps), measured(reps["plain"]["codecs"][codec])]
            for codec in reps["plain"]["codecs"]]
    rows.append(["entropy bound", *(_fmt(reps[r]["entropy_ratio"], ".3f") for r in reps), "full"])
    return _table(header, rows, markdown)


def speed_table(summary: dict, loads: dict[str, dict], markdown: bool = False) -> str:
    """Per codec at its best representation: ratio, speeds, break-even bandwidth, load times.

    ``loads`` maps codec -> :func:`compressors.storage.loadtime.codec_load` results.
    """
    rows_in = best_codec_rows(summary)
    bandwidths = next(iter(loads.values()))["load_s"].keys() if loads else []
    header = ["codec", "layout", "ratio", "measured", "compress MB/s", "decompress MB/s", "pays off below",
              *(f"load @ {b}" for b in bandwidths)]
    rows = []
    for row in rows_in:
        load = loads[row["codec"]]
        rows.append(
            [
                row["codec"],
                row["representation"],
                _fmt_ratio(row),
                measured(row),
                _fmt(row["compress_MBps"], ",.1f"),
                _fmt(row["decompress_MBps"], ",.1f"),
                load["breakeven_text"],
                *(f"{s:.2f} s" for s in load["load_s"].values()),
            ]
        )
    return _table(header, rows, markdown)


def comparison_table(summaries: list[dict], markdown: bool = False) -> str:
    """Several checkpoints side by side: a row per checkpoint and representation it has,
    columns the codecs' ratios, the raw size, and the order-0 bounds (of the representation's
    byte streams, and of whole values where known)."""
    codecs = list(summaries[0]["representations"]["plain"]["codecs"])
    sampled = {c for s in summaries for c, e in s["representations"]["plain"]["codecs"].items() if e["mode"] == "sampled"}
    header = ["model", "layout", "raw MB", *(f"{c} (sampled)" if c in sampled else c for c in codecs), "entropy bound", "value bound"]
    rows = []
    for s in summaries:
        value_bound = _fmt(s["raw_bytes"] / s["value_entropy_bytes"] if s["value_entropy_bytes"] else None, ".3f")
        for rep, r in s["representations"].items():
            rows.append(
                [
                    s["label"],
                    rep,
                    f"{s['raw_bytes'] / 1e6:.1f}",
                    *(_fmt_ratio(r["codecs"][c]) if c in r["codecs"] else "-" for c in codecs),
                    _fmt(r["entropy_ratio"], ".3f"),
                    value_bound,
                ]
            )
    return _table(header, rows, markdown)


def offload_table(rows: list[dict], markdown: bool = False) -> str:
    """:func:`compressors.storage.offload.offload_rows` as a table: per (memory, bandwidth) the
    bytes streamed per pass, the raw pass and each codec's pass (with its speed-up over raw)."""
    codecs = list(rows[0]["codec_s"]) if rows else []
    header = ["memory MB", "bandwidth", "streamed MB", "raw s", *(f"{c} s (×)" for c in codecs), "fastest"]
    body = [[f"{r['memory_bytes'] / 1e6:,.0f}", format_bandwidth(r["bandwidth_Bps"]), f"{r['streamed_bytes'] / 1e6:,.1f}",
             f"{r['raw_s']:.3g}", *(f"{r['codec_s'][c]:.3g} ({r['speedup'][c]:.2f})" for c in codecs), r["best"]]
            for r in rows]
    return _table(header, body, markdown)


def breakeven_table(rows: list[dict], markdown: bool = False) -> str:
    """:func:`compressors.storage.offload.breakeven_rows` as a table."""
    header = ["codec", "layout", "ratio", "measured", "decode MB/s per core", "pays off below (serial)",
              "pays off below (pipelined)"]
    body = [[r["codec"], r["representation"], f"{r['ratio']:.3f}", r["measured"], _fmt(r["decode_MBps_per_core"], ",.0f"),
             format_bandwidth(r["breakeven_serial_Bps"]), format_bandwidth(r["breakeven_pipelined_Bps"])] for r in rows]
    return _table(header, body, markdown)


# -- files ---------------------------------------------------------------------------------


def write_json(path, payload: dict) -> None:
    atomic_write_text(path, json.dumps(payload, indent=1) + "\n")


def totals_csv(summaries: list[dict], loads: list[dict[str, dict]] | None = None) -> str:
    """One row per (model, representation, codec); ``measured`` is ``full`` or ``sampled``
    (``blocks`` draws, the interval in ``ratio_ci95_*``)."""
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["model", "representation", "codec", "measured", "blocks", "raw_bytes", "compressed_bytes", "ratio",
                  "ratio_ci95_low", "ratio_ci95_high", "compress_MBps", "decompress_MBps", "entropy_bound_ratio",
                  "breakeven_Bps"])
    for i, s in enumerate(summaries):
        for rep, r in s["representations"].items():
            for codec, c in r["codecs"].items():
                ci = c["ratio_ci95"] or [None, None]
                breakeven = loads[i][rep][codec]["breakeven_Bps"] if loads else None
                out.writerow([s["label"], rep, codec, c["mode"], c["blocks"], s["raw_bytes"], round(c["bytes"]), c["ratio"],
                              ci[0], ci[1], c["compress_MBps"], c["decompress_MBps"], r["entropy_ratio"], breakeven])
    return buf.getvalue()


def tensors_csv(analyses: list[dict]) -> str:
    """One row per (model, tensor, unit, stream, codec): ``unit`` is ``all`` for the full
    pass (with the per-part entropy) or ``rows A-B`` for a sampled block (drawn ``draws``
    times)."""
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["model", "file", "tensor", "dtype", "shape", "kind", "raw_bytes", "zero_fraction", "nm_pattern", "unit",
                  "draws", "unit_bytes", "stream", "stream_entropy_bytes", "codec", "compressed_bytes", "compress_s",
                  "decompress_s", "parts_entropy_bits"])
    for a in analyses:
        for t in a["tensors"]:
            head = [a["label"], t["file"], t["name"], t["dtype"], "x".join(map(str, t["shape"])), t["kind"], t["raw_bytes"],
                    t["zero_fraction"], t["nm_pattern"]]
            for name, s in t["streams"].items():
                parts = ";".join(f"{p}={v['entropy_bits']:.4f}" for p, v in s["parts"].items())
                for codec, c in s["codecs"].items():
                    out.writerow([*head, "all", "", t["raw_bytes"], name, round(s["entropy_bytes"]), codec, c["bytes"],
                                  c["compress_s"], c["decompress_s"], parts])
            for b in t["blocks"]:
                unit = f"rows {b['first_row']}-{b['first_row'] + b['rows'] - 1}"
                for name, s in b["streams"].items():
                    for codec, c in s["codecs"].items():
                        out.writerow([*head, unit, b["draws"], b["raw_bytes"], name, "", codec, c["bytes"],
                                      c["compress_s"], c["decompress_s"], ""])
    return buf.getvalue()
