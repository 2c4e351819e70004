"""The model's tokenizer, for tasks whose prompts or budgets are counted in its tokens (MMLU's
2,048-token rule, the reference factoid QA's prompt-relative generation budget).

lm-eval hands a task its metadata (``--model_args`` merged with ``--metadata``), not the
model: the tokenizer is loaded again from ``tokenizer`` or ``pretrained``, once per process.
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=4)
def load_tokenizer(source: str, revision: str | None, trust_remote_code: bool, task: str):
    """``AutoTokenizer.from_pretrained(source)``, or a one-line ValueError naming ``task``,
    the source and the ``--metadata`` fix."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code)
    except Exception as err:  # any failure needs the same advice
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ValueError(
            f"{task} counts prompt tokens with the model's tokenizer, but {source!r} gives none "
            f'({reason}); name one with --metadata \'{{"tokenizer": "<name or folder>"}}\''
        ) from None
