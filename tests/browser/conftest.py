"""Browser fixtures: a throwaway daemon with the data plane (root), Debian's Chromium driven
headless by Playwright, signed in with the link ``intranode env`` prints, and a kubeconfig for
the guide's cluster so that traffic is made the guide's way (``kubectl exec``).

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``apt-get
install chromium``, which ``scripts/setup`` does). Under ``CI=true`` a missing Chromium,
Playwright or root fails the run; elsewhere these tests skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from intranode.testing import INTRANODE, Daemon, temporary_daemon

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = os.environ.get("INTRANODE_CHROMIUM", "/usr/bin/chromium")
KUBECTL = str(Path(sys.executable).parent / "kubectl")
ZONE = "us-central1-a"


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(what)
    pytest.skip(what)


@pytest.fixture(scope="package")
def playwright_api() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        _missing(f"{CHROMIUM} is missing: apt-get install chromium (scripts/setup does)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright_api: Any) -> Iterator[Any]:
    # --no-sandbox: Chromium refuses to run as root with its sandbox, and the tests run as root.
    b = playwright_api.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
    )
    yield b
    b.close()


@dataclass
class Console:
    daemon: Daemon
    login_link: str
    api: httpx.Client

    @property
    def project(self) -> str:
        return self.daemon.project

    def url(self, path: str) -> str:
        return self.daemon.base_url + path

    def cluster(self, name: str, location: str = ZONE) -> dict[str, Any]:
        path = f"/v1/projects/{self.project}/locations/{location}/clusters/{name}"
        return dict(self.api.get(path).json())

    def cluster_names(self) -> list[str]:
        r = self.api.get(f"/v1/projects/{self.project}/locations/-/clusters").json()
        return sorted(c["name"] for c in r.get("clusters", []))

    def kubeconfig(self, name: str, path: Path) -> Path:
        c = self.cluster(name)
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {
                        "server": f"https://{c['endpoint']}",
                        "certificate-authority-data": c["masterAuth"]["clusterCaCertificate"],
                    },
                }
            ],
            "users": [{"name": "intranode", "user": {"token": self.daemon.token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": "intranode"}}],
            "current-context": name,
        }
        path.write_text(json.dumps(cfg))
        return path


@pytest.fixture(scope="package")
def console() -> Iterator[Console]:
    if os.geteuid() != 0:
        _missing("the browser tests start a daemon with the data plane, which needs root")
    with temporary_daemon(project="console-test") as d:
        env = {**os.environ, "INTRANODE_STATE_DIR": str(d.state_dir)}
        out = subprocess.run(
            [INTRANODE, "env"], env=env, capture_output=True, text=True, check=True, timeout=30
        )
        link = out.stderr.strip().removeprefix("intranode console: ")
        assert link.startswith(d.base_url + "/console/login?token="), out.stderr
        with d.google() as api:
            yield Console(d, link, api)


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    p = context.new_page()
    p.set_default_timeout(20_000)
    p.goto(console.login_link)
    yield p
    context.close()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_for(check: Any, timeout: float = 30.0, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(every)


def kubectl(kubeconfig: Path, *args: str, input: str | None = None) -> str:
    proc = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        input=input,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
