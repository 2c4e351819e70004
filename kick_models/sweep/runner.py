"""Run the pending points: one worker subprocess (:mod:`.worker`) per point, in grid order.

Each compressed model runs in its own process, so its memory returns to the OS before the
next one loads and a crash or kill loses at most the task in flight. The worker's output
goes to ``<point>/worker.log``; a failed point is reported with the log's tail and the sweep
goes on (``--fail-fast`` stops it), except when a worker finds that the data changed under
results already written (:data:`.worker.DATA_CHANGED`): every later point would meet the same,
so the sweep stops there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from kick_models.sweep.plan import Job, Sweep, point_done
from kick_models.sweep.worker import DATA_CHANGED, PARENT_ENV

WORKER_LOG = "worker.log"


def run(sweep: Sweep, jobs: list[Job], *, fail_fast: bool = False) -> int:
    """Run every pending result, one worker subprocess per point; 0 when all succeeded."""
    from tqdm.auto import tqdm

    total = sum(len(job.tasks) for job in jobs)
    already = sum(run.done for job in jobs for run in job.tasks)
    failures: list[str] = []
    with tqdm(total=total, initial=already, unit="result", desc="kick sweep", dynamic_ncols=True) as bar:
        if already:
            bar.write(f"kick sweep: {already} of {total} results already done in {sweep.model_dir}: skipped",
                      file=sys.stderr)
        for job in jobs:
            pending = job.pending
            if not pending:
                continue
            name = job.point.name
            bar.set_postfix_str(name)
            bar.write(f"kick sweep: {name}: {len(pending)} task(s): {', '.join(r.task for r in pending)}", file=sys.stderr)
            code = _run_worker(sweep, job, bar)
            missing = [r.task for r in pending if not point_done(r.result)]
            if code != 0 or missing:
                log = sweep.model_dir / name / WORKER_LOG
                failures.append(f"{name}: {', '.join(missing) or 'worker'} failed (exit {code}); see {log}")
                bar.write(f"kick sweep: FAILED {failures[-1]}\n" + _tail(log), file=sys.stderr)
                if fail_fast or code == DATA_CHANGED:
                    break
    if failures:
        print("kick sweep: some points failed (rerun the same command to retry them):\n  " + "\n  ".join(failures),
              file=sys.stderr)
        return 1
    print(f"kick sweep: all {total} results done in {sweep.model_dir}", file=sys.stderr)
    return 0


def worker_spec(sweep: Sweep, job: Job) -> dict:
    """What the worker needs, as JSON."""
    return {
        "folder": str(sweep.model_dir / job.point.name),
        "point": job.point.name,
        "seed": job.point.seed,
        "model_args": sweep.point_model_args(job.point),
        "tasks": [{"task": r.task, "result": str(r.result), "prompt_format": r.prompt_format, "settings": r.settings}
                  for r in job.pending],
        "limit": sweep.limit,
        "batch_size": sweep.batch_size,
        "device": sweep.device,
        "num_fewshot": sweep.num_fewshot,
        "metadata": sweep.metadata,
        "include_path": sweep.include_path,
        "samples": sweep.samples,
        "engine": sweep.engine,
    }


def _run_worker(sweep: Sweep, job: Job, bar) -> int:
    folder = sweep.model_dir / job.point.name
    folder.mkdir(parents=True, exist_ok=True)
    pending = job.pending
    # The spec goes through the worker's stdin: no file to leave behind if we are killed.
    spec = json.dumps(worker_spec(sweep, job))
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", PARENT_ENV: str(os.getpid())}
    with open(folder / WORKER_LOG, "a", encoding="utf-8") as log:
        log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {job.point.name}: "
                  f"{', '.join(r.task for r in pending)}\n")
        log.flush()
        proc = subprocess.Popen([sys.executable, "-m", "kick_models.sweep.worker", "-"], stdin=subprocess.PIPE,
                                stdout=log, stderr=subprocess.STDOUT, env=env, text=True)
        proc.stdin.write(spec)
        proc.stdin.close()
        seen = set()
        try:
            while True:
                try:
                    code = proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    code = None
                for r in pending:
                    if r.task not in seen and point_done(r.result):
                        seen.add(r.task)
                        bar.update(1)
                if code is not None:
                    return code
        except BaseException:  # Ctrl-C or SIGTERM: stop the worker with us
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])
