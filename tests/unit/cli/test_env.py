"""`intranode env`: the gcloud configuration and export lines that point the real tools at
one daemon."""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

from click.testing import CliRunner

from intranode.cli.gcloud_env import export_lines, write_gcloud_config
from intranode.cli.main import cli
from intranode.config import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "st", port=18999, project="my-proj")


def test_gcloud_config_points_every_api_at_the_daemon(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    cfg = write_gcloud_config(s)
    ini = configparser.ConfigParser()
    ini.read(cfg / "configurations" / "config_default")
    assert ini["core"]["project"] == "my-proj"
    assert ini["core"]["check_gce_metadata"] == "false"
    assert ini["auth"]["access_token_file"] == str(s.state_dir / "token")
    assert ini["api_endpoint_overrides"]["container"] == "http://127.0.0.1:18999/"
    assert ini["api_endpoint_overrides"]["compute"] == "http://127.0.0.1:18999/compute/v1/"
    assert ini["compute"]["zone"] == "us-central1-a"
    assert (cfg / "active_config").read_text() == "default"


def test_gcloud_config_keeps_properties_the_user_set(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    cfg = write_gcloud_config(s)
    path = cfg / "configurations" / "config_default"
    path.write_text(path.read_text() + "\n[container]\ncluster = mine\n")
    write_gcloud_config(s)
    ini = configparser.ConfigParser()
    ini.read(path)
    assert ini["container"]["cluster"] == "mine"


def test_export_lines_are_shell_safe(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path / "a dir; rm -rf x", port=1, project="p")
    script = "\n".join(export_lines(s)) + '\nprintf "%s" "$KUBECONFIG"'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout == str(s.state_dir / "kubeconfig")


def test_env_without_a_daemon_says_how_to_start_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["env", "--state-dir", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "intranode up --detach" in result.output


def test_env_prints_exports_for_the_daemon_that_ran(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    s.state_dir.mkdir(parents=True)
    s.daemon_file.write_text(s.to_json())
    result = CliRunner().invoke(cli, ["env", "--state-dir", str(s.state_dir)])
    assert result.exit_code == 0, result.output
    assert f"export CLOUDSDK_CONFIG={s.gcloud_dir}" in result.output.splitlines()
