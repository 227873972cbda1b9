"""What the analysis knows of the network, as frozen data built from stored documents: VPC
networks (their firewall, routes and subnet ranges), compute instances (GKE nodes), GKE
clusters and their Pods.

The firewall is the one model the router's nftables table is compiled from
(:class:`~intranode.domain.firewall.FirewallModel`), built once per network: no second copy
of the rules exists here. :class:`World` answers "what holds this address" per network: a
Pod (not a ``hostNetwork`` one: those use their node's address), an instance by its primary
IP, an instance's alias range without a Pod behind the address, or a subnet range nobody
holds.

Builders: :func:`node_view`, :func:`cluster_view`, :func:`pod_view`, :func:`route_view`,
:func:`network_view`, then ``World(project, networks, nodes, pods)``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from intranode.domain.firewall import FirewallInputs, FirewallModel
from intranode.domain.firewall.inputs import FirewallPolicy, PolicyRule, VpcRule
from intranode.domain.resources import key_from_link

IPv4 = ipaddress.IPv4Address
Net = ipaddress.IPv4Network
_ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Node:
    """A compute instance (a GKE node): where its packets meet the VPC firewall."""

    name: str
    key: str  # projects/P/zones/Z/instances/N, also its URI in results
    network: str  # network store key
    ip: str
    alias_ranges: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    running: bool = True
    external_ip: str = ""

    @cached_property
    def _aliases(self) -> tuple[Net, ...]:
        return tuple(Net(r, strict=False) for r in self.alias_ranges)

    def alias_holding(self, ip: IPv4) -> str:
        """The alias range that holds ``ip`` ("" when none does)."""
        for net in self._aliases:
            if ip in net:
                return str(net)
        return ""

    @property
    def project(self) -> str:
        return self.key.split("/")[1]


@dataclass(frozen=True)
class ClusterView:
    key: str  # projects/P/locations/L/clusters/C
    name: str
    network: str  # network store key
    intra_node_visibility: bool
    pod_range: str = ""

    @property
    def location(self) -> str:
        return self.key.split("/")[3]


@dataclass(frozen=True)
class Pod:
    key: str  # the store key: <cluster>/namespaces/NS/pods/NAME
    name: str
    namespace: str
    ip: str
    node: str  # instance name
    cluster: ClusterView
    running: bool = True
    host_network: bool = False
    uid: str = ""

    @property
    def uri(self) -> str:
        return pod_uri(self.cluster.key, self.namespace, self.name)

    @property
    def display(self) -> str:
        return self.name if self.namespace == "default" else f"{self.namespace}/{self.name}"


def pod_uri(cluster_key: str, namespace: str, name: str) -> str:
    """Google's Pod URI: ``projects/P/zones/Z/...`` for a zonal cluster, ``projects/P/
    locations/R/...`` for a regional one, then ``/clusters/C/k8s/namespaces/NS/pods/NAME``."""
    _, project, _, location, _, cluster = cluster_key.split("/")
    scope = "zones" if _ZONE.match(location) else "locations"
    cluster_uri = f"projects/{project}/{scope}/{location}/clusters/{cluster}"
    return f"{cluster_uri}/k8s/namespaces/{namespace}/pods/{name}"


@dataclass(frozen=True)
class Route:
    name: str
    key: str  # projects/P/global/routes/NAME
    dest: Net
    priority: int
    route_type: str  # SUBNET | STATIC
    next_hop_type: str  # NEXT_HOP_NETWORK, NEXT_HOP_INTERNET_GATEWAY, NEXT_HOP_INSTANCE, ...
    next_hop: str = ""  # the instance key or IP of a next hop, "" otherwise
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Network:
    key: str  # projects/P/global/networks/N
    firewall: FirewallInputs
    routes: tuple[Route, ...] = ()
    subnet_ranges: tuple[Net, ...] = ()
    model: FirewallModel = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", FirewallModel(self.firewall))

    @property
    def name(self) -> str:
        return _name(self.key)

    @cached_property
    def vpc_rules(self) -> Mapping[str, VpcRule]:
        return {r.id: r for r in self.firewall.rules}

    @cached_property
    def policies(self) -> Mapping[str, FirewallPolicy]:
        return {p.id: p for p in self.firewall.policies}

    @cached_property
    def instance_names(self) -> frozenset[str]:
        """The instances the firewall knows (an instance of another network is unknown)."""
        return frozenset(i.name for i in self.firewall.instances)

    def policy_rule(self, policy_id: str, priority: int) -> PolicyRule | None:
        policy = self.policies.get(policy_id)
        if policy is None:
            return None
        return next((r for r in policy.rules if r.priority == priority), None)

    def subnet_range_of(self, ip: IPv4) -> str:
        return next((str(n) for n in self.subnet_ranges if ip in n), "")


@dataclass(frozen=True)
class Holder:
    """What holds an address in a network: a Pod (and its node), a node by its primary IP,
    a node's alias range with no Pod at the address, or nothing (``node`` None)."""

    node: Node | None = None
    pod: Pod | None = None
    alias_range: str = ""


@dataclass(frozen=True)
class World:
    project: str
    networks: Mapping[str, Network]
    nodes: Mapping[str, Node]  # by instance name
    pods: tuple[Pod, ...] = ()

    @cached_property
    def _pods_by_ip(self) -> Mapping[tuple[str, str], Pod]:
        out: dict[tuple[str, str], Pod] = {}
        for pod in self.pods:
            if not pod.host_network and pod.ip:
                out[(pod.cluster.network, pod.ip)] = pod
        return out

    @cached_property
    def _nodes_by_ip(self) -> Mapping[tuple[str, str], Node]:
        return {(n.network, n.ip): n for n in self.nodes.values()}

    @cached_property
    def _nodes_by_key(self) -> Mapping[str, Node]:
        return {n.key: n for n in self.nodes.values()}

    def node_by_key(self, key: str) -> Node | None:
        return self._nodes_by_key.get(key)

    def pod(self, key: str) -> Pod | None:
        return next((p for p in self.pods if p.key == key), None)

    def holder(self, network: str, ip: str) -> Holder:
        pod = self._pods_by_ip.get((network, ip))
        if pod is not None:
            return Holder(self.nodes.get(pod.node), pod)
        node = self._nodes_by_ip.get((network, ip))
        if node is not None:
            return Holder(node)
        addr = IPv4(ip)
        for n in self.nodes.values():
            if n.network == network:
                alias = n.alias_holding(addr)
                if alias:
                    return Holder(n, None, alias)
        return Holder()

    def networks_holding(self, ip: str) -> list[str]:
        """The networks where ``ip`` is a Pod's, a node's, or inside a subnet range."""
        addr = IPv4(ip)
        out = []
        for key, net in self.networks.items():
            held = self.holder(key, ip)
            if held.node is not None or net.subnet_range_of(addr):
                out.append(key)
        return out


# -- builders from stored documents -------------------------------------------------------------
def node_view(key: str, doc: Mapping[str, Any]) -> Node:
    nic = (doc.get("networkInterfaces") or [{}])[0]
    project = key.split("/")[1]
    external = next(
        (str(a.get("natIP")) for a in nic.get("accessConfigs") or () if a.get("natIP")), ""
    )
    return Node(
        name=str(doc["name"]),
        key=key,
        network=key_from_link(str(nic.get("network") or "global/networks/default"), project),
        ip=str(nic.get("networkIP") or ""),
        alias_ranges=tuple(str(a["ipCidrRange"]) for a in nic.get("aliasIpRanges") or ()),
        tags=tuple((doc.get("tags") or {}).get("items") or ()),
        running=doc.get("status", "RUNNING") == "RUNNING",
        external_ip=external,
    )


def cluster_view(key: str, doc: Mapping[str, Any]) -> ClusterView:
    project = key.split("/")[1]
    return ClusterView(
        key=key,
        name=str(doc.get("name") or _name(key)),
        network=key_from_link(f"global/networks/{doc.get('network') or 'default'}", project),
        intra_node_visibility=bool(
            (doc.get("networkConfig") or {}).get("enableIntraNodeVisibility")
        ),
        pod_range=str(doc.get("clusterIpv4Cidr") or ""),
    )


def pod_view(key: str, doc: Mapping[str, Any], cluster: ClusterView) -> Pod:
    meta, spec, status = doc.get("metadata") or {}, doc.get("spec") or {}, doc.get("status") or {}
    return Pod(
        key=key,
        name=str(meta.get("name") or _name(key)),
        namespace=str(meta.get("namespace") or "default"),
        ip=str(status.get("podIP") or ""),
        node=str(spec.get("nodeName") or ""),
        cluster=cluster,
        running=status.get("phase") == "Running" and not meta.get("deletionTimestamp"),
        host_network=bool(spec.get("hostNetwork")),
        uid=str(meta.get("uid") or ""),
    )


_NEXT_HOPS = (
    ("nextHopNetwork", "NEXT_HOP_NETWORK"),
    ("nextHopGateway", "NEXT_HOP_INTERNET_GATEWAY"),
    ("nextHopInstance", "NEXT_HOP_INSTANCE"),
    ("nextHopIp", "NEXT_HOP_IP"),
    ("nextHopIlb", "NEXT_HOP_ILB"),
    ("nextHopVpnTunnel", "NEXT_HOP_VPN_TUNNEL"),
    ("nextHopPeering", "NEXT_HOP_PEERING"),
)


def route_view(key: str, doc: Mapping[str, Any]) -> Route | None:
    """A stored ``compute#route`` (None for an IPv6 one: the VPC here is IPv4)."""
    dest = ipaddress.ip_network(str(doc["destRange"]), strict=False)
    if not isinstance(dest, Net):
        return None
    project = key.split("/")[1]
    hop_type, hop = "NEXT_HOP_BLACKHOLE", ""
    for fld, kind in _NEXT_HOPS:
        if doc.get(fld):
            hop_type = kind
            value = str(doc[fld])
            if fld == "nextHopInstance":
                hop = key_from_link(value, project)
            elif fld == "nextHopIp":
                hop = value
            break
    return Route(
        name=str(doc["name"]),
        key=key,
        dest=dest,
        priority=int(doc.get("priority", 1000)),
        route_type=str(
            doc.get("routeType") or ("SUBNET" if doc.get("nextHopNetwork") else "STATIC")
        ),
        next_hop_type=hop_type,
        next_hop=hop,
        tags=tuple(doc.get("tags") or ()),
    )


def network_view(
    key: str,
    firewall: FirewallInputs,
    routes: Iterable[tuple[str, Mapping[str, Any]]],
    subnets: Iterable[Mapping[str, Any]],
) -> Network:
    """``routes`` are ``(store key, document)`` of every route; those of other networks are
    left out, as are subnets of other networks."""
    project = key.split("/")[1]
    mine = []
    for route_key, doc in routes:
        if key_from_link(str(doc.get("network") or ""), project) != key:
            continue
        view = route_view(route_key, doc)
        if view is not None:
            mine.append(view)
    ranges: list[Net] = []
    for doc in subnets:
        if key_from_link(str(doc.get("network") or ""), project) != key:
            continue
        for text in (
            doc.get("ipCidrRange"),
            *(r.get("ipCidrRange") for r in doc.get("secondaryIpRanges") or ()),
        ):
            net = ipaddress.ip_network(str(text), strict=False) if text else None
            if isinstance(net, Net):
                ranges.append(net)
    return Network(key, firewall, tuple(mine), tuple(ranges))


def select_route(routes: Sequence[Route], dst: str, tags: Iterable[str] = ()) -> Route | None:
    """The route a packet to ``dst`` takes from an instance with ``tags`` (gcp_vpc_specs §E2):
    subnet routes first, then the longest prefix among the routes that apply (no tags, or a
    tag of the instance), then the lowest priority number, then the name."""
    addr = IPv4(dst)
    have = set(tags)
    applicable = [r for r in routes if addr in r.dest and (not r.tags or have.intersection(r.tags))]
    if not applicable:
        return None
    subnet = [r for r in applicable if r.route_type == "SUBNET"]
    pool = subnet or applicable
    return min(pool, key=lambda r: (-r.dest.prefixlen, r.priority, r.name))
