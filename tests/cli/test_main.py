"""The `sparsevl` dispatcher: argument order and the one-line user error."""

from __future__ import annotations

from sparsevl.cli import USER_ERROR_STATUS, main
from sparsevl.data.store import open_vis_db


def test_options_may_sit_between_positionals(synth, tmp_path):
    synth.write(tmp_path / "videos" / "a.mp4", 20, fps=10, size=(64, 48))
    status = main(["extract-frames", str(tmp_path / "videos"), "--fps", "2", "--workers", "0", str(tmp_path / "vis_db")])
    assert status == 0
    assert "a" in open_vis_db(tmp_path / "vis_db")


def test_unknown_option_of_a_verb_without_config_is_a_usage_error(capsys):
    try:
        main(["demo-data", "out", "--no-such-option", "1"])
    except SystemExit as e:
        assert e.code == 2
    else:
        raise AssertionError("an unknown option was accepted")
    assert "--no-such-option" in capsys.readouterr().err


def test_user_error_is_one_line_with_status_2(tmp_path, capsys):
    status = main(["extract-frames", str(tmp_path / "missing"), str(tmp_path / "vis_db")])
    assert status == USER_ERROR_STATUS
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0]
