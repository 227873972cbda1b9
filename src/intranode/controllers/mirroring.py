"""Packet Mirroring: the ``packetMirrorings`` of Compute (insert, patch, delete, each a DONE
regional Operation), intranode's own collector (``create_collector``), and what the node agent
needs to compute a network's mirroring plan (``mirroring_inputs_of``).

Contracts other parts use:

- ``create_collector(ctx, project, region, name, *, network="default", subnetwork=None) ->
  str``: in ONE store transaction (all or nothing), the instance ``<name>-collector`` (a
  ``compute#instance`` users cannot otherwise create, labelled
  ``domain.mirroring.COLLECTOR_LABEL``, with an address of the subnet), the unmanaged instance
  group ``<name>`` holding it, the TCP health check ``<name>`` (regional), the INTERNAL
  backend service ``<name>`` and the forwarding rule ``<name>`` (``isMirroringCollector``,
  ``allPorts``); returns the forwarding rule's selfLink. ``delete_collector(ctx, project,
  region, name)`` removes all of it again (refused while a packet mirroring uses it).
- ``collector_backends(ctx, project) -> {forwarding rule key: [instance keys]}``: every
  mirroring collector's backends (members of its backend service's groups), in a stable order.
- ``mirroring_inputs_of(ctx, project, network, links) -> MirroringInputs``: the pure plan's
  inputs for one network; ``links`` maps the store key of each instance that has a router
  link (GKE nodes: ``n-<id>``, collector instances: ``c-<id>``) to that link. Instances
  without one are not mirrored and receive nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from intranode.controllers import load_balancing as lbc
from intranode.controllers.compute import (
    done_operation,
    get_document,
    list_documents,
    require_region,
)
from intranode.controllers.context import Context
from intranode.domain import load_balancing as lb
from intranode.domain import mirroring as dm
from intranode.domain.compute import (
    already_exists,
    check_name,
    invalid_field,
    link_key,
    not_found,
    scope_of,
)
from intranode.domain.container import zones_of_region
from intranode.domain.container_ranges import next_node_ip
from intranode.domain.resources import (
    BACKEND_SERVICE,
    FORWARDING_RULE,
    INSTANCE,
    NETWORK,
    PACKET_MIRRORING,
    SUBNETWORK,
    compute_link,
    instance_key,
    network_key,
    new_fingerprint,
    new_numeric_id,
    packet_mirroring_key,
    subnetwork_key,
)
from intranode.domain.timefmt import compute_time

Doc = dict[str, Any]
COLLECTOR_MACHINE_TYPE = "e2-small"


# packetMirrorings -----------------------------------------------------------------------------
def insert_packet_mirroring(ctx: Context, project: str, region: str, data: Any) -> Doc:
    require_region(project, region)
    doc = dm.packet_mirroring_document(project, region, data, ctx.clock(), lbc.lookup(ctx))
    key = packet_mirroring_key(project, region, doc["name"])
    ctx.resources.create(PACKET_MIRRORING, key, scope_of(key), doc)
    return done_operation(ctx, project, f"regions/{region}", "insert", key, doc["id"])


def patch_packet_mirroring(ctx: Context, project: str, region: str, name: str, data: Any) -> Doc:
    require_region(project, region)
    key = packet_mirroring_key(project, region, name)
    res = ctx.resources.get(PACKET_MIRRORING, key)
    if res is None:
        raise not_found(key)
    doc = dm.patch_packet_mirroring(project, region, res.data, data, lbc.lookup(ctx))
    ctx.resources.update(PACKET_MIRRORING, key, doc, expect_revision=res.revision)
    return done_operation(ctx, project, f"regions/{region}", "patch", key, doc["id"])


def delete_packet_mirroring(ctx: Context, project: str, region: str, name: str) -> Doc:
    require_region(project, region)
    key = packet_mirroring_key(project, region, name)
    doc = get_document(ctx, PACKET_MIRRORING, key)
    ctx.resources.delete(PACKET_MIRRORING, key)
    return done_operation(ctx, project, f"regions/{region}", "delete", key, doc["id"])


# intranode's collector --------------------------------------------------------------------------
def create_collector(
    ctx: Context,
    project: str,
    region: str,
    name: str,
    *,
    network: str = "default",
    subnetwork: str | None = None,
) -> str:
    """Everything a mirroring collector needs, in one transaction; the forwarding rule's
    selfLink. Refused (nothing created) if any of the names is taken."""
    require_region(project, region)
    check_name(name, "name")
    instance_name = check_name(name + dm.COLLECTOR_SUFFIX, "name")
    net_key = network_key(project, network)
    net = get_document(ctx, NETWORK, net_key)
    subnet_name = subnetwork or (network if net.get("autoCreateSubnetworks") else None)
    if subnet_name is None:
        raise invalid_field(
            "subnetwork", "", f"The network '{network}' is in custom mode; name a subnetwork."
        )
    subnet_key = subnetwork_key(project, region, subnet_name)
    subnet = get_document(ctx, SUBNETWORK, subnet_key)
    if link_key(str(subnet["network"]), project) != net_key:
        raise invalid_field(
            "subnetwork", subnet_name, f"The subnetwork is not in the network '{network}'."
        )
    zone = zones_of_region(region)[0]
    ikey = instance_key(project, zone, instance_name)
    with ctx.resources.transaction():
        if ctx.resources.get(INSTANCE, ikey) is not None:
            raise already_exists(ikey)
        ip = next_node_ip(str(subnet["ipCidrRange"]), lbc.taken_ips(ctx, project)(subnet_key))
        doc = _collector_instance(
            project, zone, instance_name, net_key, subnet_key, ip, name, ctx.clock()
        )
        ctx.resources.create(INSTANCE, ikey, scope_of(ikey), doc)
        lbc.insert_instance_group(ctx, project, zone, {"name": name})
        lbc.add_instances(ctx, project, zone, name, {"instances": [{"instance": doc["selfLink"]}]})
        check = {"name": name, "type": "TCP", "tcpHealthCheck": {"port": 80}}
        lbc.insert_health_check(ctx, project, region, check)
        group = compute_link(f"projects/{project}/zones/{zone}/instanceGroups/{name}")
        service = {
            "name": name,
            "loadBalancingScheme": "INTERNAL",
            "protocol": "TCP",
            "healthChecks": [
                compute_link(f"projects/{project}/regions/{region}/healthChecks/{name}")
            ],
            "backends": [{"group": group}],
            "network": compute_link(net_key),
        }
        lbc.insert_backend_service(ctx, project, region, service)
        rule = {
            "name": name,
            "loadBalancingScheme": "INTERNAL",
            "IPProtocol": "TCP",
            "allPorts": True,
            "isMirroringCollector": True,
            "backendService": compute_link(
                f"projects/{project}/regions/{region}/backendServices/{name}"
            ),
            "network": compute_link(net_key),
            "subnetwork": compute_link(subnet_key),
        }
        op = lbc.insert_forwarding_rule(ctx, project, region, rule)
    return str(op["targetLink"])


def delete_collector(ctx: Context, project: str, region: str, name: str) -> None:
    """Remove what ``create_collector`` made, in one transaction: refused (nothing removed)
    while a packet mirroring uses the forwarding rule, or if ``name`` is not such a
    collector."""
    require_region(project, region)
    zone = zones_of_region(region)[0]
    ikey = instance_key(project, zone, check_name(name + dm.COLLECTOR_SUFFIX, "name"))
    instance = get_document(ctx, INSTANCE, ikey)
    if instance.get("labels", {}).get(dm.COLLECTOR_LABEL) != name:
        raise invalid_field("name", name, "This is not a collector made by intranode.")
    with ctx.resources.transaction():
        lbc.delete_forwarding_rule(ctx, project, region, name)
        lbc.delete_backend_service(ctx, project, region, name)
        lbc.delete_health_check(ctx, project, region, name)
        lbc.delete_instance_group(ctx, project, zone, name)
        ctx.resources.delete(INSTANCE, ikey)


def _collector_instance(
    project: str,
    zone: str,
    name: str,
    net_key: str,
    subnet_key: str,
    ip: str,
    collector: str,
    now: float,
) -> Doc:
    """The collector backend as a ``compute#instance``: what ``instances get`` shows of a
    small VM, labelled so the node agent gives it a collector namespace."""
    key = instance_key(project, zone, name)
    return {
        "kind": "compute#instance",
        "id": new_numeric_id(),
        "creationTimestamp": compute_time(now),
        "name": name,
        "description": f"Packet Mirroring collector {collector} (intranode)",
        "tags": {"fingerprint": new_fingerprint()},
        "machineType": compute_link(
            f"projects/{project}/zones/{zone}/machineTypes/{COLLECTOR_MACHINE_TYPE}"
        ),
        "status": "RUNNING",
        "zone": compute_link(f"projects/{project}/zones/{zone}"),
        "canIpForward": False,
        "networkInterfaces": [
            {
                "kind": "compute#networkInterface",
                "network": compute_link(net_key),
                "subnetwork": compute_link(subnet_key),
                "networkIP": ip,
                "name": "nic0",
                "fingerprint": new_fingerprint(),
                "stackType": "IPV4_ONLY",
            }
        ],
        "selfLink": compute_link(key),
        "labels": {dm.COLLECTOR_LABEL: collector},
        "labelFingerprint": new_fingerprint(),
        "fingerprint": new_fingerprint(),
        "deletionProtection": False,
    }


# What the node agent needs ----------------------------------------------------------------------
def collector_backends(ctx: Context, project: str) -> dict[str, list[str]]:
    """Each mirroring collector forwarding rule's backend instances (store keys)."""
    out: dict[str, list[str]] = {}
    for rule in list_documents(ctx, FORWARDING_RULE, f"projects/{project}/regions/"):
        if not rule.get("isMirroringCollector"):
            continue
        service = ctx.resources.get(BACKEND_SERVICE, link_key(str(rule["backendService"]), project))
        backends: list[str] = []
        for group in lb.backend_groups(project, service.data if service else {}):
            backends += [k for k in lbc.members(ctx, group) if k not in backends]
        out[lbc.key_of(rule)] = backends
    return out


def mirroring_inputs_of(
    ctx: Context, project: str, network: str, links: Mapping[str, str]
) -> dm.MirroringInputs:
    """The plan's inputs for the network named ``network`` of ``project``."""
    net_key = network_key(project, network)
    instances = [
        (doc, links[key])
        for doc in list_documents(ctx, INSTANCE, f"projects/{project}/zones/")
        if (key := lbc.key_of(doc)) in links
    ]
    collectors = {
        rule: [links[k] for k in backends if k in links]
        for rule, backends in collector_backends(ctx, project).items()
    }
    return dm.mirroring_inputs(
        project,
        net_key,
        mirrorings=list_documents(ctx, PACKET_MIRRORING, f"projects/{project}/regions/"),
        instances=instances,
        collectors=collectors,
    )
