"""Read lm-eval result files (``--model kick`` or plain ``--model hf``) into :class:`Run` records.

Keys read from a results file (lm-eval 0.4.13 schema, as ``lm_eval --output_path`` writes):

* ``results[task]`` scores, ``configs[task].metric_list`` and ``higher_is_better[task]``
  (metric choice, :mod:`.metrics`), ``versions``, ``n-shot``, ``n-samples[task].effective``,
  ``group_subtasks`` (which entries are groups of which);
* ``config.model`` and ``config.model_args`` (a dict, or the older ``"k=v,..."`` string):
  ``pretrained`` names the model; ``config.limit``, ``config.model_dtype``,
  ``config.model_num_parameters``; ``date``,
  ``lm_eval_version``, ``transformers_version``, ``pretty_env_info`` (torch version);
* the prompt format of the whole run: ``chat_template`` (the template text, or null when not
  applied), ``chat_template_sha``, ``system_instruction``, ``fewshot_as_multiturn``; and
  ``kick_provenance`` (written by ``kick sweep``: per task its ``data``, ``examples`` and
  ``prompt``), compared between runs by :mod:`.comparable`;
* the per-example samples beside the file (:func:`.samples.find_sample_files`), and per task
  the leaf tasks and the aggregation of the chosen metric (``configs[leaf].metric_list``),
  which say how to re-compute the score from them;
* ``config.kick`` (written by ``--model kick``): ``recipe`` (``method`` plus generic keys:
  ``sparsity``/``pattern``/``scope`` for pruning, ``bits``/``group_size``/... for
  quantization), ``compression.sparsity.overall`` (measured), ``versions``, and
  ``storage`` when run with ``storage=true`` (:func:`compressors.storage.summarize_folder`):
  ``raw_bytes`` (bytes of the tensors as stored) and ``best.compressed_bytes`` /
  ``best.codec`` (smallest lossless size); if ``best`` is absent, the largest ratio in
  ``ratios[representation][codec]`` gives ``raw_bytes / ratio``.

A file without ``config.kick`` (a plain ``--model hf`` run) takes its recipe from ``--recipe-for``
when given, else from the ``kick_recipe.json`` (:data:`kick_core.provenance.RECIPE_FILE`) that
``--model kick`` writes into every checkpoint it builds or exports, found in the ``pretrained``
folder: the recipe, calibration, measured compression, versions and ``source.pretrained``, the
model whose dense run it is compared with. Without either it is a dense model.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compressors.recipe import ALIASES
from kick_core.provenance import RECIPE_FILE

from kick_models.report.metrics import MetricChoice, choose_metric, is_number, metric_value
from kick_models.report.samples import find_sample_files

# A run's recipe method that means "evaluated as is": "dense" and its aliases ("none").
DENSE_METHODS = ("dense", *(alias for alias, name in ALIASES.items() if name == "dense"))
PROMPT_KEYS = ("chat_template", "chat_template_sha", "system_instruction", "fewshot_as_multiturn")
BITS_OF_DTYPE = {"float32": 32, "float16": 16, "bfloat16": 16, "float64": 64, "float8": 8}


def recipe_key(recipe: dict[str, Any]) -> str:
    """Equal for the same recipe (a ``config.kick.recipe``, or the one ``kick storage`` records):
    every dense one is ``"dense"``."""
    if str(recipe.get("method", "dense")) in DENSE_METHODS:
        return "dense"
    return json.dumps(recipe, sort_keys=True, default=str)


@dataclass(frozen=True)
class TaskScore:
    task: str
    choice: MetricChoice
    value: float
    stderr: float | None
    version: str | None
    n_shot: int | None
    n_samples: int | None
    headline: bool  # not inside a group that reports its own aggregate
    leaves: tuple[str, ...] = ()  # the task itself, or a group's leaf tasks (whose samples it pools)
    aggregation: str | None = None  # lm-eval's aggregation of the metric on the leaves, where they agree


@dataclass
class Run:
    """One results file: which model, which recipe, what it scored."""

    path: Path
    model: str
    model_type: str  # lm-eval's --model (kick, hf, ...)
    recipe: dict[str, Any]
    scores: dict[str, TaskScore]
    date: float
    limit: float | None = None
    model_dtype: str | None = None
    num_parameters: int | None = None
    measured_sparsity: float | None = None
    storage: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    metric_errors: list[str] = field(default_factory=list)
    prompt: dict[str, Any] = field(default_factory=dict)  # PROMPT_KEYS present in the file
    provenance: dict[str, Any] = field(default_factory=dict)  # kick_provenance, per task
    sample_files: dict[str, Path] = field(default_factory=dict)  # per (sub)task

    @property
    def method(self) -> str:
        return str(self.recipe.get("method", "dense"))

    @property
    def is_dense(self) -> bool:
        return self.method in DENSE_METHODS

    @property
    def seed(self) -> int | None:
        """The calibration sampling seed (``None``: no calibration, or not recorded)."""
        return (self.calibration or {}).get("seed")

    @property
    def recipe_key(self) -> str:
        """Equal for runs of the same recipe (every dense run is ``"dense"``)."""
        return recipe_key(self.recipe)

    @property
    def axis(self) -> str:
        """``"dense"``, ``"bits"`` (the recipe sets a bit width) or ``"sparsity"``."""
        if self.is_dense:
            return "dense"
        return "bits" if self.recipe.get("bits") is not None else "sparsity"

    @property
    def sparsity(self) -> float:
        value = self.recipe.get("sparsity")
        return float(value) if is_number(value) else 0.0

    @property
    def bits(self) -> float | None:
        value = self.recipe.get("bits")
        if is_number(value):
            return float(value)
        return float(BITS_OF_DTYPE[self.dtype_name]) if self.is_dense and self.dtype_name in BITS_OF_DTYPE else None

    @property
    def dtype_name(self) -> str | None:
        return self.model_dtype.rsplit(".", 1)[-1] if self.model_dtype else None

    def size_bytes(self, which: str) -> float | None:
        """On-disk size: ``"raw"`` tensor bytes or ``"compressed"`` (best lossless codec)."""
        storage = self.storage or {}
        raw = storage.get("raw_bytes")
        if which == "raw":
            return float(raw) if is_number(raw) else None
        best = storage.get("best") or {}
        if is_number(best.get("compressed_bytes")):
            return float(best["compressed_bytes"])
        ratios = [r for codecs in (storage.get("ratios") or {}).values() if isinstance(codecs, dict)
                  for r in codecs.values() if is_number(r) and r > 0]
        return float(raw) / max(ratios) if is_number(raw) and ratios else None

    def size_codec(self) -> str | None:
        best = (self.storage or {}).get("best") or {}
        parts = [best.get("codec"), best.get("representation")]
        return " ".join(p for p in parts if p) or None


def find_result_files(paths: list[str | os.PathLike]) -> list[Path]:
    """Every ``*.json`` under the given files/folders (recursively; hidden folders skipped)."""
    found: list[Path] = []
    for item in paths:
        path = Path(item).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.json")
                            if not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path} is neither a results file nor a folder")
    return list(dict.fromkeys(found))


def read_run(
    path: Path,
    metrics: dict[str, tuple[str, str | None]] | None = None,
    recipes: dict[str, dict[str, Any]] | None = None,
) -> Run | None:
    """One results file as a :class:`Run`; ``None`` when the JSON is not lm-eval results.

    ``metrics``: ``--metric`` overrides per task. ``recipes``: ``--recipe-for`` labels, keyed
    by ``pretrained``; a label's ``base`` names the model whose dense run it is compared with.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # listed by the report as skipped
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict) or not isinstance(data.get("config"), dict):
        return None
    config = data["config"]
    model_args = _model_args(config.get("model_args"))
    pretrained = normalise_model(str(model_args.get("pretrained") or data.get("model_name") or config.get("model") or "unknown"))
    kick = config.get("kick") if isinstance(config.get("kick"), dict) else {}
    label = (recipes or {}).get(pretrained)
    model = pretrained
    if not kick and label is None:
        kick = _checkpoint_record(model_args.get("pretrained"))
        if kick:
            model = normalise_model(str(kick["source"]["pretrained"]))
    recipe = dict(kick.get("recipe") or {"method": "dense"})
    if label is not None and not kick:
        label = dict(label)
        model = normalise_model(str(label.pop("base", pretrained)))
        recipe = normalise_recipe(label)
    compression = kick.get("compression") if isinstance(kick.get("compression"), dict) else {}
    measured = (compression.get("sparsity") or {}).get("overall") if isinstance(compression.get("sparsity"), dict) else None
    run = Run(
        path=Path(path),
        model=model,
        model_type=str(config.get("model") or "unknown"),
        recipe=recipe,
        scores={},
        date=float(data["date"]) if is_number(data.get("date")) else Path(path).stat().st_mtime,
        limit=config.get("limit") if is_number(config.get("limit")) else None,
        model_dtype=config.get("model_dtype") if isinstance(config.get("model_dtype"), str) else None,
        num_parameters=config.get("model_num_parameters") if isinstance(config.get("model_num_parameters"), int) else None,
        measured_sparsity=measured if is_number(measured) else None,
        storage=kick.get("storage") if isinstance(kick.get("storage"), dict) else None,
        versions=_versions(data, kick),
        calibration=kick.get("calibration") if isinstance(kick.get("calibration"), dict) else None,
        prompt={key: data[key] for key in PROMPT_KEYS if key in data},
        provenance=data["kick_provenance"] if isinstance(data.get("kick_provenance"), dict) else {},
        sample_files=find_sample_files(Path(path)),
    )
    _read_scores(run, data, metrics or {})
    return run


def _read_scores(run: Run, data: dict[str, Any], overrides: dict[str, tuple[str, str | None]]) -> None:
    from kick_models.report.metrics import MetricError

    results = data["results"]
    configs = data.get("configs") or {}
    hib = data.get("higher_is_better") or {}
    groups = data.get("group_subtasks") or {}
    parents = {child: group for group, children in groups.items() for child in children}
    versions = data.get("versions") or {}
    n_shot = data.get("n-shot") or {}
    n_samples = data.get("n-samples") or {}
    for task, entry in results.items():
        if not isinstance(entry, dict):
            continue
        try:
            choice = choose_metric(task, entry, configs.get(task), hib.get(task) or _group_direction(task, data),
                                   overrides.get(task))
        except MetricError as err:
            run.metric_errors.append(f"{run.path}: {err}")
            continue
        if choice is None:
            continue
        key = f"{choice.metric},{choice.filter}"
        stderr = entry.get(f"{choice.metric}_stderr,{choice.filter}")
        shot = n_shot.get(task)
        leaves = tuple(_leaves(task, groups))
        effective = _effective(task, n_samples) if task not in groups else _group_size(leaves, n_samples)
        run.scores[task] = TaskScore(
            task=task,
            choice=choice,
            value=metric_value(entry[key]),
            stderr=float(stderr) if is_number(stderr) else None,
            version=None if versions.get(task) is None else str(versions[task]),
            n_shot=shot if isinstance(shot, int) else None,
            n_samples=effective,
            headline=not _has_scored_ancestor(task, parents, results),
            leaves=leaves,
            aggregation=_aggregation(choice.metric, leaves, configs),
        )


def _effective(task: str, n_samples: dict[str, Any]) -> int | None:
    entry = n_samples.get(task)
    effective = entry.get("effective") if isinstance(entry, dict) else None
    return effective if isinstance(effective, int) and not isinstance(effective, bool) else None


def _group_size(leaves: tuple[str, ...], n_samples: dict[str, Any]) -> int | None:
    """A group's examples: its leaves' (lm-eval writes no ``n-samples`` for a group)."""
    sizes = [_effective(leaf, n_samples) for leaf in leaves]
    return sum(sizes) if sizes and None not in sizes else None


def _leaves(task: str, groups: dict[str, list[str]], seen: frozenset = frozenset()) -> list[str]:
    """The tasks under ``task`` that are no groups (``[task]`` for a task)."""
    if task not in groups or task in seen:
        return [task]
    return [leaf for child in groups[task] for leaf in _leaves(child, groups, seen | {task})]


def _aggregation(metric: str, leaves: tuple[str, ...], configs: dict[str, Any]) -> str | None:
    """The leaves' aggregation of ``metric`` (their ``metric_list``); ``None`` if not one."""
    found = set()
    for leaf in leaves:
        entries = (configs.get(leaf) or {}).get("metric_list") or []
        found |= {str(e.get("aggregation")) for e in entries if isinstance(e, dict) and e.get("metric") == metric}
    return found.pop() if len(found) == 1 else None


def _group_direction(task: str, data: dict[str, Any]) -> dict[str, bool] | None:
    """A group's ``higher_is_better`` (lm-eval writes none for a group): its subtasks', where
    they agree on a metric; ``None`` when ``task`` is no group or they disagree on every one."""
    groups = data.get("group_subtasks") or {}
    hib = data.get("higher_is_better") or {}
    directions: dict[str, set] = {}
    for leaf in (_leaves(task, groups) if task in groups else []):
        for metric, value in (hib.get(leaf) or {}).items():
            directions.setdefault(metric, set()).add(bool(value))
    agreed = {metric: values.pop() for metric, values in directions.items() if len(values) == 1}
    return agreed or None


def _has_scored_ancestor(task: str, parents: dict[str, str], results: dict[str, Any]) -> bool:
    seen = set()
    while task in parents and task not in seen:
        seen.add(task)
        task = parents[task]
        entry = results.get(task)
        if isinstance(entry, dict) and any("," in k and is_number(v) for k, v in entry.items()):
            return True
    return False


def _checkpoint_record(pretrained: Any) -> dict[str, Any]:
    """``config.kick``'s keys from the recipe record in a checkpoint folder ``--model kick``
    built or exported; ``{}`` for a folder without one (or a hub id)."""
    if not isinstance(pretrained, str) or not pretrained:
        return {}
    path = Path(pretrained).expanduser() / RECIPE_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or not isinstance(record.get("recipe"), dict):
        return {}
    source = record.get("source") if isinstance(record.get("source"), dict) else {}
    return {
        "recipe": record["recipe"],
        "source": {"pretrained": source.get("pretrained") or pretrained},
        "calibration": record.get("calibration"),
        "compression": record.get("report"),
        "versions": record.get("versions"),
    }


def _model_args(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        from lm_eval.utils import simple_parse_args_string

        return simple_parse_args_string(value)
    return {}


def normalise_model(name: str) -> str:
    """One spelling per model, the key that joins a model's runs: local paths without ``./``,
    ``~`` or a trailing ``/`` (the full path: two folders of one name stay two models; the
    short display name is :func:`kick_core.names.model_name`)."""
    if name.startswith(("/", "./", "../", "~")):
        return os.path.normpath(os.path.expanduser(name))
    return name.rstrip("/")


def normalise_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe as ``--model kick`` records it (defaults filled in), when it is one kick knows.

    So that a checkpoint labelled with ``--recipe-for`` and the same recipe run through
    ``--model kick`` fall on one point; an unknown method is kept as given.
    """
    from compressors.recipe import Recipe

    try:
        return Recipe.from_args(**recipe).as_dict()
    except (TypeError, ValueError):
        return dict(recipe)


def _versions(data: dict[str, Any], kick: dict[str, Any]) -> dict[str, str]:
    versions = {}
    if data.get("lm_eval_version"):
        versions["lm-eval"] = str(data["lm_eval_version"])
    if data.get("transformers_version"):
        versions["transformers"] = str(data["transformers_version"])
    torch = re.search(r"PyTorch version: (\S+)", str(data.get("pretty_env_info") or ""))
    if torch:
        versions["torch"] = torch.group(1)
    for name, value in (kick.get("versions") or {}).items():
        if value and value != "absent":
            versions[str(name)] = str(value)
    return versions


def load_runs(
    paths: list[str | os.PathLike],
    metrics: dict[str, tuple[str, str | None]] | None = None,
    recipes: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[Run], list[Path]]:
    """All runs under ``paths`` and the JSON files skipped as not being lm-eval results."""
    runs, skipped = [], []
    for path in find_result_files(paths):
        run = read_run(path, metrics, recipes)
        if run is None:
            skipped.append(path)
        else:
            runs.append(run)
    return runs, skipped
