"""Recipe: normalisation, serialisation, and a clear error for each bad value."""

from __future__ import annotations

import json

import pytest

from compressors.recipe import METHODS, Recipe, parse_pattern


def test_default_is_dense_and_needs_nothing():
    recipe = Recipe()
    assert (recipe.method, recipe.sparsity, recipe.pattern, recipe.scope) == ("dense", 0.0, "unstructured", None)
    assert recipe.ignore == ("lm_head",)
    assert not recipe.needs_calibration()


@pytest.mark.parametrize(
    "method, scope", [("magnitude", "layer"), ("wanda", "row"), ("sparsegpt", "block")]
)
def test_scope_defaults_to_the_methods_group(method, scope):
    assert Recipe(method, sparsity=0.5).scope == scope


def test_nm_derives_sparsity_and_equal_recipes_serialise_alike():
    derived = Recipe("wanda", pattern="2:4")
    explicit = Recipe("wanda", sparsity=0.5, pattern=" 2:4 ")
    assert derived == explicit and derived.sparsity == 0.5 and derived.nm == (2, 4)
    assert json.dumps(derived.as_dict(), sort_keys=True) == json.dumps(explicit.as_dict(), sort_keys=True)
    assert Recipe("magnitude", pattern="1:2").sparsity == 0.5
    assert Recipe("magnitude", pattern="3:4").sparsity == 0.75


def test_as_dict_round_trips_through_json():
    recipe = Recipe("magnitude", sparsity=0.3, scope="global", ignore=("lm_head", "re:.*down_proj"))
    data = json.loads(json.dumps(recipe.as_dict()))
    assert Recipe(**{**data, "ignore": tuple(data["ignore"])}) == recipe


def test_calibration_need_follows_the_method():
    assert Recipe("wanda", sparsity=0.5).needs_calibration()
    assert Recipe("sparsegpt", sparsity=0.5).needs_calibration()
    assert not Recipe("magnitude", sparsity=0.5).needs_calibration()
    assert set(METHODS) == {"dense", "magnitude", "wanda", "sparsegpt", "rtn", "gptq", "awq", "int8", "nf4"}
    assert Recipe("gptq", bits=4).needs_calibration() and not Recipe("rtn", bits=4).needs_calibration()
    assert Recipe("magnitude+gptq", sparsity=0.5, bits=4).needs_calibration()
    assert not Recipe("magnitude+rtn", sparsity=0.5, bits=4).needs_calibration()


def test_from_args_casts_lm_eval_strings():
    recipe = Recipe.from_args(method="sparsegpt", sparsity="0.5", ignore="lm_head; re:.*q_proj", scope="none")
    assert recipe == Recipe("sparsegpt", sparsity=0.5, ignore=("lm_head", "re:.*q_proj"))
    assert Recipe.from_args(method="magnitude", sparsity=0.5, ignore="").ignore == ()
    assert Recipe.from_args(method="none") == Recipe()


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(method="magnitude", sparsity=1.5), ["sparsity=1.5", "0 <= sparsity < 1"]),
        (dict(method="magnitude", sparsity=-0.1), ["sparsity=-0.1", "0 <= sparsity < 1"]),
        (dict(method="magnitude", sparsity=1.0), ["sparsity=1.0"]),
        (dict(method="magnitude", sparsity=float("nan")), ["sparsity=nan"]),
        (dict(method="magnitude", sparsity="half"), ["sparsity='half'"]),
        (dict(method="wanda", pattern="3:2"), ["pattern='3:2'", "0 < N < M"]),
        (dict(method="wanda", pattern="0:4"), ["pattern='0:4'"]),
        (dict(method="wanda", pattern="2-4"), ["pattern='2-4'", "unstructured", "N:M"]),
        (dict(method="wanda", sparsity=0.6, pattern="2:4"), ["pattern='2:4'", "sparsity 0.5", "sparsity=0.6"]),
        (dict(method="magnitude", sparsity=0.3, pattern="2:4"), ["sparsity=0.3"]),
        (dict(method="obs", sparsity=0.5), ["method='obs'", "dense", "magnitude", "sparsegpt", "wanda"]),
        (dict(method="wanda", sparsity=0.5, scope="layer"), ["scope='layer'", "['row']"]),
        (dict(method="magnitude", sparsity=0.5, scope="block"), ["scope='block'", "'global'"]),
        (dict(method="magnitude", pattern="2:4", scope="layer"), ["scope='layer'", "leave scope unset"]),
        (dict(method="dense", sparsity=0.5), ["method='dense'", "sparsity=0.5"]),
        (dict(method="magnitude"), ["needs a sparsity"]),
        (dict(method="magnitude", sparsity=0.5, ignore=("re:(",)), ["'re:('", "regex"]),
        (dict(method="magnitude", sparsity=0.5, ignore=("",)), ["ignore entry"]),
    ],
)
def test_bad_values_name_the_value_and_the_allowed_ones(kwargs, words):
    with pytest.raises(ValueError) as err:
        Recipe(**kwargs)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_from_args_rejects_unknown_keys_and_bad_numbers():
    with pytest.raises(ValueError, match=r"unknown recipe argument\(s\) \['sparsity_ratio'\]"):
        Recipe.from_args(method="wanda", sparsity_ratio=0.5)
    with pytest.raises(ValueError, match="sparsity='fifty'"):
        Recipe.from_args(method="wanda", sparsity="fifty")


@pytest.mark.parametrize("pattern, expected", [("unstructured", None), ("1:2", (1, 2)), ("2:4", (2, 4)), ("4:8", (4, 8))])
def test_parse_pattern(pattern, expected):
    assert parse_pattern(pattern) == expected


# ----------------------------------------------------------------------------- quantization
def test_quantization_defaults_are_filled_and_spelled_once():
    assert Recipe("gptq", bits=4) == Recipe("gptq", bits=4, group_size=128, symmetric=True, act_order=True)
    assert Recipe("rtn", bits=8).as_dict() == {
        "method": "rtn", "sparsity": 0.0, "pattern": "unstructured", "scope": None, "ignore": ["lm_head"],
        "bits": 8, "group_size": 128, "symmetric": True,
    }
    assert (Recipe("awq").bits, Recipe("awq").group_size, Recipe("awq").symmetric) == (4, 128, False)
    assert Recipe("int8").as_dict()["bits"] == 8 and "group_size" not in Recipe("int8").as_dict()
    assert (Recipe("nf4").bits, Recipe("nf4").group_size) == (4, 64)
    assert Recipe("nf4").on_load and Recipe("int8").on_load and not Recipe("gptq", bits=4).on_load


def test_pruning_recipes_keep_their_cache_key():
    """Adding quantization must not change the key (and folder names) of pruning recipes."""
    assert list(Recipe("wanda", sparsity=0.5).as_dict()) == ["method", "sparsity", "pattern", "scope", "ignore"]


def test_combination_prunes_then_quantizes():
    recipe = Recipe("sparsegpt+gptq", sparsity=0.5, bits=4, group_size=64)
    assert (recipe.prune_method, recipe.quant_method, recipe.scope, recipe.act_order) == ("sparsegpt", "gptq", "block", True)
    assert Recipe(" wanda + rtn ", pattern="2:4", bits=4).method == "wanda+rtn"
    assert Recipe("gptq", bits=4).prune_method is None and Recipe("wanda", sparsity=0.5).quant_method is None


def test_from_args_casts_quantization_strings():
    recipe = Recipe.from_args(method="gptq", bits="3", group_size="-1", symmetric="false", act_order="True")
    assert recipe == Recipe("gptq", bits=3, group_size=-1, symmetric=False, act_order=True)
    assert Recipe.from_args(method="rtn", bits="4", group_size="0").group_size == 0


@pytest.mark.parametrize("group_size, strategy, label", [(0, "tensor", "per-tensor"), (-1, "channel", "per-channel"),
                                                          (64, "group", "g64")])
def test_group_size_names_the_compressed_tensors_strategy_and_the_label(group_size, strategy, label):
    from compressors.quantization.scheme import scheme_label, weight_args

    recipe = Recipe("rtn", bits=4, group_size=group_size, symmetric=False)
    args = weight_args(recipe)
    assert args["strategy"] == strategy and args["group_size"] == (group_size if strategy == "group" else None)
    assert scheme_label(recipe) == f"W4A16 int asym {label}"


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(method="gptq", bits=5), ["bits=5", "method='gptq'", "2, 3, 4, 8"]),
        (dict(method="gptq", bits=16), ["bits=16", "2, 3, 4, 8"]),
        (dict(method="rtn", bits=True), ["bits=True"]),
        (dict(method="gptq"), ["needs bits", "2, 3, 4, 8"]),
        (dict(method="awq", bits=8), ["bits=8", "allowed 4"]),
        (dict(method="awq", bits=4, group_size=0), ["group_size=0", "method='awq'", "['rtn', 'gptq']"]),
        (dict(method="gptq", bits=4, group_size=-2), ["group_size=-2", "-1", "0 for one scale per weight matrix"]),
        (dict(method="nf4", group_size=128), ["group_size=128", "64"]),
        (dict(method="int8", group_size=64), ["group_size=64", "method='int8'"]),
        (dict(method="int8", symmetric=False), ["symmetric=False", "leave it unset"]),
        (dict(method="rtn", bits=4, act_order=True), ["act_order=True", "method='rtn'"]),
        (dict(method="gptq", bits=4, symmetric="yes"), ["symmetric='yes'", "true or false"]),
        (dict(method="gptq", bits=4, sparsity=0.5), ["quantizes only", "sparsegpt+gptq"]),
        (dict(method="wanda", sparsity=0.5, bits=4), ["bits=4", "wanda+gptq"]),
        (dict(method="dense", bits=4), ["bits=4", "method='dense'"]),
        (dict(method="sparsegpt+nf4", sparsity=0.5), ["sparsegpt+nf4", "['rtn', 'gptq', 'awq']"]),
        (dict(method="gptq+sparsegpt", bits=4), ["gptq+sparsegpt", "prune with one of"]),
        (dict(method="sparsegpt+gptq", bits=4), ["needs a sparsity"]),
    ],
)
def test_bad_quantization_values_name_the_value_and_the_allowed_ones(kwargs, words):
    with pytest.raises(ValueError) as err:
        Recipe(**kwargs)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_from_args_rejects_bad_quantization_strings():
    with pytest.raises(ValueError, match="bits='four'"):
        Recipe.from_args(method="gptq", bits="four")
    with pytest.raises(ValueError, match="act_order='maybe'"):
        Recipe.from_args(method="gptq", bits=4, act_order="maybe")


# ----------------------------------------------------------------------------- the declaration
def test_fields_are_the_declared_keys_with_their_defaults():
    import dataclasses

    from compressors.options import RECIPE_OPTIONS
    from compressors.recipe import QUANT_FIELDS

    fields = dataclasses.fields(Recipe)
    assert [f.name for f in fields] == list(RECIPE_OPTIONS)
    assert [f.default for f in fields] == [o.default for o in RECIPE_OPTIONS.values()]
    assert QUANT_FIELDS == ("bits", "group_size", "symmetric", "act_order")


def test_declared_help_names_every_method_and_scope():
    from compressors.options import RECIPE_OPTIONS

    assert all(f"`{method}`" in RECIPE_OPTIONS["method"].help for method in METHODS)
    scopes = {scope for spec in METHODS.values() for scope in spec.scopes}
    assert scopes and all(f"`{scope}`" in RECIPE_OPTIONS["scope"].help for scope in scopes)


def test_from_args_reads_each_key_by_its_declaration():
    assert Recipe.from_args(method=None) == Recipe()  # lm-eval turns "none" into None
    assert Recipe.from_args(method="magnitude", sparsity=0.5, ignore="none").ignore == ()
    assert Recipe.from_args(method="magnitude", sparsity=0.5, ignore="lm_head;mlp.down_proj").ignore == (
        "lm_head", "mlp.down_proj")
    assert Recipe.from_args(method="rtn", bits="4", group_size="none") == Recipe("rtn", bits=4)
    with pytest.raises(ValueError, match="sparsity=True is not a number"):
        Recipe.from_args(method="magnitude", sparsity=True)
    with pytest.raises(ValueError, match="bits='4.5' is not an integer"):
        Recipe.from_args(method="rtn", bits="4.5")
