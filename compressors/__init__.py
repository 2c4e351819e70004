"""Compression engines of llm-kick: pruning, quantization, and the storage analysis.

* :mod:`compressors.recipe` – what to do to a model (a validated :class:`~compressors.recipe.Recipe`);
* :mod:`compressors.engines` – which module applies each method;
* :mod:`compressors.api` – ``compress`` and ``save_checkpoint``;
* :mod:`compressors.pruning`, :mod:`compressors.quantization` – the methods, each module with
  its math and its llmcompressor glue; :mod:`compressors.llmcompressor_adapter` runs their
  llmcompressor modifiers;
* :mod:`compressors.calibration` – calibration tokens; :mod:`compressors.storage` – the
  storage analysis.

Import the sub-modules you need: this file stays light so that reading a storage report never
pays for torch or llmcompressor (nor does :mod:`compressors.recipe`).
"""
