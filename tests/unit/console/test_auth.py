"""The console is behind the daemon's token: a bearer header or the cookie its login link
sets. Without either no page and no data is served, and the Google APIs keep refusing
anything but the bearer token."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from intranode.api.console.session import COOKIE, session_value
from intranode.cli.gcloud_env import console_link
from intranode.cli.main import cli
from intranode.config import Settings
from intranode.controllers.context import Context
from tests.unit.conftest import TOKEN
from tests.unit.console.helpers import CSRF, cluster_names

PAGES = [
    "/console",
    "/console/kubernetes/clusters",
    "/console/kubernetes/clusters/create",
    "/console/kubernetes/clusters/create/configure?name=a&mode=standard",
    "/console/kubernetes/clusters/us-central1-a/x",
    "/console/kubernetes/clusters/us-central1-a/x/progress?operation=o",
    "/console/kubernetes/workloads",
    "/console/networking/subnets",
    "/console/networking/subnets/us-central1/default",
    "/console/networking/traffic-map",
    "/console/networking/traffic-map/view",
    "/console/logs/query",
    "/console/logs/tail",
    "/console/static/console.js",
    "/console/static/console.css",
]


def _link_path(settings: Settings) -> str:
    settings.token_path.write_text(TOKEN + "\n")
    link = console_link(settings)
    assert link is not None
    return link.removeprefix(settings.base_url)


@pytest.mark.parametrize("path", PAGES)
def test_without_credentials_every_page_is_the_sign_in_page(
    anon_client: TestClient, path: str
) -> None:
    r = anon_client.get(path)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("text/html")
    assert "Sign in to use the console." in r.text
    assert "<nav" not in r.text and "default" not in r.text.split("<main>", 1)[1]


def test_a_wrong_token_or_cookie_is_refused(anon_client: TestClient) -> None:
    assert anon_client.get("/console", headers={"Authorization": "Bearer nope"}).status_code == 401
    anon_client.cookies.set(COOKIE, session_value("another-token"))
    assert anon_client.get("/console").status_code == 401
    anon_client.cookies.set(COOKIE, TOKEN)  # the token itself is not the session value
    assert anon_client.get("/console").status_code == 401


def test_the_login_link_sets_a_session_cookie(anon_client: TestClient, settings: Settings) -> None:
    r = anon_client.get(_link_path(settings), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={session_value(TOKEN)};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert TOKEN not in cookie
    page = anon_client.get("/console")
    assert page.status_code == 200 and "Kubernetes clusters" in page.text


def test_the_cookie_does_not_open_the_google_apis(
    anon_client: TestClient, settings: Settings
) -> None:
    anon_client.get(_link_path(settings))
    r = anon_client.get("/compute/v1/projects/test-proj/global/networks")
    assert r.status_code == 401
    assert r.json()["error"]["status"] == "UNAUTHENTICATED"


def test_a_wrong_login_link_is_refused(anon_client: TestClient) -> None:
    r = anon_client.get("/console/login?token=in1.wrong", follow_redirects=False)
    assert r.status_code == 401
    assert "This login link is not valid for this daemon" in r.text
    assert "set-cookie" not in r.headers


def test_signing_in_with_the_token_in_the_form(anon_client: TestClient) -> None:
    bad = anon_client.post("/console/login", data={"token": "nope"}, follow_redirects=False)
    assert bad.status_code == 401 and "That is not this daemon&#x27;s API token." in bad.text
    ok = anon_client.post("/console/login", data={"token": TOKEN}, follow_redirects=False)
    assert ok.status_code == 303
    assert anon_client.get("/console").status_code == 200


def test_signing_out_ends_the_session(anon_client: TestClient) -> None:
    anon_client.post("/console/login", data={"token": TOKEN})
    r = anon_client.post("/console/logout", follow_redirects=False)
    assert r.status_code == 303 and "Max-Age=0" in r.headers["set-cookie"]
    anon_client.cookies.clear()
    assert anon_client.get("/console").status_code == 401


def test_a_form_posted_with_the_cookie_needs_the_pages_csrf_value(
    anon_client: TestClient, client: TestClient
) -> None:
    anon_client.post("/console/login", data={"token": TOKEN})
    data = {"name": "from-elsewhere", "mode": "standard", "nodes": "1"}
    r = anon_client.post("/console/kubernetes/clusters/create/configure", data=data)
    assert r.status_code == 403
    assert "was not sent from a page of this console" in r.text
    assert cluster_names(client) == []
    r = anon_client.post(
        "/console/kubernetes/clusters/create/configure",
        data={**data, "csrf": CSRF},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert cluster_names(client) == ["from-elsewhere"]


def test_intranode_env_prints_the_login_link_on_stderr(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path / "st", port=18999, project="my-proj")
    s.state_dir.mkdir()
    s.daemon_file.write_text(s.to_json())
    s.token_path.write_text("in1.secret\n")
    result = CliRunner().invoke(cli, ["env", "--state-dir", str(s.state_dir)])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (
        "intranode console: http://127.0.0.1:18999/console/login?token=in1.secret"
    )
    assert "console" not in result.stdout


def test_pages_forbid_framing_and_foreign_scripts(client: TestClient, ctx: Context) -> None:
    r = client.get("/console")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in r.text
