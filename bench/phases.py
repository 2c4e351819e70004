"""Where llmcompressor's one-shot time goes: a phase breakdown of ``oneshot``'s sequential
pipeline, for the benchmarks' ``--phases`` option.

The one-shot algorithms spend their time in a few library functions, which this module times
by wrapping the names that llmcompressor's modifiers and pipeline call (their module globals):

* ``statistics``: the calibration hooks' accumulation, once per module and batch — the
  Hessian ``H = 2/n * sum X X^T`` of SparseGPT (Frantar & Alistarh 2023, eq. 1 of its
  layer-wise problem) and GPTQ (Frantar et al. 2023), Wanda's per-column ``||X_j||_2``
  (Sun et al. 2024, eq. 1);
* ``solve``: the per-module algorithm — SparseGPT's mask selection and OBS update over blocks
  of columns (on our side :func:`compressors.pruning.sparsegpt.sparsify`), GPTQ's
  column-by-column quantization with its Hessian inverse, Wanda's ``|W| * ||X||`` ranking;
* ``forward``: the decoder layers' own forward passes (the calibration pass, without the hooks'
  time, and the propagation pass that feeds the next layer the compressed layer's outputs);
* ``trace``: llmcompressor splitting the model into per-layer subgraphs (``torch.fx``);
* ``other``: everything else inside the timed region (moving layers and activations, the
  embedding pass, set-up, the session's lifecycle).

Each phase is the wall time of its calls, with the GPU synchronised at their entry and exit
(so queued work is charged to the phase that queued it) and nested phases subtracted
(``forward`` excludes the hooks it fires). The synchronisation costs a few hundred
microseconds a decoder layer; it is applied to both sides of a comparison alike.
"""

from __future__ import annotations

import importlib
import time
from contextlib import contextmanager

from bench.measure import synchronizer

# (module, attribute, phase): the names llmcompressor 0.14's modifiers and pipeline call.
HOOKED = (
    ("llmcompressor.modifiers.pruning.sparsegpt.base", "accumulate_hessian", "statistics"),
    ("llmcompressor.modifiers.pruning.sparsegpt.base", "sparsify_weight", "solve"),
    ("llmcompressor.modifiers.pruning.wanda.base", "accumulate_row_scalars", "statistics"),
    ("llmcompressor.modifiers.pruning.wanda.base", "sparsify_weight", "solve"),
    ("llmcompressor.modifiers.gptq.base", "accumulate_hessian", "statistics"),
    ("llmcompressor.modifiers.gptq.base", "quantize_weight", "solve"),
    ("llmcompressor.pipelines.sequential.pipeline", "trace_subgraphs", "trace"),
    # the Hessian accumulation of llm-kick's SparseGPT and GPTQ modifiers in TF32 mode (in float32
    # mode they call llmcompressor's, above)
    ("compressors.hessians", "add_products", "statistics"),
    # the solvers llm-kick's modifier subclasses call: Wanda's own (through its module), our
    # SparseGPT solver, and GPTQ keeping zeros on a pruned model
    ("llmcompressor.modifiers.pruning.wanda.wanda_sparsify", "sparsify_weight", "solve"),
    ("compressors.pruning.sparsegpt", "sparsify", "solve"),
    ("compressors.quantization.sparse_gptq", "quantize_keeping_zeros", "solve"),
)
PHASES = ("statistics", "solve", "forward", "trace", "other")


class PhaseClock:
    """Exclusive wall time per phase (a call's time less the phases nested inside it)."""

    def __init__(self):
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.calls = dict.fromkeys(PHASES, 0)
        self._nested: list[float] = []  # per open call: time spent in the calls nested in it
        self._sync = synchronizer()

    def wrap(self, phase: str, function):
        def timed(*args, **kwargs):
            self._sync()
            start = time.perf_counter()
            self._nested.append(0.0)
            try:
                return function(*args, **kwargs)
            finally:
                self._sync()
                elapsed = time.perf_counter() - start
                inner = self._nested.pop()
                self.seconds[phase] += elapsed - inner
                self.calls[phase] += 1
                if self._nested:
                    self._nested[-1] += elapsed

        timed.__wrapped__ = function
        return timed

    def breakdown(self, total_s: float) -> dict:
        """Seconds per phase, ``other`` = ``total_s`` less the timed phases, and each share."""
        seconds = dict(self.seconds)
        seconds["other"] = max(0.0, total_s - sum(v for k, v in seconds.items() if k != "other"))
        return {
            "total_s": total_s,
            "seconds": seconds,
            "share": {k: (v / total_s if total_s else None) for k, v in seconds.items()},
            "calls": {k: v for k, v in self.calls.items() if k != "other"},
        }


@contextmanager
def phase_clock():
    """Time llmcompressor's phases while the block runs; yields the :class:`PhaseClock`.
    The ``forward`` phase wraps ``Subgraph.forward`` (the per-layer calls of the sequential
    pipeline); the originals are restored on exit."""
    from llmcompressor.pipelines.sequential.helpers import Subgraph

    clock = PhaseClock()
    restore = []
    for module_name, attribute, phase in HOOKED:
        module = importlib.import_module(module_name)
        original = getattr(module, attribute)
        restore.append((module, attribute, original))
        setattr(module, attribute, clock.wrap(phase, original))
    original_forward = Subgraph.forward
    restore.append((Subgraph, "forward", original_forward))
    Subgraph.forward = clock.wrap("forward", original_forward)
    try:
        yield clock
    finally:
        for owner, attribute, original in reversed(restore):
            setattr(owner, attribute, original)


def format_breakdown(breakdown: dict) -> str:
    """One line: ``statistics 12.3 s (20%), solve ...``."""
    parts = [f"{phase} {breakdown['seconds'][phase]:.1f} s ({breakdown['share'][phase]:.0%})"
             for phase in PHASES if breakdown["share"][phase] is not None]
    return f"total {breakdown['total_s']:.1f} s: " + ", ".join(parts)
