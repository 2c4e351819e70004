"""``preset=reference-gptq``: the LLM-KICK reference's GPTQ run as ``--model_args`` keys.

The reference (``GPTQ_experiment/llama.py`` of VITA-Group/llm-kick, run by its scripts with
``--wbits N --save ...`` only) calibrates on ``--dataset wikitext2`` (default), 128 samples of
``model.seqlen = 2048`` tokens, seed 0, ``--groupsize 128``, and leaves ``--sym`` and
``--act-order`` off. Explicit keys that contradict the preset are refused.
"""

from __future__ import annotations

import pytest

from compressors.options import PRESETS, expand_preset
from kick_models.compressed_checkpoint import split_model_args
from kick_models.model_args import check_keys

REFERENCE_RUN = {  # llama.py's argparse defaults and the absent flags, read off the reference
    "method": "gptq", "group_size": 128, "symmetric": False, "act_order": False,
    "calibration": "wikitext2", "nsamples": 128, "seqlen": 2048, "seed": 0,
}


def test_preset_is_the_reference_run():
    assert PRESETS["reference-gptq"] == REFERENCE_RUN


def test_model_args_preset_gives_the_reference_recipe_and_calibration():
    kwargs = {"preset": "reference-gptq", "bits": 4, "device": "cpu"}
    recipe, calibration = split_model_args(kwargs)
    assert kwargs == {"device": "cpu"}  # preset, recipe and calibration keys taken out
    assert (recipe.method, recipe.bits, recipe.group_size, recipe.symmetric, recipe.act_order) == (
        "gptq", 4, 128, False, False,
    )
    assert (calibration.source, calibration.nsamples, calibration.seqlen, calibration.seed) == ("wikitext2", 128, 2048, 0)
    # the same cache entry as the keys spelled out
    spelled = split_model_args({**{k: str(v).lower() for k, v in REFERENCE_RUN.items()}, "bits": "4"})
    assert (recipe.as_dict(), calibration.as_dict()) == (spelled[0].as_dict(), spelled[1].as_dict())


def test_keys_the_preset_leaves_out_stay_the_users():
    recipe, _ = split_model_args({"preset": "reference-gptq", "bits": 3, "ignore": "lm_head;mlp.down_proj"})
    assert recipe.bits == 3 and recipe.ignore == ("lm_head", "mlp.down_proj")


def test_an_agreeing_explicit_key_is_fine_a_contradicting_one_is_a_one_line_error():
    assert expand_preset({"preset": "reference-gptq", "act_order": "false", "group_size": "128"})["act_order"] is False
    for key, value in [("act_order", "true"), ("symmetric", True), ("calibration", "c4"), ("group_size", 64),
                       ("method", "wanda+gptq")]:
        with pytest.raises(ValueError) as err:
            split_model_args({"preset": "reference-gptq", "bits": 4, key: value})
        message = str(err.value)
        assert "\n" not in message and f"{key}=" in message and "preset=reference-gptq" in message


def test_unknown_preset_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"preset='gptq-ref' is not known: allowed \['reference-gptq'\]"):
        split_model_args({"preset": "gptq-ref", "bits": 4})


def test_no_preset_changes_nothing():
    assert expand_preset({"bits": 4, "preset": "none"}) == {"bits": 4}
    recipe, calibration = split_model_args({"method": "gptq", "bits": 4})
    assert (calibration.source, recipe.symmetric, recipe.act_order) == ("c4", True, True)  # our defaults


def test_model_kick_accepts_the_key():
    check_keys({"preset": "reference-gptq"})
