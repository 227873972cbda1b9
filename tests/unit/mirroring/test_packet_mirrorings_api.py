"""``packetMirrorings`` through the Compute API: the bodies gcloud sends for create and update,
the document Google serves, each validation rule (nothing created or changed on refusal),
lists and delete."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.domain.resources import project_number
from tests.unit.compute.helpers import BASE, LINK, error_of, get
from tests.unit.conftest import PROJECT
from tests.unit.load_balancing.world import (
    MIRRORINGS,
    NODE_A,
    REGIONAL,
    ZONE,
    add_network,
    add_node,
    collector,
    ok,
)

HOST = "http://127.0.0.1:1/compute/v1/projects/test-proj"


def gcloud_create(**changes: Any) -> dict[str, Any]:
    """What ``gcloud compute packet-mirrorings create mirror-pods --region=us-central1
    --network=default --collector-ilb=col --mirrored-subnets=default
    --filter-cidr-ranges=10.4.0.0/14 --filter-protocols=tcp --filter-direction=both`` sends."""
    body: dict[str, Any] = {
        "collectorIlb": {"url": f"{HOST}/regions/us-central1/forwardingRules/col"},
        "enable": "TRUE",
        "filter": {"IPProtocols": ["tcp"], "cidrRanges": ["10.4.0.0/14"], "direction": "BOTH"},
        "mirroredResources": {
            "subnetworks": [{"url": f"{HOST}/regions/us-central1/subnetworks/default"}]
        },
        "name": "mirror-pods",
        "network": {"url": f"{HOST}/global/networks/default"},
    }
    body.update(changes)
    return body


@pytest.fixture
def col(client: TestClient) -> str:
    return collector(client, "col")


def test_create_serves_googles_document(client: TestClient, col: str) -> None:
    op = ok(client.post(MIRRORINGS, json=gcloud_create()))
    assert op["operationType"] == "insert"
    assert op["region"] == f"{LINK}/regions/us-central1"
    pm = get(client, f"{MIRRORINGS}/mirror-pods")
    number = project_number(PROJECT)
    rule = get(client, f"{REGIONAL}/forwardingRules/col")
    net = get(client, f"{BASE}/global/networks/default")
    subnet = get(client, f"{REGIONAL}/subnetworks/default")
    assert {k: v for k, v in pm.items() if k not in ("id", "creationTimestamp")} == {
        "kind": "compute#packetMirroring",
        "name": "mirror-pods",
        "region": f"{LINK}/regions/us-central1",
        "network": {
            "url": f"{LINK}/global/networks/default",
            "canonicalUrl": f"https://www.googleapis.com/compute/v1/projects/{number}/global/"
            f"networks/{net['id']}",
        },
        "priority": 1000,
        "collectorIlb": {
            "url": f"{LINK}/regions/us-central1/forwardingRules/col",
            "canonicalUrl": f"https://www.googleapis.com/compute/v1/projects/{number}/regions/"
            f"us-central1/forwardingRules/{rule['id']}",
        },
        "mirroredResources": {
            "subnetworks": [
                {
                    "url": f"{LINK}/regions/us-central1/subnetworks/default",
                    "canonicalUrl": f"https://www.googleapis.com/compute/v1/projects/{number}/"
                    f"regions/us-central1/subnetworks/{subnet['id']}",
                }
            ]
        },
        "filter": {"cidrRanges": ["10.4.0.0/14"], "IPProtocols": ["tcp"], "direction": "BOTH"},
        "enable": "TRUE",
        "selfLink": f"{LINK}/regions/us-central1/packetMirrorings/mirror-pods",
    }
    assert pm["id"] == op["targetId"]


def test_defaults_of_a_minimal_policy(client: TestClient, col: str) -> None:
    body = {
        "name": "pm",
        "network": {"url": "global/networks/default"},
        "collectorIlb": {"url": col},
        "mirroredResources": {"tags": ["web"]},
    }
    ok(client.post(MIRRORINGS, json=body))
    pm = get(client, f"{MIRRORINGS}/pm")
    assert pm["filter"] == {"direction": "BOTH"}
    assert pm["enable"] == "TRUE" and pm["priority"] == 1000
    assert pm["mirroredResources"] == {"tags": ["web"]}


def test_instances_are_referenced_with_their_canonical_url(
    client: TestClient, ctx: Context, col: str
) -> None:
    add_node(ctx, NODE_A, "10.128.0.2")
    resources = {"instances": [{"url": f"zones/{ZONE}/instances/{NODE_A}"}]}
    ok(client.post(MIRRORINGS, json=gcloud_create(mirroredResources=resources)))
    [info] = get(client, f"{MIRRORINGS}/mirror-pods")["mirroredResources"]["instances"]
    assert info["url"] == f"{LINK}/zones/{ZONE}/instances/{NODE_A}"
    assert info["canonicalUrl"].endswith(f"/zones/{ZONE}/instances/1234567890123456789")


def _subnets(n: int) -> dict[str, Any]:
    return {"subnetworks": [{"url": f"regions/us-central1/subnetworks/s{i}"} for i in range(n)]}


BAD: list[tuple[str, dict[str, Any], int, str]] = [
    ("no-network", {"network": None}, 400, "Required field 'resource.network' not specified"),
    (
        "missing-network",
        {"network": {"url": "global/networks/nope"}},
        404,
        "The resource 'projects/test-proj/global/networks/nope' was not found",
    ),
    (
        "no-collector",
        {"collectorIlb": None},
        400,
        "Required field 'resource.collectorIlb' not specified",
    ),
    (
        "missing-collector",
        {"collectorIlb": {"url": "regions/us-central1/forwardingRules/nope"}},
        404,
        "The resource 'projects/test-proj/regions/us-central1/forwardingRules/nope' was not found",
    ),
    (
        "collector-of-another-region",
        {"collectorIlb": {"url": "regions/europe-west1/forwardingRules/col"}},
        400,
        "Invalid value for field 'resource.collectorIlb.url': "
        "'regions/europe-west1/forwardingRules/col'. The collector must be a forwarding rule "
        "of the region us-central1.",
    ),
    (
        "collector-url-malformed",
        {"collectorIlb": {"url": "global/networks/default"}},
        400,
        "Invalid value for field 'resource.collectorIlb.url': 'global/networks/default'. The "
        "URL is malformed.",
    ),
    (
        "nothing-mirrored",
        {"mirroredResources": {}},
        400,
        "Invalid value for field 'resource.mirroredResources': ''. At least one of "
        "subnetworks, instances or tags must be specified.",
    ),
    (
        "six-subnets",
        {"mirroredResources": _subnets(6)},
        400,
        "Invalid value for field 'resource.mirroredResources.subnetworks': '6'. At most 5 "
        "subnetworks can be mirrored by one packet mirroring.",
    ),
    (
        "fifty-one-instances",
        {
            "mirroredResources": {
                "instances": [{"url": f"zones/{ZONE}/instances/i{i}"} for i in range(51)]
            }
        },
        400,
        "Invalid value for field 'resource.mirroredResources.instances': '51'. At most 50 "
        "instances can be mirrored by one packet mirroring.",
    ),
    (
        "subnet-of-another-region",
        {
            "mirroredResources": {
                "subnetworks": [{"url": "regions/europe-west1/subnetworks/default"}]
            }
        },
        400,
        "Invalid value for field 'resource.mirroredResources.subnetworks[0].url': "
        "'regions/europe-west1/subnetworks/default'. The subnetwork must be in the region "
        "us-central1.",
    ),
    (
        "missing-instance",
        {"mirroredResources": {"instances": [{"url": f"zones/{ZONE}/instances/nope"}]}},
        404,
        f"The resource 'projects/test-proj/zones/{ZONE}/instances/nope' was not found",
    ),
    (
        "instance-of-another-region",
        {"mirroredResources": {"instances": [{"url": "zones/europe-west1-b/instances/x"}]}},
        400,
        "Invalid value for field 'resource.mirroredResources.instances[0].url': "
        "'zones/europe-west1-b/instances/x'. The instance must be in a zone of the region "
        "us-central1.",
    ),
    (
        "bad-tag",
        {"mirroredResources": {"tags": ["Web"]}},
        400,
        "Invalid value for field 'resource.mirroredResources.tags[0]': 'Web'. Must be a match "
        "of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
    ),
    (
        "bad-cidr",
        {"filter": {"cidrRanges": ["10.4.0.0/33"]}},
        400,
        "Invalid value for field 'resource.filter.cidrRanges[0]': '10.4.0.0/33'. Must be a "
        "valid IPV4 or IPV6 CIDR address range.",
    ),
    (
        "bad-protocol",
        {"filter": {"IPProtocols": ["http"]}},
        400,
        "Invalid value for field 'resource.filter.IPProtocols[0]': 'http'. Must be one of "
        "[tcp, udp, icmp, esp, ah, ipip, sctp] or an IP protocol number between 0 and 255.",
    ),
    (
        "bad-direction",
        {"filter": {"direction": "SIDEWAYS"}},
        400,
        "Invalid value for field 'resource.filter.direction': 'SIDEWAYS'. Must be one of "
        "[BOTH, INGRESS, EGRESS].",
    ),
    (
        "enable-as-boolean",
        {"enable": True},
        400,
        "Invalid value at 'resource.enable' (TYPE_STRING), true",
    ),
    (
        "enable-word",
        {"enable": "YES"},
        400,
        "Invalid value for field 'resource.enable': 'YES'. Must be one of [TRUE, FALSE].",
    ),
    (
        "priority",
        {"priority": 65536},
        400,
        "Invalid value for field 'resource.priority': '65536'. Must be between 0 and 65535.",
    ),
    (
        "unknown-name",
        {"filter": {"ports": ["80"]}},
        400,
        "Invalid JSON payload received. Unknown name \"ports\" at 'resource.filter': Cannot "
        "find field.",
    ),
    (
        "bad-name",
        {"name": "Mirror"},
        400,
        "Invalid value for field 'resource.name': 'Mirror'. Must be a match of regex "
        "'(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
    ),
]


@pytest.mark.parametrize(("case", "fields", "code", "message"), BAD, ids=[b[0] for b in BAD])
def test_refused_policies_are_not_created(
    client: TestClient, col: str, case: str, fields: dict[str, Any], code: int, message: str
) -> None:
    body = {k: v for k, v in gcloud_create(**fields).items() if v is not None}
    r = client.post(MIRRORINGS, json=body)
    assert r.status_code == code, r.text
    assert error_of(r)["message"] == message
    assert "items" not in ok(client.get(MIRRORINGS))


def test_the_collector_must_be_a_mirroring_collector(client: TestClient) -> None:
    collector(client, "plain", mirroring=False)
    body = gcloud_create(collectorIlb={"url": "regions/us-central1/forwardingRules/plain"})
    r = client.post(MIRRORINGS, json=body)
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "Invalid value for field 'resource.collectorIlb.url': "
        "'regions/us-central1/forwardingRules/plain'. The collector must be a forwarding rule "
        "with loadBalancingScheme INTERNAL and isMirroringCollector set to true."
    )
    assert client.get(f"{MIRRORINGS}/mirror-pods").status_code == 404


def test_collector_and_subnets_must_be_in_the_policys_network(client: TestClient, col: str) -> None:
    add_network(client, "other", "10.200.0.0/20")
    r = client.post(MIRRORINGS, json=gcloud_create(network={"url": "global/networks/other"}))
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        f"Invalid value for field 'resource.collectorIlb.url': '{HOST}/regions/us-central1/"
        "forwardingRules/col'. The collector must be in the network of the packet mirroring, "
        f"'{LINK}/global/networks/other'."
    )
    resources = {"subnetworks": [{"url": "regions/us-central1/subnetworks/other"}]}
    r = client.post(MIRRORINGS, json=gcloud_create(mirroredResources=resources))
    assert error_of(r)["message"] == (
        "Invalid value for field 'resource.mirroredResources.subnetworks[0].url': "
        "'regions/us-central1/subnetworks/other'. The subnetwork must be in the network of the "
        "packet mirroring."
    )
    assert "items" not in ok(client.get(MIRRORINGS))


def test_update_as_gcloud_sends_it(client: TestClient, col: str) -> None:
    """``update --add-mirrored-tags web,db --clear-filter-cidr-ranges --filter-direction
    ingress --no-enable``: gcloud GETs, changes the resource and PATCHes all of it back,
    cleared lists as []."""
    ok(client.post(MIRRORINGS, json=gcloud_create()))
    current = get(client, f"{MIRRORINGS}/mirror-pods")
    sent = copy.deepcopy(current)
    sent["mirroredResources"]["tags"] = ["web", "db"]
    sent["filter"]["cidrRanges"] = []
    sent["filter"]["direction"] = "INGRESS"
    sent["enable"] = "FALSE"
    op = ok(client.patch(f"{MIRRORINGS}/mirror-pods", json=sent))
    assert op["operationType"] == "patch"
    after = get(client, f"{MIRRORINGS}/mirror-pods")
    assert after["filter"] == {"IPProtocols": ["tcp"], "direction": "INGRESS"}
    assert after["mirroredResources"]["tags"] == ["web", "db"]
    assert after["mirroredResources"]["subnetworks"] == current["mirroredResources"]["subnetworks"]
    assert after["enable"] == "FALSE"
    assert (after["id"], after["creationTimestamp"]) == (
        current["id"],
        current["creationTimestamp"],
    )


def test_a_partial_patch_merges(client: TestClient, col: str) -> None:
    ok(client.post(MIRRORINGS, json=gcloud_create()))
    ok(client.patch(f"{MIRRORINGS}/mirror-pods", json={"priority": 10, "description": "d"}))
    after = get(client, f"{MIRRORINGS}/mirror-pods")
    assert (after["priority"], after["description"]) == (10, "d")
    assert after["filter"]["cidrRanges"] == ["10.4.0.0/14"]


def test_refused_patches_change_nothing(client: TestClient, col: str) -> None:
    add_network(client, "other", "10.200.0.0/20")
    ok(client.post(MIRRORINGS, json=gcloud_create()))
    before = get(client, f"{MIRRORINGS}/mirror-pods")
    moved = client.patch(
        f"{MIRRORINGS}/mirror-pods", json={"network": {"url": "global/networks/other"}}
    )
    assert moved.status_code == 400
    assert error_of(moved)["message"] == (
        "Invalid value for field 'resource.network.url': 'global/networks/other'. The network "
        "cannot be changed."
    )
    emptied = client.patch(
        f"{MIRRORINGS}/mirror-pods", json={"mirroredResources": {"subnetworks": []}}
    )
    assert emptied.status_code == 400
    assert "At least one of subnetworks, instances or tags" in error_of(emptied)["message"]
    unknown = client.patch(f"{MIRRORINGS}/mirror-pods", json={"mirrored": {}})
    assert unknown.status_code == 400
    assert get(client, f"{MIRRORINGS}/mirror-pods") == before
    assert client.patch(f"{MIRRORINGS}/nope", json={}).status_code == 404


def test_lists_and_delete(client: TestClient, col: str) -> None:
    ok(client.post(MIRRORINGS, json=gcloud_create()))
    listed = ok(client.get(MIRRORINGS))
    assert listed["kind"] == "compute#packetMirroringList"
    assert [p["name"] for p in listed["items"]] == ["mirror-pods"]
    agg = ok(client.get(f"{BASE}/aggregated/packetMirrorings"))["items"]
    assert [p["name"] for p in agg["regions/us-central1"]["packetMirrorings"]] == ["mirror-pods"]
    op = ok(client.delete(f"{MIRRORINGS}/mirror-pods"))
    assert op["operationType"] == "delete"
    assert client.get(f"{MIRRORINGS}/mirror-pods").status_code == 404
    assert client.delete(f"{MIRRORINGS}/mirror-pods").status_code == 404
    assert client.get(f"{BASE}/regions/mars1/packetMirrorings").status_code == 404
