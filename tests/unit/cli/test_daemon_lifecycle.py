"""`intranode up --detach` / `status` / `down` against a real daemon process (no root)."""

from __future__ import annotations

import socket
from pathlib import Path

from click.testing import CliRunner

from intranode.cli.main import cli
from intranode.config import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_up_status_down_purge(tmp_path: Path) -> None:
    state = tmp_path / "st"
    port = _free_port()
    runner = CliRunner()
    up = runner.invoke(
        cli, ["up", "--detach", "--no-dataplane", "--state-dir", str(state), "--port", str(port)]
    )
    try:
        assert up.exit_code == 0, up.output
        pid = int((state / "daemon.pid").read_text())
        status = runner.invoke(cli, ["status", "--state-dir", str(state), "--format", "json"])
        assert status.exit_code == 0, status.output
        assert '"project": "intranode-demo"' in status.output
        again = runner.invoke(
            cli,
            ["up", "--detach", "--no-dataplane", "--state-dir", str(state), "--port", str(port)],
        )
        assert again.exit_code == 1
        assert "already runs" in again.output and str(pid) in again.output
    finally:
        down = runner.invoke(cli, ["down", "--purge", "--state-dir", str(state)])
    assert down.exit_code == 0, down.output
    assert not state.exists()
    assert (
        not Path(f"/proc/{pid}").exists() or "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    )


def test_up_on_a_busy_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = CliRunner().invoke(
            cli,
            [
                "up",
                "--detach",
                "--no-dataplane",
                "--state-dir",
                str(tmp_path / "st"),
                "--port",
                str(port),
            ],
        )
    assert r.exit_code == 1
    assert f"port {port}" in r.output and "in use" in r.output


def test_status_without_a_daemon_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "st"
    state.mkdir()
    (state / "daemon.json").write_text(
        Settings(state_dir=state, port=_free_port(), project="p").to_json()
    )
    (state / "token").write_text("t")
    r = CliRunner().invoke(cli, ["status", "--state-dir", str(state)])
    assert r.exit_code == 1
    assert "does not answer" in r.output
