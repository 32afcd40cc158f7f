"""Every command answers --help, and the dispatcher rejects unknown commands."""

from __future__ import annotations

import pytest

from training.cli import main


@pytest.mark.parametrize("command", ["train", "evaluate", "score", "report"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"stanceframe {command}" in capsys.readouterr().out


def test_top_level_help_lists_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("train", "evaluate", "score", "report"))


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2


def test_unknown_command_is_rejected(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fly"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
