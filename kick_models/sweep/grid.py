"""The grid: methods x recipe axes, each point validated and named by its shortest recipe,
then one point per calibration seed for the methods that calibrate."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from compressors.options import CALIBRATION_OPTIONS
from compressors.recipe import ALIASES, Recipe, parse_pattern
from kick_core.names import slug

DEFAULT_SEED = CALIBRATION_OPTIONS["seed"].default


class SweepError(ValueError):
    """A bad grid or a conflict with results already on disk; the message says what to change."""


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
        return "_".join([slug(self.method)] + [f"{k}-{slug(name_text(v))}" for k, v in self.args[1:]])

    def model_args(self) -> dict[str, Any]:
        return {k: ";".join(v) if isinstance(v, (list, tuple)) else v for k, v in self.args}

    def needs_calibration(self) -> bool:
        return Recipe.from_args(**dict(self.args)).needs_calibration()


@dataclass(frozen=True)
class GridPoint:
    """One model to evaluate: a recipe and, for a method that calibrates, its calibration seed
    (``None`` otherwise). ``name`` is its folder; ``named_seed`` says whether the seed is part
    of it (several seeds swept, or one other than the default)."""

    recipe: GridRecipe
    seed: int | None = None
    named_seed: bool = False

    @property
    def name(self) -> str:
        return f"{self.recipe.slug}_seed-{self.seed}" if self.named_seed else self.recipe.slug


def expand_points(recipes: list[GridRecipe], seeds: list[int]) -> list[GridPoint]:
    """One point per recipe, or per recipe and seed where the recipe calibrates: dense and
    data-free methods do not depend on the seed, so they get one point, not copies."""
    if not seeds:
        raise SweepError("--seed needs at least one seed")
    if len(set(seeds)) != len(seeds):
        raise SweepError(f"seeds {seeds} name a seed twice")
    named = len(seeds) > 1 or seeds[0] != DEFAULT_SEED
    points = []
    for recipe in recipes:
        if recipe.needs_calibration():
            points += [GridPoint(recipe, seed, named) for seed in seeds]
        else:
            points.append(GridPoint(recipe))
    return points


def expand_recipes(methods: list[str] | dict[str, dict[str, list]], axes: dict[str, list]) -> list[GridRecipe]:
    """The grid's recipes: dense first, then each method x the product of its axes.

    ``methods`` is a list (every non-dense method gets ``axes``) or a mapping from method to
    its own axes. Points equal after normalisation are kept once; an invalid one raises
    :class:`SweepError` naming it.
    """
    if isinstance(methods, dict):
        per_method = {m: dict(a or {}) for m, a in methods.items()}
        for method, method_axes in per_method.items():
            if is_dense(method) and method_axes:
                raise SweepError(f"method {method!r} is the uncompressed baseline and takes no axes (got {method_axes})")
    else:
        per_method = {m: ({} if is_dense(m) else dict(axes)) for m in methods}
    per_method = {"dense": {}, **{m: a for m, a in per_method.items() if not is_dense(m)}}
    recipes: list[GridRecipe] = []
    for method, method_axes in per_method.items():
        found: list[GridRecipe] = []
        for key, values in method_axes.items():
            if not isinstance(values, (list, tuple)) or not values:
                raise SweepError(f"method {method!r}: axis {key!r} needs a non-empty list of values, got {values!r}")
        keys = list(method_axes)
        for combo in itertools.product(*(method_axes[k] for k in keys)):
            point = {"method": method, **dict(zip(keys, combo))}
            if is_nm(point.get("pattern")):
                point.pop("sparsity", None)  # N:M fixes the sparsity at N/M
            recipe = shortest_recipe(point)
            if recipe not in found:
                found.append(recipe)
        recipes += sorted(found, key=_order)
    return recipes


def _order(point: GridRecipe) -> tuple:
    """Unstructured before N:M, then by value, numbers numerically (bits 4 before 16)."""
    values = tuple((k, (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))) for k, v in point.args[1:])
    return (is_nm(dict(point.args).get("pattern")), values)


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
    try:
        return Recipe.from_args(**point).as_dict()
    except (TypeError, ValueError) as err:
        described = ", ".join(f"{k}={v}" for k, v in point.items())
        raise SweepError(f"grid point ({described}) is not a valid recipe: {err}") from None


def is_dense(method: str) -> bool:
    return ALIASES.get(method, method) == "dense"


def is_nm(pattern: Any) -> bool:
    if not isinstance(pattern, str):
        return False
    try:
        return parse_pattern(pattern) is not None
    except ValueError:
        return False  # the recipe check reports it


def name_text(value: Any) -> str:
    """A recipe value as it appears in a folder name: ``0.5``, ``2:4``, ``lm_head+mlp.down_proj``."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "+".join(map(str, value))
    return str(value)
