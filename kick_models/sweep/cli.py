"""``kick sweep``: evaluate one model compressed many ways, one lm-eval result file per point and task.

The grid is methods x recipe values (sparsity, pattern, bits, ...) x calibration seeds x tasks,
as in the figures of LLM-KICK (Jaiswal et al., ICLR 2024: score relative to dense against
sparsity, averaged over three runs) and Mao et al. 2024 (against bits and size on disk)::

    kick sweep --model ~/.cache/llm-kick/models/SmolLM2-135M-Instruct \\
        --methods dense magnitude wanda sparsegpt --sparsity 0.1 0.3 0.5 0.7 --pattern unstructured 2:4 \\
        --tasks kick_factoid_qa kick_mmlu kick_ppl --calibration builtin --nsamples 32 --seqlen 512 --seed 0 1 2 \\
        --model-args dtype=bfloat16 --storage --metadata '{"data_dir": "/path/to/kick-data"}' \\
        --output kick-sweep/smollm2 --dry-run         # list the points; drop --dry-run to run them
    kick report kick-sweep/smollm2 --output kick-report/smollm2

or ``kick sweep --config grid.yaml`` with the same keys (underscores for dashes; ``methods``
may map each method to its own axes, e.g. ``{dense: {}, wanda: {sparsity: [0.5], pattern:
["2:4"]}, rtn: {bits: [4, 8]}}``; ``prompt_format`` maps tasks to formats). Command-line flags
override the file.

Grid rules. ``dense`` (the baseline every ratio needs) is always run and takes no axes. Every
other method gets the product of the axes given; an N:M pattern fixes its own sparsity (N/M,
the convention of :mod:`compressors.recipe`), so ``--sparsity`` applies to unstructured
points. Each point is validated with :class:`compressors.recipe.Recipe` before anything runs
and named by its shortest equivalent recipe (``magnitude_sparsity-0.5``, ``wanda_pattern-2-4``),
so spelling a default out does not create a second point. ``--seed S1 S2 ...`` makes one
point per seed for methods that calibrate (Wanda, SparseGPT, GPTQ, AWQ): the seed samples
their calibration set and is lm-eval's generation (torch) seed for that point; dense and
data-free methods get one point with lm-eval's own seeds. The seed is part of a folder's name
(``wanda_sparsity-0.5_seed-1``) only when several are swept or it is not the default 0.

Prompt format. Each task runs in its protocol's format (:mod:`kick_models.sweep.formats`):
the QA tasks, MMLU and perplexity raw, as the paper's reference code; the judged tasks
(summarization, instruction following) with the model's chat template; tasks not declared
there raw. ``--prompt-format TASK=raw|chat`` overrides one task; ``--apply_chat_template`` is
refused, since one setting for every task would break the protocol of the others.

Layout: ``<output>/<model>/<point>/<task>.json``, a complete lm-eval results file (the schema
of ``lm_eval --output_path``) with a ``kick_sweep`` record of the point, seed, prompt format
and the settings that change scores; beside it ``<task>.samples/``, lm-eval's per-example
``samples_<subtask>_<time>.jsonl.gz`` (for paired tests against dense). Both are written
atomically, samples first, and a result counts as done only when the samples it names are
there: a killed sweep leaves nothing half written and the same command resumes it. A result
whose settings differ from this run's (another ``--limit``, ``--num_fewshot``, model args,
prompt format...) stops the sweep before anything runs, rather than mixing settings in one
folder; cache folder and ``--storage`` do not count (they do not change scores).

Engine. ``--engine hf`` (the default) evaluates each point with ``--model kick`` (Hugging
Face); ``--engine vllm`` with ``--model kick_vllm``, lm-eval's vLLM backend on the same cached
checkpoint (:mod:`kick_models.kick_vllm`), which needs the vllm package and refuses the
bitsandbytes methods. The engine is one of a result's settings (results without it ran on hf).

Why our own runner: lm-eval evaluates one model per run and has no grid, resume or per-point
files. Each point runs in its own subprocess (``python -m kick_models.sweep.worker``) that
loads the model once through lm-eval's registry (``--model kick`` or ``kick_vllm``; the
compressed checkpoint comes from kick's cache, so a rerun never compresses again) and calls
``lm_eval.simple_evaluate`` once per task. Tasks are indexed from the kick task folder and
``--include_path`` alone when that finds them all (indexing every built-in task costs about
20 s per process); otherwise from everything, as the ``lm_eval`` command does.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
from pathlib import Path
from typing import Any

from compressors.options import CALIBRATION_OPTIONS, RECIPE_OPTIONS
from kick_core.helptext import plain
from kick_core.values import cast
from kick_models.engines import ENGINES, lm_eval_model
from kick_models.model_args import MODEL_OPTIONS
from kick_models.sweep.formats import PROMPT_FORMATS, parse_overrides, prompt_format
from kick_models.sweep.grid import DEFAULT_SEED, SweepError, expand_points, expand_recipes
from kick_models.sweep.plan import SAMPLE_DETAIL, Sweep, describe, plan
from kick_models.sweep.runner import run

DEFAULT_OUTPUT = "kick-sweep"
# Recipe keys with a flag of their own; any other goes through --recipe-arg KEY=V1,V2.
AXES = ("sparsity", "pattern", "bits")
OTHER_RECIPE_KEYS = tuple(k for k in RECIPE_OPTIONS if k not in ("method", *AXES))
GRID_FILE_KEYS = (
    "model", "tasks", "methods", *AXES, "recipe_args", "output", "model_args", *CALIBRATION_OPTIONS,
    "cache_dir", "storage", "limit", "batch_size", "device", "num_fewshot", "metadata", "include_path",
    "prompt_format", "samples", "engine",
)
CHAT_TEMPLATE_REFUSED = (
    "kick sweep chooses the prompt format per task (raw: {raw}; chat template: {chat}; other tasks raw), "
    "so --apply_chat_template / apply_chat_template is not accepted: to change one task's format give "
    "--prompt-format TASK=chat (or TASK=raw)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kick sweep",
        description=plain(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=None,
    )
    grid = parser.add_argument_group("grid")
    grid.add_argument("--config", help="YAML grid file (keys as the long options, with underscores)")
    grid.add_argument("--model", help="pretrained model: a local folder or a hub id")
    grid.add_argument("--methods", nargs="+", metavar="METHOD",
                      help=f"compression methods (dense is always added): {RECIPE_OPTIONS['method'].plain_help}")
    for name in AXES:
        grid.add_argument(f"--{name}", nargs="+", metavar=name[0].upper(),
                          help=f"axis: {RECIPE_OPTIONS[name].plain_help}")
    grid.add_argument("--recipe-arg", dest="recipe_args", action="append", metavar="KEY=V1,V2",
                      help=f"any other recipe axis, KEY one of {', '.join(OTHER_RECIPE_KEYS)}; e.g. "
                           "--recipe-arg scope=layer,global (repeatable)")
    grid.add_argument("--tasks", nargs="+", metavar="TASK", help="lm-eval task or group names (comma or space separated)")
    grid.add_argument("--output", "--output_path", dest="output", help=f"result folder (default: {DEFAULT_OUTPUT})")
    model = parser.add_argument_group("model (passed to --model kick)")
    model.add_argument("--model-args", "--model_args", dest="model_args", metavar="K=V,...",
                       help="extra --model_args for every point, e.g. dtype=bfloat16")
    for option in CALIBRATION_OPTIONS.values():
        if option.name == "seed":
            model.add_argument("--seed", nargs="+", metavar="SEED",
                               help=f"axis: {option.plain_help}, one point per seed for the methods that calibrate; "
                                    f"also lm-eval's generation seed for those points (default: {option.plain_default})")
        else:
            model.add_argument(f"--{option.name}", metavar=option.name.upper(),
                               help=f"{option.plain_help} (default: {option.plain_default})")
    model.add_argument("--cache-dir", "--cache_dir", dest="cache_dir", help=MODEL_OPTIONS["cache_dir"].plain_help)
    model.add_argument("--storage", action="store_true", default=None, help=MODEL_OPTIONS["storage"].plain_help)
    model.add_argument("--engine", choices=sorted(ENGINES),
                       help="what evaluates each checkpoint: hf (--model kick, the default) or vllm (--model "
                            "kick_vllm, lm-eval's vLLM backend on the same cached checkpoint; needs vllm)")
    lm = parser.add_argument_group("lm-eval options (as in the lm_eval command)")
    lm.add_argument("--limit", type=float, help="examples per task (testing only)")
    lm.add_argument("--batch_size", "--batch-size", dest="batch_size", help="batch size or 'auto'")
    lm.add_argument("--device", help="e.g. cuda, cuda:0, cpu")
    lm.add_argument("--num_fewshot", "--num-fewshot", dest="num_fewshot", type=int)
    lm.add_argument("--metadata", help="JSON object passed to the tasks, e.g. '{\"data_dir\": \"...\"}'")
    lm.add_argument("--include_path", "--include-path", dest="include_path", action="append",
                    help="extra task folder (repeatable)")
    lm.add_argument("--prompt-format", "--prompt_format", dest="prompt_format", action="append", metavar="TASK=FORMAT",
                    help="run TASK raw or with the model's chat template (raw|chat), overriding the format its "
                         "protocol declares (repeatable)")
    lm.add_argument("--apply_chat_template", "--apply-chat-template", dest="apply_chat_template", nargs="?",
                    const=True, default=None, help="refused: the sweep chooses the format per task (--prompt-format)")
    lm.add_argument("--samples", choices=sorted(SAMPLE_DETAIL),
                    help="per-example rows kept beside each result: full (lm-eval's rows, the default) or slim "
                         "(without the document, prompt and target texts, which their hashes identify, and the raw "
                         "responses; the scored ones stay: for large tasks such as 5-shot MMLU)")
    run_group = parser.add_argument_group("running")
    run_group.add_argument("--dry-run", action="store_true", help="list the points (done / to do) and exit")
    run_group.add_argument("--fail-fast", action="store_true", help="stop at the first failed point")
    return parser


def sweep_from_args(args: argparse.Namespace) -> Sweep:
    """Merge the YAML grid file (if any) with the flags, flags winning; validate everything."""
    values: dict[str, Any] = load_grid_file(args.config) if args.config else {}
    if args.apply_chat_template is not None or "apply_chat_template" in values:
        formats = {f: [t for t, v in PROMPT_FORMATS.items() if v == f] for f in ("raw", "chat")}
        raise SweepError(CHAT_TEMPLATE_REFUSED.format(raw=", ".join(formats["raw"]), chat=", ".join(formats["chat"])))
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
    overrides = parse_overrides(values.get("prompt_format") or [])
    stray = sorted(set(overrides) - set(tasks))
    if stray:
        raise SweepError(f"--prompt-format names {stray}, which are not among --tasks {tasks}")
    methods = values.get("methods") or ["dense"]
    if isinstance(methods, dict):
        methods = {m: {k: _axis(k, v) for k, v in (a or {}).items()} for m, a in methods.items()}
    else:
        methods = [str(m) for m in _as_list(methods, "methods")]
    axes = {key: _axis(key, _as_list(values[key], key)) for key in AXES if values.get(key) is not None}
    for item in _as_list(values.get("recipe_args") or [], "recipe_args"):
        key, sep, raw = str(item).partition("=")
        key = key.strip()
        if not sep or not key or not raw:
            raise SweepError(f"--recipe-arg {item!r} is not KEY=V1,V2 (e.g. scope=layer,global)")
        if key not in OTHER_RECIPE_KEYS:
            raise SweepError(f"--recipe-arg {key}: not a recipe key taken here; allowed {list(OTHER_RECIPE_KEYS)} "
                             f"({', '.join('--' + a for a in AXES)} and --methods have their own flags)")
        axes[key] = _axis(key, [v.strip() for v in raw.split(",")])
    seeds = [_parse(CALIBRATION_OPTIONS["seed"], s) for s in _as_list(values.get("seed"), "seed")] or [DEFAULT_SEED]
    calibration = {k: _parse(o, values[k]) for k, o in CALIBRATION_OPTIONS.items() if k != "seed" and values.get(k) is not None}
    model = str(values["model"])
    if Path(model).expanduser().is_dir():
        model = str(Path(model).expanduser().resolve())
    return Sweep(
        model=model,
        tasks=tasks,
        points=expand_points(expand_recipes(methods, axes), seeds),
        output=Path(values.get("output") or DEFAULT_OUTPUT).expanduser(),
        formats={task: prompt_format(task, overrides) for task in tasks},
        model_args=_parse_model_args(values.get("model_args")),
        calibration=calibration,
        cache_dir=values.get("cache_dir"),
        storage=bool(values.get("storage")),
        limit=_number(values.get("limit"), "limit"),
        batch_size=_batch_size(values.get("batch_size")),
        device=values.get("device"),
        num_fewshot=values.get("num_fewshot"),
        metadata=_parse_metadata(values.get("metadata")),
        include_path=[str(Path(p).expanduser().resolve()) for p in _as_list(values.get("include_path") or [], "include_path")],
        samples=_samples(values.get("samples")),
        engine=_engine(values.get("engine")),
    )


def load_grid_file(path: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise SweepError(f"cannot read --config {path}: {err}") from None
    if not isinstance(data, dict):
        raise SweepError(f"--config {path} must hold a mapping of option: value, got {type(data).__name__}")
    unknown = sorted(set(data) - set(GRID_FILE_KEYS) - {"apply_chat_template"})  # that one gets its own error
    if unknown:
        raise SweepError(f"--config {path}: unknown key(s) {unknown}; allowed {sorted(GRID_FILE_KEYS)}")
    return data


def _axis(key: str, values: Any) -> Any:
    """An axis's values parsed by the recipe key's declaration; anything that is not a list
    of a known key is left for the grid check to report."""
    if key not in RECIPE_OPTIONS or not isinstance(values, (list, tuple)):
        return values
    return [_parse(RECIPE_OPTIONS[key], value) for value in values]


def _parse(option, value: Any) -> Any:
    try:
        return option.parse(value)
    except ValueError as err:
        raise SweepError(f"--{option.name.replace('_', '-')} {value!r}: {err}") from None


def _as_list(value: Any, name: str) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, (str, int, float)):
        return [value]
    raise SweepError(f"{name} must be a value or a list, got {value!r}")


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
            args[key.strip()] = cast(raw.strip())
    reserved = sorted({"pretrained", *RECIPE_OPTIONS, *CALIBRATION_OPTIONS, "cache_dir", "storage"} & set(args))
    if reserved:
        raise SweepError(f"--model-args {reserved}: set these with the sweep's own options (--model, --methods, "
                         f"--{'/--'.join(AXES)}/--recipe-arg, --{'/--'.join(CALIBRATION_OPTIONS)}, --cache-dir, --storage)")
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


def _samples(value: Any) -> str:
    if value is None:
        return "full"
    if value not in SAMPLE_DETAIL:
        raise SweepError(f"samples {value!r} is not allowed: give one of {', '.join(sorted(SAMPLE_DETAIL))}")
    return value


def _engine(value: Any) -> str:
    try:
        lm_eval_model(value or "hf")  # vllm without the vllm package stops here, before any worker
    except (ValueError, ModuleNotFoundError) as err:
        raise SweepError(str(err)) from None
    return value or "hf"


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
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        sweep = sweep_from_args(args)
        jobs = plan(sweep)
    except SweepError as err:
        print(f"kick sweep: error: {err}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(describe(sweep, jobs))
        return 0
    try:  # before any worker starts: a bad model or task would fail in each of them, minutes later
        check_model_and_tasks(sweep)
    except (SweepError, ValueError) as err:
        print(f"kick sweep: error: {err}", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return run(sweep, jobs, fail_fast=args.fail_fast)
    except KeyboardInterrupt:
        print("kick sweep: interrupted; finished results are kept: run the same command to resume", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_model_and_tasks(sweep: Sweep) -> None:
    """The model's source and dtype (:func:`kick_models.compressed_checkpoint.check_request`
    without a recipe), and that lm-eval knows every task: one line naming what is wrong."""
    from kick_models.compressed_checkpoint import check_request
    from kick_models.sweep.worker import _task_manager

    check_request(sweep.model, None, None, dtype=sweep.model_args.get("dtype", "auto"))
    metadata = {**sweep.model_args, **(sweep.metadata or {})}
    manager = _task_manager(sweep.tasks, sweep.include_path, metadata)
    unknown = [task for task in sweep.tasks if not manager.match_tasks([task])]
    if unknown:
        raise SweepError(f"unknown task(s) {unknown}: not among lm-eval's tasks, the kick tasks or --include_path "
                         f"{sweep.include_path}; check the names with `lm_eval ls tasks`")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt
