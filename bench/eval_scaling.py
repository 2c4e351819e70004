"""Evaluation over several GPUs: the speed-up of ``lm_eval --model kick`` run data parallel
(``accelerate launch -m lm_eval``) and model parallel (``parallelize=True``) over one GPU.

Every run is the command a user types, in a subprocess, on one compressed checkpoint
(``--model-args``, default Wanda 50%) in a cache folder of its own:

1. ``cold``: ``accelerate launch --num_processes N -m lm_eval`` on the empty cache, each task
   on ``--cold-limit`` questions. Every rank constructs ``--model kick`` at once; the cache's
   file lock lets one of them compress while the others wait and then load its checkpoint.
   The ranks' log lines (``kick: rank R: new|cached compressed checkpoint``) are counted: the
   run fails unless exactly one rank compressed.
2. ``1 GPU``: plain ``lm_eval`` with only the first GPU visible.
3. ``data parallel``: ``accelerate launch --multi_gpu --num_processes N -m lm_eval``.
4. ``model parallel``: plain ``lm_eval`` with ``parallelize=True`` (layers spread over every
   visible GPU by accelerate's ``device_map``; one process).

Reported per run: wall time of the command, lm-eval's own ``total_evaluation_time_seconds``
(model construction included), the model load inside it, evaluation time (the difference),
questions per second, the speed-up over one GPU (evaluation time and wall time), and each
task's metrics, which must not change with the layout.

    python -m bench.eval_scaling --preset h200x2 --tokenizer T --source-dir /tmp/llama2-7b --data-dir D --json out.json
    python -m bench.eval_scaling --smoke   # tiny random Llama on the CPU: cold start of 2 ranks, 1 process
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cli import (
    add_checkpoint_options,
    add_common,
    apply_preset,
    check_data_dir,
    command_line,
)
from bench.machine import describe, one_line
from bench.models import checkpoint_folder
from bench.output import Results, print_table

SMOKE_DATA = Path(__file__).resolve().parent / "smoke_data"  # bench/smoke_data/README.md
CACHE_LINE = re.compile(r"kick: rank (\d+): (new|cached) compressed checkpoint")

PRESETS = {
    # On the CPU lm-eval runs no data parallelism (its HFLM needs more than one GPU for it), so
    # the smoke mode checks the cold start of 2 ranks and the 1-process run.
    "smoke": dict(model="tiny", data_dir=str(SMOKE_DATA), tasks="kick_mmlu_abstract_algebra",
                  limit=2, cold_limit=1, batch_size="4", gpus=2, modes="cold,single",
                  model_args="method=wanda,sparsity=0.5,calibration=random,nsamples=4,seqlen=32"),
    "h200x2": dict(shape="llama2-7b", tasks="kick_icrqa_open,kick_mmlu_abstract_algebra", limit=512, cold_limit=2,
                   batch_size="32", gpus=2, modes="cold,single,data_parallel,model_parallel", mode_timeout=200,
                   model_args="method=wanda,sparsity=0.5,calibration=random,nsamples=128,seqlen=2048"),
}
MODES = ("cold", "single", "data_parallel", "model_parallel")

COLUMNS = {
    "mode": "", "processes": "", "gpus": "", "docs": "", "wall_s": ".1f", "lm_eval_s": ".1f", "load_s": ".1f",
    "eval_s": ".1f", "docs_per_s": ".2f", "speedup_eval": ".2f", "speedup_wall": ".2f", "compressed_by": "",
}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common(p, PRESETS)
    add_checkpoint_options(p)
    p.add_argument("--model-args", help="--model kick arguments besides pretrained and cache_dir")
    p.add_argument("--data-dir", help="local data folder (default: $KICK_DATA_DIR)")
    p.add_argument("--tasks", help="comma-separated lm-eval tasks")
    p.add_argument("--limit", type=int, help="questions per task in the timed runs")
    p.add_argument("--cold-limit", type=int, help="questions per task in the cold run")
    p.add_argument("--batch-size", help="lm-eval batch size")
    p.add_argument("--gpus", type=int, help="processes of the data-parallel runs")
    p.add_argument("--modes", help=f"comma-separated, of {', '.join(MODES)}")
    p.add_argument("--mode-timeout", type=float, help="seconds one run may take before it is killed and skipped")
    args = apply_preset(p, p.parse_args(argv), PRESETS)
    check_data_dir(p, args)
    args.modes = args.modes.split(",")
    unknown = sorted(set(args.modes) - set(MODES))
    if unknown:
        p.error(f"unknown mode(s) {unknown}: choose from {', '.join(MODES)}")
    if args.gpus < 2:
        p.error(f"--gpus {args.gpus}: scaling needs at least 2")
    return args


def lm_eval_command(mode: str, args, model_args: str, limit: int, output: Path) -> tuple[list[str], dict]:
    """The command line and the environment of one run."""
    env = dict(os.environ, KICK_DATA_DIR=str(Path(args.data_dir).resolve()), TOKENIZERS_PARALLELISM="false")
    if mode == "single":
        env["CUDA_VISIBLE_DEVICES"] = env.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]
    if mode == "model_parallel":
        model_args += ",parallelize=True"
    launch = [sys.executable, "-m", "lm_eval"]
    if mode in ("cold", "data_parallel") and _cuda_count() >= args.gpus:
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                  str(args.gpus), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                  "-m", "lm_eval"]
    if not _cuda_count():
        device = ["--device", "cpu"]
    else:  # data parallel: accelerate places each rank; model parallel: the device_map does
        device = ["--device", "cuda:0"] if mode == "single" else []
    return launch + ["--model", "kick", "--model_args", model_args, "--tasks", args.tasks, "--limit", str(limit),
                     "--batch_size", args.batch_size, "--output_path", str(output), *device], env


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count()


def run(mode: str, args, model_args: str, limit: int, workdir: Path, log_dir: Path, timeout: float | None) -> dict:
    """One run; a cold start without enough GPUs (lm-eval's data parallelism needs them)
    starts ``--gpus`` plain ``lm_eval`` processes at once instead, each with the ``RANK`` that
    accelerate would give it: the same race for the cache at load time."""
    ranks_here = args.gpus if mode == "cold" and _cuda_count() < args.gpus else 1
    commands = []
    for rank in range(ranks_here):
        output = workdir / mode / (f"rank{rank}" if ranks_here > 1 else "")
        command, env = lm_eval_command(mode, args, model_args, limit, output)
        commands.append((command, {**env, "RANK": str(rank)} if ranks_here > 1 else env))
    print(f"== {mode}: {ranks_here} x {' '.join(commands[0][0])}", flush=True)
    # Logs go where the JSON goes, written as they come, so a run cut short still explains itself.
    logs = [log_dir / f"eval_scaling_{mode}{f'_rank{rank}' if ranks_here > 1 else ''}.log" for rank in range(ranks_here)]
    start = time.perf_counter()
    handles = [open(path, "w") for path in logs]
    processes = [subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, text=True)
                 for (command, env), handle in zip(commands, handles)]
    try:
        for process in processes:
            process.wait(timeout=None if timeout is None else max(1.0, timeout - (time.perf_counter() - start)))
    except subprocess.TimeoutExpired:
        for process in processes:
            process.kill()
        raise RuntimeError(f"{mode}: no result within {timeout} s; see {logs[0]}") from None
    finally:
        for handle in handles:
            handle.close()
    wall = time.perf_counter() - start
    log = "\n".join(path.read_text() for path in logs)
    failed = [process.returncode for process in processes if process.returncode]
    if failed:
        raise RuntimeError(f"{mode} failed (exit {failed[0]}); its log ends:\n{log[-4000:]}")
    command = commands[0][0]
    output = workdir / mode
    ranks = {int(rank): kind for rank, kind in CACHE_LINE.findall(log)}
    result_file = sorted(output.rglob("results_*.json"))[0]
    result = json.loads(result_file.read_text())
    kick = result["config"]["kick"]
    lm_eval_s = float(result["total_evaluation_time_seconds"])
    load_s = kick.get("load_wall_s", 0.0) + (0 if kick.get("cache", {}).get("hit", True) else
                                              (kick.get("compression") or {}).get("wall_s", 0.0))
    docs = sum(n["effective"] for n in result["n-samples"].values())
    gpus = min({"single": 1, "model_parallel": _cuda_count()}.get(mode, args.gpus), _cuda_count())
    return {
        "mode": mode, "processes": args.gpus if mode in ("cold", "data_parallel") else 1, "gpus": gpus, "docs": docs,
        "wall_s": wall, "lm_eval_s": lm_eval_s, "load_s": load_s, "eval_s": lm_eval_s - load_s,
        "docs_per_s": docs / (lm_eval_s - load_s),
        "compressed_by": ",".join(f"{rank}:{kind}" for rank, kind in sorted(ranks.items())),
        "ranks": ranks, "metrics": {task: {k: v for k, v in values.items() if isinstance(v, (int, float))}
                                    for task, values in result["results"].items()},
        "command": " ".join(command),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = describe()
    results = Results(args.json, benchmark="eval_scaling", command=command_line("bench.eval_scaling", argv),
                      machine=machine)
    print(f"machine: {one_line(machine)}", flush=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        workdir = Path(tmp)
        folder = checkpoint_folder(args, workdir)
        model_args = f"pretrained={folder},cache_dir={workdir / 'cache'},{args.model_args}"
        results.set("setup", {"model_args": model_args, "tasks": args.tasks, "limit": args.limit,
                              "cold_limit": args.cold_limit, "batch_size": args.batch_size, "gpus": args.gpus})
        log_dir = args.json.parent if args.json else workdir
        log_dir.mkdir(parents=True, exist_ok=True)
        for mode in args.modes:
            limit = args.cold_limit if mode == "cold" else args.limit
            try:
                row = run(mode, args, model_args, limit, workdir, log_dir, args.mode_timeout)
            except RuntimeError as err:  # the other layouts can still be measured
                print(err, flush=True)
                results.add("errors", {"mode": mode, "error": str(err)[-2000:]})
                continue
            if mode == "cold" and sorted(row["ranks"].values()) != ["cached"] * (args.gpus - 1) + ["new"]:
                raise RuntimeError(f"cold start of {args.gpus} ranks: expected one 'new' and the rest 'cached', "
                                   f"got {row['ranks'] or 'no kick cache lines'}")
            rows.append(row)
            results.add("rows", row)
            print(f"{mode}: {row['wall_s']:.1f} s wall, {row['eval_s']:.1f} s evaluation, {row['docs']} docs", flush=True)
    single = next((row for row in rows if row["mode"] == "single"), None)
    for row in rows:
        if single and row["mode"] != "cold":
            row["speedup_eval"] = single["eval_s"] / row["eval_s"]
            row["speedup_wall"] = single["wall_s"] / row["wall_s"]
    results.set("rows", rows)
    print()
    print_table(f"evaluation over {args.gpus} GPUs, --model kick ({args.model_args}), tasks {args.tasks}, "
                f"batch size {args.batch_size}; speed-up = 1 GPU / this run",
                [{"speedup_eval": None, "speedup_wall": None, **row} for row in rows], COLUMNS)
    return 1 if results.data.get("errors") else 0


if __name__ == "__main__":
    raise SystemExit(main())
