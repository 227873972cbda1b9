"""Address ranges of a GKE cluster: its Pod and Service ranges in the VPC, a /24 of the Pod range
per node, and each node's primary address in its subnetwork."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from intranode.domain import ipam
from intranode.domain.container import (
    ALLOCATION_SPACE,
    DEFAULT_POD_PREFIX,
    DEFAULT_SERVICES_PREFIX,
    NODE_POD_PREFIX,
    ClusterPlan,
)
from intranode.errors import FailedPrecondition, InvalidArgument


# Ranges ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TakenRange:
    cidr: str
    owner: str  # for messages: 'subnetwork "default"', 'cluster "c1"'


def _requested_block(
    field_name: str, value: str, default_prefix: int, lo: int, hi: int
) -> tuple[int, ipaddress.IPv4Network | None]:
    v = value.strip()
    if not v:
        return default_prefix, None
    if v.startswith("/"):
        try:
            prefix = int(v[1:])
        except ValueError:
            prefix = -1
        if not lo <= prefix <= hi:
            raise InvalidArgument(
                f'Invalid {field_name} "{value}": the netmask must be between /{lo} and /{hi}.'
            )
        return prefix, None
    try:
        net = ipaddress.ip_network(v, strict=True)
    except ValueError as exc:
        raise InvalidArgument(f'Invalid {field_name} "{value}": {exc}.') from exc
    if not isinstance(net, ipaddress.IPv4Network):
        raise InvalidArgument(f'Invalid {field_name} "{value}": only IPv4 ranges are supported.')
    if not lo <= net.prefixlen <= hi:
        raise InvalidArgument(
            f'Invalid {field_name} "{value}": the netmask must be between /{lo} and /{hi}.'
        )
    return net.prefixlen, net


def allocate_ranges(
    plan: ClusterPlan, taken: Sequence[TakenRange], existing: dict[str, str]
) -> tuple[str, str]:
    """The cluster's Pod and Service ranges: named existing secondary ranges, requested CIDRs,
    or the first free block of ``ALLOCATION_SPACE``; never overlapping anything in ``taken``.

    ``existing`` maps the secondary range names of the cluster's subnetwork to their CIDRs.
    """
    used = list(taken)
    pods = _one_range(
        "clusterIpv4CidrBlock",
        plan.pods_request,
        plan.pods_range_name,
        "clusterSecondaryRangeName",
        DEFAULT_POD_PREFIX,
        (9, 24),
        used,
        existing,
    )
    capacity = 2 ** (NODE_POD_PREFIX - ipaddress.ip_network(pods).prefixlen)
    if plan.node_count > capacity:
        raise InvalidArgument(
            f"The Pod address range {pods} can hold at most {capacity} node(s) at a /24 per "
            f"node; this cluster asks for {plan.node_count}."
        )
    if not plan.pods_range_name:
        used.append(TakenRange(pods, f'the Pod range of cluster "{plan.name}"'))
    services = _one_range(
        "servicesIpv4CidrBlock",
        plan.services_request,
        plan.services_range_name,
        "servicesSecondaryRangeName",
        DEFAULT_SERVICES_PREFIX,
        (16, 28),
        used,
        existing,
    )
    return pods, services


def _one_range(
    field_name: str,
    request: str,
    range_name: str,
    range_field: str,
    default_prefix: int,
    bounds: tuple[int, int],
    taken: list[TakenRange],
    existing: dict[str, str],
) -> str:
    if range_name:
        if range_name not in existing:
            raise InvalidArgument(
                f'ipAllocationPolicy.{range_field} "{range_name}" is not a secondary range of '
                "the cluster's subnetwork."
            )
        return existing[range_name]
    prefix, net = _requested_block(field_name, request, default_prefix, *bounds)
    if net is not None:
        for t in taken:
            if net.overlaps(ipaddress.ip_network(t.cidr, strict=False)):
                raise InvalidArgument(
                    f'Invalid {field_name} "{request}": it overlaps {t.cidr}, {t.owner}.'
                )
        return str(net)
    block = ipam.free_block(ALLOCATION_SPACE, prefix, [t.cidr for t in taken])
    if block is None:
        raise FailedPrecondition(
            f"No free /{prefix} is left in {ALLOCATION_SPACE} for {field_name}; delete a "
            "cluster or name a range."
        )
    return block


def node_pod_ranges(pods: str, used: Iterable[str], count: int) -> list[str]:
    """``count`` free /24s of the cluster's Pod range, lowest first."""
    taken = list(used)
    out: list[str] = []
    for _ in range(count):
        block = ipam.free_block(pods, NODE_POD_PREFIX, taken)
        if block is None:
            raise FailedPrecondition(f"The Pod address range {pods} has no free /24 left.")
        out.append(block)
        taken.append(block)
    return out


def next_node_ip(subnet_cidr: str, used: Iterable[str]) -> str:
    """The lowest free address of a subnet, skipping the addresses Google reserves: the network,
    the gateway and the last two."""
    net = ipaddress.ip_network(subnet_cidr, strict=False)
    taken = {ipaddress.ip_address(u) for u in used if u}
    reserved = {net.network_address, net.network_address + 1, net.broadcast_address - 1}
    for host in net.hosts():
        if host not in taken and host not in reserved:
            return str(host)
    raise FailedPrecondition(f"The subnetwork range {subnet_cidr} has no free address left.")
