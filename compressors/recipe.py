"""What to do to a model: the compression recipe, validated and normalised.

A :class:`Recipe` names a method, how much to prune, the mask pattern, the comparison group
(``scope``) and the modules kept dense. It is frozen and normalised on construction, so two
recipes that mean the same thing are equal and serialise to the same :meth:`Recipe.as_dict`
(which the checkpoint cache and result metadata use as their key)::

    Recipe("wanda", pattern="2:4") == Recipe("wanda", sparsity=0.5, pattern="2:4", scope=None)

Conventions, made explicit because the literature varies:

* ``sparsity`` is the fraction of weights set to zero in each pruned ``Linear`` (0 <= s < 1).
* ``pattern="N:M"`` zeroes N of every M consecutive weights along the input dimension of
  each output row (the convention of the SparseGPT and Wanda reference code, whose
  ``prune_n`` counts pruned weights). So ``sparsity`` must be N/M; left at 0 it is set to
  N/M. For N = M/2 (1:2, 2:4, 4:8) this is also NVIDIA's "at most N non-zeros in M".
* ``scope`` is the group within which scores are compared for unstructured pruning; each
  method allows the groups its paper defines (see :data:`METHODS`); ``None`` picks the
  method's default. N:M patterns compare within each group of M weights, so take no scope.
* ``ignore`` holds module-name patterns kept dense: a plain pattern matches a module whose
  qualified name equals it or ends with ``.<pattern>`` (``"lm_head"``, ``"mlp.down_proj"``);
  ``"re:<regex>"`` matches with :func:`re.match` as llmcompressor does. Only ``torch.nn.Linear``
  modules are ever pruned: embeddings and norms stay dense whatever ``ignore`` says.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["ALIASES", "METHODS", "MethodSpec", "Recipe", "parse_pattern"]


@dataclass(frozen=True)
class MethodSpec:
    """What a method accepts and which module runs it.

    ``scopes`` are the unstructured comparison groups the method defines (the first is the
    default); ``engine`` is the module whose ``prune(model, linears, recipe, calibration,
    device=..., progress=...)`` applies it (``None``: nothing to do).
    """

    needs_calibration: bool
    scopes: tuple[str, ...]
    engine: str | None
    summary: str

    @property
    def default_scope(self) -> str | None:
        return self.scopes[0] if self.scopes else None


# The method registry. Quantization methods join here later with their own specs.
METHODS: dict[str, MethodSpec] = {
    "dense": MethodSpec(False, (), None, "no compression (sparsity 0): the baseline"),
    "magnitude": MethodSpec(
        False,
        ("layer", "row", "global"),
        "compressors.pruning.magnitude",
        "|W| (Han et al. 2015); layer: one threshold per matrix as the LLM-KICK reference, "
        "row: per output row, global: one threshold over all pruned matrices",
    ),
    "wanda": MethodSpec(
        True,
        ("row",),
        "compressors.pruning.wanda",
        "|W_ij|*||X_j||_2 compared within each output row (Sun et al. 2024)",
    ),
    "sparsegpt": MethodSpec(
        True,
        ("block",),
        "compressors.pruning.sparsegpt",
        "OBS saliency w^2/[H^-1]_jj^2 compared within each block of 128 input columns, "
        "with the OBS weight update (Frantar & Alistarh 2023)",
    ),
}

# Spellings accepted for a method (lm-eval's argument parser turns "none" into None, which
# kick_lm maps back to "none").
ALIASES = {"none": "dense"}

_PATTERN = re.compile(r"^(\d+):(\d+)$")


def parse_pattern(pattern: str) -> tuple[int, int] | None:
    """``None`` for ``"unstructured"``, ``(N, M)`` for ``"N:M"``; ValueError otherwise."""
    if pattern == "unstructured":
        return None
    found = _PATTERN.match(pattern) if isinstance(pattern, str) else None
    if not found:
        raise ValueError(
            f"pattern={pattern!r} is not allowed: use 'unstructured' or 'N:M' with integers "
            "0 < N < M (e.g. '1:2', '2:4', '4:8')"
        )
    n, m = int(found.group(1)), int(found.group(2))
    if not 0 < n < m:
        raise ValueError(
            f"pattern={pattern!r} is not allowed: N:M needs 0 < N < M "
            "(N weights zeroed in every M consecutive inputs, e.g. '2:4')"
        )
    return n, m


@dataclass(frozen=True)
class Recipe:
    """A compression recipe. Invalid values raise ValueError on construction."""

    method: str = "dense"
    sparsity: float = 0.0
    pattern: str = "unstructured"
    scope: str | None = None
    ignore: tuple[str, ...] = ("lm_head",)

    def __post_init__(self) -> None:
        method = ALIASES.get(self.method, self.method) if isinstance(self.method, str) else self.method
        if not isinstance(method, str) or method not in METHODS:
            raise ValueError(
                f"method={self.method!r} is unknown: allowed {sorted(METHODS)} "
                f"(aliases: {', '.join(f'{a}={b}' for a, b in ALIASES.items())})"
            )
        object.__setattr__(self, "method", method)
        spec = METHODS[method]

        if isinstance(self.sparsity, bool) or not isinstance(self.sparsity, (int, float)):
            raise ValueError(f"sparsity={self.sparsity!r} is not a number: give a float in [0, 1)")
        sparsity = float(self.sparsity)
        if not (math.isfinite(sparsity) and 0.0 <= sparsity < 1.0):
            raise ValueError(f"sparsity={self.sparsity!r} is out of range: allowed 0 <= sparsity < 1")

        pattern = self.pattern.strip() if isinstance(self.pattern, str) else self.pattern
        nm = parse_pattern(pattern)
        if self.method == "dense":
            if sparsity != 0.0 or nm is not None or self.scope is not None:
                raise ValueError(
                    "method='dense' prunes nothing: leave sparsity=0, pattern='unstructured' and "
                    f"scope unset (got sparsity={self.sparsity!r}, pattern={self.pattern!r}, "
                    f"scope={self.scope!r})"
                )
        elif nm is not None:
            n, m = nm
            if sparsity == 0.0:
                sparsity = n / m
            elif not math.isclose(sparsity, n / m, abs_tol=1e-9):
                raise ValueError(
                    f"pattern={pattern!r} zeroes {n} of every {m} weights, i.e. sparsity "
                    f"{n / m:g}; got sparsity={self.sparsity!r} (leave it at 0 or give {n / m:g})"
                )
            if self.scope is not None:
                raise ValueError(
                    f"scope={self.scope!r} does not apply to pattern={pattern!r}: N:M compares "
                    "weights within each group of M consecutive inputs; leave scope unset"
                )
        else:
            if sparsity == 0.0:
                raise ValueError(
                    f"method={self.method!r} needs a sparsity in (0, 1) for unstructured "
                    "pruning (e.g. sparsity=0.5), or an N:M pattern"
                )
            scope = spec.default_scope if self.scope is None else self.scope
            if scope not in spec.scopes:
                raise ValueError(
                    f"scope={self.scope!r} is not allowed for method={self.method!r}: "
                    f"allowed {list(spec.scopes)} ({spec.summary})"
                )
            object.__setattr__(self, "scope", scope)  # frozen: normalise in place

        ignore = (self.ignore,) if isinstance(self.ignore, str) else tuple(self.ignore)
        for item in ignore:
            if not isinstance(item, str) or not item:
                raise ValueError(f"ignore entry {item!r} is not a module-name pattern (non-empty str)")
            if item.startswith("re:"):
                try:
                    re.compile(item[3:])
                except re.error as err:
                    raise ValueError(f"ignore entry {item!r} is not a valid regex: {err}") from None
        object.__setattr__(self, "sparsity", sparsity)
        object.__setattr__(self, "pattern", pattern)
        object.__setattr__(self, "ignore", ignore)

    def validate(self) -> Recipe:
        """Return ``self``: a Recipe is validated and normalised when it is built."""
        return self

    @property
    def nm(self) -> tuple[int, int] | None:
        """``(N, M)`` for an N:M pattern, else ``None``."""
        return parse_pattern(self.pattern)

    def needs_calibration(self) -> bool:
        return METHODS[self.method].needs_calibration

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable and stable: equal recipes give equal dicts."""
        return {
            "method": self.method,
            "sparsity": self.sparsity,
            "pattern": self.pattern,
            "scope": self.scope,
            "ignore": list(self.ignore),
        }

    @classmethod
    def from_args(cls, **kwargs: Any) -> Recipe:
        """Build from lm-eval ``--model_args`` values (numbers already cast by lm-eval).

        ``sparsity`` may also be a numeric string; ``ignore`` may be a ``;``-separated string
        (lm-eval splits arguments on commas), with ``""`` or ``"none"`` meaning no pattern.
        """
        allowed = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise ValueError(f"unknown recipe argument(s) {unknown}: allowed {sorted(allowed)}")
        if isinstance(kwargs.get("sparsity"), str):
            try:
                kwargs["sparsity"] = float(kwargs["sparsity"])
            except ValueError:
                raise ValueError(
                    f"sparsity={kwargs['sparsity']!r} is not a number: give a float in [0, 1)"
                ) from None
        if kwargs.get("scope") in ("", "none", "None"):
            kwargs["scope"] = None
        if isinstance(kwargs.get("ignore"), str):
            text = kwargs["ignore"].strip()
            parts = [] if text.lower() in ("", "none") else text.split(";")
            kwargs["ignore"] = tuple(part.strip() for part in parts if part.strip())
        return cls(**kwargs)
