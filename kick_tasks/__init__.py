"""LLM-KICK tasks for lm-evaluation-harness (Jaiswal et al., ICLR 2024).

One folder per task family, in lm-eval's idiom: the YAML configs, a README and ``utils.py``
with the task's ``!function`` helpers side by side (``factoid_qa/``, ``icrqa/``, ``mmlu/``,
``ppl/``, ``summarization/``, ``instruction/``, ``demo/``); ``_kick.yaml`` is the ``kick``
group. The folders need no ``__init__.py``: Python imports them as namespace packages.

The YAML names a helper by its import path, ``!function kick_tasks.<folder>.utils.<name>``.
lm-eval 0.4.13 first looks for that path as a file beside the YAML, finds none, and imports
the module. A bare ``!function utils.<name>`` would work too, but lm-eval loads such a file
under its path as module name, a second copy beside the ``kick_tasks.<folder>.utils`` that
code and tests import (with its own caches and classes).

Shared by several tasks, at package level: ``data`` (the switch between a task's hub dataset
and a local copy), ``utils`` (the answer matching of the QA tasks), ``judged`` (what the two
judged tasks share) and ``judge/`` (the LLM judge). Adding a task: ``docs/extending.md``.
"""
