"""A small JSON summary of a checkpoint's storage, to sit beside evaluation results.

``kick``'s lm-eval wrapper calls :func:`summarize_folder` on the folder it evaluated, so
that one results file holds both quality and size. The defaults keep it quick on large
models: two codecs, measured on 8 chunks drawn from the whole checkpoint (with 95%
intervals), beside the pass over every byte that every analysis makes for layout sizes and
entropy bounds; every analysis option can be passed through.
"""

from __future__ import annotations

import os

from compressors.storage.analyze import AnalysisOptions, analyze
from compressors.storage.codecs import QUICK_CODECS
from compressors.storage.report import sampling_text, summarize


def summarize_folder(
    path: str | os.PathLike,
    *,
    codecs: tuple[str, ...] | list[str] = QUICK_CODECS,
    full: bool = False,
    progress: bool = False,
    **options,
) -> dict:
    """Analyse ``path`` and return a compact, JSON-serialisable dict of sizes and ratios.

    ``options`` are further :class:`~compressors.storage.analyze.AnalysisOptions` fields
    (``layouts``, ``grouping``, ``workers``, ``blocks``, ...). ``full=True`` codes every byte
    with every codec.
    """
    codecs = tuple(codecs)
    analysis = analyze(path, AnalysisOptions(codecs=codecs, sampled=() if full else tuple(c for c in codecs if c != "none"), **options), progress=progress)
    summary = summarize(analysis)
    reps = summary["representations"]
    candidates = [(rep, c, v) for rep, r in reps.items() for c, v in r["codecs"].items() if c != "none"]
    best = max(candidates, key=lambda x: x[2]["ratio"] or 0, default=None)
    return {
        "label": summary["label"],
        "raw_bytes": summary["raw_bytes"],
        "dtypes": summary["dtypes"],
        "sampled": summary["sampled"],
        "measured": sampling_text(summary),
        "zero_fraction": summary["zero_fraction"],
        "nm_patterns": summary["nm_patterns"],
        "quantization": summary["quantization"],
        "recipe": (summary["kick"] or {}).get("recipe"),
        "ratios": {rep: {c: _round(v["ratio"]) for c, v in r["codecs"].items() if c != "none"} for rep, r in reps.items()},
        "entropy_bound_ratio": {rep: _round(r["entropy_ratio"]) for rep, r in reps.items()},
        "best": None
        if best is None
        else {
            "codec": best[1],
            "representation": best[0],
            "ratio": _round(best[2]["ratio"]),
            "ratio_ci95": [_round(x) for x in best[2]["ratio_ci95"]] if best[2]["ratio_ci95"] else None,
            "compressed_bytes": round(best[2]["bytes"]),
            "decompress_MBps_per_core": _round(best[2]["decompress_MBps"]),
        },
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
