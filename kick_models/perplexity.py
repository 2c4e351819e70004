"""Token perplexity of a causal LM on a text, the way GPTQ/SparseGPT/Wanda report it.

The text is tokenized once; windows of ``seqlen`` tokens start every ``stride`` tokens, and
only full windows are used (the remainder is dropped, as in GPTQ's ``llama_eval``). Each
window predicts its tokens from the ones before it inside the window; a token is scored once,
by the first window that predicts it, so with ``stride < seqlen`` later windows only add the
tokens past the previous window's end (sliding-window perplexity, with more context).

    ppl = exp( sum of -log p(token | context) / number of scored tokens )

With ``stride == seqlen`` (default) this is GPTQ's number: every window scores its
``seqlen - 1`` next-token predictions and the per-window means are averaged.
"""

from __future__ import annotations

import math

import torch

__all__ = ["perplexity"]


@torch.no_grad()
def perplexity(model, tokenizer, text: str, seqlen: int = 2048, stride: int | None = None, batch_size: int = 8) -> float:
    """Perplexity of ``model`` on ``text`` with ``seqlen``-token windows every ``stride``."""
    stride = seqlen if stride is None else stride
    if seqlen < 2 or not 1 <= stride <= seqlen:
        raise ValueError(f"need seqlen >= 2 and 1 <= stride <= seqlen (got seqlen={seqlen}, stride={stride})")
    ids = tokenizer(text, return_tensors="pt").input_ids[0]
    if ids.numel() < seqlen:
        raise ValueError(f"the text has {ids.numel()} tokens, fewer than one window of seqlen={seqlen}")
    starts = list(range(0, ids.numel() - seqlen + 1, stride))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    nll, scored = 0.0, 0
    for first in range(0, len(starts), batch_size):
        batch = starts[first : first + batch_size]
        inputs = torch.stack([ids[s : s + seqlen] for s in batch]).to(device)
        logits = model(inputs).logits.float()
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2), inputs[:, 1:], reduction="none"
        )  # (batch, seqlen - 1): loss of predicting token t + 1
        for row, start in enumerate(batch):
            # tokens up to position (previous window's end - 1) were scored already
            new_from = 0 if start == 0 else max(0, seqlen - stride - 1)
            nll += float(losses[row, new_from:].sum())
            scored += losses.shape[1] - new_from
    model.train(was_training)
    return math.exp(nll / scored)
