"""The guide's Console procedures in a real browser (Debian's Chromium, headless), checked
through the API: create a cluster with "Enable intra-node visibility", enable it on an existing
cluster and disable it again; the guide's flow-log query in the Logs explorer; a same-node
edge on the traffic map moving from inside the node to through the VPC router. Bad input in
the forms shows the API's message next to the field and creates nothing. Each page is saved
as a screenshot under docs/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Console, kubectl, screenshot, wait_for
from tests.e2e.conftest import GUIDE_POD_1, GUIDE_POD_2

pytestmark = pytest.mark.browser


def _nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link", name=name).click()


def _open_clusters(page: Any) -> None:
    _nav(page, "Kubernetes clusters")


def test_create_a_cluster_with_intra_node_visibility(page: Any, console: Console) -> None:
    screenshot(page, "home")
    _open_clusters(page)
    page.get_by_role("link", name="Create", exact=True).click()
    page.get_by_label("Name").fill("inv-console")
    page.get_by_role("group", name="GKE Standard").get_by_role("button", name="Configure").click()
    screenshot(page, "create-basics")
    page.get_by_role("navigation", name="Cluster").get_by_role("link", name="Networking").click()
    page.get_by_label("Enable intra-node visibility").check()
    screenshot(page, "create-networking")
    page.get_by_role("button", name="Create", exact=True).click()

    page.get_by_text("Cluster created at").wait_for()
    page.locator("#cluster-status", has_text="RUNNING").wait_for()
    assert page.locator("#inv-state").inner_text() == "Enabled"
    screenshot(page, "cluster-details")
    doc = console.cluster("inv-console")
    assert doc["status"] == "RUNNING"
    assert doc["networkConfig"]["enableIntraNodeVisibility"] is True
    _open_clusters(page)
    screenshot(page, "clusters")


@pytest.fixture(scope="module")
def guide(console: Console, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The guide's cluster, made with intra-node visibility off, and its two pods."""
    console.daemon.create_cluster(console.api, "flow-log-test", nodes=1)
    cfg = console.kubeconfig("flow-log-test", tmp_path_factory.mktemp("kube") / "config")
    kubectl(cfg, "apply", "-f", "-", input=GUIDE_POD_1 + "---\n" + GUIDE_POD_2)
    wait_for(
        lambda: (
            kubectl(cfg, "get", "pods", "-o", "jsonpath={.items[*].status.phase}").split()
            == ["Running", "Running"]
        )
    )
    yield cfg


def _pod_ip(cfg: Path, pod: str) -> str:
    return kubectl(cfg, "get", "pod", pod, "-o", "jsonpath={.status.podIP}")


def _request(cfg: Path) -> None:
    """pod-1 asks pod-2, as the guide does from its shell."""
    out = kubectl(cfg, "exec", "pod-1", "--", "wget", "-qO-", f"{_pod_ip(cfg, 'pod-2')}:8080")
    assert "Hostname: pod-2" in out


def _current_edge(page: Any, console: Console, path: str) -> Any:
    """Wait until the map draws pod-1 -> pod-2 along ``path`` as the current edge."""
    url = console.url("/console/networking/traffic-map?window=300")
    edge = f'g.edge[data-src="pod-1"][data-dest="pod-2"][data-current=true][data-path={path}]'

    def drawn() -> bool:
        page.goto(url)
        return page.locator(edge).count() == 1

    wait_for(drawn, timeout=40, every=1.0)
    return page.locator(edge)


def _set_inv(page: Any, tick: bool) -> None:
    _open_clusters(page)
    page.get_by_role("link", name="flow-log-test").click()
    page.get_by_role("link", name="Edit intra-node visibility").click()
    box = page.get_by_label("Enable intra-node visibility")
    box.check() if tick else box.uncheck()
    page.get_by_role("button", name="Save changes").click()
    panel = page.locator("#progress")
    panel.get_by_text("Control plane: back at").wait_for()
    panel.get_by_text("Nodes: back at").wait_for(timeout=40_000)


def test_the_guides_exercise_in_the_console(page: Any, console: Console, guide: Path) -> None:
    # Flow logs on the default subnet of us-central1, every flow logged.
    _nav(page, "Subnets")
    screenshot(page, "subnets")
    page.locator("tr", has=page.locator("td", has_text="us-central1")).filter(
        has_not_text="us-central1-"
    ).get_by_role("link", name="default").first.click()
    page.get_by_label("On", exact=True).check()
    page.get_by_label("Sample rate").fill("1")
    screenshot(page, "subnet-flow-logs")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved.").wait_for()
    subnet = console.api.get(
        f"/compute/v1/projects/{console.project}/regions/us-central1/subnetworks/default"
    ).json()
    assert subnet["logConfig"]["enable"] is True and subnet["logConfig"]["flowSampling"] == 1.0

    # Without intra-node visibility the request stays inside the node.
    _request(guide)
    local = _current_edge(page, console, "local")
    assert "not seen by the VPC firewall" in local.get_attribute("data-verdict")
    screenshot(page, "traffic-map-local")

    # Enable it on the existing cluster: control plane and nodes restart, then are back.
    _set_inv(page, True)
    screenshot(page, "enable-progress")
    assert console.cluster("flow-log-test")["networkConfig"]["enableIntraNodeVisibility"]

    # The same request now crosses the VPC router: the edge moves.
    _request(guide)
    vpc = _current_edge(page, console, "vpc")
    assert vpc.get_attribute("data-verdict") == "allowed"
    assert (
        page.locator(
            'g.edge[data-src="pod-1"][data-dest="pod-2"][data-path=local][data-current=false]'
        ).count()
        == 1
    )
    screenshot(page, "traffic-map-vpc")

    # The guide's query in the Logs explorer finds the flow-log entry.
    src, dest = _pod_ip(guide, "pod-1"), _pod_ip(guide, "pod-2")
    _nav(page, "Logs explorer")
    page.get_by_role("link", name="Flow logs from pod-1 to pod-2 (the guide's query)").click()
    query = page.get_by_label("Query").input_value()
    assert f'jsonPayload.connection.src_ip="{src}"' in query
    entry = page.locator("#results tr.entry summary", has_text=f"{src}:")

    def found() -> bool:
        page.get_by_role("button", name="Run query").click()
        return entry.count() > 0

    wait_for(found, timeout=30, every=1.0)
    assert f"→ {dest}:8080 protocol 6" in entry.first.inner_text()
    entry.first.click()
    screenshot(page, "logs-explorer")

    _nav(page, "Workloads")
    page.get_by_role("heading", name="Node gke-flow-log-test", exact=False).wait_for()
    assert page.locator("td", has_text=src).count() == 1
    screenshot(page, "workloads")

    # Disable it again.
    _set_inv(page, False)
    assert "enableIntraNodeVisibility" not in console.cluster("flow-log-test")["networkConfig"]


def test_bad_input_shows_the_apis_message_and_creates_nothing(
    page: Any, console: Console, guide: Path
) -> None:
    before = console.cluster_names()
    page.goto(console.url("/console/kubernetes/clusters/create"))
    page.get_by_role("group", name="GKE Standard").get_by_role("button", name="Configure").click()
    page.get_by_role("button", name="Create", exact=True).click()
    name = page.get_by_label("Name")
    assert name.get_attribute("aria-invalid") == "true"
    assert (
        page.locator("#name-error")
        .inner_text()
        .startswith('Invalid value for field "cluster.name": "".')
    )
    name.fill("Flow_Log")
    page.get_by_role("button", name="Create", exact=True).click()
    assert (
        'Invalid value for field "cluster.name": "Flow_Log".'
        in page.locator("#name-error").inner_text()
    )
    page.get_by_label("Name").fill("flow-log-test")
    page.get_by_role("button", name="Create", exact=True).click()
    assert page.locator("#name-error").inner_text() == (
        f"Already exists: projects/{console.project}/zones/us-central1-a/clusters/flow-log-test."
    )
    screenshot(page, "create-error")
    assert console.cluster_names() == before

    page.goto(console.url("/console/logs/query"))
    page.get_by_label("Query").fill('logName="x" AND AND jsonPayload.y=1')
    page.get_by_role("button", name="Run query").click()
    error = page.locator("#query-error")
    assert "syntax error at line 1, column 17, token 'AND'" in error.inner_text()
    assert page.get_by_label("Query").get_attribute("aria-invalid") == "true"
    screenshot(page, "logs-explorer-error")
