"""Options of ``intranode up`` reach the daemon's settings: log retention and the emulated
organization and folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from intranode.cli.daemonctl import daemon_argv
from intranode.controllers.context import Context
from intranode.daemon import parse_args


def test_up_passes_given_options_to_the_daemon_and_leaves_out_the_rest(tmp_path: Path) -> None:
    argv = daemon_argv(
        tmp_path, 9000, "p", "x-", True, {"log-retention-days": 7, "folder-id": None}
    )
    assert argv[-4:] == ["--prefix", "x-", "--log-retention-days", "7"]
    settings = parse_args(argv[3:])
    assert settings.log_retention_days == 7
    assert settings.folder_id == "234567890123"  # the default


def test_settings_carry_the_hierarchy_and_the_retention(tmp_path: Path) -> None:
    settings = parse_args(
        [
            "--state-dir",
            str(tmp_path),
            "--organization-id",
            "555",
            "--folder-id",
            "777",
            "--log-retention-days",
            "3",
        ]
    )
    assert (settings.organization_id, settings.folder_id) == ("555", "777")
    ctx = Context.open(settings, "token", db_path=str(tmp_path / "state.db"))
    assert ctx.logs.retention_days == 3


@pytest.mark.parametrize(
    "option",
    [
        ["--log-retention-days", "0"],
        ["--log-retention-days", "ten"],
        ["--organization-id", "org-1"],
        ["--folder-id", "0123"],
    ],
)
def test_bad_options_are_refused(tmp_path: Path, option: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["--state-dir", str(tmp_path), *option])
    assert exc.value.code == 2
