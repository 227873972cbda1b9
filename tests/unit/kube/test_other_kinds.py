"""Namespaces, ConfigMaps, Events, Services and read-only kinds written by controllers."""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.domain.resources import k8s_kind
from tests.unit.kube.conftest import POD_1

NS = "/api/v1/namespaces"
CM = "/api/v1/namespaces/team/configmaps"


def test_namespace_lifecycle_deletes_what_it_holds(kube: TestClient, ctx: Context) -> None:
    r = kube.post(NS, json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    assert r.status_code == 201
    ns = r.json()
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    kube.post(CM, json={"metadata": {"name": "cfg"}, "data": {"k": "v"}})
    kube.post("/api/v1/namespaces/team/pods", json=POD_1)
    r = kube.delete(f"{NS}/team")
    assert r.status_code == 200 and r.json()["status"]["phase"] == "Terminating"
    assert r.json()["metadata"]["deletionTimestamp"]
    # While it terminates, what it holds can still be deleted, but nothing new may arrive.
    assert kube.delete(f"{CM}/cfg").status_code == 200
    refused = kube.post(CM, json={"metadata": {"name": "late"}})
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        'configmaps "late" is forbidden: unable to create new content in namespace team '
        "because it is being terminated"
    )
    deadline = time.monotonic() + 5
    while kube.get(f"{NS}/team").status_code != 404:
        assert time.monotonic() < deadline, "the namespace was never purged"
        time.sleep(0.05)
    assert kube.get("/api/v1/namespaces/team/pods/pod-1").status_code == 404
    assert ctx.resources.find(k8s_kind("configmaps")) == []
    assert ctx.resources.find(k8s_kind("pods")) == []


def test_system_namespaces_cannot_be_deleted(kube: TestClient) -> None:
    r = kube.delete(f"{NS}/kube-system")
    assert r.status_code == 403
    assert r.json()["reason"] == "Forbidden"
    assert (
        r.json()["message"]
        == 'namespaces "kube-system" is forbidden: this namespace may not be deleted'
    )
    assert kube.get(f"{NS}/kube-system").status_code == 200


def test_namespace_names_are_labels(kube: TestClient) -> None:
    r = kube.post(NS, json={"metadata": {"name": "a.b"}})
    assert r.status_code == 422
    assert r.json()["message"].startswith(
        'Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b": '
        "a lowercase RFC 1123 label"
    )


def test_configmap_crud(kube: TestClient) -> None:
    kube.post(NS, json={"metadata": {"name": "team"}})
    created = kube.post(CM, json={"metadata": {"name": "cfg"}, "data": {"k": "v"}}).json()
    assert created["data"] == {"k": "v"}
    updated = dict(created, data={"k": "w"})
    assert kube.put(f"{CM}/cfg", json=updated).json()["data"] == {"k": "w"}
    r = kube.post(CM, json={"metadata": {"name": "bad"}, "data": {"no spaces": "x"}})
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0]["field"] == "data[no spaces]"
    r = kube.delete(f"{CM}/cfg")
    assert r.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": "cfg", "kind": "configmaps", "uid": created["metadata"]["uid"]},
    }
    assert kube.get(f"{CM}/cfg").status_code == 404


def test_events_can_be_created_and_listed_by_object(kube: TestClient) -> None:
    event = {
        "metadata": {"name": "pod-1.1"},
        "involvedObject": {"kind": "Pod", "name": "pod-1", "namespace": "default"},
        "reason": "Scheduled",
        "message": "Successfully assigned default/pod-1",
        "type": "Normal",
        "count": 1,
    }
    assert kube.post("/api/v1/namespaces/default/events", json=event).status_code == 201
    listed = kube.get(
        "/api/v1/namespaces/default/events", params={"fieldSelector": "involvedObject.name=pod-1"}
    ).json()
    assert [e["reason"] for e in listed["items"]] == ["Scheduled"]
    other = kube.get("/api/v1/events", params={"fieldSelector": "involvedObject.name=pod-2"}).json()
    assert other["items"] == []


def test_the_kubernetes_service_is_listed(kube: TestClient) -> None:
    items = kube.get("/api/v1/namespaces/default/services").json()["items"]
    (svc,) = items
    assert svc["metadata"]["name"] == "kubernetes"
    assert svc["spec"]["clusterIP"] == "10.56.0.1"
    assert kube.get("/api/v1/namespaces/default/services/kubernetes").status_code == 200


def test_controller_written_kinds_are_read_only(kube: TestClient) -> None:
    r = kube.patch(
        "/apis/apps/v1/namespaces/kube-system/daemonsets/netd",
        content=json.dumps({}),
        headers={"content-type": "application/merge-patch+json"},
    )
    assert r.status_code == 405
    r = kube.get("/apis/apps/v1/namespaces/kube-system/daemonsets/netd")
    assert r.status_code == 404
    assert r.json()["message"] == 'daemonsets.apps "netd" not found'
    assert r.json()["details"] == {"name": "netd", "group": "apps", "kind": "daemonsets"}
