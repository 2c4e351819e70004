"""``kick sweep``: evaluate one model compressed many ways, one lm-eval result file per point.

The grid is methods x recipe values (sparsity, pattern, bits, ...) x tasks, as in the
figures of LLM-KICK (Jaiswal et al., ICLR 2024: score relative to dense against sparsity)
and Mao et al. 2024 (against bits and size on disk)::

    kick sweep --model ~/.cache/llm-kick/models/SmolLM2-135M-Instruct \\
        --methods dense magnitude wanda sparsegpt --sparsity 0.1 0.3 0.5 0.7 --pattern unstructured 2:4 \\
        --tasks kick_factoid_qa kick_mmlu kick_ppl --calibration builtin --nsamples 32 --seqlen 512 \\
        --model-args dtype=bfloat16 --storage --metadata '{"data_dir": "/path/to/kick-data"}' \\
        --output kick-sweep/smollm2 --dry-run         # list the points; drop --dry-run to run them
    kick report kick-sweep/smollm2 --output kick-report/smollm2

or ``kick sweep --config grid.yaml`` with the same keys (underscores for dashes; ``methods``
may map each method to its own axes, e.g. ``{dense: {}, wanda: {sparsity: [0.5], pattern:
["2:4"]}, rtn: {bits: [4, 8]}}``). Command-line flags override the file.

Grid rules. ``dense`` (the baseline every ratio needs) is always run and takes no axes. Every
other method gets the product of the axes given; an N:M pattern fixes its own sparsity (N/M,
the convention of :mod:`compressors.recipe`), so ``--sparsity`` applies to unstructured
points. Each point is validated with :class:`compressors.recipe.Recipe` before anything runs
and named by its shortest equivalent recipe (``magnitude_sparsity-0.5``, ``wanda_pattern-2-4``),
so spelling a default out does not create a second point.

Layout: ``<output>/<model>/<recipe>/<task>.json``, one file per point (recipe x task), each a
complete lm-eval results file (the schema of ``lm_eval --output_path``) with a ``kick_sweep``
key that records the point and the settings that change scores. A point is done when its file
exists: files are written in a ``.partial-*`` folder and renamed into place, so a killed sweep
leaves nothing half written and the same command resumes it. A done point whose settings
differ from this run's (another ``--limit``, ``--num_fewshot``, model args...) stops the sweep
before anything runs, rather than mixing settings in one folder; cache folder and ``--storage``
do not count (they do not change scores).

Why our own runner: lm-eval evaluates one model per run and has no grid, resume or per-point
files. Each compressed model runs in its own subprocess (memory returned to the OS between
recipes; a crash or kill loses at most the task in flight) that loads it once through
lm-eval's model registry (``--model kick``; the compressed checkpoint comes from kick's cache,
so a rerun never compresses again) and calls ``lm_eval.simple_evaluate`` once per task, saving
with lm-eval's own ``EvaluationTracker``. Tasks are indexed from the kick task folder and
``--include_path`` alone when that finds them all (indexing every built-in task costs about
20 s per process); otherwise from everything, as the ``lm_eval`` command does.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_OUTPUT = "kick-sweep"
WORKER_FLAG = "--worker"
WORKER_LOG = "worker.log"
PARTIAL_PREFIX = ".partial-"
RESULT_KEY = "kick_sweep"
CALIBRATION_ARGS = ("calibration", "nsamples", "seqlen")
# Shorthand axes; any other recipe key goes through --recipe-arg KEY=V1,V2.
AXES = ("sparsity", "pattern", "bits")
# Settings that change scores: a done point must have been run with the same ones.
SCORE_SETTINGS = ("model_args", "limit", "num_fewshot", "apply_chat_template", "metadata")
# --model_args of kick that change where or how a run is stored, not its scores.
NOT_SCORE_ARGS = ("cache_dir", "storage", "export", "compress_device")
GRID_FILE_KEYS = (
    "model", "tasks", "methods", *AXES, "recipe_args", "output", "model_args", *CALIBRATION_ARGS,
    "cache_dir", "storage", "limit", "batch_size", "device", "num_fewshot", "metadata",
    "apply_chat_template", "include_path",
)


class SweepError(ValueError):
    """A bad grid or a conflict with results already on disk; the message says what to change."""


# --------------------------------------------------------------------------- grid
@dataclass(frozen=True)
class GridRecipe:
    """One compressed model of the grid: the shortest recipe arguments that define it."""

    args: tuple[tuple[str, Any], ...]  # (("method", "wanda"), ("pattern", "2:4")): method first

    @property
    def method(self) -> str:
        return dict(self.args)["method"]

    @property
    def slug(self) -> str:
        """Folder name: ``method`` then ``key-value`` pairs, safe on every file system."""
        parts = [_safe(self.method)] + [f"{k}-{_safe(_text(v))}" for k, v in self.args[1:]]
        return "_".join(parts)

    def model_args(self) -> dict[str, Any]:
        return {k: ";".join(v) if isinstance(v, (list, tuple)) else v for k, v in self.args}


@dataclass
class Sweep:
    """A validated grid and the lm-eval settings every point shares."""

    model: str
    tasks: list[str]
    recipes: list[GridRecipe]
    output: Path
    model_args: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    cache_dir: str | None = None
    storage: bool = False
    limit: float | None = None
    batch_size: int | str | None = None
    device: str | None = None
    num_fewshot: int | None = None
    metadata: dict[str, Any] | None = None
    apply_chat_template: bool | str = False
    include_path: list[str] = field(default_factory=list)

    @property
    def model_dir(self) -> Path:
        return self.output / model_label(self.model)

    def point_model_args(self, recipe: GridRecipe) -> dict[str, Any]:
        """``--model_args`` of ``--model kick`` for one recipe (calibration only where used)."""
        args: dict[str, Any] = {"pretrained": self.model, **recipe.model_args()}
        if _validated(recipe).needs_calibration():
            args.update(self.calibration)
        if self.cache_dir:
            args["cache_dir"] = self.cache_dir
        if self.storage:
            args["storage"] = True
        return {**args, **self.model_args}

    def settings(self, recipe: GridRecipe) -> dict[str, Any]:
        """What a result file must have been run with to count as this point (JSON form)."""
        model_args = {k: v for k, v in self.point_model_args(recipe).items() if k not in NOT_SCORE_ARGS}
        values = {
            "model_args": model_args,
            "limit": self.limit,
            "num_fewshot": self.num_fewshot,
            "apply_chat_template": self.apply_chat_template,
            "metadata": self.metadata,
        }
        return json.loads(json.dumps(values))

    def result_path(self, recipe: GridRecipe, task: str) -> Path:
        return self.model_dir / recipe.slug / f"{_safe(task)}.json"


@dataclass
class Job:
    """One recipe and its tasks: what one worker subprocess evaluates."""

    recipe: GridRecipe
    tasks: list[tuple[str, Path, bool]]  # (task, result file, done)

    @property
    def pending(self) -> list[tuple[str, Path]]:
        return [(task, path) for task, path, done in self.tasks if not done]


def model_label(model: str) -> str:
    """A folder name for a model: a local folder's name, or the hub id with ``/`` as ``__``."""
    path = Path(model)
    return _safe(path.name) if path.is_dir() else _safe(model.replace("/", "__"))


def expand_recipes(methods: list[str] | dict[str, dict[str, list]], axes: dict[str, list]) -> list[GridRecipe]:
    """The grid's recipes: dense first, then each method x the product of its axes.

    ``methods`` is a list (every non-dense method gets ``axes``) or a mapping from method to
    its own axes. Points equal after normalisation are kept once; an invalid one raises
    :class:`SweepError` naming it.
    """
    if isinstance(methods, dict):
        per_method = {m: dict(a or {}) for m, a in methods.items()}
        for method, method_axes in per_method.items():
            if _is_dense(method) and method_axes:
                raise SweepError(f"method {method!r} is the uncompressed baseline and takes no axes (got {method_axes})")
    else:
        per_method = {m: ({} if _is_dense(m) else dict(axes)) for m in methods}
    per_method = {"dense": {}, **{m: a for m, a in per_method.items() if not _is_dense(m)}}
    recipes: list[GridRecipe] = []
    for method, method_axes in per_method.items():
        found: list[GridRecipe] = []
        for key, values in method_axes.items():
            if not isinstance(values, (list, tuple)) or not values:
                raise SweepError(f"method {method!r}: axis {key!r} needs a non-empty list of values, got {values!r}")
        keys = list(method_axes)
        for combo in itertools.product(*(method_axes[k] for k in keys)):
            point = {"method": method, **dict(zip(keys, combo))}
            if _is_nm(point.get("pattern")):
                point.pop("sparsity", None)  # N:M fixes the sparsity at N/M
            recipe = shortest_recipe(point)
            if recipe not in found:
                found.append(recipe)
        recipes += sorted(found, key=_order)
    return recipes


def _order(point: GridRecipe) -> tuple:
    """Unstructured before N:M, then by value, numbers numerically (bits 4 before 16)."""
    values = tuple((k, (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))) for k, v in point.args[1:])
    return (_is_nm(dict(point.args).get("pattern")), values)


def shortest_recipe(point: dict[str, Any]) -> GridRecipe:
    """Validate ``point`` and keep only the arguments that change the normalised recipe.

    ``compressors.recipe.Recipe`` fills defaults (scope, pattern, N:M sparsity), so e.g.
    ``wanda sparsity=0.5 pattern=unstructured scope=row`` and ``wanda sparsity=0.5`` are one
    point; the shorter spelling names its folder and goes into ``--model_args``.
    """
    full = _normalised(point)
    kept = dict(point)
    for key in [k for k in point if k != "method"]:
        trial = {k: v for k, v in kept.items() if k != key}
        try:
            same = _normalised(trial) == full
        except SweepError:
            same = False
        if same:
            kept = trial
    return GridRecipe(tuple(kept.items()))


def _normalised(point: dict[str, Any]) -> dict[str, Any]:
    from compressors.recipe import Recipe as CompressionRecipe

    try:
        return CompressionRecipe.from_args(**point).as_dict()
    except (TypeError, ValueError) as err:
        described = ", ".join(f"{k}={v}" for k, v in point.items())
        raise SweepError(f"grid point ({described}) is not a valid recipe: {err}") from None


def _validated(recipe: GridRecipe):
    from compressors.recipe import Recipe as CompressionRecipe

    return CompressionRecipe.from_args(**dict(recipe.args))


def _is_dense(method: str) -> bool:
    from compressors.recipe import ALIASES

    return ALIASES.get(method, method) == "dense"


def _is_nm(pattern: Any) -> bool:
    from compressors.recipe import parse_pattern

    if not isinstance(pattern, str):
        return False
    try:
        return parse_pattern(pattern) is not None
    except ValueError:
        return False  # the recipe check reports it


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "+".join(map(str, value))
    return str(value)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-") or "_"


# --------------------------------------------------------------------------- planning
def plan(sweep: Sweep) -> list[Job]:
    """Jobs with each task marked done or not; settings conflicts raise :class:`SweepError`."""
    jobs = []
    conflicts = []
    for recipe in sweep.recipes:
        expected = sweep.settings(recipe)
        tasks = []
        for task in sweep.tasks:
            path = sweep.result_path(recipe, task)
            done = path.is_file()
            if done:
                found = _recorded_settings(path)
                if found is not None and found != expected:
                    differing = sorted(k for k in SCORE_SETTINGS if found.get(k) != expected.get(k))
                    changes = ", ".join(f"{k} was {found.get(k)!r}, now {expected.get(k)!r}" for k in differing)
                    conflicts.append(f"{path}: {changes}")
            tasks.append((task, path, done))
        jobs.append(Job(recipe, tasks))
    if conflicts:
        raise SweepError(
            "results already in the output folder were run with other settings; use another "
            "--output or remove them:\n  " + "\n  ".join(conflicts)
        )
    return jobs


def _recorded_settings(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8")).get(RESULT_KEY)
    except (OSError, ValueError, AttributeError) as err:
        raise SweepError(f"{path} is not a readable lm-eval result file ({err}); remove it to rerun that point") from None
    return record.get("settings") if isinstance(record, dict) else None


def lm_eval_command(sweep: Sweep, recipe: GridRecipe, tasks: list[str]) -> str:
    """The equivalent ``lm_eval`` command for one recipe (for the dry run and the docs)."""
    model_args = ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else _text(v)}"
                          for k, v in sweep.point_model_args(recipe).items())
    words = ["lm_eval", "--model", "kick", "--model_args", model_args, "--tasks", ",".join(tasks)]
    for flag, value in (("--limit", sweep.limit), ("--batch_size", sweep.batch_size), ("--device", sweep.device),
                        ("--num_fewshot", sweep.num_fewshot)):
        if value is not None:
            words += [flag, _text(value)]
    if sweep.metadata:
        words += ["--metadata", json.dumps(sweep.metadata)]
    if sweep.apply_chat_template:
        words += ["--apply_chat_template"] + ([] if sweep.apply_chat_template is True else [str(sweep.apply_chat_template)])
    for path in sweep.include_path:
        words += ["--include_path", path]
    return shlex.join(words)


def describe(sweep: Sweep, jobs: list[Job]) -> str:
    """The dry-run listing: every point, done or to do, and the lm_eval command per recipe."""
    total = sum(len(job.tasks) for job in jobs)
    done = sum(done for job in jobs for _, _, done in job.tasks)
    lines = [f"{len(jobs)} recipes x {len(sweep.tasks)} tasks = {total} points under {sweep.model_dir} "
             f"({done} done, {total - done} to run)"]
    for job in jobs:
        lines.append(f"\n{job.recipe.slug}:  {lm_eval_command(sweep, job.recipe, [t for t, _ in job.pending] or sweep.tasks)}")
        for task, path, is_done in job.tasks:
            lines.append(f"  [{'done' if is_done else 'todo'}] {task:<28} {path}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- running
def run(sweep: Sweep, jobs: list[Job], *, fail_fast: bool = False) -> int:
    """Run every pending point, one worker subprocess per recipe; 0 when all succeeded."""
    from tqdm.auto import tqdm

    total = sum(len(job.tasks) for job in jobs)
    already = sum(done for job in jobs for _, _, done in job.tasks)
    failures: list[str] = []
    with tqdm(total=total, initial=already, unit="point", desc="kick sweep", dynamic_ncols=True) as bar:
        if already:
            bar.write(f"kick sweep: {already} of {total} points already done in {sweep.model_dir}: skipped",
                      file=sys.stderr)
        for job in jobs:
            pending = job.pending
            if not pending:
                continue
            bar.set_postfix_str(job.recipe.slug)
            bar.write(f"kick sweep: {job.recipe.slug}: {len(pending)} task(s): {', '.join(t for t, _ in pending)}",
                      file=sys.stderr)
            code = _run_worker(sweep, job, pending, bar)
            missing = [task for task, path in pending if not path.is_file()]
            if code != 0 or missing:
                log = sweep.model_dir / job.recipe.slug / WORKER_LOG
                failures.append(f"{job.recipe.slug}: {', '.join(missing) or 'worker'} failed (exit {code}); see {log}")
                bar.write(f"kick sweep: FAILED {failures[-1]}\n" + _tail(log), file=sys.stderr)
                if fail_fast:
                    break
    if failures:
        print("kick sweep: some points failed (rerun the same command to retry them):\n  " + "\n  ".join(failures),
              file=sys.stderr)
        return 1
    print(f"kick sweep: all {total} points done in {sweep.model_dir}", file=sys.stderr)
    return 0


def _run_worker(sweep: Sweep, job: Job, pending: list[tuple[str, Path]], bar) -> int:
    folder = sweep.model_dir / job.recipe.slug
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "model_args": sweep.point_model_args(job.recipe),
        "settings": sweep.settings(job.recipe),
        "point": job.recipe.slug,
        "tasks": [[task, str(path)] for task, path in pending],
        "limit": sweep.limit,
        "batch_size": sweep.batch_size,
        "device": sweep.device,
        "num_fewshot": sweep.num_fewshot,
        "metadata": sweep.metadata,
        "apply_chat_template": sweep.apply_chat_template,
        "include_path": sweep.include_path,
    }
    with tempfile.TemporaryDirectory(prefix="kick-sweep-") as tmp:
        spec_file = Path(tmp) / "point.json"
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
        with open(folder / WORKER_LOG, "a", encoding="utf-8") as log:
            log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {job.recipe.slug}: {', '.join(t for t, _ in pending)}\n")
            log.flush()
            proc = subprocess.Popen([sys.executable, "-m", "kick_models.sweep", WORKER_FLAG, str(spec_file)],
                                    stdout=log, stderr=subprocess.STDOUT, env=env)
            seen = set()
            try:
                while True:
                    try:
                        code = proc.wait(timeout=0.5)
                    except subprocess.TimeoutExpired:
                        code = None
                    for task, path in pending:
                        if task not in seen and path.is_file():
                            seen.add(task)
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


# --------------------------------------------------------------------------- worker
def worker_main(spec_file: str) -> int:
    """Evaluate one recipe's pending tasks (runs in its own process; see the module docs)."""
    import logging
    import traceback

    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    from lm_eval import simple_evaluate
    from lm_eval.api.registry import get_model
    from lm_eval.loggers import EvaluationTracker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tasks = [task for task, _ in spec["tasks"]]
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
    for task, path in spec["tasks"]:
        target = Path(path)
        if target.is_file() or task in unknown:
            continue
        _remove_dead_partials(target.parent)
        staging = Path(tempfile.mkdtemp(prefix=f"{PARTIAL_PREFIX}{os.getpid()}-", dir=target.parent))
        try:
            tracker = EvaluationTracker(output_path=str(staging))
            results = simple_evaluate(
                model=lm,
                model_args=model_args,
                tasks=[task],
                num_fewshot=spec["num_fewshot"],
                batch_size=spec["batch_size"],
                device=spec["device"],
                limit=spec["limit"],
                log_samples=False,
                evaluation_tracker=tracker,
                apply_chat_template=spec["apply_chat_template"],
                fewshot_as_multiturn=bool(spec["apply_chat_template"]),
                task_manager=task_manager,
                metadata=metadata,
            )
            # simple_evaluate names a pre-built model after its checkpoint; say what ran it.
            results["config"]["model"] = "kick"
            tracker.general_config_tracker.model_source = "kick"
            results[RESULT_KEY] = {"point": spec["point"], "task": task, "settings": spec["settings"]}
            tracker.save_results_aggregated(results=results, samples=None)
            (written,) = staging.rglob("results_*.json")
            os.replace(written, target)
            print(f"kick sweep worker: wrote {target}", flush=True)
        except Exception:  # one task failing must not lose the others of this model
            traceback.print_exc()
            failed += 1
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return 1 if failed else 0


def _task_manager(tasks: list[str], include_path: list[str], metadata: dict[str, Any]):
    from lm_eval.tasks import TaskManager

    from kick_models.lm_eval_bridge import task_dir

    # Later paths override earlier ones in lm-eval: the user's folders win, as with the bridge.
    quick = TaskManager(include_path=[task_dir(), *include_path], include_defaults=False, metadata=metadata)
    if all(quick.match_tasks([task]) for task in tasks):
        return quick
    return TaskManager(include_path=include_path or None, metadata=metadata)


def _remove_dead_partials(folder: Path) -> None:
    """Remove ``.partial-<pid>-*`` folders whose process is gone (a killed earlier run)."""
    for partial in folder.glob(f"{PARTIAL_PREFIX}*"):
        pid = partial.name[len(PARTIAL_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kick sweep",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=None,
    )
    grid = parser.add_argument_group("grid")
    grid.add_argument("--config", help="YAML grid file (keys as the long options, with underscores)")
    grid.add_argument("--model", help="pretrained model: a local folder or a hub id")
    grid.add_argument("--methods", nargs="+", metavar="METHOD", help="compression methods (dense is always added)")
    grid.add_argument("--sparsity", nargs="+", type=float, metavar="S", help="sparsities for unstructured points")
    grid.add_argument("--pattern", nargs="+", metavar="P", help="unstructured and/or N:M patterns (N:M fixes sparsity N/M)")
    grid.add_argument("--bits", nargs="+", type=int, metavar="B", help="bit widths (quantization methods)")
    grid.add_argument("--recipe-arg", dest="recipe_args", action="append", metavar="KEY=V1,V2",
                      help="any other recipe axis, e.g. --recipe-arg scope=layer,global (repeatable)")
    grid.add_argument("--tasks", nargs="+", metavar="TASK", help="lm-eval task or group names (comma or space separated)")
    grid.add_argument("--output", "--output_path", dest="output", help=f"result folder (default: {DEFAULT_OUTPUT})")
    model = parser.add_argument_group("model (passed to --model kick)")
    model.add_argument("--model-args", "--model_args", dest="model_args", metavar="K=V,...",
                       help="extra --model_args for every point, e.g. dtype=bfloat16")
    model.add_argument("--calibration", help="calibration source for methods that need it (c4, builtin, a file, ...)")
    model.add_argument("--nsamples", type=int, help="calibration sequences")
    model.add_argument("--seqlen", type=int, help="calibration tokens per sequence")
    model.add_argument("--cache-dir", "--cache_dir", dest="cache_dir", help="compressed-checkpoint cache folder")
    model.add_argument("--storage", action="store_true", default=None,
                       help="attach on-disk size and compressibility to each result (for size plots)")
    lm = parser.add_argument_group("lm-eval options (as in the lm_eval command)")
    lm.add_argument("--limit", type=float, help="examples per task (testing only)")
    lm.add_argument("--batch_size", "--batch-size", dest="batch_size", help="batch size or 'auto'")
    lm.add_argument("--device", help="e.g. cuda, cuda:0, cpu")
    lm.add_argument("--num_fewshot", "--num-fewshot", dest="num_fewshot", type=int)
    lm.add_argument("--metadata", help="JSON object passed to the tasks, e.g. '{\"data_dir\": \"...\"}'")
    lm.add_argument("--apply_chat_template", "--apply-chat-template", dest="apply_chat_template", nargs="?",
                    const=True, default=None, help="apply the model's chat template (optionally a template name)")
    lm.add_argument("--include_path", "--include-path", dest="include_path", action="append",
                    help="extra task folder (repeatable)")
    run_group = parser.add_argument_group("running")
    run_group.add_argument("--dry-run", action="store_true", help="list the points (done / to do) and exit")
    run_group.add_argument("--fail-fast", action="store_true", help="stop at the first failed recipe")
    return parser


def sweep_from_args(args: argparse.Namespace) -> Sweep:
    """Merge the YAML grid file (if any) with the flags, flags winning; validate everything."""
    values: dict[str, Any] = load_grid_file(args.config) if args.config else {}
    for key in GRID_FILE_KEYS:
        value = getattr(args, key, None)
        if value is not None:
            values[key] = value
    if not values.get("model"):
        raise SweepError("no model: give --model <folder or hub id> (or `model:` in the --config file)")
    tasks = [t for item in _as_list(values.get("tasks"), "tasks") for t in str(item).split(",") if t]
    if not tasks:
        raise SweepError("no tasks: give --tasks <names> (or `tasks:` in the --config file)")
    if len(set(tasks)) != len(tasks):
        raise SweepError(f"tasks {tasks} name a task twice")
    methods = values.get("methods") or ["dense"]
    if not isinstance(methods, dict):
        methods = [str(m) for m in _as_list(methods, "methods")]
    axes = {key: _as_list(values[key], key) for key in AXES if values.get(key) is not None}
    for item in _as_list(values.get("recipe_args") or [], "recipe_args"):
        key, sep, raw = str(item).partition("=")
        if not sep or not key or not raw:
            raise SweepError(f"--recipe-arg {item!r} is not KEY=V1,V2 (e.g. scope=layer,global)")
        axes[key.strip()] = [_cast(v.strip()) for v in raw.split(",")]
    model = str(values["model"])
    if Path(model).expanduser().is_dir():
        model = str(Path(model).expanduser().resolve())
    calibration = {k: values[k] for k in CALIBRATION_ARGS if values.get(k) is not None}
    return Sweep(
        model=model,
        tasks=tasks,
        recipes=expand_recipes(methods, axes),
        output=Path(values.get("output") or DEFAULT_OUTPUT).expanduser(),
        model_args=_parse_model_args(values.get("model_args")),
        calibration=calibration,
        cache_dir=values.get("cache_dir"),
        storage=bool(values.get("storage")),
        limit=_number(values.get("limit"), "limit"),
        batch_size=_batch_size(values.get("batch_size")),
        device=values.get("device"),
        num_fewshot=values.get("num_fewshot"),
        metadata=_parse_metadata(values.get("metadata")),
        apply_chat_template=values.get("apply_chat_template") or False,
        include_path=[str(Path(p).expanduser().resolve()) for p in _as_list(values.get("include_path") or [], "include_path")],
    )


def load_grid_file(path: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise SweepError(f"cannot read --config {path}: {err}") from None
    if not isinstance(data, dict):
        raise SweepError(f"--config {path} must hold a mapping of option: value, got {type(data).__name__}")
    unknown = sorted(set(data) - set(GRID_FILE_KEYS))
    if unknown:
        raise SweepError(f"--config {path}: unknown key(s) {unknown}; allowed {sorted(GRID_FILE_KEYS)}")
    return data


def _as_list(value: Any, name: str) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, (str, int, float)):
        return [value]
    raise SweepError(f"{name} must be a value or a list, got {value!r}")


def _cast(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _parse_model_args(value: Any) -> dict[str, Any]:
    if not value:
        return {}
    if isinstance(value, dict):
        args = dict(value)
    else:
        args = {}
        for item in str(value).split(","):
            key, sep, raw = item.partition("=")
            if not sep or not key.strip():
                raise SweepError(f"--model-args item {item!r} is not KEY=VALUE")
            args[key.strip()] = _cast(raw.strip())
    reserved = sorted({"pretrained", "method", *AXES, *CALIBRATION_ARGS, "cache_dir", "storage"} & set(args))
    if reserved:
        raise SweepError(f"--model-args {reserved}: set these with the sweep's own options (--model, --methods, "
                         f"--sparsity/--pattern/--bits/--recipe-arg, --calibration/--nsamples/--seqlen, --cache-dir, --storage)")
    return args


def _parse_metadata(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise SweepError(f"--metadata {value!r} is not a JSON object (e.g. '{{\"data_dir\": \"/data\"}}')")
    return parsed


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise SweepError(f"--{name} {value!r} is not allowed: give a count (>= 1) or a fraction in (0, 1)")
    return int(value) if float(value).is_integer() else float(value)


def _batch_size(value: Any) -> int | str | None:
    if value is None:
        return None
    text = str(value)
    if text.isdigit() and int(text) > 0:
        return int(text)
    if re.fullmatch(r"auto(:\d+)?", text):
        return text
    raise SweepError(f"--batch_size {value!r} is not allowed: give a positive integer, 'auto' or 'auto:N'")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [WORKER_FLAG]:
        return worker_main(argv[1])
    args = build_parser().parse_args(argv)
    try:
        sweep = sweep_from_args(args)
        jobs = plan(sweep)
    except SweepError as err:
        print(f"kick sweep: error: {err}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(describe(sweep, jobs))
        return 0
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return run(sweep, jobs, fail_fast=args.fail_fast)
    except KeyboardInterrupt:
        print("kick sweep: interrupted; finished points are kept: run the same command to resume", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
