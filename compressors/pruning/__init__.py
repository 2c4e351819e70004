"""Pruning: one module per method, each holding its math and its llmcompressor glue.

* :mod:`.magnitude` – |W| (own code, one matrix at a time);
* :mod:`.wanda` – Wanda, run by llmcompressor's ``WandaPruningModifier``;
* :mod:`.sparsegpt` – SparseGPT: its per-weight solver (:func:`~.sparsegpt.sparsify`) and the
  ``SparseGPTModifier`` subclass that runs it;
* :mod:`.targets` – the ``Linear`` modules a recipe prunes; :mod:`.masks` – the mask selection
  the methods share (zeros are counted by :mod:`compressors.zeros`, which the
  quantization levels check and the adapter share too).

Each method module has ``prune(model, linears, recipe, calibration, *, device, progress) ->
dict`` and is registered in :data:`compressors.engines.ENGINES`; the llmcompressor ones hand
their modifier to :mod:`compressors.llmcompressor_adapter`, which runs it and imports no
method. llmcompressor is imported only when a method runs.
"""
