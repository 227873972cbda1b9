"""List calls: pages, filters in both syntaxes, aggregated lists, instances (read-only)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.domain.auto_subnets import AUTO_MODE_RANGES
from intranode.domain.resources import INSTANCE, instance_key
from tests.unit.compute.helpers import BASE, FIREWALLS, LINK, ROUTES, error_of, get, items
from tests.unit.conftest import PROJECT

DEFAULT_RULES = [
    "default-allow-icmp",
    "default-allow-internal",
    "default-allow-rdp",
    "default-allow-ssh",
]


def test_pages_follow_next_page_token_and_the_last_has_none(client: TestClient) -> None:
    first = get(client, f"{FIREWALLS}?maxResults=3")
    assert first["kind"] == "compute#firewallList"
    assert first["id"] == f"projects/{PROJECT}/global/firewalls"
    assert first["selfLink"] == f"{LINK}/global/firewalls"
    assert [r["name"] for r in first["items"]] == DEFAULT_RULES[:3]
    token = first["nextPageToken"]
    last = client.get(FIREWALLS, params={"maxResults": 3, "pageToken": token}).json()
    assert [r["name"] for r in last["items"]] == DEFAULT_RULES[3:]
    assert "nextPageToken" not in last


def test_routes_page_through_all_system_routes(client: TestClient) -> None:
    routes = items(client, ROUTES, maxResults=10)
    assert len(routes) == len(AUTO_MODE_RANGES) + 1
    assert len({r["name"] for r in routes}) == len(routes)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"maxResults": 501}, "Invalid value for field 'maxResults': '501'. Must be less than"),
        ({"maxResults": -1}, "Must be greater than or equal to 0"),
        ({"pageToken": "garbage!"}, "Invalid value for field 'pageToken': 'garbage!'"),
        ({"filter": 'name = "unterminated'}, "Invalid list filter expression."),
        ({"filter": "name"}, "Invalid list filter expression."),
        ({"maxResults": "ten"}, "maxResults"),
    ],
)
def test_bad_list_parameters_are_400(
    client: TestClient, params: dict[str, object], message: str
) -> None:
    r = client.get(FIREWALLS, params=params)
    assert r.status_code == 400, r.text
    assert message in error_of(r)["message"]


@pytest.mark.parametrize(
    ("flt", "names"),
    [
        ('name = "default-allow-ssh"', ["default-allow-ssh"]),
        ("name = default-allow-ssh", ["default-allow-ssh"]),
        ("name eq default-allow-ssh", ["default-allow-ssh"]),
        ('name = "default-allow-*"', DEFAULT_RULES),
        ('name != "default-allow-ssh"', DEFAULT_RULES[:3]),
        # What gcloud 528 sends for --filter=name=default-allow-ssh:
        ('name eq ".*\\bdefault\\-allow\\-ssh\\b.*"', ["default-allow-ssh"]),
        ('(name eq ".*ssh") (priority eq 65534)', ["default-allow-ssh"]),
        ("name ne .*-r.*", ["default-allow-icmp", "default-allow-internal", "default-allow-ssh"]),
        ('name = "default-allow-rdp" OR name = "default-allow-ssh"', DEFAULT_RULES[2:]),
        ("sourceRanges:10.128.0.0/9", ["default-allow-internal"]),
        ("logConfig.enable = false AND priority < 65535", DEFAULT_RULES),
        ("targetTags:*", []),
    ],
)
def test_filters(client: TestClient, flt: str, names: list[str]) -> None:
    assert [r["name"] for r in items(client, FIREWALLS, filter=flt)] == names


def test_regional_list_and_gcloud_region_filter_on_aggregated(client: TestClient) -> None:
    body = get(client, f"{BASE}/regions/us-central1/subnetworks")
    assert body["kind"] == "compute#subnetworkList"
    assert [s["ipCidrRange"] for s in body["items"]] == ["10.128.0.0/20"]
    agg = client.get(
        f"{BASE}/aggregated/subnetworks",
        params={"filter": 'region eq ".*\\bus\\-central1\\b.*"', "returnPartialSuccess": "True"},
    ).json()
    assert agg["kind"] == "compute#subnetworkAggregatedList"
    assert list(agg["items"]) == ["regions/us-central1"]


def test_aggregated_list_orders_regions_like_google(client: TestClient) -> None:
    agg = get(client, f"{BASE}/aggregated/subnetworks")
    assert list(agg["items"])[:3] == [
        "regions/us-central1",
        "regions/europe-west1",
        "regions/us-west1",
    ]


def test_format_parameters_are_ignored(client: TestClient) -> None:
    r = client.get(FIREWALLS, params={"alt": "json", "prettyPrint": "false", "$alt": "json"})
    assert r.status_code == 200 and len(r.json()["items"]) == 4


def test_instances_are_served_as_stored(ctx: Context, client: TestClient) -> None:
    assert get(client, f"{BASE}/aggregated/instances")["items"] == {}
    assert "items" not in get(client, f"{BASE}/zones/us-central1-a/instances")
    doc = {
        "kind": "compute#instance",
        "id": "123",
        "name": "gke-c1-default-pool-1234abcd-x1y2",
        "zone": f"{LINK}/zones/us-central1-a",
        "status": "RUNNING",
        "selfLink": f"{LINK}/zones/us-central1-a/instances/gke-c1-default-pool-1234abcd-x1y2",
    }
    key = instance_key(PROJECT, "us-central1-a", doc["name"])
    ctx.resources.create(INSTANCE, key, f"projects/{PROJECT}/zones/us-central1-a", doc)
    assert get(client, f"{BASE}/zones/us-central1-a/instances/{doc['name']}") == doc
    assert get(client, f"{BASE}/zones/us-central1-a/instances")["items"] == [doc]
    agg = get(client, f"{BASE}/aggregated/instances")
    assert agg["items"] == {"zones/us-central1-a": {"instances": [doc]}}
    r = client.get(f"{BASE}/zones/us-central1-a/instances/nope")
    assert error_of(r)["message"] == (
        f"The resource 'projects/{PROJECT}/zones/us-central1-a/instances/nope' was not found"
    )
