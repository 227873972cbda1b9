"""The Compute API answers only callers holding the daemon's token."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.unit.compute.helpers import FIREWALLS, SUBNET, error_of


def test_requests_without_the_token_are_401(anon_client: TestClient) -> None:
    r = anon_client.get(SUBNET)
    assert r.status_code == 401
    assert error_of(r)["status"] == "UNAUTHENTICATED"
    assert r.headers["www-authenticate"] == "Bearer"


def test_mutations_without_the_token_change_nothing(
    anon_client: TestClient, client: TestClient
) -> None:
    r = anon_client.post(FIREWALLS, json={"name": "fw1", "allowed": [{"IPProtocol": "icmp"}]})
    assert r.status_code == 401
    bad = anon_client.delete(
        f"{FIREWALLS}/default-allow-ssh", headers={"Authorization": "Bearer x"}
    )
    assert bad.status_code == 401
    assert client.get(f"{FIREWALLS}/fw1").status_code == 404
    assert client.get(f"{FIREWALLS}/default-allow-ssh").status_code == 200
