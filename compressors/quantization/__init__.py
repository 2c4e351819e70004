"""Quantization: one module per method, each holding its llmcompressor glue (or math).

* :mod:`.rtn` – round-to-nearest onto the integer grid (llmcompressor ``QuantizationModifier``);
* :mod:`.gptq` – GPTQ (llmcompressor ``GPTQModifier``), and on a pruned model its subclass
  whose per-layer kernel is :mod:`.sparse_gptq`, GPTQ that keeps the zeros (own code:
  llmcompressor 0.14 has no such path);
* :mod:`.awq` – AWQ (llmcompressor ``AWQModifier`` then ``QuantizationModifier``), CUDA only;
* :mod:`.bitsandbytes` – LLM.int8() and NF4, quantized while loading;
* :mod:`.scheme` – the compressed-tensors weight scheme of a recipe, and its layer checks;
* :mod:`.levels` – which integer levels each quantized group really holds;
* :mod:`.memory` – measured bytes of the weights in memory;
* :mod:`.checkpoint` – writing a quantized model as a compressed-tensors checkpoint;
* :mod:`.describe` / :mod:`.external` – what an already quantized checkpoint's
  ``quantization_config`` says, and what loading it needs.

Each method module has ``quantize(model, linears, recipe, calibration, *, device, progress)
-> dict`` (the pruning modules' signature) and is registered in
:data:`compressors.engines.ENGINES`; :func:`compressors.api.compress` calls it.
"""
