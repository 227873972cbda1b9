"""End-to-end fixtures: a real daemon started with ``intranode up --detach`` in a state dir,
port and project of its own, and the user's real gcloud and kubectl pointed at it with
``intranode env``.

Under ``CI=true`` a missing gcloud or kubectl fails the run; elsewhere these tests skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from intranode.testing import INTRANODE, free_port

REPO = Path(__file__).resolve().parents[2]
GUIDE_POD_1 = """apiVersion: v1
kind: Pod
metadata:
  name: pod-1
spec:
  containers:
  - name: container-1
    image: us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0
"""
GUIDE_POD_2 = """apiVersion: v1
kind: Pod
metadata:
  name: pod-2
spec:
  containers:
  - name: container-2
    image: us-docker.pkg.dev/google-samples/containers/gke/hello-app:2.0
"""


def _require_tool(name: str, fallback: Path | None = None) -> str:
    path = shutil.which(name)
    if path is None and fallback is not None and fallback.exists():
        path = str(fallback)
    if path is None:
        msg = f"{name} is not installed; the e2e tests drive the real {name}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@dataclass
class Daemon:
    state_dir: Path
    port: int
    project: str
    env: dict[str, str]
    gcloud_bin: str
    kubectl_bin: str
    workdir: Path
    prefix: str

    def run(
        self, *argv: str, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            list(argv),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.workdir,
            input=input,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                f"stderr:\n{proc.stderr}"
            )
        return proc

    def gcloud(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(self.gcloud_bin, *args, check=check)

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(self.kubectl_bin, *args, check=check, input=input)

    def intranode(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(INTRANODE, *args, check=check)

    @property
    def token(self) -> str:
        return (self.state_dir / "token").read_text().strip()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    gcloud_bin = _require_tool("gcloud")
    kubectl_bin = _require_tool("kubectl", Path(sys.executable).parent / "kubectl")
    work = tmp_path_factory.mktemp("e2e")
    state = work / "state"
    port = free_port()
    project = f"e2e-{secrets.token_hex(3)}"
    prefix = f"e{secrets.token_hex(2)}-"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "KUBE"))}
    base_env["INTRANODE_STATE_DIR"] = str(state)
    up = subprocess.run(
        [
            INTRANODE,
            "up",
            "--detach",
            "--port",
            str(port),
            "--project",
            project,
            "--prefix",
            prefix,
        ],
        env=base_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert up.returncode == 0, up.stderr
    try:
        exports = subprocess.run(
            [INTRANODE, "env"], env=base_env, capture_output=True, text=True, check=True
        ).stdout
        env = dict(base_env)
        for line in exports.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value.strip("'")
        env["CLOUDSDK_CORE_DISABLE_PROMPTS"] = "1"
        env["KUBECACHEDIR"] = str(work / "kubecache")
        env["HOME"] = str(work / "home")
        (work / "home").mkdir()
        yield Daemon(state, port, project, env, gcloud_bin, kubectl_bin, work, prefix)
    finally:
        subprocess.run([INTRANODE, "down", "--purge"], env=base_env, timeout=60)
