"""Rules of firewall policies: add, get, patch (gcloud's partial bodies, new priority), remove;
Google's validation one case per rule; the predefined rules cannot be touched; a refused
request leaves the policy exactly as it was."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.firewall_policies.helpers import (
    DEFAULT_NETWORK,
    HIER,
    NET,
    PREDEFINED,
    create_net_policy,
    create_org_policy,
    error_of,
    get,
    ok,
    rule,
    user_rules,
)


@pytest.fixture(params=["hierarchical", "network"])
def policy_url(request: pytest.FixtureRequest, client: TestClient) -> str:
    if request.param == "hierarchical":
        return f"{HIER}/{create_org_policy(client)}"
    create_net_policy(client)
    return f"{NET}/net-pol"


def test_add_then_get_a_rule(client: TestClient, policy_url: str) -> None:
    body = rule(
        1000,
        "deny",
        enableLogging=True,
        description="no web",
        ruleName="no-web",
        match={
            "srcIpRanges": ["10.4.0.0/14"],
            "layer4Configs": [
                {"ipProtocol": "tcp", "ports": ["80", "8000-8080"]},
                {"ipProtocol": "udp"},
            ],
        },
    )
    op = ok(client.post(f"{policy_url}/addRule", json=body))
    assert op["operationType"] == "addRule" and op["status"] == "DONE"
    got = ok(client.get(f"{policy_url}/getRule", params={"priority": 1000}))
    assert got == {
        "kind": "compute#firewallPolicyRule",
        "description": "no web",
        "ruleName": "no-web",
        "priority": 1000,
        "match": {
            "srcIpRanges": ["10.4.0.0/14"],
            "layer4Configs": [
                {"ipProtocol": "tcp", "ports": ["80", "8000-8080"]},
                {"ipProtocol": "udp"},
            ],
        },
        "action": "deny",
        "direction": "INGRESS",
        "enableLogging": True,
        "ruleTupleCount": 4,
        "disabled": False,
    }
    policy = get(client, policy_url)
    assert [r["priority"] for r in policy["rules"]] == [1000, *PREDEFINED]
    assert policy["ruleTupleCount"] == 8 + 4


def test_patch_rule_merges_what_gcloud_sends(client: TestClient, policy_url: str) -> None:
    ok(client.post(f"{policy_url}/addRule", json=rule(1000, enableLogging=True)))
    # gcloud rules update 1000 --src-ip-ranges=10.8.0.0/14 --new-priority=900
    body = {"match": {"srcIpRanges": ["10.8.0.0/14"]}, "priority": 900}
    op = ok(client.post(f"{policy_url}/patchRule", params={"priority": 1000}, json=body))
    assert op["operationType"] == "patchRule"
    moved = ok(client.get(f"{policy_url}/getRule", params={"priority": 900}))
    assert moved["match"] == {
        "srcIpRanges": ["10.8.0.0/14"],
        "layer4Configs": [{"ipProtocol": "tcp", "ports": ["80"]}],
    }
    assert moved["enableLogging"] is True
    assert client.get(f"{policy_url}/getRule", params={"priority": 1000}).status_code == 400
    # gcloud rules update 900 --action=goto_next --no-enable-logging
    body2 = {
        "action": "goto_next",
        "enableLogging": False,
        "priority": 900,
        "securityProfileGroup": None,
    }
    ok(client.post(f"{policy_url}/patchRule", params={"priority": 900}, json=body2))
    after = ok(client.get(f"{policy_url}/getRule", params={"priority": 900}))
    assert (after["action"], after["enableLogging"]) == ("goto_next", False)


def test_remove_rule(client: TestClient, policy_url: str) -> None:
    ok(client.post(f"{policy_url}/addRule", json=rule(5)))
    op = ok(client.post(f"{policy_url}/removeRule", params={"priority": 5}))
    assert op["operationType"] == "removeRule"
    assert [r["priority"] for r in get(client, policy_url)["rules"]] == PREDEFINED


def test_every_change_rotates_the_fingerprint(client: TestClient, policy_url: str) -> None:
    seen = {get(client, policy_url)["fingerprint"]}
    ok(client.post(f"{policy_url}/addRule", json=rule(5)))
    seen.add(get(client, policy_url)["fingerprint"])
    ok(client.post(f"{policy_url}/patchRule", params={"priority": 5}, json={"action": "allow"}))
    seen.add(get(client, policy_url)["fingerprint"])
    ok(client.post(f"{policy_url}/removeRule", params={"priority": 5}))
    seen.add(get(client, policy_url)["fingerprint"])
    assert len(seen) == 4


M = "Invalid value for field"
BAD_RULES: list[tuple[str, dict[str, Any], str]] = [
    ("priority-required", {"priority": None}, "Required field 'resource.priority' not specified"),
    (
        "priority-negative",
        {"priority": -1},
        f"{M} 'resource.priority': '-1'. Must be greater than or equal to 0",
    ),
    (
        "priority-reserved",
        {"priority": 2147483548},
        f"{M} 'resource.priority': '2147483548'. Must be less than or equal to 2147483547",
    ),
    ("action-required", {"action": None}, "Required field 'resource.action' not specified"),
    (
        "action-unknown",
        {"action": "reject"},
        f"{M} 'resource.action': 'reject'. Must be one of [allow, deny, goto_next, "
        "apply_security_profile_group].",
    ),
    (
        "direction",
        {"direction": "UP"},
        f"{M} 'resource.direction': 'UP'. Must be one of [INGRESS, EGRESS].",
    ),
    ("match-required", {"match": None}, "Required field 'resource.match' not specified"),
    (
        "layer4-required",
        {"match": {"srcIpRanges": ["10.0.0.0/8"]}},
        "Required field 'resource.match.layer4Configs' not specified",
    ),
    (
        "protocol-unknown",
        {"match": {"srcIpRanges": ["1.2.3.4"], "layer4Configs": [{"ipProtocol": "http"}]}},
        f"{M} 'resource.match.layer4Configs[0].ipProtocol': 'http'. Must be one of",
    ),
    (
        "ports-for-icmp",
        {
            "match": {
                "srcIpRanges": ["1.2.3.4"],
                "layer4Configs": [{"ipProtocol": "icmp", "ports": ["1"]}],
            }
        },
        f"{M} 'resource.match.layer4Configs[0].ports[0]': '1'. Ports can be specified only for "
        "the tcp, udp and sctp protocols.",
    ),
    (
        "port-range",
        {
            "match": {
                "srcIpRanges": ["1.2.3.4"],
                "layer4Configs": [{"ipProtocol": "tcp", "ports": ["90-80"]}],
            }
        },
        f"{M} 'resource.match.layer4Configs[0].ports[0]': '90-80'. Must be a port number or a "
        "port range N-M with 0 <= N <= M <= 65535.",
    ),
    (
        "bad-cidr",
        {"match": {"srcIpRanges": ["10.0.0.0/33"], "layer4Configs": [{"ipProtocol": "all"}]}},
        f"{M} 'resource.match.srcIpRanges[0]': '10.0.0.0/33'. Must be a valid IPV4 or IPV6 CIDR "
        "address range.",
    ),
    (
        "ingress-needs-source",
        {"match": {"destIpRanges": ["10.0.0.0/8"], "layer4Configs": [{"ipProtocol": "all"}]}},
        f"{M} 'resource.match': ''. An INGRESS rule must name at least one source",
    ),
    (
        "egress-needs-destination",
        {
            "direction": "EGRESS",
            "match": {"srcIpRanges": ["10.0.0.0/8"], "layer4Configs": [{"ipProtocol": "all"}]},
        },
        f"{M} 'resource.match': ''. An EGRESS rule must name at least one destination",
    ),
    (
        "too-many-ranges",
        {"match": {"srcIpRanges": ["10.0.0.1"] * 5001, "layer4Configs": [{"ipProtocol": "all"}]}},
        f"{M} 'resource.match.srcIpRanges': '5001'. At most 5000 ranges are allowed.",
    ),
    (
        "no-logging-on-goto-next",
        {"action": "goto_next", "enableLogging": True},
        f"{M} 'resource.enableLogging': 'true'. Logging cannot be enabled on goto_next rules.",
    ),
    (
        "security-profile-group-needed",
        {"action": "apply_security_profile_group"},
        "Required field 'resource.securityProfileGroup' not specified",
    ),
    (
        "security-profile-group-only-with-its-action",
        {"securityProfileGroup": "organizations/1/locations/global/securityProfileGroups/g"},
        f"{M} 'resource.securityProfileGroup'",
    ),
    (
        "service-account-email",
        {"targetServiceAccounts": ["nobody"]},
        f"{M} 'resource.targetServiceAccounts[0]': 'nobody'. Must be a service account email "
        "address.",
    ),
    (
        "unknown-field",
        {"targetTags": ["web"]},
        "Invalid JSON payload received. Unknown name \"targetTags\" at 'resource': Cannot find "
        "field.",
    ),
    (
        "unknown-match-field",
        {
            "match": {
                "srcIpRanges": ["1.2.3.4"],
                "layer4Configs": [{"ipProtocol": "all"}],
                "srcTags": ["a"],
            }
        },
        "Invalid JSON payload received. Unknown name \"srcTags\" at 'resource.match': Cannot "
        "find field.",
    ),
    (
        "priority-not-a-number",
        {"priority": "high"},
        "Invalid value at 'resource.priority' (TYPE_INT32)",
    ),
]


@pytest.mark.parametrize(("case", "fields", "message"), BAD_RULES, ids=[c[0] for c in BAD_RULES])
def test_bad_rules_are_refused_and_change_nothing(
    client: TestClient, policy_url: str, case: str, fields: dict[str, Any], message: str
) -> None:
    before = get(client, policy_url)
    body = rule(1000)
    for name, value in fields.items():
        if value is None:
            del body[name]
        else:
            body[name] = value
    r = client.post(f"{policy_url}/addRule", json=body)
    assert r.status_code == 400, r.text
    assert message in error_of(r)["message"], case
    assert get(client, policy_url) == before


def test_duplicate_priority_is_googles_400(client: TestClient, policy_url: str) -> None:
    ok(client.post(f"{policy_url}/addRule", json=rule(7)))
    before = get(client, policy_url)
    r = client.post(f"{policy_url}/addRule", json=rule(7, "allow"))
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "Invalid value for field 'resource.priority': '7'. Cannot have rules with the same "
        "priorities."
    )
    ok(client.post(f"{policy_url}/addRule", json=rule(8)))
    r = client.post(f"{policy_url}/patchRule", params={"priority": 8}, json={"priority": 7})
    assert r.status_code == 400 and "Cannot have rules with the same priorities." in r.text
    eight = ok(client.get(f"{policy_url}/getRule", params={"priority": 8}))
    assert user_rules(get(client, policy_url)) == [*user_rules(before), eight]


def test_predefined_rules_cannot_be_changed_or_removed(client: TestClient, policy_url: str) -> None:
    before = get(client, policy_url)
    for path, body in (("patchRule", {"action": "deny"}), ("removeRule", None)):
        r = client.post(f"{policy_url}/{path}", params={"priority": 2147483647}, json=body)
        assert r.status_code == 400
        assert error_of(r)["message"] == (
            "Invalid value for field 'priority': '2147483647'. The predefined rules of a "
            "firewall policy cannot be changed or removed."
        )
    got = ok(client.get(f"{policy_url}/getRule", params={"priority": 2147483647}))
    assert got["action"] == "goto_next"
    assert get(client, policy_url) == before


def test_rule_queries_need_a_priority_that_exists(client: TestClient, policy_url: str) -> None:
    r = client.get(f"{policy_url}/getRule", params={"priority": 77})
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "Invalid value for field 'priority': '77'. The firewall policy does not contain a rule "
        "at priority 77."
    )
    r = client.get(f"{policy_url}/getRule", params={"priority": "x"})
    assert r.status_code == 400
    assert error_of(r)["message"] == "Invalid value at 'priority' (TYPE_INT32), \"x\""
    r = client.post(f"{policy_url}/removeRule")
    assert r.status_code == 400
    assert error_of(r)["message"] == "Required field 'priority' not specified"


def test_target_resources_only_in_hierarchical_policies(client: TestClient) -> None:
    hier = f"{HIER}/{create_org_policy(client)}"
    body = rule(3, targetResources=["global/networks/default"])
    ok(client.post(f"{hier}/addRule", json=body))
    got = ok(client.get(f"{hier}/getRule", params={"priority": 3}))
    assert got["targetResources"] == [DEFAULT_NETWORK]
    net = create_net_policy(client)
    r = client.post(f"{NET}/net-pol/addRule", json=body)
    assert r.status_code == 400
    assert "Target resources can be set only in hierarchical firewall policies." in r.text
    assert get(client, f"{NET}/net-pol") == net


def test_secure_tags_only_in_network_policies(client: TestClient) -> None:
    create_net_policy(client)
    body = rule(3, targetSecureTags=[{"name": "tagValues/123"}])
    ok(client.post(f"{NET}/net-pol/addRule", json=body))
    got = ok(client.get(f"{NET}/net-pol/getRule", params={"priority": 3}))
    assert got["targetSecureTags"] == [{"name": "tagValues/123", "state": "INEFFECTIVE"}]
    both = rule(4, targetSecureTags=[{"name": "tagValues/1"}], targetServiceAccounts=["a@b.c"])
    r = client.post(f"{NET}/net-pol/addRule", json=both)
    assert r.status_code == 400
    assert "targetSecureTags cannot be combined with targetServiceAccounts." in r.text
    hier = f"{HIER}/{create_org_policy(client)}"
    r = client.post(f"{hier}/addRule", json=body)
    assert r.status_code == 400
    assert "Secure tags can be used only in network firewall policies." in r.text


def test_network_policy_rule_without_priority_takes_the_first_free(client: TestClient) -> None:
    create_net_policy(client)
    ok(client.post(f"{NET}/net-pol/addRule", json=rule(100)))
    body = rule()
    del body["priority"]
    params = {"minPriority": 100, "maxPriority": 200}
    ok(client.post(f"{NET}/net-pol/addRule", params=params, json=body))
    assert [r["priority"] for r in user_rules(get(client, f"{NET}/net-pol"))] == [100, 101]
    hier = f"{HIER}/{create_org_policy(client)}"
    r = client.post(f"{hier}/addRule", json=body)
    assert r.status_code == 400
    assert error_of(r)["message"] == "Required field 'resource.priority' not specified"
