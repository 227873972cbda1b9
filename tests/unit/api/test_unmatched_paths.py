"""A method of a served API that intranode lacks is 501 UNIMPLEMENTED; other paths are 404."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_an_unimplemented_compute_method_is_501(client: TestClient) -> None:
    r = client.get("/compute/v1/projects/test-proj/global/backendServices")
    assert r.status_code == 501
    err = r.json()["error"]
    assert err["status"] == "UNIMPLEMENTED"
    assert "docs/api-coverage.md" in err["message"]


def test_an_unknown_path_is_404(client: TestClient) -> None:
    r = client.get("/no/such/api")
    assert r.status_code == 404
    assert r.json()["error"]["status"] == "NOT_FOUND"


def test_unauthenticated_callers_learn_nothing_about_paths(anon_client: TestClient) -> None:
    r = anon_client.get("/compute/v1/projects/test-proj/global/backendServices")
    assert r.status_code == 401
