"""Settings of the compression engines that change the compressed weights beyond the recipe.

A recipe names the algorithm; how its arithmetic is carried out can still move a weight across a
near-tie (a pruning mask's threshold, a quantization grid's rounding boundary). Each such setting
is declared here, with the methods it applies to, so that the checkpoint cache keys an entry by
it (:func:`weight_arithmetic`): changing a default rebuilds the entries it affects and no other.
"""

from __future__ import annotations

__all__ = ["HESSIAN_MATMUL", "weight_arithmetic"]

# The product X X^T of the Hessian accumulation of SparseGPT and GPTQ (compressors/hessians.py):
# "tf32" on a 16-bit model (exact products, float32 sums in another order), which the 7B
# compression targets need; "ieee" is llmcompressor's float32 product bit for bit.
HESSIAN_MATMUL = "tf32"
HESSIAN_METHODS = frozenset({"sparsegpt", "gptq"})


def weight_arithmetic(recipe) -> dict[str, str]:
    """The settings above that apply to ``recipe`` (a :class:`compressors.recipe.Recipe`)."""
    if {recipe.prune_method, recipe.quant_method} & HESSIAN_METHODS:
        return {"hessian_matmul": HESSIAN_MATMUL}
    return {}
