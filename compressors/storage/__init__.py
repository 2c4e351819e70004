"""Storage analysis: how compressible a checkpoint's weights are on disk, and what it means
for load time (Mao et al., "On the Compressibility of Quantized Large Language Models", 2024).

Light to import (NumPy and the codec bindings; no torch). Entry points:

* :func:`analyze` with :class:`AnalysisOptions`: per-tensor sizes, entropy bounds and speeds.
* :func:`summarize`: model-level totals per representation and codec.
* :func:`summarize_folder`: a compact JSON summary to attach to evaluation results.
* ``python -m compressors.storage`` / :func:`compressors.storage.cli.main`: the command.
"""

from compressors.storage.analyze import AnalysisOptions, analyze
from compressors.storage.checkpoint import StorageInputError
from compressors.storage.codecs import CODECS, LosslessError
from compressors.storage.report import summarize
from compressors.storage.summary import summarize_folder

__all__ = ["CODECS", "AnalysisOptions", "LosslessError", "StorageInputError", "analyze", "summarize", "summarize_folder"]
