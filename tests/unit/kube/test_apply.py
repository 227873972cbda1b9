"""``kubectl apply`` as kubectl drives it: client-side (POST, then strategic merge PATCH) and
server-side (apply-patch+yaml with field managers, conflicts and force)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from fastapi.testclient import TestClient

from tests.unit.kube.conftest import POD_1, PODS_URL

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CSA = {"fieldManager": "kubectl-client-side-apply", "fieldValidation": "Strict"}
SMP = {"content-type": "application/strategic-merge-patch+json"}
APPLY = {"content-type": "application/apply-patch+yaml"}


def with_last_applied(obj: dict[str, Any]) -> dict[str, Any]:
    config = json.dumps({**obj, "metadata": {**obj["metadata"], "annotations": {}}})
    return {**obj, "metadata": {**obj["metadata"], "annotations": {LAST_APPLIED: config + "\n"}}}


def managers(obj: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(m["manager"], m["operation"]): m["fieldsV1"] for m in obj["metadata"]["managedFields"]}


def test_client_side_apply_create_then_configure(kube: TestClient) -> None:
    assert kube.get(f"{PODS_URL}/pod-1").status_code == 404
    body = with_last_applied(POD_1)
    r = kube.post(PODS_URL, params=CSA, json=body)
    assert r.status_code == 201
    created = r.json()
    assert (
        created["metadata"]["annotations"][LAST_APPLIED]
        == body["metadata"]["annotations"][LAST_APPLIED]
    )
    owned = managers(created)[("kubectl-client-side-apply", "Update")]
    assert owned["f:spec"]["f:containers"]['k:{"name":"container-1"}']["f:image"] == {}
    assert "f:nodeName" not in owned["f:spec"]  # the scheduler's choice, not the client's

    new = json.loads(json.dumps(POD_1))
    new["spec"]["containers"][0]["image"] = "hello-app:2.0"
    patch = {
        "metadata": {"annotations": {LAST_APPLIED: json.dumps(new) + "\n"}},
        "spec": {
            "$setElementOrder/containers": [{"name": "container-1"}],
            "containers": [{"image": "hello-app:2.0", "name": "container-1"}],
        },
    }
    r = kube.patch(f"{PODS_URL}/pod-1", params=CSA, content=json.dumps(patch), headers=SMP)
    assert r.status_code == 200
    configured = r.json()
    assert configured["spec"]["containers"][0]["image"] == "hello-app:2.0"
    assert configured["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert int(configured["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"]
    )
    assert configured["status"]["podIP"] == created["status"]["podIP"]


def test_a_patch_that_changes_nothing_writes_nothing(kube: TestClient) -> None:
    created = kube.post(PODS_URL, params=CSA, json=with_last_applied(POD_1)).json()
    same = {"metadata": {"labels": None}, "spec": {"containers": [POD_1["spec"]["containers"][0]]}}
    r = kube.patch(f"{PODS_URL}/pod-1", params=CSA, content=json.dumps(same), headers=SMP)
    assert r.status_code == 200
    assert r.json()["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_strategic_merge_patch_changing_the_spec_is_refused(kube: TestClient) -> None:
    created = kube.post(PODS_URL, json=POD_1).json()
    patch = {"spec": {"containers": [{"name": "container-1", "ports": [{"containerPort": 80}]}]}}
    r = kube.patch(f"{PODS_URL}/pod-1", content=json.dumps(patch), headers=SMP)
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0]["reason"] == "FieldValueForbidden"
    after = kube.get(f"{PODS_URL}/pod-1").json()
    assert after["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_merge_and_json_patches(kube: TestClient) -> None:
    kube.post(PODS_URL, json=POD_1)
    r = kube.patch(
        f"{PODS_URL}/pod-1",
        content=json.dumps({"metadata": {"labels": {"app": "web", "tier": "a"}}}),
        headers={"content-type": "application/merge-patch+json"},
    )
    assert r.json()["metadata"]["labels"] == {"app": "web", "tier": "a"}
    rv = r.json()["metadata"]["resourceVersion"]
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "remove", "path": "/metadata/labels/tier"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "hello-app:2.0"},
    ]
    r = kube.patch(
        f"{PODS_URL}/pod-1",
        content=json.dumps(ops),
        headers={"content-type": "application/json-patch+json"},
    )
    assert r.status_code == 200
    assert r.json()["metadata"]["labels"] == {"app": "web"}
    assert r.json()["spec"]["containers"][0]["image"] == "hello-app:2.0"
    stale = kube.patch(
        f"{PODS_URL}/pod-1",
        content=json.dumps(ops[:1]),
        headers={"content-type": "application/json-patch+json"},
    )
    assert stale.status_code == 422
    assert kube.get(f"{PODS_URL}/pod-1").json()["metadata"]["labels"] == {"app": "web"}


def test_json_patch_may_rewrite_managed_fields(kube: TestClient) -> None:
    """kubectl moves client-side apply ownership to its server-side apply manager this way."""
    created = kube.post(PODS_URL, params=CSA, json=with_last_applied(POD_1)).json()
    entry = dict(created["metadata"]["managedFields"][0], manager="kubectl", operation="Apply")
    ops = [
        {
            "op": "test",
            "path": "/metadata/resourceVersion",
            "value": created["metadata"]["resourceVersion"],
        },
        {"op": "replace", "path": "/metadata/managedFields", "value": [entry]},
    ]
    r = kube.patch(
        f"{PODS_URL}/pod-1",
        content=json.dumps(ops),
        headers={"content-type": "application/json-patch+json"},
    )
    assert r.status_code == 200
    assert list(managers(r.json())) == [("kubectl", "Apply")]


def apply(kube: TestClient, obj: dict[str, Any], manager: str = "kubectl", **params: str) -> Any:
    return kube.patch(
        f"{PODS_URL}/{obj['metadata']['name']}",
        params={"fieldManager": manager, "fieldValidation": "Strict", **params},
        content=yaml.safe_dump(obj),
        headers=APPLY,
    )


def test_server_side_apply_creates_and_reapplies_unchanged(kube: TestClient) -> None:
    r = apply(kube, POD_1)
    assert r.status_code == 201
    created = r.json()
    assert list(managers(created)) == [("kubectl", "Apply")]
    assert created["status"]["podIP"]
    again = apply(kube, POD_1)
    assert again.status_code == 200
    assert again.json()["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_server_side_apply_removes_what_the_manager_no_longer_applies(kube: TestClient) -> None:
    labelled = json.loads(json.dumps(POD_1))
    labelled["metadata"]["labels"] = {"app": "web"}
    assert apply(kube, labelled).json()["metadata"]["labels"] == {"app": "web"}
    r = apply(kube, POD_1)
    assert r.status_code == 200
    assert "labels" not in r.json()["metadata"] or r.json()["metadata"]["labels"] == {}


def test_server_side_apply_conflicts_then_force(kube: TestClient) -> None:
    apply(kube, POD_1)
    other = json.loads(json.dumps(POD_1))
    other["spec"]["containers"][0]["image"] = "hello-app:2.0"
    r = apply(kube, other, manager="deployer", force="false")
    assert r.status_code == 409
    body = r.json()
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Apply failed with 1 conflict: conflict with "kubectl": '
        '.spec.containers[name="container-1"].image'
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl"',
            "field": '.spec.containers[name="container-1"].image',
        }
    ]
    image = kube.get(f"{PODS_URL}/pod-1").json()["spec"]["containers"][0]["image"]
    assert image.endswith("hello-app:1.0")
    forced = apply(kube, other, manager="deployer", force="true")
    assert forced.status_code == 200
    assert forced.json()["spec"]["containers"][0]["image"] == "hello-app:2.0"
    kubectl_fields = managers(forced.json())[("kubectl", "Apply")]
    assert "f:image" not in kubectl_fields["f:spec"]["f:containers"]['k:{"name":"container-1"}']


def test_server_side_apply_needs_a_field_manager_and_a_valid_body(kube: TestClient) -> None:
    r = kube.patch(f"{PODS_URL}/pod-1", content=yaml.safe_dump(POD_1), headers=APPLY)
    assert r.status_code == 400
    assert r.json()["message"] == "fieldManager is required for apply requests"
    r = kube.patch(
        f"{PODS_URL}/pod-1",
        params={"fieldManager": "kubectl"},
        content=b"kind: Pod\n  metadata: [",
        headers=APPLY,
    )
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
    assert kube.get(f"{PODS_URL}/pod-1").status_code == 404
    r = kube.patch(f"{PODS_URL}/pod-1", params={"force": "true"}, content=b"{}", headers=SMP)
    assert r.status_code == 400
