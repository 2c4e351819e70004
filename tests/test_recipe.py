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
    assert recipe.validate() is recipe


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
    assert set(METHODS) == {"dense", "magnitude", "wanda", "sparsegpt"}


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
