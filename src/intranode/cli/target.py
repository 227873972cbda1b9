"""Which daemon a command means: the one whose state dir ``INTRANODE_STATE_DIR`` (or
``--state-dir``) names, as it described itself in ``daemon.json`` when it started."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click

from intranode.config import Settings, state_dir_from_env


@dataclass(frozen=True)
class Target:
    state_dir: Path

    @classmethod
    def from_option(cls, state_dir: str | None) -> Target:
        return cls(state_dir_from_env(state_dir).resolve())

    @property
    def settings_file(self) -> Path:
        return self.state_dir / "daemon.json"

    def settings(self) -> Settings:
        try:
            return Settings.from_json(self.settings_file.read_text())
        except FileNotFoundError:
            raise click.ClickException(
                f"no intranode daemon has run with state dir {self.state_dir} "
                "(start one with: intranode up --detach)"
            ) from None
        except (ValueError, TypeError, KeyError) as exc:
            raise click.ClickException(f"{self.settings_file} is unreadable: {exc}") from exc

    def token(self) -> str:
        try:
            return (self.state_dir / "token").read_text().strip()
        except PermissionError as exc:
            raise click.ClickException(
                f"cannot read the API token in {self.state_dir}: run as the user who started "
                "the daemon (root)"
            ) from exc
        except FileNotFoundError as exc:
            raise click.ClickException(f"no API token in {self.state_dir}") from exc

    def pid(self) -> int | None:
        """The daemon's PID if its process is alive."""
        try:
            pid = int((self.state_dir / "daemon.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if alive(pid) else None


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (killed, not yet reaped) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status
