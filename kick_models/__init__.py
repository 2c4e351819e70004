"""lm-eval model wrappers of llm-kick.

`kick` (:class:`kick_models.kick_lm.KickLM`) loads a Hugging Face model, compresses it on load
(or takes the compressed checkpoint from the cache) and evaluates it like lm-eval's `hf` model.

This package's ``__init__`` stays empty on purpose: the lm-eval bridge is imported at every
interpreter start through a ``.pth`` file and must cost nothing (see ``lm_eval_bridge``).
"""
