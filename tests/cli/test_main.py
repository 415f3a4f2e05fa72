"""The `sparsevl` dispatcher: argument order and the one-line user error."""

from __future__ import annotations

import pytest

from sparsevl.cli import USER_ERROR_STATUS, main
from sparsevl.data.store import open_vis_db


def test_options_may_sit_between_positionals(synth, tmp_path):
    synth.write(tmp_path / "videos" / "a.mp4", 20, fps=10, size=(64, 48))
    status = main(["extract-frames", str(tmp_path / "videos"), "--fps", "2", "--workers", "0", str(tmp_path / "vis_db")])
    assert status == 0
    assert "a" in open_vis_db(tmp_path / "vis_db")


def test_unknown_option_of_a_verb_without_config_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo-data", "out", "--no-such-option", "1"])
    assert exit_.value.code == 2
    assert "--no-such-option" in capsys.readouterr().err


def test_a_verb_with_sub_commands_still_parses(tmp_path, capsys):
    # argparse cannot intermix sub-commands: `vis-db index` takes the plain parser
    assert main(["vis-db", "index", str(tmp_path / "missing")]) == USER_ERROR_STATUS
    assert "missing" in capsys.readouterr().err


def test_user_error_is_one_line_with_status_2(tmp_path, capsys):
    status = main(["extract-frames", str(tmp_path / "missing"), str(tmp_path / "vis_db")])
    assert status == USER_ERROR_STATUS
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0]
