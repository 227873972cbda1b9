"""Firewalls as a user would have them: the default network's rules, GKE's rules for a cluster
``c1`` (node tag ``gke-c1-1a2b3c4d-node``, Pod range 10.52.0.0/14, subnet 10.128.0.0/20), three
nodes (two of pool ``default`` running as the default compute account, one of pool ``web``
with the extra tag ``web`` and its own account), and builders for user rules and policies.

Rule ids are fixed (``doc["id"]``) so compiled rulesets are stable for golden files."""

from __future__ import annotations

from typing import Any

from intranode.domain.firewall.inputs import FirewallInputs, FirewallPolicy, Instance, VpcRule
from intranode.domain.firewalls import default_firewall_bodies, firewall_document
from intranode.domain.gke_objects import firewall_bodies
from intranode.domain.resources import compute_link

PROJECT = "fw-proj"
NETWORK = f"projects/{PROJECT}/global/networks/default"
OTHER_NETWORK = f"projects/{PROJECT}/global/networks/other"
ORG, FOLDER, SUBFOLDER = "organizations/100", "folders/200", "folders/300"
ANCESTRY = (ORG, FOLDER, SUBFOLDER)
TAG = "gke-c1-1a2b3c4d-node"
POD_RANGE = "10.52.0.0/14"
SUBNET = "10.128.0.0/20"
DEFAULT_SA = "123456789-compute@developer.gserviceaccount.com"
WEB_SA = "web@fw-proj.iam.gserviceaccount.com"

NODE_A = Instance("gke-c1-default-pool-1a2b3c4d-aaaa", "0a01", "10.128.0.2", ("10.52.0.0/24",),
                  (TAG,), DEFAULT_SA)  # fmt: skip
NODE_B = Instance("gke-c1-default-pool-1a2b3c4d-bbbb", "0a02", "10.128.0.3", ("10.52.1.0/24",),
                  (TAG,), DEFAULT_SA)  # fmt: skip
NODE_C = Instance("gke-c1-web-9f8e7d6c-cccc", "0a03", "10.128.0.4", ("10.52.2.0/24",),
                  (TAG, "web"), WEB_SA)  # fmt: skip
NODES = (NODE_A, NODE_B, NODE_C)


def vpc_rule(rule_id: int, **body: Any) -> VpcRule:
    """A rule as the Compute API stores it (validated, defaults filled), with a fixed id."""
    doc = firewall_document(PROJECT, body, now=0)
    doc["id"] = str(rule_id)
    return VpcRule.from_document(doc, PROJECT)


def default_network_rules() -> tuple[VpcRule, ...]:
    return tuple(vpc_rule(1 + i, **b) for i, b in enumerate(default_firewall_bodies()))


def gke_cluster_rules() -> tuple[VpcRule, ...]:
    bodies = firewall_bodies(
        cluster="c1",
        chash="1a2b3c4d",
        network="global/networks/default",
        pods_cidr=POD_RANGE,
        subnet_cidr=SUBNET,
        master_ip="34.118.0.10",
    )
    return tuple(vpc_rule(11 + i, **b) for i, b in enumerate(bodies))


def gke_and_default() -> tuple[VpcRule, ...]:
    return default_network_rules() + gke_cluster_rules()


def policy(
    policy_id: str, attachment: str, *rules: dict[str, Any], hierarchical: bool = True
) -> FirewallPolicy:
    """A policy document in the Compute API's form (rules without the predefined ones, which
    reading adds), associated with ``attachment`` (an org, a folder or a network key)."""
    target = (
        attachment
        if attachment.startswith(("organizations/", "folders/"))
        else (compute_link(attachment))
    )
    doc: dict[str, Any] = {
        "kind": "compute#firewallPolicy",
        "id": policy_id,
        "name": policy_id if hierarchical else f"netpol-{policy_id}",
        "shortName": f"pol-{policy_id}",
        "rules": list(rules),
        "associations": [{"name": f"assoc-{policy_id}", "attachmentTarget": target}],
    }
    return FirewallPolicy.from_document(doc, PROJECT)


def policy_rule(
    priority: int, action: str, direction: str = "INGRESS", **extra: Any
) -> dict[str, Any]:
    match = extra.pop("match", {})
    match.setdefault("layer4Configs", [{"ipProtocol": "all"}])
    return {"priority": priority, "action": action, "direction": direction, "match": match, **extra}


def inputs(
    *rules: VpcRule,
    policies: tuple[FirewallPolicy, ...] = (),
    order: str = "AFTER_CLASSIC_FIREWALL",
    instances: tuple[Instance, ...] = NODES,
) -> FirewallInputs:
    return FirewallInputs(
        network=NETWORK,
        rules=rules,
        policies=policies,
        ancestry=ANCESTRY,
        enforcement_order="BEFORE_CLASSIC_FIREWALL"
        if order.startswith("BEFORE")
        else ("AFTER_CLASSIC_FIREWALL"),
        instances=instances,
    )
