"""The VPC firewall of a network, read from the store: its classic firewall rules, the
firewall policies that apply to it (organization, folder, network), its instances with the
kernel ids of their nodes, and the network's policy enforcement order, as the
:class:`~intranode.domain.firewall.FirewallInputs` the pure model evaluates and the compiler
turns into the router's ``inet vpc_firewall`` table (the node agent applies it).

Instances that run no kernel node (no entry in ``node_ids``) are left out: the router has no
link to them, so no packet of theirs can meet the firewall.
"""

from __future__ import annotations

from collections.abc import Mapping

from intranode.controllers import firewall_policies
from intranode.controllers.context import Context
from intranode.domain import resources as R
from intranode.domain.firewall import FirewallInputs, inputs_from_documents

# What the firewall of a network is made of: a change to one of these kinds may change it.
FIREWALL_KINDS = frozenset({R.FIREWALL, R.INSTANCE, R.NETWORK, R.FIREWALL_POLICY})


def network_key(project: str, network: str) -> str:
    return f"projects/{project}/global/networks/{network}"


def inputs_for_network(
    ctx: Context, project: str, network: str, node_ids: Mapping[str, str]
) -> FirewallInputs:
    """The firewall inputs of ``network`` (its short name) in ``project``; ``node_ids`` maps
    the name of each instance that runs as a kernel node to the node's short id."""
    key = network_key(project, network)
    res = ctx.resources
    doc = res.get(R.NETWORK, key)
    instances = [
        (r.data, node_ids[str(r.data.get("name"))])
        for r in res.find(R.INSTANCE)
        if str(r.data.get("name")) in node_ids
    ]
    policies, ancestry = firewall_policies.policies_for_network(ctx, project, key)
    return inputs_from_documents(
        project,
        key,
        firewalls=[r.data for r in res.find(R.FIREWALL)],
        instances=instances,
        policies=policies,
        ancestry=ancestry,
        enforcement_order=None
        if doc is None
        else doc.data.get("networkFirewallPolicyEnforcementOrder"),
    )
