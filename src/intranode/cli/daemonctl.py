"""Starting and stopping a daemon process: by its PID file, never by name or pattern."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import click
import httpx

from intranode.cli.target import Target, alive

START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


def daemon_argv(
    state_dir: Path,
    port: int,
    project: str,
    prefix: str = "in-",
    dataplane: bool = True,
    options: Mapping[str, object] | None = None,
) -> list[str]:
    """The daemon's command line; ``options`` are further ``--name value`` pairs
    (``log-retention-days``, ``organization-id``...), passed on when not ``None``."""
    extra = [
        item
        for name, value in (options or {}).items()
        if value is not None
        for item in (f"--{name}", str(value))
    ]
    argv = [
        sys.executable,
        "-m",
        "intranode.daemon",
        "--state-dir",
        str(state_dir),
        "--port",
        str(port),
        "--project",
        project,
        "--prefix",
        prefix,
        *extra,
    ]
    return argv if dataplane else [*argv, "--no-dataplane"]


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_detached(target: Target, argv: list[str], port: int) -> int:
    """Start the daemon (``argv``) in its own session and return its PID once its API
    answers."""
    target.state_dir.mkdir(parents=True, exist_ok=True)
    log_path = target.state_dir / "daemon.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(
                f"the daemon exited with status {proc.returncode}; its log says:\n" + tail(log_path)
            )
        if answers(target, port):
            return proc.pid
        time.sleep(0.05)
    proc.terminate()
    raise click.ClickException(f"the daemon did not answer within {START_TIMEOUT:.0f}s")


def answers(target: Target, port: int) -> bool:
    token_file = target.state_dir / "token"
    if not token_file.exists() or not (target.state_dir / "daemon.pid").exists():
        return False
    try:
        r = httpx.get(
            f"http://127.0.0.1:{port}/intranode/v1/status",
            headers={"Authorization": f"Bearer {token_file.read_text().strip()}"},
            timeout=1.0,
        )
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def stop(target: Target) -> bool:
    """SIGTERM the daemon named by the PID file and wait for it; False if none was running."""
    pid = target.pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        # The PID file goes before the process ends: wait for the process itself.
        if not alive(pid):
            return True
        time.sleep(0.05)
    raise click.ClickException(f"the daemon (pid {pid}) did not stop within {STOP_TIMEOUT:.0f}s")


def purge(target: Target) -> None:
    if target.state_dir.exists():
        shutil.rmtree(target.state_dir)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
