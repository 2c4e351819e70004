"""One point of a sweep in its own process: ``python -m kick_models.sweep.worker SPEC.json`` (or ``-``:
the spec on stdin, as ``kick sweep`` sends it, so that a killed sweep leaves no spec file behind).

Loads the model once through lm-eval's registry (``--model kick``: the compressed checkpoint
comes from kick's cache) and calls ``lm_eval.simple_evaluate`` once per pending task, with the
task's prompt format and per-example samples logged, saving with lm-eval's own
``EvaluationTracker``. For each task it writes, in this order and each atomically:

* ``<task>.samples/``: the tracker's ``samples_<subtask>_<time>.jsonl`` files, gzipped;
* ``<task>.json``: the tracker's results file with a ``kick_sweep`` record (point, task, seed,
  prompt format, settings, the data files read, and the samples files it goes with) and a
  ``kick_provenance`` record per (sub)task: the data scored (SHA-256 over the files' contents,
  or the hub datasets' fingerprints), the examples (count and a SHA-256 of their ``doc_hash``
  values) and the prompt format (chat template, system instruction, shots), which
  ``kick report`` compares before it sets a ratio to dense.

Before the model is loaded, a task already scored at another point of the same model is loaded
alone and its data compared with what those results recorded: a resumed sweep whose data
changed (another ``KICK_DATA_DIR``, an edited file) stops with :data:`DATA_CHANGED` instead of
mixing two data sets in one folder.

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
import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kick_core.atomic import atomic_folder, atomic_write_json, remove_partials
from kick_models.engines import ENGINES
from kick_models.sweep.formats import CHAT
from kick_models.sweep.plan import RESULT_KEY, SAMPLE_DETAIL, point_done, samples_path
from kick_tasks import data

SCRATCH = "lm-eval"  # the tracker's own output, inside the samples folder's staging copy
PROVENANCE_KEY = "kick_provenance"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_ENV = "KICK_SWEEP_PARENT"  # the pid of the kick sweep that started this worker
DATA_CHANGED = 3  # exit code: the data differ from those of results already in the folder


class DataChanged(RuntimeError):
    """A task's data differ from the data its results at other points were scored on."""


class PointBusy(RuntimeError):
    """Another process holds this point's folder."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m kick_models.sweep.worker SPEC.json|- (the spec kick sweep writes; -: on stdin)",
              file=sys.stderr)
        return 2
    die_with_parent()
    # "-": the spec on stdin, as the runner sends it (no file to leave behind when killed)
    spec = json.loads(sys.stdin.read() if argv[0] == "-" else Path(argv[0]).read_text(encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with point_lock(Path(spec["folder"])):
            return evaluate_point(spec)
    except PointBusy as err:
        print(f"kick sweep worker: {err}", flush=True)
        return 1
    except DataChanged as err:
        print(f"kick sweep worker: {err}", flush=True)
        return DATA_CHANGED


def die_with_parent() -> None:
    """End this worker when ``kick sweep`` ends, even by SIGKILL (which gives the parent no
    chance to stop it): Linux's ``prctl(PR_SET_PDEATHSIG)`` sends us SIGTERM then, which
    :func:`main` turns into an exit that removes our temporaries. A parent already gone
    before the call (our parent is no longer the pid in ``KICK_SWEEP_PARENT``) ends us at
    once. Elsewhere this does nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    signal.signal(signal.SIGTERM, _exit_on_signal)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return
    parent = os.environ.get(PARENT_ENV, "")
    if parent.isdigit() and os.getppid() != int(parent):
        raise SystemExit(128 + signal.SIGTERM)


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


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
    for run in spec["tasks"]:
        if run["task"] not in unknown and not point_done(Path(run["result"])):
            check_same_data(Path(run["result"]), run["task"], task_manager)
    model_args = dict(spec["model_args"])
    lm = get_model(ENGINES[spec["engine"]]).create_from_arg_obj(
        model_args, {"batch_size": spec["batch_size"], "device": spec["device"]})
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
    data.forget_sources()
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
        results["config"]["model"] = tracker.general_config_tracker.model_source = ENGINES[spec["engine"]]
        tracker.save_results_aggregated(results=results, samples=per_example)
        for task_name in results["configs"]:
            tracker.save_results_samples(task_name=task_name, samples=per_example[task_name])
        (written,) = (staging / SCRATCH).rglob("results_*.json")
        saved = json.loads(written.read_text(encoding="utf-8"))
        names = [_gzip(path, staging, SAMPLE_DETAIL[spec["samples"]]) for path in sorted((staging / SCRATCH).rglob("samples_*.jsonl"))]
        shutil.rmtree(staging / SCRATCH)
    sources = data.sources_read()
    saved[PROVENANCE_KEY] = provenance(saved, per_example, run["task"], sources, chat)
    saved[RESULT_KEY] = {
        "point": spec["point"],
        "task": run["task"],
        "seed": spec["seed"],
        "prompt_format": run["prompt_format"],
        "samples": [f"{samples.name}/{name}" for name in names],
        "samples_detail": spec["samples"],
        "settings": run["settings"],
        "data_sources": sources,
    }
    # lm-eval's own layout (indent 2), but standard JSON: an undefined score (NaN) is null.
    atomic_write_json(result, saved, nan_as_null=True, indent=2, ensure_ascii=False)


def provenance(results: dict[str, Any], per_example: dict[str, list], task: str, sources: list[dict[str, Any]],
               chat: bool) -> dict[str, dict[str, Any]]:
    """``kick_provenance``: per (sub)task of ``results`` (the tracker's results file), and for ``task`` itself (a group: its
    subtasks' examples together), what was scored and how it was asked."""
    scored = {"sha256": data.sources_digest(sources), "files": len(sources)}
    prompt_of = lambda name: {  # noqa: E731
        "chat_template": chat,
        "chat_template_sha256": results.get("chat_template_sha") if chat else None,
        "system_instruction": results.get("system_instruction"),
        "num_fewshot": results.get("n-shot", {}).get(name),
    }
    out = {}
    for name in results["configs"]:
        out[name] = {"data": scored, "examples": _examples(per_example.get(name, [])), "prompt": prompt_of(name)}
    if task not in out:  # a group: its own line, over all its subtasks' examples
        every = [row for name in results["configs"] for row in per_example.get(name, [])]
        out[task] = {"data": scored, "examples": _examples(every), "prompt": prompt_of(task)}
    return out


def _examples(rows: list[dict[str, Any]]) -> dict[str, Any]:
    hashes = sorted(f"{row.get('doc_id')}:{row.get('doc_hash')}" for row in rows)
    return {"count": len(rows), "sha256": hashlib.sha256("\n".join(hashes).encode()).hexdigest()}


def check_same_data(result: Path, task: str, task_manager) -> None:
    """:class:`DataChanged` if ``task``'s data now differ from what its results at the model's
    other points recorded; loads the task's data alone (seconds), before any compression."""
    recorded = []
    for other in sorted(result.parent.parent.glob(f"*/{result.name}")):
        if other == result or not point_done(other):
            continue
        saved = json.loads(other.read_text(encoding="utf-8"))
        block = (saved.get(PROVENANCE_KEY) or {}).get(task) or {}
        if "data" in block:
            recorded.append((other, block["data"], saved.get(RESULT_KEY, {}).get("data_sources", [])))
    if not recorded:
        return
    data.forget_sources()
    task_manager.load_task_or_group([task])
    now = data.sources_read()
    other, scored, then = recorded[0]
    if scored.get("sha256") != data.sources_digest(now):
        raise DataChanged(
            f"{task}: the data differ from those of the results already in {result.parent.parent} "
            f"({other.parent.name} scored {_describe(then) or scored}; now {_describe(now)}): finish the sweep on "
            "the same data, or write the new one to another --output"
        )


def _describe(sources: list[dict[str, Any]]) -> str:
    shown = [f"{s.get('path') or s.get('hub_id')} sha256 {str(s.get('sha256') or s.get('fingerprint'))[:12]}"
             for s in sources[:2]]
    return ", ".join(shown) + (f" and {len(sources) - 2} more" if len(sources) > 2 else "")


def _gzip(path: Path, folder: Path, dropped: tuple[str, ...] = ()) -> str:
    """``folder/<name>.gz`` from ``path``, each row without the keys ``dropped`` (``--samples
    slim``; lm-eval's writer needs every key, so they go here), with no time stamp in the header
    (same bytes for the same samples, so committed sweeps diff cleanly); returns its name."""
    name = f"{path.name}.gz"
    with open(path, "rb") as source, open(folder / name, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as target:
        if dropped:
            for line in source:
                row = {k: v for k, v in json.loads(line).items() if k not in dropped}
                target.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
        else:
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
