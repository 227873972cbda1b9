"""Every request of a cluster's API needs the daemon's bearer token."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse

UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}


@pytest.mark.parametrize("path", ["/version", "/api", "/api/v1/pods", "/openapi/v3"])
def test_requests_without_the_token_are_unauthorized(kube_anon: TestClient, path: str) -> None:
    r = kube_anon.get(path)
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED


def test_a_wrong_token_is_unauthorized(kube_anon: TestClient) -> None:
    r = kube_anon.get("/api/v1/nodes", headers={"Authorization": "Bearer not-the-token"})
    assert r.status_code == 401 and r.json() == UNAUTHORIZED


def test_nothing_is_created_without_the_token(kube_anon: TestClient, kube: TestClient) -> None:
    body = {"metadata": {"name": "cfg"}, "data": {"a": "b"}}
    assert kube_anon.post("/api/v1/namespaces/default/configmaps", json=body).status_code == 401
    assert kube.get("/api/v1/namespaces/default/configmaps").json()["items"] == []


def test_exec_upgrade_without_the_token_is_refused(kube_anon: TestClient) -> None:
    with (
        pytest.raises(WebSocketDenialResponse) as info,
        kube_anon.websocket_connect(
            "/api/v1/namespaces/default/pods/pod-1/exec?command=sh&stdout=true",
            subprotocols=["v5.channel.k8s.io"],
        ),
    ):
        pass
    assert info.value.status_code == 401
    assert info.value.json() == UNAUTHORIZED
