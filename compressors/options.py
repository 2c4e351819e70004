"""The keys of a compression recipe and of its calibration, declared once.

Each :class:`Option` holds a key's name, type, one-line help (its meaning and the values
allowed), default and bounds. Everything that names these keys derives from here:
:meth:`compressors.recipe.Recipe.from_args` and :meth:`compressors.calibration.
CalibrationConfig.from_args` (parsing and defaults), the ``--model_args`` that ``--model kick``
accepts (``kick_models.model_args``), ``kick sweep``'s axes and calibration options, the
``kick`` command's help and the README's ``--model kick`` arguments table (a test compares it
with :data:`RECIPE_OPTIONS` and :data:`CALIBRATION_OPTIONS`).

Which values a key allows beyond its type (methods, scopes, bit widths per method) is checked
by :class:`~compressors.recipe.Recipe` and :class:`~compressors.calibration.CalibrationConfig`;
the help text names them. Light on purpose (no torch): the CLI and the sweep's parent process
read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kick_core.values import cast, parse_bool

__all__ = [
    "CALIBRATION_OPTIONS", "CALIBRATION_SOURCES", "PRESETS", "PRESET_OPTIONS", "RECIPE_OPTIONS", "Option",
    "expand_preset", "options",
]

# Calibration sources known by name; anything else must be a path to a text or JSON file.
CALIBRATION_SOURCES = ("c4", "wikitext2", "builtin", "random")
_UNSET_WORDS = ("", "none")  # lm-eval turns "none" into None itself; a grid file may not
_KEEP = object()  # Option.unset when None, "" and "none" are not special


@dataclass(frozen=True)
class Option:
    """One key: ``kind`` is ``int``, ``float``, ``bool``, ``str`` or ``tuple`` (module-name
    patterns, ``;``-separated in text since lm-eval splits ``--model_args`` on commas).

    ``default`` is what an unset key means (``None``: the method decides, see ``shown``);
    ``shown`` is the default as documented when it is not one value. ``minimum`` bounds an
    integer. ``unset`` is what ``None``, ``""`` or ``"none"`` stand for (``scope=none``: the
    method's own scope; ``method=none``: the ``none`` method); without it they are values.
    ``quantization`` marks the keys that only quantization methods take.
    """

    name: str
    kind: type
    help: str  # Markdown: `code` in backticks (the README shows it; plain_help drops them)
    default: Any = None
    shown: str | None = None
    minimum: int | None = None
    unset: Any = _KEEP
    quantization: bool = False

    @property
    def plain_help(self) -> str:
        """``help`` for a terminal: without the Markdown backticks."""
        return self.help.replace("`", "")

    @property
    def default_text(self) -> str:
        """The default as the README writes it (Markdown)."""
        if self.shown is not None:
            return self.shown
        return "—" if self.default is None else f"`{describe(self.default)}`"

    @property
    def plain_default(self) -> str:
        return self.default_text.replace("`", "")

    def parse(self, value: Any) -> Any:
        """A value from lm-eval (numbers and ``true``/``false`` already cast), a command line
        or a grid file, as this option's type; ValueError naming the key and what is allowed."""
        if self.unset is not _KEEP and (value is None or (isinstance(value, str) and value.strip().lower() in _UNSET_WORDS)):
            return self.unset
        if self.kind is tuple:
            return _patterns(value)
        if self.kind is bool:
            return parse_bool(value, self.name)
        if self.kind in (int, float):
            return self._number(value)
        return value if value is None else str(value).strip()

    def _number(self, value: Any) -> int | float:
        number = cast(value.strip()) if isinstance(value, str) else value
        wanted = "an integer" if self.kind is int else "a number"
        if isinstance(number, bool) or not isinstance(number, (int, float)) or (self.kind is int and not isinstance(number, int)):
            raise ValueError(f"{self.name}={value!r} is not {wanted}: {self.plain_help}")
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"{self.name}={number!r} is not allowed: give an integer >= {self.minimum}")
        return number


def describe(value: Any) -> str:
    """A value as written in ``--model_args``: ``true``, ``0.5``, ``lm_head;mlp.down_proj``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ";".join(map(str, value))
    return str(value)


def _patterns(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        parts = [] if text.lower() in _UNSET_WORDS else text.split(";")
        return tuple(part.strip() for part in parts if part.strip())
    return tuple(value)


def options(*declared: Option) -> dict[str, Option]:
    """``{name: option}`` in declaration order."""
    return {option.name: option for option in declared}


RECIPE_OPTIONS = options(
    Option("method", str,
           "`dense` (the baseline, same code path), `none` (evaluate as is, e.g. an already quantized folder); "
           "pruning `magnitude`, `wanda`, `sparsegpt`; quantization `rtn`, `gptq`, `awq` (CUDA), `int8`, `nf4` "
           "(bitsandbytes); `<pruning>+<rtn|gptq|awq>` prunes then quantizes, keeping the zeros", "dense",
           unset="none"),
    Option("sparsity", float, "fraction of weights zeroed in every pruned `Linear`, `0 <= s < 1`", 0.0),
    Option("pattern", str, "`unstructured`, or `N:M` along the input dimension (`1:2`, `2:4`, `4:8`; sparsity must "
           "then be N/M or left out)", "unstructured"),
    Option("scope", str, "comparison group: magnitude `layer` (one threshold per matrix, as the reference), `row` "
           "or `global`; Wanda `row`; SparseGPT `block`", shown="method's", unset=None),
    Option("ignore", tuple, "`Linear` modules kept dense (neither pruned nor quantized), `;`-separated: a name or "
           "its last parts (`mlp.down_proj`), or `re:<regex>`; `none` keeps none", ("lm_head",)),
    Option("bits", int, "weight bits: `8`, `4`, `3`, `2` for `rtn`/`gptq`; `4` for `awq`/`nf4`, `8` for `int8`",
           shown="required for `rtn`/`gptq`", unset=None, quantization=True),
    Option("group_size", int, "input weights sharing a scale; must divide every quantized layer's width; `-1` per "
           "output channel; `0` per tensor (one scale per weight matrix; `rtn`, `gptq`)", shown="`128` (`nf4`: `64`, fixed)", unset=None, quantization=True),
    Option("symmetric", bool, "`true`: integer grid `s*q`; `false`: `s*(q - z)` with a zero point",
           shown="`true` (`awq`: `false`)", unset=None, quantization=True),
    Option("act_order", bool, "GPTQ: quantize columns in order of decreasing Hessian diagonal",
           shown="`true` (`gptq`)", unset=None, quantization=True),
)

CALIBRATION_OPTIONS = options(
    Option("calibration", str, "calibration text for the methods that need it: `c4` (hub, as the reference's "
           "Wanda and SparseGPT; its GPTQ used `wikitext2`, see `preset`), "
           "`wikitext2` (hub), `builtin` (English text shipped with llm-kick), `random` (token ids, for speed "
           "tests), or a local `.txt` / `.jsonl` / `.json` file", "c4"),
    Option("nsamples", int, "calibration sequences", 128, minimum=1),
    Option("seqlen", int, "calibration tokens per sequence", 2048, minimum=1),
    Option("seed", int, "calibration sampling seed", 0, minimum=0),
)

# Named settings of recipe and calibration keys. A preset only fills keys in: a key the user
# also gives must agree with it (a run named after the reference must be the reference's),
# and keys it leaves out (``bits``, ``ignore``, ...) stay the user's.
PRESETS: dict[str, dict[str, Any]] = {
    # GPTQ_experiment/llama.py of VITA-Group/llm-kick as its scripts ran it: --dataset wikitext2
    # (128 windows of 2,048 tokens, seed 0), --groupsize 128, no --sym (asymmetric), no
    # --act-order; the bits (--wbits) are the run's own.
    "reference-gptq": {
        "method": "gptq", "group_size": 128, "symmetric": False, "act_order": False,
        "calibration": "wikitext2", "nsamples": 128, "seqlen": 2048, "seed": 0,
    },
}

PRESET_OPTIONS = options(
    Option("preset", str, "named settings: `reference-gptq` = the LLM-KICK reference's GPTQ run (`method=gptq`, "
           "`group_size=128`, `symmetric=false`, `act_order=false`, `calibration=wikitext2`, `nsamples=128`, "
           "`seqlen=2048`, `seed=0`; give `bits`); a key also given must agree with it", unset=None),
)


def expand_preset(args: dict[str, Any]) -> dict[str, Any]:
    """``args`` with its ``preset`` key replaced by the preset's keys.

    A key given in ``args`` as well must mean the same value (both parsed by its
    :class:`Option`), else ValueError naming the key, both values and the way out.
    """
    name = PRESET_OPTIONS["preset"].parse(args.get("preset"))
    rest = {key: value for key, value in args.items() if key != "preset"}
    if name is None:
        return rest
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is not known: allowed {sorted(PRESETS)}")
    declared = {**RECIPE_OPTIONS, **CALIBRATION_OPTIONS}
    for key, value in PRESETS[name].items():
        if key in rest and declared[key].parse(rest[key]) != declared[key].parse(value):
            raise ValueError(
                f"{key}={rest[key]!r} contradicts preset={name} ({key}={describe(value)}): drop {key} to run "
                f"the preset, or drop preset and give every key yourself"
            )
    return {**rest, **PRESETS[name]}
