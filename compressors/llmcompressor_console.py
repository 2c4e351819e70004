"""What a run of llmcompressor shows on the console: one progress bar, and its log on stderr
only as far as lm-eval's log level asks.

lm-eval writes its results on stdout and its log on stderr at ``LMEVAL_LOG_LEVEL`` (INFO by
default; lm-eval 0.4.13 applies the deprecated ``--verbosity`` only after the run, so it does
not reach a model built by ``--model kick``). Left alone, llmcompressor writes its log
(loguru) to stdout at INFO: a line per module and batch, and a METRIC line (level 38, above
WARNING) per compressed module; and it draws two tqdm bars per decoder layer plus one for its
activation cache. While :func:`llmcompressor_console` is open:

* its log goes to stderr, at DEBUG when lm-eval's log level is DEBUG (every line), at ERROR or
  CRITICAL when lm-eval's is, and otherwise at WARNING without the METRIC lines, each warning
  shown once (it warns "No accelerator available!" once per device lookup);
  ``LLM_COMPRESSOR_LOG_LEVEL`` overrides this, as in llmcompressor. A file set by
  ``LLM_COMPRESSOR_LOG_FILE`` still gets ``oneshot``'s own DEBUG file sink.
* its own bars are off, and one bar counts the model's decoder layers (llmcompressor's
  sequential targets) as each is compressed.

Afterwards llmcompressor's own log configuration is back.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from contextlib import ExitStack, contextmanager, redirect_stdout
from typing import Iterator
from unittest import mock

import torch


def _import_llmcompressor_quietly() -> None:
    """llmcompressor sets up its stdout log sink when first imported and, on a machine without
    an accelerator, logs a warning through it while being imported: import it with stdout
    pointed at stderr, then hand it its own configuration back (as :func:`llmcompressor_console`
    does after a run). Nothing to do when it is imported already."""
    if "llmcompressor" in sys.modules:
        return
    with redirect_stdout(sys.stderr):
        llmcompressor_logger = importlib.import_module("llmcompressor.logger")
    llmcompressor_logger.configure_logger(llmcompressor_logger.LOGGER_CONFIG)


_import_llmcompressor_quietly()

from compressed_tensors.utils.match import match_named_modules  # noqa: E402  (after the quiet import above)
from llmcompressor.modifiers import Modifier  # noqa: E402
from llmcompressor.utils.pytorch.module import infer_sequential_targets  # noqa: E402
from loguru import logger  # noqa: E402
from pydantic import PrivateAttr  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

__all__ = ["LayerProgress", "llmcompressor_console"]

# llmcompressor's console format (llmcompressor/logger.py), kept for the lines we route.
_LOG_FORMAT = "{time:YYYY-MM-DDTHH:mm:ss.SSSS} | {function} | {level} - {message}"

# The modules that draw bars during a run, each through its own module-level name ``tqdm``:
# llmcompressor 0.14.0.1's sequential pipeline (two bars per layer), its activation cache and
# AWQ's smoothing loop; compressed-tensors' application of a quantization scheme.
_BAR_MODULES = (
    "llmcompressor.pipelines.sequential.pipeline",
    "llmcompressor.pipelines.cache",
    "llmcompressor.modifiers.transform.awq.base",
    "compressed_tensors.quantization.lifecycle.apply",
)


class LayerProgress(Modifier):
    """A modifier that compresses nothing and advances a progress bar by the decoder layers
    in each subgraph llmcompressor has finished. Put it last in the recipe: llmcompressor
    sends its ``SEQUENTIAL_EPOCH_END`` event (a subgraph calibrated) to the modifiers in recipe
    order, and the ones before it compress the subgraph's modules on that event."""

    _bar: object = PrivateAttr(default=None)
    _layers: frozenset = PrivateAttr(default=frozenset())

    @classmethod
    def over(cls, layers: frozenset, bar) -> "LayerProgress":
        progress = cls()
        progress._layers, progress._bar = layers, bar
        return progress

    def on_initialize(self, state, **kwargs) -> bool:
        return True

    def on_sequential_epoch_end(self, state, event, modules: list[torch.nn.Module], **kwargs):
        self._bar.update(len(self._layers.intersection(modules)))


@contextmanager
def llmcompressor_console(model: torch.nn.Module, label: str, progress: bool = True) -> Iterator[LayerProgress]:
    """While the block runs llmcompressor on ``model``, route its log and bars as the module
    docstring says; yields the :class:`LayerProgress` to put last in the recipe, whose bar is
    named ``label`` (drawn unless ``progress`` is False)."""
    layers = frozenset(module for _, module in match_named_modules(model, infer_sequential_targets(model)))
    with _logs_to_stderr(), _bars_off(), tqdm(total=len(layers), desc=label, unit="layer", disable=not progress) as bar:
        yield LayerProgress.over(layers, bar)


@contextmanager
def _bars_off():
    """llmcompressor's (and compressed-tensors') own bars off for the block.

    tqdm reads its switches (``TQDM_DISABLE``) from the environment once, when imported, and
    the two libraries offer none, so each of their modules that draws a bar gets, for the block
    only, a ``tqdm`` that draws nothing (iterating, ``update`` and ``close`` still work).
    The name is replaced in those modules alone: other bars in the process stay."""
    with ExitStack() as stack:
        for name in _BAR_MODULES:
            stack.enter_context(mock.patch.object(importlib.import_module(name), "tqdm", _silent_tqdm))
        yield


def _silent_tqdm(*args, **kwargs):
    """A tqdm that draws nothing, whatever ``disable`` its caller passes."""
    return tqdm(*args, **{**kwargs, "disable": True})


@contextmanager
def _logs_to_stderr():
    """While the block runs, llmcompressor's log goes to stderr as :func:`_console_level` says;
    afterwards llmcompressor's own configuration is back.

    llmcompressor logs through loguru's one process-wide logger, to a stdout sink that it adds
    when imported (``llmcompressor/logger.py``). loguru has no public way to list or pause one
    sink; llmcompressor's own ``configure_logger`` replaces every sink, so we do as it does:
    replace them by one stderr sink, then hand llmcompressor its configuration back through
    ``configure_logger``. Left alone when ``LLM_COMPRESSOR_LOG_DISABLED`` turned it off.
    """
    # the module itself: the package's attribute ``llmcompressor.logger`` is loguru's logger
    llmcompressor_logger = importlib.import_module("llmcompressor.logger")
    if llmcompressor_logger.LOGGER_CONFIG.disabled:
        yield
        return
    level, metrics = _console_level()
    logger.remove()
    logger.add(sys.stderr, level=level, format=_LOG_FORMAT,
               filter=_console_filter(metrics, once=level == "WARNING", log_once=llmcompressor_logger.support_log_once))
    try:
        yield
    finally:
        llmcompressor_logger.configure_logger(llmcompressor_logger.LOGGER_CONFIG)


def _console_filter(metrics: bool, once: bool, log_once):
    """The stderr sink's filter: llmcompressor's ``support_log_once`` (lines it binds
    ``log_once``), without the METRIC lines unless ``metrics``, each message once if ``once``."""
    seen = set()

    def keep(record) -> bool:
        if not metrics and record["level"].name == "METRIC":
            return False
        if once:
            key = (record["level"].name, record["message"])
            if key in seen:
                return False
            seen.add(key)
        return log_once(record)

    return keep


def _console_level() -> tuple[str, bool]:
    """``(level, METRIC lines shown)`` of llmcompressor's stderr sink:
    ``LLM_COMPRESSOR_LOG_LEVEL`` when set (METRIC, level 38, shown from WARNING up, as in
    llmcompressor); else from lm-eval's log level: DEBUG -> every line; ERROR or above -> that
    level; otherwise (INFO, the default, or WARNING) -> warnings and errors without METRIC.
    Read from the ``logging`` module only: this layer does not import lm-eval."""
    explicit = os.environ.get("LLM_COMPRESSOR_LOG_LEVEL")
    if explicit:
        return explicit.upper(), True
    level = logging.getLogger("lm_eval").getEffectiveLevel()
    if level <= logging.DEBUG:
        return "DEBUG", True
    for name in ("CRITICAL", "ERROR"):
        if level >= getattr(logging, name):
            return name, False
    return "WARNING", False
