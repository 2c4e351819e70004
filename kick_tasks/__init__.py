"""LLM-KICK tasks for lm-evaluation-harness (Jaiswal et al., ICLR 2024).

The YAML files in this folder are lm-eval task configs; ``utils`` holds their ``!function``
helpers and ``data`` decides whether a task reads the public hub dataset or a local copy.
"""
