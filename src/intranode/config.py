"""Where a daemon keeps its state and how callers find it.

``INTRANODE_STATE_DIR`` selects the daemon for every ``intranode`` command, so several daemons
(one per test run) coexist, each with its own directory, port, token and kernel-name prefix.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_STATE_DIR = "/var/lib/intranode"
DEFAULT_PORT = 8470
DEFAULT_PROJECT = "intranode-demo"
DEFAULT_PREFIX = "in-"


def state_dir_from_env(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("INTRANODE_STATE_DIR") or DEFAULT_STATE_DIR)


@dataclass(frozen=True)
class Settings:
    """What a running daemon is; written to ``daemon.json`` in the state dir for the CLI."""

    state_dir: Path
    port: int = DEFAULT_PORT
    project: str = DEFAULT_PROJECT
    host: str = "127.0.0.1"
    prefix: str = DEFAULT_PREFIX
    # The Kubernetes endpoints of clusters listen on ports from this one upwards.
    kube_port_base: int = 0
    # Run nodes, pods and the VPC router as namespaces (root); off = the APIs only.
    dataplane: bool = True
    # The emulated resource hierarchy that holds the project (hierarchical firewall policies).
    organization_id: str = "123456789012"
    folder_id: str = "234567890123"
    # Log entries older than this many days are dropped, a day at a time.
    log_retention_days: int = 30

    @property
    def db_path(self) -> Path:
        return self.state_dir / "state.db"

    @property
    def token_path(self) -> Path:
        return self.state_dir / "token"

    @property
    def daemon_file(self) -> Path:
        return self.state_dir / "daemon.json"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "daemon.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "daemon.log"

    @property
    def gcloud_dir(self) -> Path:
        return self.state_dir / "gcloud"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def to_json(self) -> str:
        d = asdict(self)
        d["state_dir"] = str(self.state_dir)
        return json.dumps(d, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        d = json.loads(text)
        d["state_dir"] = Path(d["state_dir"])
        return cls(**d)


def ensure_token(path: Path) -> str:
    """The API token, made once per state dir and readable by root only."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = "in1." + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token
