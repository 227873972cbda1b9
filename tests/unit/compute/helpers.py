"""Paths and small helpers for the Compute API tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.unit.conftest import PROJECT

BASE = f"/compute/v1/projects/{PROJECT}"
LINK = f"https://www.googleapis.com/compute/v1/projects/{PROJECT}"
SUBNET = f"{BASE}/regions/us-central1/subnetworks/default"
FIREWALLS = f"{BASE}/global/firewalls"
ROUTES = f"{BASE}/global/routes"


def error_of(response: Any) -> dict[str, Any]:
    """The ``error`` object of a Google error response."""
    body: dict[str, Any] = response.json()
    return body["error"]  # type: ignore[no-any-return]


def get(client: TestClient, path: str) -> dict[str, Any]:
    r = client.get(path)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def items(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a Compute list, following nextPageToken."""
    out: list[dict[str, Any]] = []
    token = None
    while True:
        query = dict(params)
        if token:
            query["pageToken"] = token
        r = client.get(path, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body.get("items", [])
        token = body.get("nextPageToken")
        if not token:
            return out
