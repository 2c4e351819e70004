"""Quantization engines: one module per method's engine glue or math.

* :mod:`.rtn` – round-to-nearest onto the integer grid (llmcompressor ``QuantizationModifier``);
* :mod:`.gptq` – GPTQ (llmcompressor ``GPTQModifier``), and :mod:`.sparse_gptq`, GPTQ that
  keeps the zeros of a pruned model (own code: llmcompressor 0.14 has no such path);
* :mod:`.awq` – AWQ (llmcompressor ``AWQModifier`` then ``QuantizationModifier``), CUDA only;
* :mod:`.bitsandbytes` – LLM.int8() and NF4, quantized while loading;
* :mod:`.scheme` – the compressed-tensors weight scheme of a recipe, and its layer checks;
* :mod:`.levels` – which integer levels each quantized group really holds;
* :mod:`.memory` – measured bytes of the weights in memory;
* :mod:`.describe` – what an already quantized checkpoint's ``quantization_config`` says.

Each engine module has ``quantize(model, linears, recipe, calibration, *, device, progress)
-> dict`` (the pruning engines' signature); :func:`compressors.api.compress` calls it.
"""
