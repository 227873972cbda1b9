"""Paths, the emulated hierarchy and small builders for the firewall policy tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from intranode.config import Settings
from tests.unit.compute.helpers import BASE, LINK, error_of, get
from tests.unit.conftest import PROJECT

ORG_ID, FOLDER_ID = Settings.organization_id, Settings.folder_id
ORG, FOLDER = f"organizations/{ORG_ID}", f"folders/{FOLDER_ID}"
HIER = "/compute/v1/locations/global/firewallPolicies"
HIER_LINK = "https://www.googleapis.com/compute/v1/locations/global/firewallPolicies"
ORG_OPS = "/compute/v1/locations/global/operations"
NET = f"{BASE}/global/firewallPolicies"
NET_LINK = f"{LINK}/global/firewallPolicies"
DEFAULT_NETWORK = f"{LINK}/global/networks/default"
PREDEFINED = [2147483644, 2147483645, 2147483646, 2147483647]

__all__ = ["PROJECT", "error_of", "get"]


def rule(
    priority: int = 1000,
    action: str = "deny",
    direction: str = "INGRESS",
    **extra: Any,
) -> dict[str, Any]:
    """A rule body as gcloud sends it; a source (or destination) range unless given."""
    match = extra.pop("match", {})
    match.setdefault("layer4Configs", [{"ipProtocol": "tcp", "ports": ["80"]}])
    if direction == "INGRESS":
        match.setdefault("srcIpRanges", ["10.0.0.0/8"])
    else:
        match.setdefault("destIpRanges", ["10.0.0.0/8"])
    return {"priority": priority, "action": action, "direction": direction, "match": match, **extra}


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def create_org_policy(client: TestClient, short: str = "org-pol", parent: str = ORG) -> str:
    """Create a hierarchical policy the way gcloud does; its id (= name)."""
    op = ok(client.post(HIER, params={"parentId": parent}, json={"displayName": short}))
    return str(op["targetId"])


def create_net_policy(client: TestClient, name: str = "net-pol") -> dict[str, Any]:
    ok(client.post(NET, json={"name": name}))
    return get(client, f"{NET}/{name}")


def user_rules(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in policy["rules"] if r["priority"] not in PREDEFINED]
