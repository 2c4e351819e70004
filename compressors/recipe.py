"""What to do to a model: the compression recipe, validated and normalised.

A :class:`Recipe` names a method, how much to prune, the mask pattern, the comparison group
(``scope``), the weight bits, group size and grid of a quantizer, and the modules kept dense.
It is frozen and normalised on construction, so two recipes that mean the same thing are
equal and serialise to the same :meth:`Recipe.as_dict` (which the checkpoint cache and result
metadata use as their key)::

    Recipe("wanda", pattern="2:4") == Recipe("wanda", sparsity=0.5, pattern="2:4", scope=None)
    Recipe("gptq", bits=4) == Recipe("gptq", bits=4, group_size=128, symmetric=True, act_order=True)

Methods are a pruning method (``magnitude``, ``wanda``, ``sparsegpt``), a quantization
method (``rtn``, ``gptq``, ``awq``, ``int8``, ``nf4``), or ``<pruning>+<quantization>``
(e.g. ``sparsegpt+gptq``): prune with ``sparsity``/``pattern``/``scope``, then quantize the
pruned model with ``bits``/``group_size``/``symmetric``/``act_order``, keeping its zeros.

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
  The same selection is quantized.
* ``bits`` is the width of the integer weight codes (activations stay 16/32-bit: W{bits}A16).
* ``group_size`` is the number of consecutive input weights of one output row that share a
  scale (and zero point); ``-1`` means one group per output row (per channel), ``0`` one
  scale (and zero point) for the whole weight matrix (per tensor; ``rtn`` and ``gptq``).
* ``symmetric=True`` quantizes to ``s * q`` with ``q`` in ``[-2^(b-1), 2^(b-1) - 1]``;
  ``False`` to ``s * (q - z)`` with ``q`` in ``[0, 2^b - 1]`` and an integer zero point ``z``.
* ``act_order`` (GPTQ) quantizes the columns in order of decreasing Hessian diagonal
  (activation magnitude) while keeping the groups of consecutive columns ("static"
  activation ordering: same checkpoint format, no runtime cost).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from compressors.options import RECIPE_OPTIONS

__all__ = ["ALIASES", "METHODS", "STRATEGIES", "MethodSpec", "QuantSpec", "Recipe", "parse_pattern"]

#: The special group sizes and the compressed-tensors strategies they name (a positive group
#: size is the "group" strategy).
STRATEGIES = {-1: "channel", 0: "tensor"}


@dataclass(frozen=True)
class QuantSpec:
    """What a quantization method accepts.

    ``bits``: allowed weight bit widths (one value: the default; several: ``bits`` must be
    given). ``group_size``: the default group size, ``None`` where the method has no groups
    (LLM.int8 scales each row). ``fixed_group_size``: the library fixes it (NF4 blocks of 64).
    ``symmetric`` / ``act_order``: defaults, ``None`` where the option does not apply.
    ``per_tensor``: accepts ``group_size=0`` (one scale for the whole weight matrix).
    ``after_pruning``: may quantize a pruned model (``<pruning>+<method>``), keeping its zeros.
    ``on_load``: quantizes while the weights are loaded (bitsandbytes), not afterwards.
    """

    bits: tuple[int, ...]
    group_size: int | None
    symmetric: bool | None
    act_order: bool | None = None
    fixed_group_size: bool = False
    per_tensor: bool = False
    after_pruning: bool = True
    on_load: bool = False


@dataclass(frozen=True)
class MethodSpec:
    """What a method accepts.

    ``prunes``: a pruning method (it may come first in ``<pruning>+<quantization>``);
    ``quant`` is set for quantization methods; neither for ``dense``. ``scopes`` are the
    unstructured comparison groups a pruning method defines (the first is the default). The
    module that applies a method is its entry in :data:`compressors.engines.ENGINES` (kept
    apart, so that this module imports neither torch nor llmcompressor).
    """

    needs_calibration: bool
    scopes: tuple[str, ...]
    summary: str
    quant: QuantSpec | None = None
    prunes: bool = False

    @property
    def default_scope(self) -> str | None:
        return self.scopes[0] if self.scopes else None


INT_BITS = (2, 3, 4, 8)

# The method registry: pruning, then quantization (combinations are "<pruning>+<quantization>").
METHODS: dict[str, MethodSpec] = {
    "dense": MethodSpec(False, (), "no compression (sparsity 0): the baseline"),
    "magnitude": MethodSpec(
        False,
        ("layer", "row", "global"),
        "|W| (Han et al. 2015); layer: one threshold per matrix as the LLM-KICK reference, "
        "row: per output row, global: one threshold over all pruned matrices",
        prunes=True,
    ),
    "wanda": MethodSpec(
        True,
        ("row",),
        "|W_ij|*||X_j||_2 compared within each output row (Sun et al. 2024)",
        prunes=True,
    ),
    "sparsegpt": MethodSpec(
        True,
        ("block",),
        "OBS saliency w^2/[H^-1]_jj^2 compared within each block of 128 input columns, "
        "with the OBS weight update (Frantar & Alistarh 2023)",
        prunes=True,
    ),
    "rtn": MethodSpec(
        False, (),
        "round-to-nearest onto a min-max integer grid per group",
        QuantSpec(bits=INT_BITS, group_size=128, symmetric=True, per_tensor=True),
    ),
    "gptq": MethodSpec(
        True, (),
        "second-order column-by-column rounding with OBS error feedback (Frantar et al. 2023)",
        QuantSpec(bits=INT_BITS, group_size=128, symmetric=True, act_order=True, per_tensor=True),
    ),
    "awq": MethodSpec(
        True, (),
        "activation-aware per-channel scaling, then round-to-nearest (Lin et al. 2024); CUDA only",
        QuantSpec(bits=(4,), group_size=128, symmetric=False),
    ),
    "int8": MethodSpec(
        False, (),
        "LLM.int8(): absmax int8 per row, outlier features in 16-bit (Dettmers et al. 2022)",
        QuantSpec(bits=(8,), group_size=None, symmetric=None, after_pruning=False, on_load=True),
    ),
    "nf4": MethodSpec(
        False, (),
        "4-bit NormalFloat, blocks of 64, double-quantized scales (QLoRA, Dettmers et al. 2023)",
        QuantSpec(bits=(4,), group_size=64, symmetric=None, fixed_group_size=True, after_pruning=False, on_load=True),
    ),
}

# Spellings accepted for a method (lm-eval's argument parser turns "none" into None, which
# kick_lm maps back to "none").
ALIASES = {"none": "dense"}

QUANT_FIELDS = tuple(name for name, option in RECIPE_OPTIONS.items() if option.quantization)

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


def _split_method(method: Any) -> tuple[str, str | None, str | None]:
    """``(method, pruning part, quantization part)`` of a method name, or ValueError."""
    name = ALIASES.get(method, method) if isinstance(method, str) else method
    prune_names = [m for m, spec in METHODS.items() if spec.prunes]
    quant_names = [m for m, spec in METHODS.items() if spec.quant is not None]
    combinable = [m for m in quant_names if METHODS[m].quant.after_pruning]
    if isinstance(name, str) and name.count("+") == 1:
        first, second = (part.strip() for part in name.split("+"))
        if first in prune_names and second in combinable:
            return f"{first}+{second}", first, second
        raise ValueError(
            f"method={method!r} is not an allowed combination: prune with one of {prune_names}, "
            f"then quantize with one of {combinable} (e.g. 'sparsegpt+gptq')"
        )
    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(
            f"method={method!r} is unknown: allowed {sorted(METHODS)} or '<pruning>+<quantization>' "
            f"such as 'sparsegpt+gptq' (aliases: {', '.join(f'{a}={b}' for a, b in ALIASES.items())})"
        )
    if name in quant_names:
        return name, None, name
    return name, (name if name in prune_names else None), None


@dataclass(frozen=True)
class Recipe:
    """A compression recipe. Invalid values raise ValueError on construction."""

    # One field per key of compressors.options.RECIPE_OPTIONS, in its order, with its default.
    method: str = RECIPE_OPTIONS["method"].default
    sparsity: float = RECIPE_OPTIONS["sparsity"].default
    pattern: str = RECIPE_OPTIONS["pattern"].default
    scope: str | None = RECIPE_OPTIONS["scope"].default
    ignore: tuple[str, ...] = RECIPE_OPTIONS["ignore"].default
    bits: int | None = RECIPE_OPTIONS["bits"].default
    group_size: int | None = RECIPE_OPTIONS["group_size"].default
    symmetric: bool | None = RECIPE_OPTIONS["symmetric"].default
    act_order: bool | None = RECIPE_OPTIONS["act_order"].default

    def __post_init__(self) -> None:
        method, prune, quant = _split_method(self.method)
        object.__setattr__(self, "method", method)
        self._check_pruning(prune)
        self._check_quantization(quant)
        ignore = (self.ignore,) if isinstance(self.ignore, str) else tuple(self.ignore)
        for item in ignore:
            if not isinstance(item, str) or not item:
                raise ValueError(f"ignore entry {item!r} is not a module-name pattern (non-empty str)")
            if item.startswith("re:"):
                try:
                    re.compile(item[3:])
                except re.error as err:
                    raise ValueError(f"ignore entry {item!r} is not a valid regex: {err}") from None
        object.__setattr__(self, "ignore", ignore)

    def _check_pruning(self, prune: str | None) -> None:
        if isinstance(self.sparsity, bool) or not isinstance(self.sparsity, (int, float)):
            raise ValueError(f"sparsity={self.sparsity!r} is not a number: give a float in [0, 1)")
        sparsity = float(self.sparsity)
        if not (math.isfinite(sparsity) and 0.0 <= sparsity < 1.0):
            raise ValueError(f"sparsity={self.sparsity!r} is out of range: allowed 0 <= sparsity < 1")
        pattern = self.pattern.strip() if isinstance(self.pattern, str) else self.pattern
        nm = parse_pattern(pattern)
        if prune is None:
            if sparsity != 0.0 or nm is not None or self.scope is not None:
                what = "prunes nothing" if self.method == "dense" else "quantizes only"
                hint = "" if self.method == "dense" else f" (to prune first: method='sparsegpt+{self.method}')"
                raise ValueError(
                    f"method={self.method!r} {what}: leave sparsity=0, pattern='unstructured' and "
                    f"scope unset (got sparsity={self.sparsity!r}, pattern={self.pattern!r}, "
                    f"scope={self.scope!r}){hint}"
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
            spec = METHODS[prune]
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
        object.__setattr__(self, "sparsity", sparsity)
        object.__setattr__(self, "pattern", pattern)

    def _check_quantization(self, quant: str | None) -> None:
        if quant is None:
            given = [f"{name}={getattr(self, name)!r}" for name in QUANT_FIELDS if getattr(self, name) is not None]
            if given:
                hint = f"; to quantize after pruning use e.g. method='{self.method}+gptq'" if self.method != "dense" else ""
                raise ValueError(
                    f"{', '.join(given)} does not apply to method={self.method!r}, which does not "
                    f"quantize: quantization methods are {[m for m, s in METHODS.items() if s.quant]}{hint}"
                )
            return
        spec = METHODS[quant].quant
        bits = self.bits
        if bits is None and len(spec.bits) == 1:
            bits = spec.bits[0]
        allowed_bits = ", ".join(map(str, spec.bits))
        if bits is None:
            raise ValueError(f"method={self.method!r} needs bits: allowed {allowed_bits}")
        if isinstance(bits, bool) or not isinstance(bits, int) or bits not in spec.bits:
            raise ValueError(f"bits={self.bits!r} is not allowed for method={self.method!r}: allowed {allowed_bits}")
        object.__setattr__(self, "bits", bits)
        object.__setattr__(self, "group_size", self._group_size(quant, spec))
        for name in ("symmetric", "act_order"):
            value, default = getattr(self, name), getattr(spec, name)
            if default is None and value is not None:
                raise ValueError(f"{name}={value!r} does not apply to method={self.method!r}: leave it unset")
            if value is not None and not isinstance(value, bool):
                raise ValueError(f"{name}={value!r} is not allowed: give true or false")
            object.__setattr__(self, name, default if value is None else value)

    def _group_size(self, quant: str, spec: QuantSpec) -> int | None:
        value = self.group_size
        if spec.group_size is None:
            if value is not None:
                raise ValueError(
                    f"group_size={value!r} does not apply to method={self.method!r} "
                    f"({METHODS[quant].summary}): leave it unset"
                )
            return None
        if value is None:
            return spec.group_size
        if spec.fixed_group_size and value != spec.group_size:
            raise ValueError(
                f"group_size={value!r} is not allowed for method={self.method!r}: its library fixes "
                f"the group (block) size at {spec.group_size}"
            )
        if isinstance(value, bool) or not isinstance(value, int) or not (value in (-1, 0) or value >= 1):
            raise ValueError(
                f"group_size={value!r} is not allowed: give a positive number of input weights per "
                "scale (e.g. 32, 64, 128), -1 for one scale per output channel or 0 for one scale "
                "per weight matrix (per tensor)"
            )
        if value == 0 and not spec.per_tensor:
            allowed = [m for m, s in METHODS.items() if s.quant and s.quant.per_tensor]
            raise ValueError(
                f"group_size=0 (per tensor) is not allowed for method={self.method!r}: "
                f"per-tensor scales are supported by {allowed}; give -1 or a positive group size"
            )
        return value

    @property
    def nm(self) -> tuple[int, int] | None:
        """``(N, M)`` for an N:M pattern, else ``None``."""
        return parse_pattern(self.pattern)

    @property
    def prune_method(self) -> str | None:
        """The pruning method (``"sparsegpt"`` of ``"sparsegpt+gptq"``), if any."""
        return _split_method(self.method)[1]

    @property
    def quant_method(self) -> str | None:
        """The quantization method (``"gptq"`` of ``"sparsegpt+gptq"``), if any."""
        return _split_method(self.method)[2]

    @property
    def on_load(self) -> bool:
        """Quantized while the weights are loaded (bitsandbytes ``int8`` / ``nf4``)."""
        return bool(self.quant_method and METHODS[self.quant_method].quant.on_load)

    def needs_calibration(self) -> bool:
        return any(METHODS[part].needs_calibration for part in (self.prune_method, self.quant_method) if part)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable and stable: equal recipes give equal dicts. Quantization keys
        appear only for methods that quantize (and only those that apply to the method)."""
        out: dict[str, Any] = {
            "method": self.method,
            "sparsity": self.sparsity,
            "pattern": self.pattern,
            "scope": self.scope,
            "ignore": list(self.ignore),
        }
        out.update({name: getattr(self, name) for name in QUANT_FIELDS if getattr(self, name) is not None})
        return out

    @classmethod
    def from_args(cls, **kwargs: Any) -> Recipe:
        """Build from lm-eval ``--model_args`` values (numbers already cast by lm-eval) or text.

        Each value is parsed by its :data:`~compressors.options.RECIPE_OPTIONS` entry: numbers
        may be numeric strings, switches ``true``/``false``, ``ignore`` a ``;``-separated string
        (lm-eval splits arguments on commas) with ``""`` or ``"none"`` meaning no pattern, and
        ``scope=none`` the method's own scope.
        """
        unknown = sorted(set(kwargs) - set(RECIPE_OPTIONS))
        if unknown:
            raise ValueError(f"unknown recipe argument(s) {unknown}: allowed {sorted(RECIPE_OPTIONS)}")
        return cls(**{name: RECIPE_OPTIONS[name].parse(value) for name, value in kwargs.items()})
