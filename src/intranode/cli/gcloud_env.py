"""The gcloud configuration and kubeconfig that point the user's real tools at a daemon.

gcloud keeps properties in ``$CLOUDSDK_CONFIG/configurations/config_<name>`` (INI); writing
that file directly is what ``gcloud config set`` does, without its half-second start-up per call.
"""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from intranode.config import Settings

REGION = "us-central1"
ZONE = "us-central1-a"
# APIs gcloud reaches at the daemon's root; Compute's override carries its own version path.
ROOT_APIS = ("container", "logging", "serviceusage", "networkmanagement")


def gcloud_properties(settings: Settings) -> dict[str, dict[str, str]]:
    base = settings.base_url + "/"
    overrides = {api: base for api in ROOT_APIS}
    overrides["compute"] = base + "compute/v1/"
    return {
        "core": {
            "project": settings.project,
            "account": "intranode@intranode.local",
            "disable_usage_reporting": "true",
            # Never probe the GCE metadata server: nothing of ours is there.
            "check_gce_metadata": "false",
        },
        "auth": {"access_token_file": str(settings.token_path)},
        "api_endpoint_overrides": overrides,
        "compute": {"region": REGION, "zone": ZONE},
        "component_manager": {"disable_update_check": "true"},
    }


def write_gcloud_config(settings: Settings) -> Path:
    cfg_dir = settings.gcloud_dir
    (cfg_dir / "configurations").mkdir(parents=True, exist_ok=True)
    path = cfg_dir / "configurations" / "config_default"
    parser = configparser.ConfigParser()
    if path.exists():
        parser.read(path)
    for section, values in gcloud_properties(settings).items():
        if not parser.has_section(section):
            parser.add_section(section)
        for k, v in values.items():
            parser.set(section, k, v)
    with path.open("w") as f:
        parser.write(f)
    (cfg_dir / "active_config").write_text("default")
    return cfg_dir


def export_lines(settings: Settings) -> list[str]:
    q = shlex.quote
    return [
        f"export INTRANODE_STATE_DIR={q(str(settings.state_dir))}",
        f"export CLOUDSDK_CONFIG={q(str(settings.gcloud_dir))}",
        f"export KUBECONFIG={q(str(settings.kubeconfig))}",
    ]


CONSOLE_LOGIN_PATH = "/console/login"


def console_link(settings: Settings) -> str | None:
    """The console's login link: it carries the daemon's API token once, and the console
    answers it with a session cookie. ``None`` when the token cannot be read (another user's
    daemon, or none started yet)."""
    try:
        token = settings.token_path.read_text().strip()
    except OSError:
        return None
    return f"{settings.base_url}{CONSOLE_LOGIN_PATH}?token={token}" if token else None
