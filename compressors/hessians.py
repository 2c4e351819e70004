"""Calibration statistics of llmcompressor's one-shot modifiers, once per distinct input.

SparseGPT (Frantar & Alistarh, ICML 2023, Sec. 3) and GPTQ (Frantar et al., ICLR 2023, eq. 1-2)
solve each ``Linear`` layer-wise on the Hessian of its reconstruction error

    H = 2 X X^T      (GPTQ: the sum over calibration samples, divided by their number at the end;
                      SparseGPT: the running mean over samples, 2/n * sum X X^T)

and Wanda (Sun et al., ICLR 2024, eq. 1) on the column norms ``||X_j||^2``. Every one of them
depends on the layer's input ``X`` alone, and in a decoder layer several ``Linear`` modules read
the same input tensor: ``q_proj``, ``k_proj`` and ``v_proj`` the normalised hidden states,
``gate_proj`` and ``up_proj`` those of the MLP. llmcompressor 0.14.0.1's calibration hooks
accumulate each module's statistics on its own, so a Llama layer computes the ``(in, in)``
float32 product ``X X^T`` seven times for four distinct inputs.

:class:`SharedInputStatistics` accumulates once per distinct input: a module whose hook receives
the very tensor object the previous hook received (the same forward, nothing in between) shares
that module's accumulator, so the modules of a sibling group hold one tensor and one count. The
arithmetic is llmcompressor's, unchanged, so the statistics and the weights are the same, bit
for bit (tests/test_shared_statistics.py). A solver that changes its statistics in place (our
SparseGPT solver: dampening and inversion) takes them with :meth:`~SharedInputStatistics.
take_statistics`, a copy while another module still holds them.

:class:`SharedHessians` can also form the product in TF32 (``hessian_matmul="tf32"``): the
inputs of a bf16 or fp16 model are 16-bit values, exact in TF32's 10-bit mantissa, so every
product ``x_i x_j`` is exact and only the order of the float32 sums differs from the float32
product. llmcompressor scales ``X`` by ``sqrt(2/n)`` before the product, which would round the
inputs to TF32; here the scale is applied to the exact products (``addmm``'s ``alpha``). On a
CUDA GPU this moves the product from the float32 units to the tensor cores (about seven times
the rate on a Hopper GPU); the Hessian differs from float32's by float32 rounding (relative
1e-6) and the solved weights by what that rounding decides: a near-tie in a pruning mask or a
quantization grid (tolerances in tests/test_shared_statistics.py). Inputs in float32, and
modules other than ``Linear``, keep llmcompressor's own accumulation.

llm-kick compresses in one process (:func:`~compressors.llmcompressor_adapter.one_process`), so
GPTQ's distributed reduction, which would reduce a shared Hessian once per module, never runs.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import ClassVar, Literal

import torch
from compressed_tensors.utils import get_execution_device
from llmcompressor.modifiers import Modifier
from pydantic import PrivateAttr

__all__ = ["SharedHessians", "SharedInputStatistics", "add_products", "tf32_matmul"]


_EXACT_IN_TF32 = (torch.bfloat16, torch.float16)


class SharedInputStatistics(Modifier):
    """A one-shot modifier whose calibration hook accumulates once per distinct input.

    Combine it, first, with a modifier whose ``calibrate_module`` hook fills the dict named by
    :attr:`statistics` and ``_num_samples`` (SparseGPT's and GPTQ's ``_hessians``, Wanda's
    ``_row_scalars``). Its solvers pop their module's entries, so a shared accumulator leaves
    with its last module.
    """

    statistics: ClassVar[str]  # the name of the modifier's dict {module: accumulator}
    _owner: dict = PrivateAttr(default_factory=dict)  # {module: the module that accumulates its input}
    _last: tuple | None = PrivateAttr(default=None)  # (weak reference to the last hooked input, its module)

    def calibrate_module(self, module: torch.nn.Module, args: tuple, _output):
        inputs = args[0]
        # a weak reference: an input freed and its memory reused is never taken for the same one
        after = self._owner[self._last[1]] if self._last is not None and self._last[0]() is inputs else None
        if module not in self._owner:
            self._owner[module] = module if after is None else after
        owner = self._owner[module]
        if owner is module:
            self.accumulate(module, args, _output)
        elif owner is after:
            getattr(self, self.statistics)[module] = getattr(self, self.statistics)[owner]
            self._num_samples[module] = self._num_samples[owner]
        else:
            raise RuntimeError(
                f"{self._module_names.get(module, module)} read the input of "
                f"{self._module_names.get(owner, owner)} in the first calibration batch but not in a later one: "
                "its statistics cannot be shared"
            )
        self._last = (weakref.ref(inputs), module)

    def accumulate(self, module: torch.nn.Module, args: tuple, _output) -> None:
        """Add one batch of ``module``'s input to its statistics (the modifier's own hook)."""
        super().calibrate_module(module, args, _output)

    def take_statistics(self, module: torch.nn.Module) -> torch.Tensor:
        """Pop ``module``'s statistics for a solver that changes them in place: a copy while
        another module still holds the same tensor."""
        held = getattr(self, self.statistics)
        taken = held.pop(module)
        return taken.clone() if any(other is taken for other in held.values()) else taken


class SharedHessians(SharedInputStatistics):
    """:class:`SharedInputStatistics` for the Hessians of SparseGPT and GPTQ, whose product
    ``X X^T`` is formed in TF32 from 16-bit inputs when ``hessian_matmul="tf32"``."""

    statistics: ClassVar[str] = "_hessians"
    hessian_mean: ClassVar[bool]  # SparseGPT's running mean (an int count), else GPTQ's sum (a tensor count)
    hessian_matmul: Literal["ieee", "tf32"] = "ieee"

    def accumulate(self, module, args, _output):
        inputs = args[0]
        if self.hessian_matmul == "ieee" or inputs.dtype not in _EXACT_IN_TF32 or type(module) is not torch.nn.Linear:
            return super().accumulate(module, args, _output)
        if module not in self._num_samples:
            device = get_execution_device(module)
            columns = module.weight.shape[1]
            self._hessians[module] = torch.zeros((columns, columns), dtype=torch.float32, device=device)
            self._num_samples[module] = 0 if self.hessian_mean else torch.zeros((), device=device)
        self._num_samples[module] = add_products(
            self._hessians[module], inputs, self._num_samples[module], mean=self.hessian_mean
        )


def add_products(hessian: torch.Tensor, inputs: torch.Tensor, samples, *, mean: bool):
    """Add the batch ``inputs`` (``(samples, tokens, in)`` or ``(tokens, in)``, 16-bit) to
    ``hessian`` in place, with the TF32 product; returns the new sample count.

    ``mean``: ``H <- n/(n+a) H + 2/(n+a) X X^T`` (SparseGPT's running mean), else
    ``H <- H + 2 X X^T`` (GPTQ's sum). Samples are counted as llmcompressor counts them: a 3-D
    batch adds its first dimension, a 2-D one adds one."""
    added = inputs.shape[0] if inputs.dim() == 3 else 1
    rows = inputs.reshape(-1, inputs.shape[-1]).to(device=hessian.device, dtype=torch.float32)  # exact
    total = samples + added
    with tf32_matmul():
        if mean:
            hessian.addmm_(rows.t(), rows, beta=samples / total, alpha=2 / total)
        else:
            hessian.addmm_(rows.t(), rows, alpha=2)
    return total


@contextmanager
def tf32_matmul():
    """Float32 matrix products in TF32 on CUDA for the block, the previous setting restored
    after. ``set_float32_matmul_precision``: the one switch that does not clash with other
    libraries' use of the older ``allow_tf32`` flag or the newer ``fp32_precision``."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)
