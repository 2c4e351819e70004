"""The compression cases the benchmarks time, each two ways: through llm-kick and through
llmcompressor called directly.

A case names a recipe (:class:`compressors.recipe.Recipe` keyword arguments) and the
llmcompressor modifier a user would write for the same work. The direct call takes the same
calibration batches and keeps activations on the same device as our runner
(:mod:`compressors.llmcompressor_adapter`), so the two differ only by what our wrapper adds:
the ratio of their times is the wrapper's overhead (for SparseGPT it also counts our per-weight
solver, :func:`compressors.pruning.sparsegpt.sparsify`, which our SparseGPT modifier runs in
place of llmcompressor's: same weights, less time). Modifier settings are llmcompressor's
defaults, which are the papers' (SparseGPT: blocks of 128 columns, 1% dampening; GPTQ: the
same, symmetric int weights in groups); the benchmark checks that both ways give identical
weights, so a difference in settings cannot hide.

A case whose method ``compressors.recipe.METHODS`` does not have is refused with the reason;
by default only the cases that can run do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Case:
    name: str
    recipe_args: dict = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.recipe_args["method"]

    def missing(self) -> str | None:
        """Why llm-kick cannot run this case yet, or ``None``."""
        from compressors.recipe import METHODS

        if self.method not in METHODS:
            return f"compressors.recipe.METHODS has no {self.method!r} (it has {sorted(METHODS)})"
        return None

    def recipe(self):
        from compressors.recipe import Recipe

        reason = self.missing()
        if reason is not None:
            raise ValueError(f"case {self.name!r} cannot run: {reason}; choose from {available()}")
        return Recipe(**self.recipe_args)

    def direct_modifier(self):
        """The llmcompressor modifier for this case, as a user would build it."""
        args = self.recipe_args
        if self.method in ("wanda", "sparsegpt"):
            from llmcompressor.modifiers.pruning import SparseGPTModifier, WandaPruningModifier

            pattern = args.get("pattern", "unstructured")
            cls = WandaPruningModifier if self.method == "wanda" else SparseGPTModifier
            return cls(
                sparsity=args.get("sparsity", 0.5),
                mask_structure="0:0" if pattern == "unstructured" else pattern,
                targets=["Linear"],
                ignore=["re:.*lm_head"],  # a bare "lm_head" does not exclude it (matched as "lm_head.")
            )
        if self.method == "gptq":
            from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme
            from llmcompressor.modifiers.quantization import GPTQModifier

            weights = QuantizationArgs(
                num_bits=args["bits"], type="int", strategy="group", group_size=args["group_size"], symmetric=True
            )
            return GPTQModifier(
                config_groups={"group_0": QuantizationScheme(targets=["Linear"], weights=weights)},
                ignore=["re:.*lm_head"],
            )
        raise ValueError(f"case {self.name!r}: no direct llmcompressor call for method {self.method!r}")


CASES = {
    case.name: case
    for case in (
        Case("wanda", {"method": "wanda", "sparsity": 0.5}),
        Case("wanda-2:4", {"method": "wanda", "pattern": "2:4"}),
        Case("sparsegpt", {"method": "sparsegpt", "sparsity": 0.5}),
        Case("sparsegpt-2:4", {"method": "sparsegpt", "pattern": "2:4"}),
        Case("gptq-w4g128", {"method": "gptq", "bits": 4, "group_size": 128}),
        # groups of 128 do not divide SmolLM2-135M's widths (576, 1536); 64 does
        Case("gptq-w4g64", {"method": "gptq", "bits": 4, "group_size": 64}),
    )
}
# Issue 9's list: Wanda 50%, SparseGPT 50% and 2:4, GPTQ 4-bit group 128.
DEFAULT = ("wanda", "sparsegpt", "sparsegpt-2:4", "gptq-w4g128")
# The same on SmolLM2-135M (the CPU runs).
SMOLLM2 = "wanda,sparsegpt,sparsegpt-2:4,gptq-w4g64"


def available() -> list[str]:
    """Cases whose method ``compressors.recipe.METHODS`` has, with its engine module."""
    return [name for name, case in CASES.items() if case.missing() is None]


def parse(text: str | None) -> list[Case]:
    """Cases from a comma-separated list; ``None``: the issue's list, minus missing methods."""
    if text is None:
        have = available()
        return [CASES[name] for name in DEFAULT if name in have]
    cases = []
    for name in (part.strip() for part in text.split(",") if part.strip()):
        if name not in CASES:
            raise ValueError(f"case {name!r} is unknown: allowed {sorted(CASES)}")
        CASES[name].recipe()  # a method not there yet fails here, before any work
        cases.append(CASES[name])
    if not cases:
        raise ValueError("no case given: allowed " + ", ".join(sorted(CASES)))
    return cases


def direct_oneshot(model: torch.nn.Module, case: Case, calibration: torch.Tensor) -> None:
    """llmcompressor's ``oneshot`` on ``model``, with the batching and activation device of
    our adapter (so only the wrapper differs)."""
    from llmcompressor import oneshot
    from llmcompressor.utils.dev import get_main_device
    from torch.utils.data import DataLoader

    from compressors.llmcompressor_adapter import TOKENS_PER_BATCH

    batch_size = max(1, min(len(calibration), TOKENS_PER_BATCH // calibration.shape[1]))
    loader = DataLoader([{"input_ids": row} for row in calibration], batch_size=batch_size, shuffle=False)
    oneshot(
        model=model,
        dataset=loader,
        recipe=[case.direct_modifier()],
        pipeline="sequential",
        sequential_offload_device=str(get_main_device()),
    )


def fingerprint(model: torch.nn.Module) -> tuple[int, float]:
    """``(zero weights, sum of weights)`` over the decoder's ``Linear`` layers: equal
    fingerprints mean (in practice) equal compressed weights."""
    zeros, total = 0, 0.0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and "lm_head" not in name:
            weight = module.weight.detach()
            zeros += int((weight == 0).sum())
            total += float(torch.sum(weight, dtype=torch.float64))
    return zeros, total
