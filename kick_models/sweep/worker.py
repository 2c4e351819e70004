"""One point of a sweep in its own process: ``python -m kick_models.sweep.worker SPEC.json``.

Loads the model once through lm-eval's registry (``--model kick``: the compressed checkpoint
comes from kick's cache) and calls ``lm_eval.simple_evaluate`` once per pending task, with the
task's prompt format and per-example samples logged, saving with lm-eval's own
``EvaluationTracker``. For each task it writes, in this order and each atomically:

* ``<task>.samples/``: the tracker's ``samples_<subtask>_<time>.jsonl`` files, gzipped;
* ``<task>.json``: the tracker's results file with a ``kick_sweep`` record (point, task, seed,
  prompt format, settings, and the samples files it goes with).

A result counts as done only when the samples it names are there (:func:`.plan.is_done`), so
a worker killed at any moment leaves nothing that a later run trusts. The worker holds a lock
on the point's folder while it runs: a second sweep on the same output skips the point rather
than racing it, and leftovers of a killed worker can be removed safely.

The spec (written by :mod:`.runner`) holds the point's ``--model_args``, its seed, the tasks
with their result files, formats and settings, and the shared lm-eval options.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import logging
import os
import shutil
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kick_core.atomic import atomic_folder, atomic_write_text, remove_partials
from kick_models.sweep.formats import CHAT
from kick_models.sweep.plan import RESULT_KEY, point_done, samples_path

SCRATCH = "lm-eval"  # the tracker's own output, inside the samples folder's staging copy


class PointBusy(RuntimeError):
    """Another process holds this point's folder."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m kick_models.sweep.worker SPEC.json (written by kick sweep)", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with point_lock(Path(spec["folder"])):
            return evaluate_point(spec)
    except PointBusy as err:
        print(f"kick sweep worker: {err}", flush=True)
        return 1


@contextmanager
def point_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (``flock`` on the folder itself: no lock file)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PointBusy(f"another kick sweep is evaluating {folder}: let it finish, or stop it") from None
        yield
    finally:
        os.close(fd)


def evaluate_point(spec: dict[str, Any]) -> int:
    from lm_eval.api.registry import get_model

    tasks = [run["task"] for run in spec["tasks"]]
    # As the lm_eval command does: tasks see the model args merged with --metadata.
    metadata = {**spec["model_args"], **(spec["metadata"] or {})}
    task_manager = _task_manager(tasks, spec["include_path"], metadata)
    unknown = [task for task in tasks if not task_manager.match_tasks([task])]
    if unknown:
        print(f"kick sweep worker: unknown task(s) {unknown}: not among lm-eval's tasks, the kick tasks or "
              f"--include_path {spec['include_path']}", flush=True)
        if len(unknown) == len(tasks):
            return 1
    model_args = dict(spec["model_args"])
    lm = get_model("kick").create_from_arg_obj(model_args, {"batch_size": spec["batch_size"], "device": spec["device"]})
    failed = len(unknown)
    for run in spec["tasks"]:
        result = Path(run["result"])
        if run["task"] in unknown or point_done(result):
            continue
        try:
            evaluate_task(lm, spec, run, task_manager, metadata)
            print(f"kick sweep worker: wrote {result} and {samples_path(result)}", flush=True)
        except Exception:  # one task failing must not lose the others of this model
            traceback.print_exc()
            failed += 1
    return 1 if failed else 0


def evaluate_task(lm, spec: dict[str, Any], run: dict[str, Any], task_manager, metadata: dict[str, Any]) -> None:
    """Evaluate one task; write its samples folder, then its result file."""
    from lm_eval import simple_evaluate
    from lm_eval.loggers import EvaluationTracker

    result = Path(run["result"])
    samples = samples_path(result)
    for target in (result, samples):  # leftovers of a killed worker (we hold the point's lock)
        remove_partials(target)
    shutil.rmtree(samples, ignore_errors=True)  # samples without a result naming them are not trusted
    chat = run["prompt_format"] == CHAT
    seeds = {} if spec["seed"] is None else {"torch_random_seed": spec["seed"]}  # generation's sampling
    with atomic_folder(samples, keep_existing=False) as staging:
        tracker = EvaluationTracker(output_path=str(staging / SCRATCH))
        results = simple_evaluate(
            model=lm,
            model_args=spec["model_args"],
            tasks=[run["task"]],
            num_fewshot=spec["num_fewshot"],
            batch_size=spec["batch_size"],
            device=spec["device"],
            limit=spec["limit"],
            log_samples=True,
            evaluation_tracker=tracker,
            apply_chat_template=chat,
            fewshot_as_multiturn=chat,
            task_manager=task_manager,
            metadata=metadata,
            **seeds,
        )
        per_example = results.pop("samples")
        # simple_evaluate names a pre-built model after its checkpoint; say what ran it.
        results["config"]["model"] = "kick"
        tracker.general_config_tracker.model_source = "kick"
        tracker.save_results_aggregated(results=results, samples=per_example)
        for task_name in results["configs"]:
            tracker.save_results_samples(task_name=task_name, samples=per_example[task_name])
        (written,) = (staging / SCRATCH).rglob("results_*.json")
        saved = json.loads(written.read_text(encoding="utf-8"))
        names = [_gzip(path, staging) for path in sorted((staging / SCRATCH).rglob("samples_*.jsonl"))]
        shutil.rmtree(staging / SCRATCH)
    saved[RESULT_KEY] = {
        "point": spec["point"],
        "task": run["task"],
        "seed": spec["seed"],
        "prompt_format": run["prompt_format"],
        "samples": [f"{samples.name}/{name}" for name in names],
        "settings": run["settings"],
    }
    # lm-eval's own layout (indent 2, NaN as lm-eval writes it), through our atomic writer.
    atomic_write_text(result, json.dumps(saved, indent=2, ensure_ascii=False))


def _gzip(path: Path, folder: Path) -> str:
    """``folder/<name>.gz`` from ``path``, with no time stamp in the header (same bytes for the
    same samples, so committed sweeps diff cleanly); returns its name."""
    name = f"{path.name}.gz"
    with open(path, "rb") as source, open(folder / name, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as target:
        shutil.copyfileobj(source, target)
    return name


def _task_manager(tasks: list[str], include_path: list[str], metadata: dict[str, Any]):
    """Index the kick task folder and ``--include_path`` alone when that finds every task
    (indexing every built-in task costs about 20 s a process); else everything, as lm_eval."""
    from lm_eval.tasks import TaskManager

    from kick_models.lm_eval_bridge import task_dir

    # Later paths override earlier ones in lm-eval: the user's folders win, as with the bridge.
    quick = TaskManager(include_path=[task_dir(), *include_path], include_defaults=False, metadata=metadata)
    if all(quick.match_tasks([task]) for task in tasks):
        return quick
    return TaskManager(include_path=include_path or None, metadata=metadata)


if __name__ == "__main__":
    raise SystemExit(main())
