"""Perplexity of one model quantized many ways, through the same path as ``--model kick``.

Rows: dense; round-to-nearest and GPTQ at 8, 4 and 3 bits; SparseGPT 50% alone and followed
by GPTQ 4-bit (keeping its zeros); LLM.int8() and NF4 when bitsandbytes imports (``--smoke``:
the 4-bit rows and SparseGPT only). Each recipe is
built by :func:`kick_models.compressed_checkpoint.compressed_checkpoint` (the cache that
``--model kick`` uses), the checkpoint folder is loaded by transformers as lm-eval would load
it, and :func:`kick_models.perplexity.perplexity` scores it (GPTQ's windowed perplexity), so a
row is the model that ``--model kick`` evaluates. Also measured: the bytes of the weights in
memory right after loading (compressed-tensors keeps packed codes until a layer's first
forward) and the bits per weight of the quantized layers.

    python bench/quantization_perplexity.py --model ~/.cache/llm-kick/models/SmolLM2-135M-Instruct \\
        --group-size 64 --nsamples 32 --seqlen 512 --text ../shared/data/wikitext2/wikitext2_test.txt \\
        --max-chars 60000 --ppl-seqlen 512 --threads 1 --json smollm2-quantization.json
    python bench/quantization_perplexity.py --smoke [--json out.json]   # tiny random model (a test runs it)

The published claims are checked (not in ``--smoke``, whose model is random): 8-bit RTN and
GPTQ within 1% of dense perplexity, and GPTQ 4-bit better than RTN 4-bit; the exit status is 1
if one fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

DENSE_TOLERANCE = 0.01  # 8-bit within 1% of dense


def recipes(group_size: int, bits: tuple[int, ...] = (8, 4, 3), with_bnb: bool = True) -> list[tuple[str, dict]]:
    """``(row name, recipe arguments)`` in table order."""
    rows = [("dense", {"method": "dense"})]
    for method in ("rtn", "gptq"):
        rows += [(f"{method}-w{b}", {"method": method, "bits": b, "group_size": group_size}) for b in bits]
    rows += [
        ("sparsegpt-50%", {"method": "sparsegpt", "sparsity": 0.5}),
        ("sparsegpt-50%+gptq-w4", {"method": "sparsegpt+gptq", "sparsity": 0.5, "bits": 4, "group_size": group_size}),
    ]
    if with_bnb:
        rows += [("int8 (LLM.int8)", {"method": "int8"}), ("nf4", {"method": "nf4"})]
    return rows


def measure(model_dir: str, name: str, args: dict, calibration, cache, text: str, ppl_seqlen: int) -> dict:
    """One row: build (or find) the checkpoint, load it like lm-eval, measure it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from compressors.quantization.memory import weight_memory
    from compressors.recipe import Recipe
    from kick_models.compressed_checkpoint import compressed_checkpoint
    from kick_models.perplexity import perplexity

    recipe = Recipe.from_args(**args)
    checkpoint, report, hit = model_dir, {}, None
    if recipe.method != "dense":
        entry, record, hit = compressed_checkpoint(model_dir, recipe, calibration, cache, dtype="float32")
        checkpoint, report = str(entry.path), record["report"]
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    memory = weight_memory(model)
    start = time.perf_counter()
    ppl = perplexity(model, AutoTokenizer.from_pretrained(checkpoint), text, seqlen=ppl_seqlen)
    return {
        "name": name,
        "recipe": recipe.as_dict(),
        "ppl": ppl,
        "ppl_wall_s": round(time.perf_counter() - start, 1),
        "sparsity": (report.get("sparsity") or {}).get("overall"),
        "scheme": (report.get("quantization") or {}).get("scheme"),
        "compress_wall_s": report.get("wall_s"),
        "cache_hit": hit,
        "weights_MiB_after_load": memory["total_bytes"] / 2**20,
        "quantized_bits_per_weight": memory["quantized_bits_per_weight"],
    }


def table(rows: list[dict]) -> str:
    dense = next(r["ppl"] for r in rows if r["name"] == "dense")
    lines = [
        "| recipe | scheme | perplexity | vs dense | zeros | weights in memory (MiB) | bits/weight (quantized layers) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        zeros = "" if r["sparsity"] is None else f"{r['sparsity']:.1%}"
        bits = "" if r["quantized_bits_per_weight"] is None else f"{r['quantized_bits_per_weight']:.2f}"
        lines.append(
            f"| {r['name']} | {r['scheme'] or ''} | {r['ppl']:.3f} | {r['ppl'] / dense - 1:+.2%} | {zeros} "
            f"| {r['weights_MiB_after_load']:.1f} | {bits} |"
        )
    return "\n".join(lines)


def claims(rows: list[dict]) -> list[tuple[str, bool]]:
    """The published properties this table must show."""
    ppl = {r["name"]: r["ppl"] for r in rows}
    out = [(f"{m}-w8 within {DENSE_TOLERANCE:.0%} of dense", ppl[f"{m}-w8"] <= ppl["dense"] * (1 + DENSE_TOLERANCE))
           for m in ("rtn", "gptq")]
    out.append(("gptq-w4 better than rtn-w4", ppl["gptq-w4"] < ppl["rtn-w4"]))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model folder (default: SmolLM2-135M-Instruct; --smoke: a tiny random Llama)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny random model, 4-bit rows only, no bitsandbytes rows; claims not checked")
    p.add_argument("--group-size", type=int, help="quantization group size (default 64; --smoke 32)")
    p.add_argument("--calibration", default="builtin", help="calibration source (default: builtin)")
    p.add_argument("--nsamples", type=int, help="calibration sequences (default 32; --smoke 8)")
    p.add_argument("--seqlen", type=int, help="calibration tokens per sequence (default 512; --smoke 64)")
    p.add_argument("--text", default="heldout", help="perplexity text: 'heldout' (the project's) or a .txt path")
    p.add_argument("--max-chars", type=int, help="score only the first N characters of the text (--smoke: 2000)")
    p.add_argument("--ppl-seqlen", type=int, help="perplexity window (default 512; --smoke 64)")
    p.add_argument("--cache-dir", help="checkpoint cache to build in and reuse (default: a temporary folder)")
    p.add_argument("--threads", type=int, help="torch CPU threads (1 is ~5x faster for GPTQ on a busy 2-core machine)")
    p.add_argument("--json", type=Path, help="write the rows and the claims here")
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from compressors.calibration import CalibrationConfig, builtin_text
    from kick_models.checkpoint_cache import CheckpointCache
    from kick_models.local_models import smollm2_instruct, tiny_llama

    small = {"group_size": 32, "nsamples": 4, "seqlen": 64, "ppl_seqlen": 64, "max_chars": 2000}
    full = {"group_size": 64, "nsamples": 32, "seqlen": 512, "ppl_seqlen": 512}
    for key, value in (small if args.smoke else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    text = builtin_text("heldout_en") if args.text == "heldout" else Path(args.text).read_text(encoding="utf-8")
    text = text[: args.max_chars] if args.max_chars else text
    calibration = CalibrationConfig(args.calibration, nsamples=args.nsamples, seqlen=args.seqlen).validate()
    try:
        import bitsandbytes  # noqa: F401

        with_bnb = not args.smoke
    except ImportError:
        with_bnb = False

    with tempfile.TemporaryDirectory(prefix="kick-quant-bench-") as scratch:
        if args.model:
            model = args.model
        else:
            model = str(tiny_llama(Path(scratch) / "tiny") if args.smoke else smollm2_instruct())
        cache = CheckpointCache(args.cache_dir or Path(scratch) / "cache")
        rows = []
        for name, recipe_args in recipes(args.group_size, (4,) if args.smoke else (8, 4, 3), with_bnb):
            rows.append(measure(model, name, recipe_args, calibration, cache, text, args.ppl_seqlen))
            print(f"{name}: perplexity {rows[-1]['ppl']:.3f}", file=sys.stderr, flush=True)
    print(f"model {model}; calibration {args.calibration} {args.nsamples} x {args.seqlen}; group size "
          f"{args.group_size}; perplexity on {args.text} ({len(text)} characters), windows of {args.ppl_seqlen}\n")
    print(table(rows))
    checked = [] if args.smoke else claims(rows)
    for claim, ok in checked:
        print(f"{'PASS' if ok else 'FAIL'}: {claim}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: getattr(args, k) for k in ("group_size", "calibration", "nsamples", "seqlen", "text", "max_chars",
                                                  "ppl_seqlen", "threads")}
        args.json.write_text(json.dumps({"model": model, "settings": settings, "rows": rows,
                                         "claims": [{"claim": c, "ok": ok} for c, ok in checked]}, indent=2))
    return 0 if all(ok for _, ok in checked) else 1


if __name__ == "__main__":
    raise SystemExit(main())
