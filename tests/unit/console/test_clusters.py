"""Kubernetes clusters in the console: Create with the "Enable intra-node visibility" checkbox,
Edit intra-node visibility on an existing cluster, and the API's own refusals shown next to
the field they are about, with nothing created."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from tests.unit.conftest import PROJECT
from tests.unit.console.helpers import (
    ZONE,
    api_message,
    cluster_names,
    create_cluster,
    field_error,
    form,
    operations,
    wait_cluster,
)

CREATE = "/console/kubernetes/clusters/create/configure"
API = f"/v1/projects/{PROJECT}/locations"


def _inv(client: TestClient, name: str, location: str = ZONE) -> bool:
    doc = client.get(f"{API}/{location}/clusters/{name}").json()
    return bool(doc.get("networkConfig", {}).get("enableIntraNodeVisibility"))


def test_the_create_flow_starts_with_a_name_and_the_configuration_dialog(
    client: TestClient,
) -> None:
    start = client.get("/console/kubernetes/clusters/create?name=flow-log-test").text
    assert 'value="flow-log-test"' in start
    assert re.findall(r"<h3 id=\"mode-\w+\">([^<]+)</h3>", start) == [
        "GKE Standard",
        "GKE Autopilot",
    ]
    assert start.count(">Configure</button>") == 2
    page = client.get(f"{CREATE}?name=flow-log-test&mode=standard").text
    assert re.findall(r'data-section="(\w+)">([^<]+)<', page) == [
        ("basics", "Cluster basics"),
        ("nodepool", "Node pool: default-pool"),
        ("networking", "Networking"),
    ]
    assert "<label for=inv>Enable intra-node visibility</label>" in page
    assert re.search(r"<input type=checkbox id=inv name=inv value=on aria-describedby", page)


@pytest.mark.parametrize("ticked", [True, False])
def test_create_sets_intra_node_visibility_as_the_checkbox_says(
    client: TestClient, ticked: bool
) -> None:
    data = {"name": "flow-log-test", "mode": "standard", "location_type": "zonal", "zone": ZONE}
    data |= {"nodes": "1", "image": "COS_CONTAINERD", "network": "default"}
    if ticked:
        data["inv"] = "on"
    r = form(client, CREATE, data)
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith(
        "/console/kubernetes/clusters/us-central1-a/flow-log-test?operation=operation-"
    )
    progress = client.get(location)
    assert progress.status_code == 200 and "id=progress" in progress.text
    doc = wait_cluster(client, "flow-log-test")
    assert doc["currentNodeCount"] == 1
    assert _inv(client, "flow-log-test") is ticked
    details = client.get("/console/kubernetes/clusters/us-central1-a/flow-log-test").text
    assert f"<span id=inv-state>{'Enabled' if ticked else 'Disabled'}</span>" in details


def test_autopilot_shows_intra_node_visibility_on_and_locked(client: TestClient) -> None:
    page = client.get(f"{CREATE}?name=auto&mode=autopilot").text
    assert "<input type=checkbox id=inv checked disabled" in page
    assert 'name=location_type value="regional" checked' in page
    r = form(client, CREATE, {"name": "auto", "mode": "autopilot", "region": "us-central1"})
    assert r.status_code == 303, r.text
    assert _inv(client, "auto", "us-central1")


def _standard(name: str, **extra: str) -> dict[str, str]:
    return {"name": name, "mode": "standard", "location_type": "zonal", "zone": ZONE} | {
        "nodes": "1",
        "image": "COS_CONTAINERD",
        "network": "default",
        **extra,
    }


def _body(name: str, inv: bool = False, **cluster: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": name,
        "networkConfig": {"enableIntraNodeVisibility": inv, "network": "default"},
        "initialNodeCount": "1",
        "nodeConfig": {"imageType": "COS_CONTAINERD"},
    }
    return {"cluster": doc | cluster}


BAD = [
    ("empty name", _standard(""), "name", _body("")),
    ("invalid name", _standard("Bad_Name"), "name", _body("Bad_Name")),
    (
        "too long a name",
        _standard("a" * 41),
        "name",
        _body("a" * 41),
    ),
    (
        "nodes not a number",
        _standard("c1", nodes="three"),
        "nodes",
        _body("c1", initialNodeCount="three"),
    ),
    ("no nodes", _standard("c1", nodes="0"), "nodes", _body("c1", initialNodeCount="0")),
    (
        "version too old for intra-node visibility",
        _standard("c1", version="1.14", inv="on"),
        "version",
        _body("c1", inv=True, initialClusterVersion="1.14"),
    ),
    (
        "unknown version",
        _standard("c1", version="1.99"),
        "version",
        _body("c1", initialClusterVersion="1.99"),
    ),
    (
        "Windows node pool with intra-node visibility",
        _standard("c1", image="WINDOWS_LTSC_CONTAINERD", inv="on"),
        "image",
        _body("c1", inv=True, nodeConfig={"imageType": "WINDOWS_LTSC_CONTAINERD"}),
    ),
]


@pytest.mark.parametrize(("case", "data", "field", "body"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_shows_the_apis_message_next_to_the_field_and_creates_nothing(
    client: TestClient, case: str, data: dict[str, str], field: str, body: dict[str, Any]
) -> None:
    expected = api_message(client, "POST", f"{API}/{ZONE}/clusters", body)
    r = form(client, CREATE, data)
    assert r.status_code == 400
    assert field_error(r.text, field) == expected
    assert f'aria-invalid=true aria-describedby="{field}-error"' in r.text
    assert cluster_names(client) == [] and operations(client) == []


def test_autopilot_in_a_zone_is_refused_at_the_location(client: TestClient) -> None:
    expected = api_message(
        client,
        "POST",
        f"{API}/{ZONE}/clusters",
        {"cluster": {"name": "a", "autopilot": {"enabled": True}}},
    )
    r = form(
        client, CREATE, {"name": "a", "mode": "autopilot", "location_type": "zonal", "zone": ZONE}
    )
    assert r.status_code == 400
    assert field_error(r.text, "location") == expected
    assert expected == 'Autopilot clusters must be regional clusters; "us-central1-a" is a zone.'
    assert cluster_names(client) == []


def test_a_duplicate_name_is_refused_and_the_form_keeps_what_was_typed(
    client: TestClient,
) -> None:
    create_cluster(client, "flow-log-test")
    before = operations(client)
    r = form(client, CREATE, _standard("flow-log-test", inv="on", nodes="2"))
    assert r.status_code == 409
    assert field_error(r.text, "name") == (
        f"Already exists: projects/{PROJECT}/zones/us-central1-a/clusters/flow-log-test."
    )
    assert 'id=nodes name=nodes inputmode=numeric value="2"' in r.text
    assert "id=inv name=inv value=on checked" in r.text
    assert operations(client) == before and cluster_names(client) == ["flow-log-test"]


def _edit(client: TestClient, name: str, ticked: bool) -> str:
    path = f"/console/kubernetes/clusters/{ZONE}/{name}/edit-intra-node-visibility"
    r = form(client, path, {"inv": "on"} if ticked else {})
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def test_edit_intra_node_visibility_enables_then_disables(client: TestClient, ctx: Context) -> None:
    create_cluster(client, "flow-log-test")
    page = client.get(
        f"/console/kubernetes/clusters/{ZONE}/flow-log-test/edit-intra-node-visibility"
    )
    assert "<button type=submit class=primary>Save changes</button>" in page.text
    assert "restarts the cluster&#x27;s control plane and the node components" in page.text

    location = _edit(client, "flow-log-test", True)
    op = location.rsplit("operation=", 1)[1]
    wait_cluster(client, "flow-log-test")
    assert _inv(client, "flow-log-test")
    progress = client.get(
        f"/console/kubernetes/clusters/{ZONE}/flow-log-test/progress?operation={op}"
    ).json()
    assert progress["operation"] == {"name": op, "type": "UPDATE_CLUSTER", "status": "DONE"}
    assert progress["cluster"] == "RUNNING"
    assert re.fullmatch(r"Control plane: back at \d\d:\d\d:\d\d UTC", progress["items"][0]["text"])
    assert progress["items"][1]["text"].startswith("Nodes: ")

    _edit(client, "flow-log-test", False)
    wait_cluster(client, "flow-log-test")
    assert not _inv(client, "flow-log-test")


def test_intra_node_visibility_cannot_be_turned_off_on_autopilot(client: TestClient) -> None:
    form(client, CREATE, {"name": "auto", "mode": "autopilot", "region": "us-central1"})
    wait_cluster(client, "auto", location="us-central1")
    path = "/console/kubernetes/clusters/us-central1/auto/edit-intra-node-visibility"
    assert "<input type=checkbox id=inv name=inv value=on checked disabled" in client.get(path).text
    r = form(client, path, {})
    assert r.status_code == 400
    assert field_error(r.text, "inv") == (
        "Intra-node visibility is always enabled on Autopilot clusters and cannot be disabled."
    )
    assert _inv(client, "auto", "us-central1")


def test_an_unknown_cluster_is_a_page_with_the_apis_404(client: TestClient) -> None:
    r = client.get(f"/console/kubernetes/clusters/{ZONE}/nope")
    assert r.status_code == 404
    assert f"Not found: projects/{PROJECT}/locations/{ZONE}/clusters/nope." in r.text
