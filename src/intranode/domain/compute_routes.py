"""Routes: the system routes a network and its subnets bring, and custom static routes.

System routes follow real ``routes list`` output: each subnet range (primary and secondary)
has a ``default-route-<16 hex>`` with priority 0, ``nextHopNetwork`` and ``routeType:
SUBNET``; a new network has ``0.0.0.0/0`` to the default internet gateway at priority 1000.
Names are derived from the network and range, so re-deriving them finds the same route.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import StrictStr

from intranode.domain.compute import (
    JsonInt,
    Wire,
    base_document,
    check_name,
    invalid_field,
    invalid_usage,
    link_key,
    not_found,
    parse_cidr,
    parse_resource,
    reference,
    required_field,
)
from intranode.domain.compute_subnets import subnet_ranges
from intranode.domain.resources import compute_link, route_key

INTERNET_GATEWAY = "default-internet-gateway"
DEFAULT_PRIORITY = 1000
SUBNET_ROUTE_PRIORITY = 0
_NEXT_HOPS = ("nextHopGateway", "nextHopInstance", "nextHopIp", "nextHopIlb", "nextHopVpnTunnel")


class RouteBody(Wire):
    name: StrictStr | None = None
    description: StrictStr | None = None
    network: StrictStr | None = None
    dest_range: StrictStr | None = None
    priority: JsonInt | None = None
    tags: list[StrictStr] | None = None
    next_hop_gateway: StrictStr | None = None
    next_hop_instance: StrictStr | None = None
    next_hop_ip: StrictStr | None = None
    next_hop_ilb: StrictStr | None = None
    next_hop_vpn_tunnel: StrictStr | None = None
    # Output-only.
    kind: Any = None
    id: Any = None
    self_link: Any = None
    creation_timestamp: Any = None
    next_hop_network: Any = None
    next_hop_peering: Any = None
    next_hop_hub: Any = None
    next_hop_interconnect_attachment: Any = None
    next_hop_inter_region_cost: Any = None
    next_hop_med: Any = None
    next_hop_origin: Any = None
    route_status: Any = None
    route_type: Any = None
    as_paths: Any = None
    warnings: Any = None
    params: Any = None


def _system_name(network_key: str, what: str) -> str:
    return "default-route-" + hashlib.sha256(f"{network_key}|{what}".encode()).hexdigest()[:16]


def subnet_route_document(project: str, network_key: str, cidr: str, now: float) -> dict[str, Any]:
    key = route_key(project, _system_name(network_key, cidr))
    doc = base_document("compute#route", key, now)
    doc.update(
        {
            "description": f"Default local route to the subnetwork {cidr}.",
            "network": compute_link(network_key),
            "destRange": cidr,
            "priority": SUBNET_ROUTE_PRIORITY,
            "nextHopNetwork": compute_link(network_key),
            "routeType": "SUBNET",
        }
    )
    return doc


def internet_route_key(project: str, network_key: str) -> str:
    """The route a network is created with; it is deleted with the network."""
    return route_key(project, _system_name(network_key, "internet"))


def internet_route_document(project: str, network_key: str, now: float) -> dict[str, Any]:
    key = internet_route_key(project, network_key)
    doc = base_document("compute#route", key, now)
    doc.update(
        {
            "description": "Default route to the Internet.",
            "network": compute_link(network_key),
            "destRange": "0.0.0.0/0",
            "priority": DEFAULT_PRIORITY,
            "nextHopGateway": compute_link(
                f"projects/{project}/global/gateways/{INTERNET_GATEWAY}"
            ),
            "routeType": "STATIC",
        }
    )
    return doc


def desired_subnet_routes(
    project: str, network_key: str, subnets: Sequence[dict[str, Any]], now: float
) -> dict[str, dict[str, Any]]:
    """Route key -> document for every range of ``subnets`` (all in one network)."""
    out: dict[str, dict[str, Any]] = {}
    for subnet in subnets:
        for cidr in subnet_ranges(subnet):
            doc = subnet_route_document(project, network_key, cidr, now)
            out[link_key(doc["selfLink"], project)] = doc
    return out


def check_deletable(doc: dict[str, Any]) -> None:
    if doc.get("routeType") == "SUBNET":
        raise invalid_usage("A subnetwork route cannot be deleted while its subnetwork exists")


def insert_route(
    project: str, data: Any, now: float, subnets_of: Callable[[str], Sequence[dict[str, Any]]]
) -> tuple[dict[str, Any], str, str | None]:
    """Validate a static route; (document, network key, key of a next-hop instance or None).

    ``subnets_of(network_key)`` gives that network's subnets: a route equal to or inside a
    subnet range would shadow it, and Google refuses those.
    """
    body = parse_resource(RouteBody, data)
    name = check_name(body.name)
    if not body.network:
        raise required_field("resource.network")
    net_key = reference(body.network, project, "resource.network", "global/networks")
    if not body.dest_range:
        raise required_field("resource.destRange")
    dest = parse_cidr(body.dest_range, "resource.destRange")
    priority = DEFAULT_PRIORITY if body.priority is None else body.priority
    if not 0 <= priority <= 65535:
        raise invalid_field("resource.priority", priority, "Must be between 0 and 65535.")
    tags = list(body.tags or [])
    for i, tag in enumerate(tags):
        check_name(tag, f"resource.tags[{i}]")
    given = {
        name: value
        for name, value in zip(
            _NEXT_HOPS,
            (
                body.next_hop_gateway,
                body.next_hop_instance,
                body.next_hop_ip,
                body.next_hop_ilb,
                body.next_hop_vpn_tunnel,
            ),
            strict=True,
        )
        if value
    }
    if len(given) != 1:
        shown = ", ".join(given) or ""
        raise invalid_field(
            "resource", shown, f"Exactly one of [{', '.join(_NEXT_HOPS)}] must be specified."
        )
    hop, value = next(iter(given.items()))
    hop_value, instance_key = _next_hop(project, hop, value, dest)
    for subnet in subnets_of(net_key):
        for cidr in subnet_ranges(subnet):
            net = ipaddress.ip_network(cidr)
            if dest.version == net.version and dest.subnet_of(net):  # type: ignore[arg-type]
                raise invalid_field(
                    "resource.destRange",
                    body.dest_range,
                    f"The destination range is equal to or more specific than the range "
                    f"{cidr} of subnetwork '{link_key(subnet['selfLink'], project)}'; a route "
                    "cannot override a subnet route.",
                )
    doc = base_document("compute#route", route_key(project, name), now)
    if body.description:
        doc["description"] = body.description
    doc.update(
        {
            "network": compute_link(net_key),
            "destRange": body.dest_range,
            "priority": priority,
        }
    )
    if tags:
        doc["tags"] = tags
    doc[hop] = hop_value
    doc["routeType"] = "STATIC"
    return doc, net_key, instance_key


def _next_hop(
    project: str,
    hop: str,
    value: str,
    dest: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> tuple[str, str | None]:
    field = f"resource.{hop}"
    if hop == "nextHopGateway":
        key = reference(value, project, field, "global/gateways")
        if not key.endswith("/" + INTERNET_GATEWAY):
            raise invalid_field(field, value, f"The only gateway is {INTERNET_GATEWAY}.")
        return compute_link(key), None
    if hop == "nextHopInstance":
        key = reference(value, project, field, "zones/*/instances")
        return compute_link(key), key
    if hop in ("nextHopIp", "nextHopIlb"):
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            if hop == "nextHopIlb":
                key = reference(value, project, field, "regions/*/forwardingRules")
                return compute_link(key), None
            raise invalid_field(field, value, "Must be a valid IP address.") from None
        if ip.version != dest.version:
            raise invalid_field(field, value, "Must be of the same IP family as destRange.")
        return value, None
    # No VPN tunnels exist here, so a route through one names a missing resource.
    raise not_found(reference(value, project, field, "regions/*/vpnTunnels"))
