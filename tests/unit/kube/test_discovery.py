"""Discovery and OpenAPI: what kubectl reads before it does anything."""

from __future__ import annotations

from fastapi.testclient import TestClient

from intranode.api.kube.discovery import version_info


def test_version_reports_a_websocket_exec_kubectl(kube: TestClient) -> None:
    v = kube.get("/version", params={"timeout": "5s"}).json()
    assert (v["major"], v["minor"]) == ("1", "32")
    assert v["gitVersion"] == "v1.32.4-gke.1106006"
    assert v["platform"] == "linux/amd64"


def test_version_follows_the_cluster_unless_too_old_for_websocket_exec() -> None:
    assert version_info("1.33.1-gke.1000")["minor"] == "33"
    assert version_info("1.29.4-gke.1043002")["minor"] == "32"
    assert version_info(None)["gitVersion"] == "v1.32.4-gke.1106006"


def test_api_and_groups(kube: TestClient) -> None:
    api = kube.get("/api").json()
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    assert api["serverAddressByClientCIDRs"][0]["clientCIDR"] == "0.0.0.0/0"
    groups = kube.get("/apis").json()
    assert groups["kind"] == "APIGroupList"
    assert [g["name"] for g in groups["groups"]] == ["apps"]
    assert groups["groups"][0]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    assert kube.get("/apis/apps").json()["kind"] == "APIGroup"


def test_core_resources(kube: TestClient) -> None:
    body = kube.get("/api/v1").json()
    assert body["kind"] == "APIResourceList" and body["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in body["resources"]}
    assert by_name["pods"] == {
        "name": "pods",
        "singularName": "pod",
        "namespaced": True,
        "kind": "Pod",
        "verbs": [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
        "shortNames": ["po"],
        "categories": ["all"],
    }
    assert by_name["pods/exec"]["verbs"] == ["create", "get"]
    assert by_name["pods/exec"]["kind"] == "PodExecOptions"
    for name in ("pods/log", "pods/status"):
        assert name in by_name
    assert by_name["namespaces"]["shortNames"] == ["ns"]
    assert by_name["namespaces"]["namespaced"] is False
    assert by_name["nodes"]["shortNames"] == ["no"] and by_name["nodes"]["verbs"] == [
        "get",
        "list",
        "watch",
    ]
    assert by_name["configmaps"]["shortNames"] == ["cm"]
    assert by_name["events"]["shortNames"] == ["ev"]
    assert by_name["services"]["shortNames"] == ["svc"]


def test_apps_resources(kube: TestClient) -> None:
    body = kube.get("/apis/apps/v1").json()
    ds = next(r for r in body["resources"] if r["name"] == "daemonsets")
    assert ds["shortNames"] == ["ds"] and ds["verbs"] == ["get", "list", "watch"]


def test_openapi_v3_lets_kubectl_validate_on_the_server(kube: TestClient) -> None:
    index = kube.get("/openapi/v3").json()
    url = index["paths"]["api/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/api/v1?hash=")
    doc = kube.get(url).json()
    assert doc["openapi"].startswith("3.")
    for path, kind in (
        ("/api/v1/namespaces/{namespace}/pods/{name}", "Pod"),
        ("/api/v1/namespaces/{namespace}/configmaps/{name}", "ConfigMap"),
        ("/api/v1/namespaces/{name}", "Namespace"),
    ):
        patch = doc["paths"][path]["patch"]
        assert patch["x-kubernetes-group-version-kind"] == {
            "group": "",
            "version": "v1",
            "kind": kind,
        }
        assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert kube.get("/openapi/v3/apis/apps/v1").status_code == 200
    missing = kube.get("/openapi/v2")
    assert missing.status_code == 404 and missing.json()["kind"] == "Status"


def test_unknown_paths_are_not_found_statuses(kube: TestClient) -> None:
    for path in ("/nope", "/api/v2", "/apis/apps/v2", "/api/v1/namespaces/default/nodes"):
        r = kube.get(path)
        assert r.status_code == 404, path
        assert r.json()["reason"] == "NotFound"
        assert r.json()["message"] == "the server could not find the requested resource"
