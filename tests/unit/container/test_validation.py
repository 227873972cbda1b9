"""Every rule a new cluster must follow: a clear Google-style error, and nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.domain.container import resolve_version
from intranode.errors import InvalidArgument
from tests.unit.conftest import PROJECT
from tests.unit.container.conftest import BASE, ZONE, cluster_url, create, snapshot, standard


def _pool(name: str, nodes: int = 1, **config: Any) -> dict[str, Any]:
    pool: dict[str, Any] = {"name": name, "initialNodeCount": nodes}
    if config:
        pool["config"] = config
    return pool


def _with(**fields: Any) -> dict[str, Any]:
    body = standard(inv=False)
    body.update(fields)
    return body


WINDOWS = {"imageType": "WINDOWS_LTSC_CONTAINERD", "windowsNodeConfig": {"osVersion": 2}}
INV = {"enableIntraNodeVisibility": True}

CASES: list[tuple[str, dict[str, Any], str, int, str, str]] = [
    (
        "name with capitals",
        _with(name="Bad_Name"),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'Invalid value for field "cluster.name": "Bad_Name". Must be a match of regex',
    ),
    (
        "name longer than 40",
        _with(name="a" * 41),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        "must be no longer than 40 characters",
    ),
    (
        "initialNodeCount and nodePools",
        _with(initialNodeCount=1),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        "Cluster.initial_node_count must not be set when Cluster.node_pools is set",
    ),
    (
        "no nodes",
        {"name": "c1"},
        ZONE,
        400,
        "INVALID_ARGUMENT",
        "Cluster.initial_node_count must be greater than zero.",
    ),
    (
        "pool of zero nodes",
        _with(nodePools=[_pool("p", 0)]),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        "cluster.node_pools[0].initial_node_count must be greater than zero.",
    ),
    (
        "pool over the cap",
        _with(nodePools=[_pool("p", 101)]),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        "intranode runs at most 100 nodes per node pool and zone",
    ),
    (
        "duplicate pool names",
        _with(nodePools=[_pool("p"), _pool("p")]),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'Node pool names must be unique; "p" is used twice.',
    ),
    (
        "intra-node visibility below 1.15",
        _with(initialClusterVersion="1.14", networkConfig=INV),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        "Intra-node visibility requires GKE version 1.15 or later",
    ),
    (
        "an old version",
        _with(initialClusterVersion="1.14"),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'Master version "1.14" is unsupported.',
    ),
    (
        "an unknown version",
        _with(initialClusterVersion="1.32.4-gke.1"),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'Master version "1.32.4-gke.1" is unsupported.',
    ),
    (
        "a malformed version",
        _with(initialClusterVersion="one"),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'Master version "one" is invalid.',
    ),
    (
        "a node version newer than the master",
        _with(
            initialClusterVersion="1.31",
            nodePools=[{"name": "p", "initialNodeCount": 1, "version": "1.32"}],
        ),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'Node version "1.32.4-gke.1106006" must not be newer than the master version',
    ),
    (
        "a malformed Pod CIDR",
        _with(ipAllocationPolicy={"useIpAliases": True, "clusterIpv4CidrBlock": "10.0.0.0/33"}),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'Invalid clusterIpv4CidrBlock "10.0.0.0/33"',
    ),
    (
        "a Pod CIDR with host bits",
        _with(ipAllocationPolicy={"clusterIpv4CidrBlock": "10.4.0.1/14"}),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'Invalid clusterIpv4CidrBlock "10.4.0.1/14"',
    ),
    (
        "a netmask out of range",
        _with(ipAllocationPolicy={"servicesIpv4CidrBlock": "/30"}),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'Invalid servicesIpv4CidrBlock "/30": the netmask must be between /16 and /28.',
    ),
    (
        "a Pod range over a subnet",
        _with(ipAllocationPolicy={"clusterIpv4CidrBlock": "10.128.0.0/14"}),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'it overlaps 10.128.0.0/20, subnetwork "default" in us-central1.',
    ),
    (
        "a Pod range too small for the nodes",
        _with(
            ipAllocationPolicy={"clusterIpv4CidrBlock": "/24"},
            nodePools=[_pool("p", 2)],
        ),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        "can hold at most 1 node(s) at a /24 per node; this cluster asks for 2.",
    ),
    (
        "routes-based",
        _with(ipAllocationPolicy={"useRoutes": True}),
        ZONE,
        501,
        "UNIMPLEMENTED",
        "Routes-based clusters (ipAllocationPolicy.useRoutes) are not implemented",
    ),
    (
        "Windows with intra-node visibility",
        _with(nodePools=[_pool("linux"), _pool("win", **WINDOWS)], networkConfig=INV),
        ZONE,
        400,
        "FAILED_PRECONDITION",
        "Intra-node visibility is not supported on clusters with Windows Server node pools "
        '(node pool "win" runs Windows).',
    ),
    (
        "a windowsNodeConfig alone makes a Windows pool",
        _with(
            nodePools=[_pool("linux"), _pool("win", windowsNodeConfig={})],
            networkConfig=INV,
        ),
        ZONE,
        400,
        "FAILED_PRECONDITION",
        "not supported on clusters with Windows Server node pools",
    ),
    (
        "only Windows pools",
        _with(nodePools=[_pool("win", **WINDOWS)]),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        "A cluster needs at least one Linux node pool",
    ),
    (
        "Windows on Autopilot",
        _with(autopilot={"enabled": True}, nodePools=[_pool("linux"), _pool("win", **WINDOWS)]),
        "us-central1",
        400,
        "INVALID_ARGUMENT",
        "Windows Server node pools are not supported on Autopilot clusters.",
    ),
    (
        "zonal Autopilot",
        _with(autopilot={"enabled": True}),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'Autopilot clusters must be regional clusters; "us-central1-a" is a zone.',
    ),
    (
        "an unknown image type",
        _with(nodePools=[_pool("p", imageType="FREEBSD")]),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'Invalid image type "FREEBSD"',
    ),
    (
        "a missing network",
        _with(network="nope"),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'Network "nope" does not exist.',
    ),
    (
        "an unknown zone",
        standard(),
        "us-central1-z",
        400,
        "INVALID_ARGUMENT",
        'Location "us-central1-z" does not exist.',
    ),
    (
        "a node location outside the region",
        _with(locations=["europe-west1-b"]),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        'Location "europe-west1-b" is not a zone of region "us-central1".',
    ),
    (
        "an unknown field",
        _with(bogus=1),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        "Invalid JSON payload received. Unknown name \"bogus\" at 'cluster': Cannot find field.",
    ),
    (
        "an unknown enum name",
        _with(releaseChannel={"channel": "NIGHTLY"}),
        ZONE,
        400,
        "INVALID_ARGUMENT",
        "Invalid value at 'cluster.release_channel.channel' (TYPE_STRING), \"NIGHTLY\"",
    ),
]


@pytest.mark.parametrize(
    ("body", "location", "code", "status", "message"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_a_cluster_breaking_a_rule_is_refused_and_nothing_changes(
    client: TestClient,
    ctx: Context,
    body: dict[str, Any],
    location: str,
    code: int,
    status: str,
    message: str,
) -> None:
    before = snapshot(ctx)
    r = client.post(cluster_url(location=location), json={"cluster": body})
    assert r.status_code == code, r.text
    err = r.json()["error"]
    assert err["code"] == code
    assert err["status"] == status
    assert message in err["message"]
    assert snapshot(ctx) == before


def test_a_request_without_a_cluster_is_refused(client: TestClient, ctx: Context) -> None:
    before = snapshot(ctx)
    r = client.post(cluster_url(), json={"parent": f"projects/{PROJECT}/locations/{ZONE}"})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "Required field 'cluster' not specified."
    assert snapshot(ctx) == before


def test_a_second_cluster_of_the_same_name_is_refused_like_gke(
    client: TestClient, ctx: Context
) -> None:
    create(client, standard())
    before = snapshot(ctx)
    r = client.post(cluster_url(), json={"cluster": standard()})
    assert r.status_code == 409
    assert r.json()["error"]["status"] == "ALREADY_EXISTS"
    assert r.json()["error"]["message"] == (
        f"Already exists: projects/{PROJECT}/zones/{ZONE}/clusters/flow-log-test."
    )
    assert snapshot(ctx) == before


def test_a_missing_cluster_is_not_found_in_the_form_asked(client: TestClient) -> None:
    r = client.get(cluster_url("nope"))
    assert r.status_code == 404
    assert r.json()["error"]["message"] == (
        f"Not found: projects/{PROJECT}/locations/{ZONE}/clusters/nope."
    )
    r = client.get(f"/v1/projects/{PROJECT}/zones/{ZONE}/clusters/nope")
    assert r.json()["error"]["message"] == (
        f"Not found: projects/{PROJECT}/zones/{ZONE}/clusters/nope."
    )
    r = client.get(f"{BASE}/{ZONE}/operations/operation-1-deadbeef")
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("asked", "resolved"),
    [
        ("", "1.32.4-gke.1106006"),
        ("-", "1.32.4-gke.1106006"),
        ("latest", "1.33.1-gke.1386000"),
        ("1.31", "1.31.8-gke.1113000"),
        ("1.32.3", "1.32.3-gke.1785003"),
        ("1.30.11-gke.1157000", "1.30.11-gke.1157000"),
    ],
)
def test_version_aliases_resolve_to_an_offered_version(asked: str, resolved: str) -> None:
    assert resolve_version(asked) == resolved


@pytest.mark.parametrize("asked", ["1.3", "1.32.9", "2.0", "v1.32", "1.32.4-gke"])
def test_versions_not_offered_are_refused(asked: str) -> None:
    with pytest.raises(InvalidArgument):
        resolve_version(asked)


def test_the_requested_version_is_the_clusters(client: TestClient) -> None:
    _, c = create(client, _with(initialClusterVersion="1.31"))
    assert c["currentMasterVersion"] == c["nodePools"][0]["version"] == "1.31.8-gke.1113000"
    assert c["initialClusterVersion"] == "1.31.8-gke.1113000"
