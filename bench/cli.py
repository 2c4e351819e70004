"""Command-line conventions shared by the benchmark scripts: ``--smoke`` / ``--preset`` fill
in the options not given (explicit options win), ``--json`` names the result file, and the
result file records the command that produced it."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path


def add_common(parser: argparse.ArgumentParser, presets: dict[str, dict]) -> None:
    recorded = sorted(name for name in presets if name != "smoke")
    parser.add_argument("--preset", choices=recorded, help="settings of a recorded run (explicit options win; default cpu)")
    parser.add_argument("--smoke", action="store_true", help="tiny random Llama: seconds (used by bench/tests/test_smoke.py)")
    parser.add_argument("--json", type=Path, help="write the results here (rewritten after every measurement)")


def add_checkpoint_options(parser: argparse.ArgumentParser) -> None:
    """``--model`` or ``--shape`` (+ ``--tokenizer``, ``--source-dir``): what
    :func:`bench.models.checkpoint_folder` reads."""
    parser.add_argument("--model", help="checkpoint folder, 'smollm2' or 'tiny' (or use --shape)")
    parser.add_argument("--shape", help="evaluate a random-weight checkpoint of this shape (written to --source-dir)")
    parser.add_argument("--tokenizer", help="tokenizer folder for --shape (default: SmolLM2's if cached)")
    parser.add_argument("--source-dir", type=Path, help="the --shape checkpoint (reused if there; default: temporary)")


def check_data_dir(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``args.data_dir`` from ``--data-dir`` or ``$KICK_DATA_DIR``; an error unless it is a folder."""
    args.data_dir = args.data_dir or os.environ.get("KICK_DATA_DIR")
    if not args.data_dir or not Path(args.data_dir).is_dir():
        parser.error(f"data folder {args.data_dir!r} does not exist: give --data-dir or set KICK_DATA_DIR "
                     "(the layout of kick_tasks/data.py; /work/shared/data on the project's machines)")


def apply_preset(parser: argparse.ArgumentParser, args: argparse.Namespace, presets: dict[str, dict]) -> argparse.Namespace:
    """Fill the options left unset from ``--smoke`` or ``--preset`` (default ``cpu``). A preset
    naming a ``shape`` or a ``model`` gives way to an explicit ``--model`` or ``--shape``."""
    if args.smoke and args.preset:
        parser.error("--smoke and --preset exclude each other")
    explicit_source = getattr(args, "model", None) or getattr(args, "shape", None)
    for key, value in presets["smoke" if args.smoke else args.preset or "cpu"].items():
        if key in ("model", "shape") and explicit_source:
            continue
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if getattr(args, "model", None) and getattr(args, "shape", None):
        parser.error("give --model or --shape, not both")
    return args


def command_line(module: str, argv: list[str] | None) -> str:
    return f"python -m {module} " + shlex.join(sys.argv[1:] if argv is None else argv)
