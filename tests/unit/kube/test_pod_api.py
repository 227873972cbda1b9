"""Pods through the API: create, read, list, replace, delete, and every refusal's Status."""

from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.domain.kube.pods import DATA_PLANE_WAITING
from intranode.domain.resources import k8s_kind
from tests.unit.kube.conftest import NODE, NODE_IP, POD_1, POD_CIDR, PODS_URL


def pod(name: str = "pod-1", **spec: Any) -> dict[str, Any]:
    body = copy.deepcopy(POD_1)
    body["metadata"]["name"] = name
    body["spec"].update(spec)
    return body


def stored_pods(ctx: Context) -> list[str]:
    return [r.data["metadata"]["name"] for r in ctx.resources.find(k8s_kind("pods"))]


def test_create_places_the_pod_pending_with_an_address_of_the_node_range(
    kube: TestClient,
) -> None:
    r = kube.post(PODS_URL, json=pod())
    assert r.status_code == 201
    body = r.json()
    meta, spec, status = body["metadata"], body["spec"], body["status"]
    assert meta["name"] == "pod-1" and meta["namespace"] == "default"
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    assert spec["nodeName"] == NODE
    assert spec["restartPolicy"] == "Always"
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert status["phase"] == "Pending"
    assert status["hostIP"] == NODE_IP
    assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network(POD_CIDR)
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {
        "PodScheduled": "True",
        "Initialized": "True",
        "ContainersReady": "False",
        "Ready": "False",
    }
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting == {"reason": "ContainerCreating", "message": DATA_PLANE_WAITING}


def test_get_and_list_carry_the_store_revision(kube: TestClient) -> None:
    created = kube.post(PODS_URL, json=pod()).json()
    got = kube.get(f"{PODS_URL}/pod-1").json()
    assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    listed = kube.get(PODS_URL, params={"limit": "500"}).json()
    assert listed["kind"] == "PodList" and listed["apiVersion"] == "v1"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["pod-1"]
    assert int(listed["metadata"]["resourceVersion"]) >= int(got["metadata"]["resourceVersion"])
    everywhere = kube.get("/api/v1/pods").json()
    assert [i["metadata"]["name"] for i in everywhere["items"]] == ["pod-1"]
    assert kube.get("/api/v1/namespaces/kube-system/pods").json()["items"] == []


def test_missing_pod_is_a_not_found_status(kube: TestClient) -> None:
    r = kube.get(f"{PODS_URL}/pod-3")
    assert r.status_code == 404
    assert r.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "pod-3" not found',
        "reason": "NotFound",
        "details": {"name": "pod-3", "kind": "pods"},
        "code": 404,
    }


def test_creating_twice_is_already_exists_and_changes_nothing(
    kube: TestClient, ctx: Context
) -> None:
    first = kube.post(PODS_URL, json=pod()).json()
    r = kube.post(PODS_URL, json=pod())
    assert r.status_code == 409
    assert r.json()["reason"] == "AlreadyExists"
    assert r.json()["message"] == 'pods "pod-1" already exists'
    again = kube.get(f"{PODS_URL}/pod-1").json()
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_invalid_pods_are_422_with_causes_and_are_not_stored(
    kube: TestClient, ctx: Context
) -> None:
    no_image = pod()
    del no_image["spec"]["containers"][0]["image"]
    r = kube.post(PODS_URL, json=no_image)
    assert r.status_code == 422
    assert r.json()["reason"] == "Invalid"
    assert r.json()["message"] == 'Pod "pod-1" is invalid: spec.containers[0].image: Required value'
    assert r.json()["details"] == {
        "name": "pod-1",
        "kind": "Pod",
        "causes": [
            {
                "reason": "FieldValueRequired",
                "message": "Required value",
                "field": "spec.containers[0].image",
            }
        ],
    }
    bad_name = pod("Pod_1")
    r = kube.post(PODS_URL, json=bad_name)
    assert r.status_code == 422
    assert r.json()["message"].startswith(
        'Pod "Pod_1" is invalid: metadata.name: Invalid value: "Pod_1": a lowercase RFC 1123 '
        "subdomain must consist of"
    )
    r = kube.post(PODS_URL, json={"metadata": {"name": "empty"}, "spec": {"containers": []}})
    assert r.status_code == 422
    assert r.json()["message"] == 'Pod "empty" is invalid: spec.containers: Required value'
    ports = pod(containers=[{"name": "c", "image": "i", "ports": [{"containerPort": 70000}]}])
    r = kube.post(PODS_URL, json=ports)
    assert r.json()["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: 70000: must be between 1 and 65535, inclusive",
            "field": "spec.containers[0].ports[0].containerPort",
        }
    ]
    two = pod(containers=[{"name": "c"}, {"name": "c", "image": "i"}])
    r = kube.post(PODS_URL, json=two)
    assert r.json()["message"] == (
        'Pod "pod-1" is invalid: [spec.containers[0].image: Required value, '
        'spec.containers[1].name: Duplicate value: "c"]'
    )
    assert stored_pods(ctx) == []


def test_malformed_and_mistyped_bodies_are_bad_requests(kube: TestClient, ctx: Context) -> None:
    r = kube.post(PODS_URL, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
    assert "couldn't get version/kind; json parse error" in r.json()["message"]
    typed = pod()
    typed["spec"]["containers"] = "nginx"
    r = kube.post(PODS_URL, json=typed)
    assert r.status_code == 400
    assert r.json()["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into '
        "Go struct field PodSpec.spec.containers of type []v1.Container"
    )
    other_kind = pod()
    other_kind["kind"] = "ConfigMap"
    assert kube.post(PODS_URL, json=other_kind).status_code == 400
    assert stored_pods(ctx) == []


def test_unknown_fields_fail_strict_and_warn_otherwise(kube: TestClient, ctx: Context) -> None:
    typo = pod()
    typo["spec"]["containers"][0]["imagee"] = "x"
    r = kube.post(PODS_URL, params={"fieldValidation": "Strict"}, json=typo)
    assert r.status_code == 400
    assert r.json()["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.containers[0].imagee"'
    )
    assert stored_pods(ctx) == []
    r = kube.post(PODS_URL, json=typo)
    assert r.status_code == 201
    assert r.headers["warning"] == '299 - "unknown field \\"spec.containers[0].imagee\\""'
    assert "imagee" not in json.dumps(r.json())


def test_namespace_must_exist_and_match(kube: TestClient, ctx: Context) -> None:
    r = kube.post("/api/v1/namespaces/nowhere/pods", json=pod())
    assert r.status_code == 404 and r.json()["message"] == 'namespaces "nowhere" not found'
    elsewhere = pod()
    elsewhere["metadata"]["namespace"] = "kube-system"
    r = kube.post(PODS_URL, json=elsewhere)
    assert r.status_code == 400
    assert r.json()["message"] == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )
    assert stored_pods(ctx) == []


def test_generate_name(kube: TestClient) -> None:
    body = pod()
    body["metadata"] = {"generateName": "web-"}
    created = kube.post(PODS_URL, json=body).json()
    name = created["metadata"]["name"]
    assert name.startswith("web-") and len(name) == len("web-") + 5


def test_replace_may_change_the_image_but_not_the_rest_of_the_spec(kube: TestClient) -> None:
    created = kube.post(PODS_URL, json=pod()).json()
    new_image = copy.deepcopy(created)
    new_image["spec"]["containers"][0]["image"] = "hello-app:2.0"
    r = kube.put(f"{PODS_URL}/pod-1", json=new_image)
    assert r.status_code == 200
    assert r.json()["spec"]["containers"][0]["image"] == "hello-app:2.0"
    assert r.json()["status"] == created["status"]
    stale = kube.put(f"{PODS_URL}/pod-1", json=new_image)
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    assert stale.json()["message"] == (
        'Operation cannot be fulfilled on pods "pod-1": the object has been modified; please '
        "apply your changes to the latest version and try again"
    )
    current = kube.get(f"{PODS_URL}/pod-1").json()
    ports = copy.deepcopy(current)
    ports["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}]
    r = kube.put(f"{PODS_URL}/pod-1", json=ports)
    assert r.status_code == 422
    cause = r.json()["details"]["causes"][0]
    assert cause["reason"] == "FieldValueForbidden" and cause["field"] == "spec"
    assert (
        "pod updates may not change fields other than `spec.containers[*].image`"
        in (r.json()["message"])
    )
    after = kube.get(f"{PODS_URL}/pod-1").json()
    assert after["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
    wrong_name = copy.deepcopy(current)
    wrong_name["metadata"]["name"] = "pod-9"
    r = kube.put(f"{PODS_URL}/pod-1", json=wrong_name)
    assert r.status_code == 400
    assert r.json()["message"] == (
        "the name of the object (pod-9) does not match the name on the URL (pod-1)"
    )


def test_delete_answers_the_pod_and_it_is_gone(kube: TestClient, ctx: Context) -> None:
    kube.post(PODS_URL, json=pod())
    r = kube.request("DELETE", f"{PODS_URL}/pod-1", json={"propagationPolicy": "Background"})
    assert r.status_code == 200
    assert r.json()["kind"] == "Pod" and r.json()["metadata"]["deletionTimestamp"]
    assert kube.get(f"{PODS_URL}/pod-1").status_code == 404
    assert kube.delete(f"{PODS_URL}/pod-1").json()["reason"] == "NotFound"
    assert stored_pods(ctx) == []


def test_delete_preconditions(kube: TestClient, ctx: Context) -> None:
    kube.post(PODS_URL, json=pod())
    r = kube.request("DELETE", f"{PODS_URL}/pod-1", json={"preconditions": {"uid": "other"}})
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"
    assert "Precondition failed: UID in precondition: other" in r.json()["message"]
    assert stored_pods(ctx) == ["pod-1"]


def test_status_subresource_reads_and_writes_only_status(kube: TestClient) -> None:
    kube.post(PODS_URL, json=pod())
    assert kube.get(f"{PODS_URL}/pod-1/status").json()["status"]["phase"] == "Pending"
    r = kube.patch(
        f"{PODS_URL}/pod-1/status",
        content=json.dumps({"status": {"phase": "Running"}, "spec": {"nodeName": "x"}}),
        headers={"content-type": "application/merge-patch+json"},
    )
    assert r.status_code == 200
    assert r.json()["status"]["phase"] == "Running"
    assert r.json()["spec"]["nodeName"] == "gke-flow-log-test-default-pool-1a2b3c4d-xyz1"


def test_read_only_kinds_and_unknown_paths(kube: TestClient) -> None:
    r = kube.post("/api/v1/nodes", json={"metadata": {"name": "n"}})
    assert r.status_code == 405
    assert r.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server does not allow this method on the requested resource",
        "reason": "MethodNotAllowed",
        "details": {},
        "code": 405,
    }
    r = kube.get("/api/v1/widgets")
    assert r.status_code == 404
    assert r.json()["message"] == "the server could not find the requested resource"
    assert kube.get("/apis/batch/v1").status_code == 404
    r = kube.patch(f"{PODS_URL}/pod-1", content=b"{}", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"


def test_logs_explain_a_waiting_container(kube: TestClient) -> None:
    kube.post(PODS_URL, json=pod())
    r = kube.get(f"{PODS_URL}/pod-1/log")
    assert r.status_code == 400
    assert r.json()["message"] == (
        'container "container-1" in pod "pod-1" is waiting to start: ContainerCreating'
    )
