"""The VPC firewall of a network: VPC firewall rules, hierarchical and global network firewall
policies, as Google evaluates them (gcp_vpc_specs §B-C), as a pure model and as one nftables
table for the network's router namespace. Pure: no I/O; the controller reads the store, the
data plane applies the table.

Inputs (:mod:`.inputs`), built by the controller from the store::

    inputs_from_documents(project, network_key, firewalls=[compute#firewall docs],
                          instances=[(compute#instance doc, kernel node id)],
                          policies=[compute#firewallPolicy docs], ancestry=("organizations/1",
                          "folders/2"), enforcement_order=network.get(
                          "networkFirewallPolicyEnforcementOrder")) -> FirewallInputs
    FirewallInputs(network, rules, policies, ancestry, enforcement_order, instances)
    VpcRule.from_document(doc, project)      (id + intranode.domain.firewalls.FirewallRule)
    FirewallPolicy.from_document(doc, project), PolicyRule, predefined_rules()
    Instance.from_document(doc, node_id)     (name, node_id, ip, alias_ranges, tags, SA)

The model (:mod:`.model`): what happens to the first packet of a connection::

    evaluate(inputs, packet) -> Trace        FirewallModel(inputs).evaluate(packet) for many
    Packet(src, dst, protocol, dst_port, src_instance, dst_instance)
    Trace.egress / .ingress: Verdict(direction, instance, allowed, met, deciding) or None
    Trace.allowed, Trace.met; Hit(ref, rule_type, priority, action, name, policy, log, label)
    RuleRef.key ("I:fw:<id>", "E:fp:<policy id>:<priority>", "I:implied"), parse_ref(key)
    FirewallModel.locate(ip) -> Instance | None

The compiler (:mod:`.compile_nft`)::

    compile_router_ruleset(inputs, router_netns) -> NftRuleset    table ``inet vpc_firewall``
    counter_hits(parsed ``nft -j list counters``) -> {rule key | "tracked": Counts}
    render(op) -> nft text;  DENIED_LOG_GROUP = 5, ALLOWED_LOG_GROUP = 6 (nflog)

Wiring it (for the controller): on any change to the network's firewall rules, policies,
associations, enforcement order or instances, build the inputs and apply the op with the data
plane (``dataplane.apply([op], owner="router:<network>")``; ``replace_table`` swaps it in one
transaction, the ledger records ``nft_table`` ``inet vpc_firewall``). Connection-tracking
entries survive the swap, so established connections keep going after a new deny, as on
Google Cloud (§B4); new connections meet the new rules at once. The flow-log hook's nflog
reader reads group :data:`~.compile_nft.DENIED_LOG_GROUP`: a packet's prefix is the key of the
rule that denied it, ``parse_ref(prefix).direction`` its direction (``DeniedPacket.rule`` /
``.direction``). Firewall Rules Logging can read allowed connections of logging rules from
group :data:`~.compile_nft.ALLOWED_LOG_GROUP` the same way.

Not modelled: regional network firewall policies and Google's regional system policies; IPv6
(the VPC here is IPv4: IPv6 ranges match nothing); secure tags, address groups, FQDNs,
geolocations, threat intelligence and network types in policy rules (they match nothing);
``apply_security_profile_group`` acts as ``allow``; connection-tracking timeouts are the
kernel's. Other protocols than tcp/udp/icmp/sctp are tracked by addresses and protocol, as
Linux does (the reply to an allowed ESP packet is allowed); Google's tracking of them is not
confirmed (gcp_vpc_specs §B4).
"""

from intranode.domain.firewall.compile_nft import (
    ALLOWED_LOG_GROUP,
    DENIED_LOG_GROUP,
    TRACKED_COUNTER,
    Counts,
    compile_router_ruleset,
    counter_hits,
    render,
)
from intranode.domain.firewall.inputs import (
    FirewallInputs,
    FirewallPolicy,
    Instance,
    PolicyRule,
    VpcRule,
    inputs_from_documents,
    predefined_rules,
)
from intranode.domain.firewall.model import (
    FirewallModel,
    Hit,
    Packet,
    RuleRef,
    Trace,
    Verdict,
    evaluate,
    parse_ref,
    plan,
)

__all__ = [
    "ALLOWED_LOG_GROUP",
    "DENIED_LOG_GROUP",
    "TRACKED_COUNTER",
    "Counts",
    "FirewallInputs",
    "FirewallModel",
    "FirewallPolicy",
    "Hit",
    "Instance",
    "Packet",
    "PolicyRule",
    "RuleRef",
    "Trace",
    "Verdict",
    "VpcRule",
    "compile_router_ruleset",
    "counter_hits",
    "evaluate",
    "inputs_from_documents",
    "parse_ref",
    "plan",
    "predefined_rules",
    "render",
]
