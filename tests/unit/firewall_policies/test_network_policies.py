"""Global network firewall policies: create, describe, list (plain and aggregated), update,
clone rules, delete; their operations are the project's global operations."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.unit.compute.helpers import BASE, LINK
from tests.unit.firewall_policies.helpers import (
    NET,
    NET_LINK,
    PREDEFINED,
    create_net_policy,
    error_of,
    get,
    ok,
    rule,
    user_rules,
)


def test_create_and_describe(client: TestClient) -> None:
    op = ok(client.post(NET, json={"name": "net-pol", "description": "d"}))
    assert op["operationType"] == "insert"
    assert op["selfLink"].startswith(f"{LINK}/global/operations/operation-")
    assert ok(client.get(f"{BASE}/global/operations/{op['name']}")) == op
    policy = get(client, f"{NET}/net-pol")
    assert policy["kind"] == "compute#firewallPolicy"
    assert policy["name"] == "net-pol" and policy["description"] == "d"
    assert policy["id"] == op["targetId"]
    assert policy["selfLink"] == f"{NET_LINK}/net-pol"
    assert policy["selfLinkWithId"] == f"{NET_LINK}/{policy['id']}"
    assert [r["priority"] for r in policy["rules"]] == PREDEFINED
    assert policy["ruleTupleCount"] == 8
    for field in ("parent", "shortName", "displayName", "associations"):
        assert field not in policy


def test_lists(client: TestClient) -> None:
    create_net_policy(client, "b-pol")
    create_net_policy(client, "a-pol")
    body = ok(client.get(NET))
    assert body["kind"] == "compute#firewallPolicyList"
    assert [p["name"] for p in body["items"]] == ["a-pol", "b-pol"]
    agg = ok(client.get(f"{BASE}/aggregated/firewallPolicies"))
    assert agg["kind"] == "compute#networkFirewallPolicyAggregatedList"
    assert list(agg["items"]) == ["global"]
    assert [p["name"] for p in agg["items"]["global"]["firewallPolicies"]] == ["a-pol", "b-pol"]


def test_bad_names_and_duplicates(client: TestClient) -> None:
    r = client.post(NET, json={"name": "Net_Pol"})
    assert r.status_code == 400
    assert "Invalid value for field 'resource.name': 'Net_Pol'" in error_of(r)["message"]
    create_net_policy(client)
    r = client.post(NET, json={"name": "net-pol"})
    assert r.status_code == 409
    assert error_of(r)["message"] == (
        "The resource 'projects/test-proj/global/firewallPolicies/net-pol' already exists"
    )
    assert [p["name"] for p in ok(client.get(NET))["items"]] == ["net-pol"]


def test_update_with_fingerprint(client: TestClient) -> None:
    before = create_net_policy(client)
    ok(
        client.patch(
            f"{NET}/net-pol", json={"description": "new", "fingerprint": before["fingerprint"]}
        )
    )
    assert get(client, f"{NET}/net-pol")["description"] == "new"
    r = client.patch(f"{NET}/net-pol", json={"description": "x", "fingerprint": "AAAAAAAAAAA="})
    assert r.status_code == 412
    r = client.patch(f"{NET}/net-pol", json={"name": "renamed"})
    assert r.status_code == 400
    assert "The name cannot be changed." in error_of(r)["message"]
    assert get(client, f"{NET}/net-pol")["description"] == "new"


def test_clone_rules_from_another_policy(client: TestClient) -> None:
    create_net_policy(client, "source")
    create_net_policy(client, "dest")
    ok(client.post(f"{NET}/source/addRule", json=rule(10)))
    ok(client.post(f"{NET}/dest/addRule", json=rule(20)))
    # gcloud sends the source's selfLink.
    op = ok(
        client.post(f"{NET}/dest/cloneRules", params={"sourceFirewallPolicy": f"{NET_LINK}/source"})
    )
    assert op["operationType"] == "cloneRules"
    assert user_rules(get(client, f"{NET}/dest")) == user_rules(get(client, f"{NET}/source"))
    r = client.post(f"{NET}/dest/cloneRules", params={"sourceFirewallPolicy": "missing"})
    assert r.status_code == 404


def test_delete(client: TestClient) -> None:
    create_net_policy(client)
    op = ok(client.delete(f"{NET}/net-pol"))
    assert op["operationType"] == "delete"
    assert client.get(f"{NET}/net-pol").status_code == 404
    assert "items" not in ok(client.get(NET))


def test_the_project_must_be_served(client: TestClient) -> None:
    r = client.post("/compute/v1/projects/nope/global/firewallPolicies", json={"name": "x"})
    assert r.status_code == 404
    assert error_of(r)["message"] == "The resource 'projects/nope' was not found"
