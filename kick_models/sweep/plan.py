"""Where each point's files go, what it must have been run with, and which points are done."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compressors.options import describe as value_text
from kick_core.names import model_name, slug
from kick_models.engines import ENGINES
from kick_models.sweep.formats import CHAT
from kick_models.sweep.grid import GridPoint, SweepError

RESULT_KEY = "kick_sweep"
SAMPLES_SUFFIX = ".samples"
# Settings that change scores: a done point must have been run with the same ones.
SCORE_SETTINGS = ("model_args", "limit", "num_fewshot", "prompt_format", "seed", "metadata", "engine")
# --model_args of kick that change where or how a run is stored, not its scores.
NOT_SCORE_ARGS = ("cache_dir", "storage", "export", "compress_device")


@dataclass
class Sweep:
    """A validated grid and the lm-eval settings every point shares."""

    model: str
    tasks: list[str]
    points: list[GridPoint]
    output: Path
    formats: dict[str, str]  # task -> raw | chat
    model_args: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)  # calibration, nsamples, seqlen (seeds: the points)
    cache_dir: str | None = None
    storage: bool = False
    limit: float | None = None
    batch_size: int | str | None = None
    device: str | None = None
    num_fewshot: int | None = None
    metadata: dict[str, Any] | None = None
    include_path: list[str] = field(default_factory=list)
    samples: str = "full"  # per-example rows kept: full, or slim (see SAMPLE_DETAIL)
    engine: str = "hf"  # what evaluates the checkpoints: hf (--model kick) or vllm (--model kick_vllm)

    @property
    def model_dir(self) -> Path:
        return self.output / model_label(self.model)

    def point_model_args(self, point: GridPoint) -> dict[str, Any]:
        """``--model_args`` of ``--model kick`` for one point (calibration only where used; the
        seed where the point's name carries it, the default otherwise)."""
        args: dict[str, Any] = {"pretrained": self.model, **point.recipe.model_args()}
        if point.seed is not None:
            args.update(self.calibration)
            if point.named_seed:
                args["seed"] = point.seed
        if self.cache_dir:
            args["cache_dir"] = self.cache_dir
        if self.storage:
            args["storage"] = True
        return {**args, **self.model_args}

    def settings(self, point: GridPoint, task: str) -> dict[str, Any]:
        """What a result file must have been run with to count as this point (JSON form)."""
        model_args = {k: v for k, v in self.point_model_args(point).items() if k not in NOT_SCORE_ARGS}
        values = {
            "model_args": model_args,
            "limit": self.limit,
            "num_fewshot": self.num_fewshot,
            "prompt_format": self.formats[task],
            "seed": point.seed,
            "metadata": self.metadata,
        }
        if self.engine != "hf":  # absent means hf: results written before there was a choice stay valid
            values["engine"] = self.engine
        return json.loads(json.dumps(values))

    def result_path(self, point: GridPoint, task: str) -> Path:
        return self.model_dir / point.name / f"{slug(task)}.json"


def model_label(model: str) -> str:
    """A folder name for a model: a local folder's name, or the hub id with ``/`` as ``__``."""
    return slug(model_name(model).replace("/", "__"))


# What ``--samples`` keeps of lm-eval's per-example rows. ``slim`` drops the document, the
# request texts, the target and the raw responses (``doc``, ``arguments``, ``target``,
# ``target_hash``, ``resps``: a 5-shot MMLU row repeats its ~3 KB prompt for each of the four
# choices, 14,042 rows a point; a WikiText-2 row's target is its whole article; ``resps`` repeats
# ``filtered_resps`` where no filter applies), keeping ``doc_id``, the document and prompt hashes
# (the document holds the target), the scored responses and every metric: all that pairing with
# dense and checking the data need (kick_models/report/samples.py); the texts are re-made from
# the recorded data files.
SAMPLE_DETAIL = {"full": (), "slim": ("doc", "arguments", "target", "target_hash", "resps")}


def samples_path(result: Path) -> Path:
    """The folder of lm-eval's per-example samples beside ``<task>.json``: ``<task>.samples/``."""
    return result.with_suffix(SAMPLES_SUFFIX)


def read_record(path: Path) -> dict[str, Any] | None:
    """The ``kick_sweep`` record of a result file (``None`` for a file without one)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8")).get(RESULT_KEY)
    except (OSError, ValueError, AttributeError) as err:
        raise SweepError(f"{path} is not a readable lm-eval result file ({err}); remove it to rerun that point") from None
    return record if isinstance(record, dict) else None


def is_done(result: Path, record: dict[str, Any] | None) -> bool:
    """A point is done when its result file lists its samples files and they are all there
    (the worker writes the samples folder first, so a kill between the two leaves it undone)."""
    names = (record or {}).get("samples")
    return bool(names) and all((result.parent / name).is_file() for name in names)


def point_done(result: Path) -> bool:
    try:
        return result.is_file() and is_done(result, read_record(result))
    except SweepError:
        return False


@dataclass
class TaskRun:
    """One task of one point: its files, prompt format and whether it is done."""

    task: str
    result: Path
    prompt_format: str
    settings: dict[str, Any]
    done: bool


@dataclass
class Job:
    """One point and its tasks: what one worker subprocess evaluates."""

    point: GridPoint
    tasks: list[TaskRun]

    @property
    def pending(self) -> list[TaskRun]:
        return [run for run in self.tasks if not run.done]


def plan(sweep: Sweep) -> list[Job]:
    """Jobs with each task marked done or not; settings conflicts raise :class:`SweepError`.

    A result file already there counts only for the settings it records: other settings stop
    the sweep (rather than mixing them in one folder, or overwriting a result); the same
    settings but no complete samples (a kill between the two writes, or a file of an older
    sweep) run again."""
    jobs = []
    conflicts = []
    for point in sweep.points:
        runs = []
        for task in sweep.tasks:
            path = sweep.result_path(point, task)
            expected = sweep.settings(point, task)
            done = False
            if path.is_file():
                record = read_record(path)
                found = (record or {}).get("settings")
                differing = [k for k in SCORE_SETTINGS if (found or {}).get(k) != expected.get(k)]
                if found is not None and differing:
                    changes = ", ".join(f"{k} was {found.get(k)!r}, now {expected.get(k)!r}" for k in differing)
                    conflicts.append(f"{path}: {changes}")
                done = is_done(path, record)
            runs.append(TaskRun(task, path, sweep.formats[task], expected, done))
        jobs.append(Job(point, runs))
    if conflicts:
        raise SweepError(
            "results already in the output folder were run with other settings; use another "
            "--output or remove them:\n  " + "\n  ".join(conflicts)
        )
    return jobs


def lm_eval_command(sweep: Sweep, point: GridPoint, tasks: list[str], prompt_format: str) -> str:
    """The equivalent ``lm_eval`` command for one point and tasks of one format."""
    from lm_eval.defaults import DEFAULT_OTHER_SEED, DEFAULT_RANDOM_SEED

    model_args = ",".join(f"{k}={value_text(v)}" for k, v in sweep.point_model_args(point).items())
    words = ["lm_eval", "--model", ENGINES[sweep.engine], "--model_args", model_args, "--tasks", ",".join(tasks)]
    for flag, value in (("--limit", sweep.limit), ("--batch_size", sweep.batch_size), ("--device", sweep.device),
                        ("--num_fewshot", sweep.num_fewshot)):
        if value is not None:
            words += [flag, value_text(value)]
    if sweep.metadata:
        words += ["--metadata", json.dumps(sweep.metadata)]
    if prompt_format == CHAT:
        words += ["--apply_chat_template"]
    if point.seed is not None:  # random, numpy, torch (generation), few-shot
        words += ["--seed", f"{DEFAULT_RANDOM_SEED},{DEFAULT_OTHER_SEED},{point.seed},{DEFAULT_OTHER_SEED}"]
    for path in sweep.include_path:
        words += ["--include_path", path]
    return shlex.join(words)


def describe(sweep: Sweep, jobs: list[Job]) -> str:
    """The dry-run listing: every point, done or to do, and the lm_eval command per point and format."""
    total = sum(len(job.tasks) for job in jobs)
    done = sum(run.done for job in jobs for run in job.tasks)
    lines = [f"{len(jobs)} points x {len(sweep.tasks)} tasks = {total} results under {sweep.model_dir} "
             f"({done} done, {total - done} to run)"]
    for job in jobs:
        runs = job.pending or job.tasks
        formats = list(dict.fromkeys(run.prompt_format for run in runs))
        commands = [lm_eval_command(sweep, job.point, [r.task for r in runs if r.prompt_format == f], f) for f in formats]
        lines.append(f"\n{job.point.name}:  " + "\n    ".join(commands))
        for run in job.tasks:
            lines.append(f"  [{'done' if run.done else 'todo'}] {run.task:<28} {run.prompt_format:<4} {run.result}")
    return "\n".join(lines)
