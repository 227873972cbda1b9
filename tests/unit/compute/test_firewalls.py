"""Firewall rules: Google's validation (one case per rule), defaults, PATCH/PUT, delete."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.domain.firewalls import FirewallRule, ProtocolMatch, firewall_document
from intranode.errors import InvalidArgument
from tests.unit.compute.helpers import FIREWALLS, LINK, error_of, get, items
from tests.unit.conftest import PROJECT

RULE: dict[str, Any] = {"name": "fw1", "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]}


def create(client: TestClient, **fields: Any) -> Any:
    return client.post(FIREWALLS, json={**RULE, **fields})


def test_insert_fills_googles_defaults(client: TestClient) -> None:
    op = create(client).json()
    assert op["operationType"] == "insert" and op["status"] == "DONE"
    assert op["targetLink"] == f"{LINK}/global/firewalls/fw1"
    assert "region" not in op and "zone" not in op
    rule = get(client, f"{FIREWALLS}/fw1")
    assert rule["kind"] == "compute#firewall"
    assert rule["id"] == op["targetId"]
    assert rule["network"] == f"{LINK}/global/networks/default"
    assert rule["priority"] == 1000
    assert rule["direction"] == "INGRESS"
    assert rule["sourceRanges"] == ["0.0.0.0/0"]
    assert "destinationRanges" not in rule
    assert rule["logConfig"] == {"enable": False}
    assert rule["disabled"] is False
    assert rule["selfLink"] == f"{LINK}/global/firewalls/fw1"


def test_egress_defaults_destination_to_anywhere(client: TestClient) -> None:
    create(client, direction="EGRESS", allowed=None, denied=[{"IPProtocol": "all"}])
    rule = get(client, f"{FIREWALLS}/fw1")
    assert rule["destinationRanges"] == ["0.0.0.0/0"]
    assert "sourceRanges" not in rule
    assert rule["denied"] == [{"IPProtocol": "all"}]


def test_source_tags_alone_get_no_default_range(client: TestClient) -> None:
    create(client, sourceTags=["web"])
    rule = get(client, f"{FIREWALLS}/fw1")
    assert rule["sourceTags"] == ["web"] and "sourceRanges" not in rule


def test_logging_on_shows_include_all_metadata(client: TestClient) -> None:
    create(client, logConfig={"enable": True})
    assert get(client, f"{FIREWALLS}/fw1")["logConfig"] == {
        "enable": True,
        "metadata": "INCLUDE_ALL_METADATA",
    }


def test_protocol_numbers_and_names(client: TestClient) -> None:
    allowed = [
        {"IPProtocol": "6", "ports": ["80-90"]},
        {"IPProtocol": "esp"},
        {"IPProtocol": "132"},
    ]
    assert create(client, allowed=allowed).status_code == 200


NAME_REGEX = "(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"
BAD_RULES: list[tuple[str, dict[str, Any], str]] = [
    (
        "name-rfc1035",
        {"name": "Bad_Name"},
        f"Invalid value for field 'resource.name': 'Bad_Name'. Must be a match of regex "
        f"'{NAME_REGEX}'",
    ),
    ("name-too-long", {"name": "a" * 64}, "Invalid value for field 'resource.name'"),
    ("name-required", {"name": None}, "Required field 'resource.name' not specified"),
    (
        "priority-high",
        {"priority": 70000},
        "Invalid value for field 'resource.priority': '70000'. Must be less than or equal to 65535",
    ),
    (
        "priority-low",
        {"priority": -1},
        "Invalid value for field 'resource.priority': '-1'. Must be greater than or equal to 0",
    ),
    (
        "direction",
        {"direction": "SIDEWAYS"},
        "Invalid value for field 'resource.direction': 'SIDEWAYS'. Must be one of [INGRESS, "
        "EGRESS].",
    ),
    (
        "neither-allowed-nor-denied",
        {"allowed": []},
        "Invalid value for field 'resource.allowed': ''. Exactly one of allowed or denied must be "
        "specified.",
    ),
    (
        "both-allowed-and-denied",
        {"denied": [{"IPProtocol": "udp"}]},
        "Invalid value for field 'resource.denied': ''. Exactly one of allowed or denied must be "
        "specified.",
    ),
    (
        "unknown-protocol",
        {"allowed": [{"IPProtocol": "foo"}]},
        "Invalid value for field 'resource.allowed[0].IPProtocol': 'foo'. Must be one of [tcp, "
        "udp, icmp, esp, ah, sctp, ipip, all] or an IP protocol number between 0 and 255.",
    ),
    ("protocol-number-256", {"allowed": [{"IPProtocol": "256"}]}, "'256'. Must be one of"),
    (
        "protocol-required",
        {"allowed": [{"ports": ["22"]}]},
        "Required field 'resource.allowed[0].IPProtocol' not specified",
    ),
    (
        "ports-only-tcp-udp-sctp",
        {"allowed": [{"IPProtocol": "icmp", "ports": ["22"]}]},
        "Invalid value for field 'resource.allowed[0].ports[0]': '22'. Ports can be specified "
        "only for the tcp, udp and sctp protocols.",
    ),
    (
        "port-range-reversed",
        {"allowed": [{"IPProtocol": "tcp", "ports": ["80-70"]}]},
        "Invalid value for field 'resource.allowed[0].ports[0]': '80-70'. Must be a port number "
        "or a port range N-M with 0 <= N <= M <= 65535.",
    ),
    (
        "port-too-big",
        {"allowed": [{"IPProtocol": "udp", "ports": ["53", "65536"]}]},
        "Invalid value for field 'resource.allowed[0].ports[1]': '65536'.",
    ),
    (
        "port-not-a-number",
        {"denied": [{"IPProtocol": "tcp", "ports": ["ssh"]}], "allowed": None},
        "Invalid value for field 'resource.denied[0].ports[0]': 'ssh'.",
    ),
    (
        "source-range-cidr",
        {"sourceRanges": ["10.0.0.300/24"]},
        "Invalid value for field 'resource.sourceRanges[0]': '10.0.0.300/24'. Must be a valid "
        "IPV4 or IPV6 CIDR address range.",
    ),
    (
        "destination-range-cidr",
        {"destinationRanges": ["10.0.0.0/33"]},
        "Invalid value for field 'resource.destinationRanges[0]': '10.0.0.0/33'.",
    ),
    (
        "ranges-not-mixed",
        {"sourceRanges": ["10.0.0.0/8", "fd00::/8"]},
        "IPv4 and IPv6 ranges cannot be mixed in one firewall rule.",
    ),
    (
        "source-tags-ingress-only",
        {"direction": "EGRESS", "sourceTags": ["web"]},
        "Invalid value for field 'resource.sourceTags': 'web'. sourceTags cannot be specified "
        "for EGRESS firewall rules.",
    ),
    (
        "target-tags-vs-service-accounts",
        {"targetTags": ["web"], "targetServiceAccounts": ["sa@p.iam.gserviceaccount.com"]},
        "targetServiceAccounts cannot be combined with targetTags.",
    ),
    (
        "source-service-accounts-vs-tags",
        {"sourceServiceAccounts": ["sa@p.iam.gserviceaccount.com"], "sourceTags": ["web"]},
        "Service accounts cannot be combined with sourceTags or targetTags.",
    ),
    ("tag-rfc1035", {"targetTags": ["Web"]}, "Invalid value for field 'resource.targetTags[0]'"),
    (
        "log-metadata-needs-enable",
        {"logConfig": {"metadata": "INCLUDE_ALL_METADATA"}},
        "Metadata can be set only when logging is enabled.",
    ),
    (
        "network-url",
        {"network": "default"},
        "Invalid value for field 'resource.network': 'default'. The URL is malformed.",
    ),
    ("priority-type", {"priority": "high"}, "Invalid value at 'resource.priority' (TYPE_INT32)"),
    ("disabled-type", {"disabled": "no"}, "Invalid value at 'resource.disabled' (TYPE_BOOL)"),
    (
        "unknown-field",
        {"sourceRange": ["10.0.0.0/8"]},
        "Invalid JSON payload received. Unknown name \"sourceRange\" at 'resource': Cannot find "
        "field.",
    ),
    (
        "unknown-nested-field",
        {"allowed": [{"IPProtocol": "tcp", "port": ["22"]}]},
        "Unknown name \"port\" at 'resource.allowed[0]': Cannot find field.",
    ),
]


@pytest.mark.parametrize(
    ("fields", "message"), [(f, m) for _, f, m in BAD_RULES], ids=[i for i, _, _ in BAD_RULES]
)
def test_invalid_rules_are_refused_with_googles_text(
    client: TestClient, fields: dict[str, Any], message: str
) -> None:
    before = items(client, FIREWALLS)
    body = {k: v for k, v in {**RULE, **fields}.items() if v is not None}
    r = client.post(FIREWALLS, json=body)
    assert r.status_code == 400, r.text
    assert message in error_of(r)["message"]
    assert items(client, FIREWALLS) == before


def test_duplicate_name_is_409(client: TestClient) -> None:
    r = client.post(FIREWALLS, json={**RULE, "name": "default-allow-ssh"})
    assert r.status_code == 409
    err = error_of(r)
    assert err["message"] == (
        f"The resource 'projects/{PROJECT}/global/firewalls/default-allow-ssh' already exists"
    )
    assert err["errors"][0]["reason"] == "alreadyExists"


def test_unknown_network_is_404(client: TestClient) -> None:
    r = create(client, network="global/networks/nonet")
    assert r.status_code == 404
    assert error_of(r)["message"] == (
        f"The resource 'projects/{PROJECT}/global/networks/nonet' was not found"
    )


def test_network_as_a_url_from_any_endpoint(client: TestClient) -> None:
    url = f"http://127.0.0.1:9/compute/v1/projects/{PROJECT}/global/networks/default"
    assert create(client, network=url).status_code == 200
    assert get(client, f"{FIREWALLS}/fw1")["network"] == f"{LINK}/global/networks/default"


def test_patch_replaces_given_fields_and_keeps_the_rest(client: TestClient) -> None:
    create(client, targetTags=["web"], sourceRanges=["10.0.0.0/8"])
    before = get(client, f"{FIREWALLS}/fw1")
    r = client.patch(f"{FIREWALLS}/fw1", json={"priority": 900, "logConfig": {"enable": True}})
    assert r.status_code == 200 and r.json()["operationType"] == "patch"
    rule = get(client, f"{FIREWALLS}/fw1")
    assert rule["priority"] == 900
    assert rule["logConfig"]["enable"] is True
    assert rule["targetTags"] == ["web"] and rule["sourceRanges"] == ["10.0.0.0/8"]
    assert rule["id"] == before["id"]
    assert rule["creationTimestamp"] == before["creationTimestamp"]


def test_patch_with_an_empty_list_clears_the_field(client: TestClient) -> None:
    create(client, targetTags=["web"])
    client.patch(f"{FIREWALLS}/fw1", json={"targetTags": []})
    assert "targetTags" not in get(client, f"{FIREWALLS}/fw1")


def test_patch_validates_the_result_and_changes_nothing_on_error(client: TestClient) -> None:
    create(client)
    before = get(client, f"{FIREWALLS}/fw1")
    r = client.patch(f"{FIREWALLS}/fw1", json={"priority": 70000})
    assert r.status_code == 400
    r = client.patch(f"{FIREWALLS}/fw1", json={"denied": [{"IPProtocol": "tcp"}]})
    assert r.status_code == 400
    r = client.patch(f"{FIREWALLS}/fw1", json={"direction": "EGRESS"})
    assert r.status_code == 400
    assert "direction cannot be changed" in error_of(r)["message"]
    assert get(client, f"{FIREWALLS}/fw1") == before


def test_put_replaces_the_whole_rule(client: TestClient) -> None:
    create(client, targetTags=["web"], priority=10)
    body = {"name": "fw1", "allowed": [{"IPProtocol": "udp"}]}
    r = client.put(f"{FIREWALLS}/fw1", json=body)
    assert r.status_code == 200 and r.json()["operationType"] == "update"
    rule = get(client, f"{FIREWALLS}/fw1")
    assert rule["allowed"] == [{"IPProtocol": "udp"}]
    assert rule["priority"] == 1000 and "targetTags" not in rule


def test_delete(client: TestClient) -> None:
    create(client)
    op = client.delete(f"{FIREWALLS}/fw1").json()
    assert op["operationType"] == "delete"
    assert client.get(f"{FIREWALLS}/fw1").status_code == 404
    r = client.delete(f"{FIREWALLS}/fw1")
    assert r.status_code == 404
    assert error_of(r)["message"] == (
        f"The resource 'projects/{PROJECT}/global/firewalls/fw1' was not found"
    )


def test_firewall_document_contract() -> None:
    doc = firewall_document(
        PROJECT,
        {
            "name": "gke-c1-1234abcd-all",
            "network": f"projects/{PROJECT}/global/networks/default",
            "sourceRanges": ["10.4.0.0/14"],
            "targetTags": ["gke-c1-1234abcd-node"],
            "allowed": [{"IPProtocol": p} for p in ("tcp", "udp", "icmp", "esp", "ah", "sctp")],
        },
        now=0.0,
    )
    assert doc["kind"] == "compute#firewall"
    assert doc["id"].isdigit()
    assert doc["creationTimestamp"] == "1969-12-31T16:00:00.000-08:00"
    assert doc["selfLink"] == f"{LINK}/global/firewalls/gke-c1-1234abcd-all"
    assert doc["network"] == f"{LINK}/global/networks/default"
    assert doc["priority"] == 1000 and doc["direction"] == "INGRESS"
    with pytest.raises(InvalidArgument):
        firewall_document(PROJECT, {"name": "x", "allowed": []}, now=0.0)


def test_typed_rule_for_the_compiler(client: TestClient) -> None:
    rule = FirewallRule.from_document(get(client, f"{FIREWALLS}/default-allow-internal"), PROJECT)
    assert rule.network == f"projects/{PROJECT}/global/networks/default"
    assert rule.action == "ALLOW" and rule.priority == 65534
    assert rule.matches == (
        ProtocolMatch(6, ((0, 65535),)),
        ProtocolMatch(17, ((0, 65535),)),
        ProtocolMatch(1, ()),
    )
    assert rule.source_ranges == ("10.128.0.0/9",)
