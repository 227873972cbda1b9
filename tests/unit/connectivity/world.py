"""Hand-built worlds for the pure analysis: nodes with Pod ranges, Pods, VPC rules given as
Compute bodies, firewall policies, one subnet route per range."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from intranode.domain.connectivity.spec import EndpointSpec, TestSpec
from intranode.domain.connectivity.world import (
    ClusterView,
    Network,
    Node,
    Pod,
    World,
    network_view,
)
from intranode.domain.firewall import FirewallInputs, FirewallPolicy, Instance, VpcRule
from intranode.domain.firewall.inputs import PolicyRule, with_predefined
from intranode.domain.firewalls import firewall_document

PROJECT = "p1"
ORG = "organizations/1"
TAG = "gke-c1-node"


def node(name: str, ip: str, pods: str, network: str = "default") -> Node:
    return Node(
        name=name,
        key=f"projects/{PROJECT}/zones/us-central1-a/instances/{name}",
        network=f"projects/{PROJECT}/global/networks/{network}",
        ip=ip,
        alias_ranges=(pods,),
        tags=(TAG,),
    )


def cluster(network: str = "default", *, inv: bool = True, name: str = "c1") -> ClusterView:
    return ClusterView(
        key=f"projects/{PROJECT}/locations/us-central1-a/clusters/{name}",
        name=name,
        network=f"projects/{PROJECT}/global/networks/{network}",
        intra_node_visibility=inv,
        pod_range="10.0.0.0/14",
    )


def pod(name: str, ip: str, on: Node, where: ClusterView) -> Pod:
    key = f"{where.key}/namespaces/default/pods/{name}"
    return Pod(key, name, "default", ip, on.name, where, uid=f"uid-{name}")


def vpc_rules(bodies: Sequence[dict[str, Any]], network: str = "default") -> tuple[VpcRule, ...]:
    out = []
    for body in bodies:
        doc = firewall_document(PROJECT, {"network": f"global/networks/{network}", **body}, now=0)
        out.append(VpcRule.from_document(doc, PROJECT))
    return tuple(out)


def policy(
    policy_id: str, name: str, rules: Sequence[PolicyRule], target: str = ORG
) -> FirewallPolicy:
    return FirewallPolicy(policy_id, name, with_predefined(rules), (target,))


def network(
    nodes: Sequence[Node],
    rules: Sequence[dict[str, Any]] = (),
    policies: Sequence[FirewallPolicy] = (),
    *,
    name: str = "default",
    order: str = "AFTER_CLASSIC_FIREWALL",
) -> Network:
    key = f"projects/{PROJECT}/global/networks/{name}"
    inputs = FirewallInputs(
        network=key,
        rules=vpc_rules(rules, name),
        policies=tuple(policies),
        ancestry=(ORG,),
        enforcement_order=order,  # type: ignore[arg-type]
        instances=tuple(
            Instance(n.name, n.name, n.ip, n.alias_ranges, n.tags)
            for n in nodes
            if n.network == key
        ),
    )
    ranges = sorted({*(r for n in nodes for r in n.alias_ranges), "10.128.0.0/20"})
    routes = [
        (
            f"projects/{PROJECT}/global/routes/r-{i}",
            {
                "name": f"r-{i}",
                "network": f"global/networks/{name}",
                "destRange": cidr,
                "priority": 0,
                "nextHopNetwork": f"global/networks/{name}",
                "routeType": "SUBNET",
            },
        )
        for i, cidr in enumerate(ranges)
    ]
    subnets = [{"network": f"global/networks/{name}", "ipCidrRange": "10.128.0.0/20"}]
    return network_view(key, inputs, routes, subnets)


def world(networks: Sequence[Network], nodes: Sequence[Node], pods: Sequence[Pod]) -> World:
    return World(PROJECT, {n.key: n for n in networks}, {n.name: n for n in nodes}, tuple(pods))


def tcp(src: str, dst: str, port: int = 8080, **source: Any) -> TestSpec:
    return TestSpec(PROJECT, EndpointSpec(ip=src, **source), EndpointSpec(ip=dst, port=port), "TCP")
