"""Command-line conventions shared by the benchmark scripts: ``--smoke`` / ``--preset`` fill
in the options not given (explicit options win), ``--json`` names the result file, and the
result file records the command that produced it."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def add_common(parser: argparse.ArgumentParser, presets: dict[str, dict]) -> None:
    recorded = sorted(name for name in presets if name != "smoke")
    parser.add_argument("--preset", choices=recorded, help="settings of a recorded run (explicit options win; default cpu)")
    parser.add_argument("--smoke", action="store_true", help="tiny random Llama: seconds (used by tests/test_bench_smoke.py)")
    parser.add_argument("--json", type=Path, help="write the results here (rewritten after every measurement)")


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
