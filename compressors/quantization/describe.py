"""What a checkpoint's ``quantization_config`` says: bits, group size, grid, format.

One flat description for the formats transformers loads, so that results of a model
quantized here and of a checkpoint quantized elsewhere (``method=none``) read alike:

* ``compressed-tensors`` (llmcompressor; what kick writes): ``config_groups[*].weights``
  ``num_bits``, ``strategy`` (``group``/``channel``/``tensor``), ``group_size``, ``symmetric``, ``actorder``;
  ``format`` (``pack-quantized``, ...), ``ignore``;
* ``gptq`` (AutoGPTQ / GPTQModel / optimum): ``bits``, ``group_size``, ``sym``, ``desc_act``,
  ``checkpoint_format``;
* ``awq`` (AutoAWQ): ``bits``, ``group_size``, ``zero_point``, ``version``;
* ``bitsandbytes``: ``load_in_8bit`` (LLM.int8, threshold) or ``load_in_4bit``
  (``bnb_4bit_quant_type``, double quantization; blocks of 64).

Group size ``-1`` means one group per output channel and ``0`` one group per weight matrix
(per tensor), as in the recipe.
"""

from __future__ import annotations

from typing import Any

from compressors.recipe import STRATEGIES

__all__ = ["describe_quantization"]


def describe_quantization(config: Any) -> dict | None:
    """Description of the ``quantization_config`` of ``config`` (a transformers config or the
    dict of a ``config.json``); ``None`` for an unquantized model."""
    quant = config.get("quantization_config") if isinstance(config, dict) else getattr(config, "quantization_config", None)
    if quant is None:
        return None
    data = quant.to_dict() if hasattr(quant, "to_dict") else dict(quant)
    method = data.get("quant_method", "unknown")
    method = str(getattr(method, "value", method))  # transformers keeps an enum in its config objects
    if method == "compressed-tensors":
        return _compressed_tensors(data)
    if method == "gptq":
        return _out(method, data.get("bits"), data.get("group_size"), data.get("sym"),
                    format=data.get("checkpoint_format") or data.get("format"), act_order=data.get("desc_act"))
    if method == "awq":
        zero_point = data.get("zero_point")
        return _out(method, data.get("bits") or data.get("w_bit"), data.get("group_size") or data.get("q_group_size"),
                    None if zero_point is None else not zero_point, format=data.get("version"))
    if method == "bitsandbytes":
        if data.get("load_in_8bit"):
            return _out(method, 8, None, True, format="LLM.int8", threshold=data.get("llm_int8_threshold"))
        return _out(method, 4, 64, None, format=data.get("bnb_4bit_quant_type"),
                    double_quant=data.get("bnb_4bit_use_double_quant"))
    return {"quant_method": method, "config": data}


def _compressed_tensors(data: dict) -> dict:
    groups = [g for g in (data.get("config_groups") or {}).values() if (g or {}).get("weights")]
    if not groups:
        return {"quant_method": "compressed-tensors", "config": data}
    weights = groups[0]["weights"]
    by_strategy = {strategy: size for size, strategy in STRATEGIES.items()}
    group_size = by_strategy.get(weights.get("strategy"), weights.get("group_size"))
    activations = groups[0].get("input_activations")
    out = _out(
        "compressed-tensors", weights.get("num_bits"), group_size, weights.get("symmetric"),
        format=groups[0].get("format") or data.get("format"), act_order=weights.get("actorder"),
        type=weights.get("type"), activation_bits=(activations or {}).get("num_bits"),
        ignore=data.get("ignore"),
    )
    if len(groups) > 1:
        out["groups"] = len(groups)
    return out


def _out(method: str, bits, group_size, symmetric, **extra) -> dict:
    scheme = f"W{bits}A{extra.get('activation_bits') or 16}" if bits else None
    return {"quant_method": method, "scheme": scheme, "bits": bits, "group_size": group_size,
            "symmetric": symmetric, **{k: v for k, v in extra.items() if k != "activation_bits"}}
