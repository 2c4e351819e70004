"""SparseGPT: one-shot pruning with optimal-brain-surgeon weight updates.

Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be Accurately Pruned in
One-Shot", ICML 2023 (arXiv:2301.00774). For a layer with weights ``W`` and calibration
inputs ``X`` it minimises the reconstruction error ``||W X - W' X||_2^2`` over sparse ``W'``.
With the Hessian ``H = 2 X X^T + lambda I`` (``lambda`` = 1% of its mean diagonal), the
columns are processed left to right in blocks of ``B = 128``:

* mask selection (adaptive, per block): the OBS saliency of weight ``w_ij``,

      eps_ij = w_ij^2 / [H^-1]_jj^2

  (``H^-1`` taken as the upper Cholesky factor of the inverse, the paper's Algorithm 1) is
  compared over the whole block of 128 input columns, all rows together, and the lowest
  ``s`` fraction is pruned; N:M picks the N lowest of every M consecutive inputs of a row;
* weight update: pruning column j shifts the not-yet-processed columns by
  ``-(w_j - w'_j) / [H^-1]_jj * [H^-1]_{j, j:}`` (OBS), so the remaining weights compensate.

The comparison group is therefore the column block (``scope="block"``), not the row.

Run by llmcompressor's ``SparseGPTModifier`` (:func:`modifier_class`, through
:func:`compressors.llmcompressor_adapter.run_oneshot`): its layer-by-layer pipeline and Hessian
accumulation, with :func:`sparsify` as the per-weight solver. llmcompressor's own solver
(``sgpt_sparsify.py``, 0.14.0.1) is the reference implementation (IST-DASLab/sparsegpt
``fasterprune``) line for line: same dampening, Cholesky inverse, block size, saliency
threshold ``sort(eps)[int(s * numel)]`` per block, and N:M groups along the input dimension;
:func:`sparsify` does the same arithmetic with fewer kernel launches, and on a GPU replays
each block's column loop from one captured CUDA graph (it gives identical weights), because
theirs is launch-bound on a GPU (bench/RESULTS.md has the timings). We use
the paper's settings: ``block_size=128``, ``dampening_frac=0.01``.
"""

from __future__ import annotations

import logging
from functools import cache

import torch

from compressors.arithmetic import HESSIAN_MATMUL

__all__ = ["BLOCK_SIZE", "DAMPENING", "modifier_class", "prune", "sparsify"]

logger = logging.getLogger(__name__)

BLOCK_SIZE = 128
DAMPENING = 0.01


def prune(model, linears: dict[str, torch.nn.Linear], recipe, calibration: torch.Tensor, *, device, progress=True) -> dict:
    """Prune ``linears`` of ``model`` in place with SparseGPT on ``calibration`` tokens.

    ``progress``: a bar over the decoder layers (:func:`~compressors.llmcompressor_adapter.run_oneshot`)."""
    from compressors.llmcompressor_adapter import pruning_targets, run_pruning


    options = {"block_size": BLOCK_SIZE, "dampening_frac": DAMPENING, "hessian_matmul": HESSIAN_MATMUL}
    modifier = modifier_class()(sparsity=recipe.sparsity, **pruning_targets(list(linears), recipe.nm), **options)
    return run_pruning(model, modifier, calibration, torch.device(device), progress=progress, **options)


@cache
def modifier_class() -> type:
    """llmcompressor's ``SparseGPTModifier`` with :func:`sparsify` as its per-weight solver, in
    the loop of :class:`~compressors.llmcompressor_adapter.PerWeightPruning` (which counts the
    zeros), and one Hessian per distinct input (:class:`~compressors.hessians.SharedHessians`).
    Built on first use: importing llmcompressor takes seconds.

    Weights that are not a plain ``Linear``, and ``preserve_sparsity_mask`` (which we never
    set), stay with llmcompressor's solver."""
    import llmcompressor.modifiers.pruning.sparsegpt.sgpt_sparsify as sgpt_sparsify
    from llmcompressor.modifiers.pruning import SparseGPTModifier

    from compressors.hessians import SharedHessians
    from compressors.llmcompressor_adapter import PerWeightPruning

    class SparseGPTSolvedHere(SharedHessians, PerWeightPruning, SparseGPTModifier):
        loss_name = "SGPT"
        hessian_mean = True

        def solve(self, module, sparsity):
            # both solvers overwrite the Hessian; the dict must not keep it alive (as theirs)
            hessian = self.take_statistics(module)
            if self.preserve_sparsity_mask or type(module) is not torch.nn.Linear:
                return sgpt_sparsify.sparsify_weight(
                    module, {module: hessian}, sparsity, self._prune_n, self._prune_m, self.block_size,
                    self.dampening_frac, self.preserve_sparsity_mask,
                )
            nm = (self._prune_n, self._prune_m) if self._prune_n else None
            return sparsify(module.weight, hessian, sparsity, nm, block_size=self.block_size, dampening=self.dampening_frac)

    return SparseGPTSolvedHere


@torch.no_grad()
def sparsify(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    sparsity: float,
    nm: tuple[int, int] | None = None,
    *,
    block_size: int = BLOCK_SIZE,
    dampening: float = DAMPENING,
    cuda_graph: bool | None = None,
) -> tuple[float, torch.Tensor]:
    """SparseGPT's Algorithm 1 on one ``Linear`` weight: ``(loss, pruned weight)``.

    ``weight`` is ``(out, in)``, ``hessian`` the ``(in, in)`` float32 ``2 X X^T / n`` of its
    inputs (overwritten: dead inputs, dampening, then its inverse's Cholesky factor). ``nm``
    prunes N of every M consecutive inputs of a row, else the ``sparsity`` fraction of each
    block of ``block_size`` columns. ``loss`` is ``sum (w - w')^2 / [H^-1]_jj^2 / 2``.
    ``cuda_graph``: replay the column loop of the full blocks as one CUDA graph
    (:class:`_ColumnLoop`); ``None``: when the weight is on a CUDA GPU.

    Same arithmetic, in the same order, as llmcompressor's ``sparsify_weight`` (0.14.0.1), so
    the results are equal (tests/test_sparsegpt_solver.py); the difference is the column loop.
    Theirs launches about fifteen kernels per column (a clone, a boolean-mask write, the loss
    column, the error column...), so on a GPU the device mostly waits on Python. Here a
    column is four kernels (the error
    ``where(pruned, w, 0) / d`` written into its block buffer, the rank-one OBS update as a
    matmul and a subtraction), with no host synchronisation; the pruned block is the updated
    block with the pruned entries set to zero (a kept entry is never changed by its own
    column's update, its error being zero), and the loss is taken from the error block.
    """
    rows, columns = weight.shape
    W = weight.to(torch.float32, copy=True)
    H = hessian
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    try:
        diagonal = torch.arange(columns, device=H.device)
        H[diagonal, diagonal] += dampening * torch.mean(torch.diag(H))
        H = torch.linalg.cholesky(H)
        H = torch.cholesky_inverse(H)
        Hinv = torch.linalg.cholesky(H, upper=True)
    except torch.linalg.LinAlgError:
        logger.warning(
            "SparseGPT: the Hessian of a %dx%d weight could not be inverted; its weights are "
            "pruned by magnitude alone (more calibration samples or a larger dampening help)",
            rows, columns,
        )
        Hinv = torch.eye(columns, dtype=H.dtype, device=H.device)
    losses = torch.zeros(rows, device=W.device)
    loop = _ColumnLoop(nm, block_size, W.is_cuda if cuda_graph is None else cuda_graph)
    for i1 in range(0, columns, block_size):
        i2 = min(i1 + block_size, columns)
        W1, Err1, mask1, Hinv1 = loop.load(W[:, i1:i2], Hinv[i1:i2, i1:i2])
        if nm is None:
            d1 = torch.diag(Hinv1)
            saliency = W1**2 / d1.reshape((1, -1)) ** 2
            threshold = torch.sort(saliency.flatten())[0][int(saliency.numel() * sparsity)]
            torch.le(saliency, threshold, out=mask1)
        else:
            mask1.zero_()
        loop.run()
        W[:, i1:i2] = W1.masked_fill_(mask1, 0)
        losses += torch.sum(Err1**2, 1) / 2
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return torch.sum(losses).item(), W.to(weight.dtype)


def _prune_columns(W1: torch.Tensor, Err1: torch.Tensor, mask1: torch.Tensor, Hinv1: torch.Tensor, nm) -> None:
    """The column loop of one block, in place: for each column ``i`` (N:M: first the mask of
    its group of M), the error ``Err1[:, i] = where(mask, w_i, 0) / [H^-1]_ii`` and the OBS
    update ``W1[:, i:] -= Err1[:, i] [H^-1]_{i, i:}``. ``Err1`` needs no initial value: every
    column is written."""
    d1 = torch.diag(Hinv1) if nm is not None else None
    for i in range(W1.shape[1]):
        if nm is not None and i % nm[1] == 0:
            saliency = W1[:, i : i + nm[1]] ** 2 / d1[i : i + nm[1]].reshape((1, -1)) ** 2
            mask1.scatter_(1, i + torch.topk(saliency, nm[0], dim=1, largest=False)[1], True)
        err = torch.div(torch.where(mask1[:, i], W1[:, i], 0), Hinv1[i, i], out=Err1[:, i])
        W1[:, i:] -= err.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))


class _ColumnLoop:
    """:func:`_prune_columns` over the blocks of one weight, on buffers it owns.

    On a CUDA GPU (``graph``) the loop of a full block (``block_size`` columns) is captured once
    as a CUDA graph and replayed for every later full block: the same kernels on the same
    buffers, so the same results, but one launch a block instead of four a column, which is
    where the per-column loop spends its time on a GPU (a launch costs more than the small
    kernel it starts). Captured per call, as the buffers' shape is the weight's. The first full
    block runs eagerly on a side stream before the capture (PyTorch's rule for capturing: lazy
    initialisation, such as cuBLAS's workspace, must not happen inside it); a short last block
    runs eagerly. Without ``graph`` every block runs eagerly."""

    def __init__(self, nm, block_size: int, graph: bool):
        self.nm, self.block_size, self.graph = nm, block_size, graph
        self.buffers: tuple[torch.Tensor, ...] | None = None
        self.captured = None

    def load(self, W_block: torch.Tensor, Hinv_block: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Copy a block's weights and ``H^-1`` into the buffers; ``(W1, Err1, mask1, Hinv1)``."""
        rows, width = W_block.shape
        if self.buffers is None or self.buffers[0].shape[1] != width:
            self.buffers = (
                torch.empty_like(W_block),
                torch.empty_like(W_block),
                torch.empty(W_block.shape, dtype=torch.bool, device=W_block.device),
                torch.empty_like(Hinv_block),
            )
            self.captured = None
        self.buffers[0].copy_(W_block)
        self.buffers[3].copy_(Hinv_block)
        return self.buffers

    def run(self) -> None:
        """The column loop on the loaded block."""
        if not self.graph or self.buffers[0].shape[1] != self.block_size:
            _prune_columns(*self.buffers, self.nm)
        elif self.captured is not None:
            self.captured.replay()
        else:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                _prune_columns(*self.buffers, self.nm)  # this block's result, and the warm-up
            torch.cuda.current_stream().wait_stream(side)
            self.captured = torch.cuda.CUDAGraph()
            # records the kernels without running them; "thread_local": CUDA work of other threads
            # (none of ours) is not this capture's business
            with torch.cuda.graph(self.captured, capture_error_mode="thread_local"):
                _prune_columns(*self.buffers, self.nm)
