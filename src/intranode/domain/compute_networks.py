"""VPC networks: the insert body, the stored document, and an auto-mode network's subnets."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool, StrictStr

from intranode.domain.auto_subnets import AUTO_MODE_RANGES
from intranode.domain.compute import (
    JsonInt,
    Wire,
    base_document,
    check_name,
    invalid_field,
    parse_resource,
)
from intranode.domain.compute_subnets import subnetwork_document
from intranode.domain.resources import compute_link, network_key, subnetwork_key

DEFAULT_NETWORK = "default"
DEFAULT_NETWORK_DESCRIPTION = "Default network for the project"
DEFAULT_MTU = 1460
MTU_RANGE = (1300, 8896)
ROUTING_MODES = ("REGIONAL", "GLOBAL")
ENFORCEMENT_ORDERS = ("AFTER_CLASSIC_FIREWALL", "BEFORE_CLASSIC_FIREWALL")


class RoutingConfigBody(Wire):
    routing_mode: StrictStr | None = None
    bgp_always_compare_med: Any = None
    bgp_best_path_selection_mode: Any = None
    bgp_inter_region_cost: Any = None
    effective_bgp_always_compare_med: Any = None
    effective_bgp_inter_region_cost: Any = None


class NetworkBody(Wire):
    name: StrictStr | None = None
    description: StrictStr | None = None
    auto_create_subnetworks: StrictBool | None = None
    routing_config: RoutingConfigBody | None = None
    mtu: JsonInt | None = None
    network_firewall_policy_enforcement_order: StrictStr | None = None
    # The proto's JSON names keep the capitals of "IPv4".
    ipv4_range: StrictStr | None = Field(default=None, alias="IPv4Range")
    # Output-only or not modelled here.
    kind: Any = None
    id: Any = None
    self_link: Any = None
    self_link_with_id: Any = None
    creation_timestamp: Any = None
    subnetworks: Any = None
    peerings: Any = None
    firewall_policy: Any = None
    gateway_ipv4: Any = Field(default=None, alias="gatewayIPv4")
    enable_ula_internal_ipv6: Any = None
    internal_ipv6_range: Any = None
    network_profile: Any = None
    params: Any = None


def network_document(
    project: str,
    name: str,
    now: float,
    *,
    auto: bool,
    description: str | None = None,
    routing_mode: str = "REGIONAL",
    mtu: int = DEFAULT_MTU,
    enforcement_order: str = "AFTER_CLASSIC_FIREWALL",
) -> dict[str, Any]:
    key = network_key(project, name)
    doc = base_document("compute#network", key, now)
    if description:
        doc["description"] = description
    doc.update(
        {
            "selfLinkWithId": compute_link(f"projects/{project}/global/networks/{doc['id']}"),
            "autoCreateSubnetworks": auto,
            "subnetworks": [],
            "routingConfig": {"routingMode": routing_mode},
            "mtu": mtu,
            "networkFirewallPolicyEnforcementOrder": enforcement_order,
        }
    )
    return doc


def insert_network(project: str, data: Any, now: float) -> dict[str, Any]:
    body = parse_resource(NetworkBody, data)
    name = check_name(body.name)
    if body.ipv4_range is not None or body.auto_create_subnetworks is None:
        raise invalid_field(
            "resource.autoCreateSubnetworks",
            "",
            "Legacy networks are not supported; set autoCreateSubnetworks to true (auto mode) "
            "or false (custom mode).",
        )
    mode = "REGIONAL"
    if body.routing_config is not None and body.routing_config.routing_mode is not None:
        mode = body.routing_config.routing_mode
        if mode not in ROUTING_MODES:
            raise invalid_field(
                "resource.routingConfig.routingMode", mode, "Must be one of [REGIONAL, GLOBAL]."
            )
    mtu = DEFAULT_MTU if body.mtu is None else body.mtu
    if not MTU_RANGE[0] <= mtu <= MTU_RANGE[1]:
        raise invalid_field(
            "resource.mtu", mtu, f"Must be between {MTU_RANGE[0]} and {MTU_RANGE[1]}."
        )
    order = _enforcement_order(
        body.network_firewall_policy_enforcement_order or ENFORCEMENT_ORDERS[0]
    )
    return network_document(
        project,
        name,
        now,
        auto=body.auto_create_subnetworks,
        description=body.description,
        routing_mode=mode,
        mtu=mtu,
        enforcement_order=order,
    )


def patch_network(current: dict[str, Any], data: Any) -> dict[str, Any]:
    """PATCH: ``networkFirewallPolicyEnforcementOrder`` changes (gcloud ``networks update
    --network-firewall-policy-enforcement-order``); output-only fields a client echoes back
    are ignored; the name cannot change."""
    body = parse_resource(NetworkBody, data)
    if body.name is not None and body.name != current["name"]:
        raise invalid_field("resource.name", body.name, "The name cannot be changed.")
    doc = dict(current)
    if body.network_firewall_policy_enforcement_order is not None:
        doc["networkFirewallPolicyEnforcementOrder"] = _enforcement_order(
            body.network_firewall_policy_enforcement_order
        )
    return doc


def _enforcement_order(order: str) -> str:
    if order not in ENFORCEMENT_ORDERS:
        raise invalid_field(
            "resource.networkFirewallPolicyEnforcementOrder",
            order,
            f"Must be one of [{', '.join(ENFORCEMENT_ORDERS)}].",
        )
    return order


def auto_subnetwork_documents(project: str, network: str, now: float) -> list[dict[str, Any]]:
    """One subnet per region of Google's auto-mode table, named after the network."""
    net_key = network_key(project, network)
    return [
        subnetwork_document(subnetwork_key(project, region, network), net_key, cidr, now)
        for region, cidr in AUTO_MODE_RANGES
    ]


def is_auto_subnetwork(network_doc: dict[str, Any], subnet_doc: dict[str, Any]) -> bool:
    """Whether the subnet is one the auto-mode network made (it goes with the network)."""
    if not network_doc.get("autoCreateSubnetworks"):
        return False
    region = str(subnet_doc.get("region", "")).rsplit("/", 1)[-1]
    return subnet_doc.get("name") == network_doc.get("name") and (
        (region, subnet_doc.get("ipCidrRange")) in AUTO_MODE_RANGES
    )
