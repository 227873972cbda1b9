"""What the load-balancing and mirroring tests build on: GKE-like node instances written to
the store as the cluster controller writes them, a second network, and the paths."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.domain import gke_objects
from intranode.domain.resources import (
    INSTANCE,
    instance_key,
    network_key,
    project_number,
    subnetwork_key,
)
from tests.unit.compute.helpers import BASE, LINK
from tests.unit.conftest import PROJECT

REGION = "us-central1"
ZONE = "us-central1-a"
REGIONAL = f"{BASE}/regions/{REGION}"
ZONAL = f"{BASE}/zones/{ZONE}"
GROUPS = f"{ZONAL}/instanceGroups"
SERVICES = f"{REGIONAL}/backendServices"
RULES = f"{REGIONAL}/forwardingRules"
CHECKS = f"{BASE}/global/healthChecks"
MIRRORINGS = f"{REGIONAL}/packetMirrorings"
NODE_A = "gke-c1-default-pool-1a2b3c4d-aaaa"
NODE_B = "gke-c1-default-pool-1a2b3c4d-bbbb"
GROUP_BASE = "gke-c1-default-pool-1a2b3c4d"


def add_node(
    ctx: Context,
    name: str,
    ip: str,
    *,
    zone: str = ZONE,
    network: str = "default",
    subnet: str = "default",
    tags: tuple[str, ...] = (),
) -> str:
    """A GKE node's instance (as ``cluster_steps`` writes it); its store key."""
    region = zone.rsplit("-", 1)[0]
    spec = gke_objects.NodeSpec(
        project=PROJECT,
        project_number=project_number(PROJECT),
        cluster="c1",
        cluster_id="1a2b3c4d",
        location=zone,
        zone=zone,
        pool="default-pool",
        group=f"{GROUP_BASE}-grp",
        name=name,
        network=network_key(PROJECT, network),
        subnetwork=subnetwork_key(PROJECT, region, subnet),
        internal_ip=ip,
        pod_cidr=f"10.4.{int(ip.rsplit('.', 1)[1])}.0/24",
        pods_range="gke-c1-pods-1a2b3c4d",
        tag="gke-c1-1a2b3c4d-node",
        version="1.32.4-gke.1106006",
        windows=False,
        config={"tags": list(tags)},
    )
    key = instance_key(PROJECT, zone, name)
    doc = gke_objects.instance_document(spec, instance_id="1234567890123456789", now=0.0)
    ctx.resources.create(INSTANCE, key, key.rsplit("/", 2)[0], doc)
    return key


def add_network(client: TestClient, name: str, cidr: str) -> None:
    """A custom-mode network with one subnet of the same name in REGION."""
    r = client.post(f"{BASE}/global/networks", json={"name": name, "autoCreateSubnetworks": False})
    assert r.status_code == 200, r.text
    body = {"name": name, "network": f"global/networks/{name}", "ipCidrRange": cidr}
    r = client.post(f"{REGIONAL}/subnetworks", json=body)
    assert r.status_code == 200, r.text


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def link(path: str) -> str:
    """The selfLink of a ``/compute/v1/projects/P/...`` path."""
    return LINK + path.removeprefix(BASE)


def collector(client: TestClient, name: str = "col", *, mirroring: bool = True) -> str:
    """An internal load balancer (health check, empty group, backend service, forwarding
    rule ``name``); the forwarding rule's selfLink."""
    ok(client.post(CHECKS, json={"name": name, "type": "TCP"}))
    ok(client.post(GROUPS, json={"name": name}))
    service = {
        "name": name,
        "loadBalancingScheme": "INTERNAL",
        "healthChecks": [link(f"{CHECKS}/{name}")],
        "backends": [{"group": link(f"{GROUPS}/{name}")}],
    }
    ok(client.post(SERVICES, json=service))
    rule = {
        "name": name,
        "loadBalancingScheme": "INTERNAL",
        "backendService": link(f"{SERVICES}/{name}"),
        "allPorts": True,
        "isMirroringCollector": mirroring,
    }
    ok(client.post(RULES, json=rule))
    return link(f"{RULES}/{name}")
