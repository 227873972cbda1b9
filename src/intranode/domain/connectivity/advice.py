"""What to change (beyond Google): for a flow the firewall drops, the rule that blocks it and
the smallest rule that would let **only this flow** through, as a resource body and the gcloud
command that creates it.

Each direction is looked at on its own (egress at the sending node, ingress at the receiving
one), so a flow both sides block gets two suggestions. The new rule allows exactly the
flow's protocol and port from its source address to its destination address (``/32`` both),
and is placed where it is met before the blocking rule:

- blocked by a VPC firewall rule of priority ``p``: a VPC rule at ``p - 1`` (the rules of
  one priority are met deny first, so an allow must be strictly lower);
- blocked by the implied rule (nothing matched): a VPC rule at the default 1000;
- blocked by a hierarchical or network firewall policy rule: an ``allow`` rule in the same
  policy at the nearest free priority below it.

A deny at priority 0 cannot be overtaken by a VPC rule; the suggestion then says to narrow
or remove that rule and carries no new rule. A suggested rule works by construction: the
packet reached the blocking rule's stage, no rule of that stage before the blocking one
matched it, and the new rule (no targets, so it applies to every instance) is met first in
that stage. :func:`with_suggestion` adds it to the model's inputs, for checking that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from intranode.domain.connectivity.analysis import firewall_info
from intranode.domain.connectivity.steps import FirewallInfo
from intranode.domain.connectivity.world import Network
from intranode.domain.firewall import FirewallInputs, FirewallModel, Hit, Packet, Verdict
from intranode.domain.firewall.inputs import Direction, PolicyRule, VpcRule
from intranode.domain.firewalls import DEFAULT_PRIORITY, FirewallRule, ProtocolMatch

Kind = Literal["firewall", "hierarchical-policy-rule", "network-policy-rule", "none"]
_RULE_PROTOCOLS = {6: "tcp", 17: "udp", 1: "icmp", 50: "esp", 51: "ah", 132: "sctp", 4: "ipip"}
_PORT_PROTOCOLS = frozenset({6, 17, 132})


@dataclass(frozen=True)
class Suggestion:
    direction: Direction
    instance: str  # where the blocking rule applies
    blocking: FirewallInfo
    kind: Kind
    rule: Mapping[str, Any] = field(default_factory=dict)  # the body to create
    gcloud: str = ""
    note: str = ""
    policy_id: str = ""  # the policy the new rule goes into (policy rules only)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "direction": self.direction,
            "instance": self.instance,
            "blockingRule": self.blocking.to_json(),
            "change": self.kind,
        }
        if self.rule:
            out["allowRule"] = dict(self.rule)
        if self.gcloud:
            out["gcloud"] = self.gcloud
        if self.note:
            out["note"] = self.note
        return out


def blocking(
    network: Network, packet: Packet, *, sender: str | None, receiver: str | None
) -> list[Verdict]:
    """The verdicts that drop ``packet`` (its instances left unset), each direction judged on
    its own: egress at ``sender``, ingress at ``receiver``."""
    sides: tuple[tuple[Direction, str | None], ...] = (("EGRESS", sender), ("INGRESS", receiver))
    out = []
    for direction, instance in sides:
        if instance is None or instance not in network.instance_names:
            continue
        verdict = _verdict(network.model, packet, direction, instance)
        if verdict is not None and not verdict.allowed:
            out.append(verdict)
    return out


def suggestions(
    network: Network, packet: Packet, project: str, *, sender: str | None, receiver: str | None
) -> list[Suggestion]:
    """What to change so that ``packet`` (its instances left unset) passes the firewall of
    ``network`` at ``sender`` (egress) and ``receiver`` (ingress); empty when it passes."""
    return [
        _suggest(network, packet, project, v)
        for v in blocking(network, packet, sender=sender, receiver=receiver)
    ]


def suggest(network: Network, packet: Packet, project: str, verdict: Verdict) -> Suggestion:
    """What to change about one blocking verdict."""
    return _suggest(network, packet, project, verdict)


def _verdict(
    model: FirewallModel, packet: Packet, direction: Direction, instance: str
) -> Verdict | None:
    if direction == "EGRESS":
        return model.evaluate(replace(packet, src_instance=instance, dst_instance=None)).egress
    return model.evaluate(replace(packet, src_instance=None, dst_instance=instance)).ingress


def _suggest(network: Network, packet: Packet, project: str, verdict: Verdict) -> Suggestion:
    hit = verdict.deciding
    info = firewall_info(network, hit, project)
    base = Suggestion(verdict.direction, verdict.instance, info, "none")
    if hit.ref.kind == "fp":
        return _policy_suggestion(network, packet, hit, base)
    return _vpc_suggestion(network, packet, hit, base)


def _protocol(packet: Packet) -> str:
    return _RULE_PROTOCOLS.get(packet.protocol, str(packet.protocol))


def _ports(packet: Packet) -> list[str]:
    if packet.protocol in _PORT_PROTOCOLS and packet.dst_port is not None:
        return [str(packet.dst_port)]
    return []


def _rule_name(packet: Packet) -> str:
    port = f"-{packet.dst_port}" if _ports(packet) else ""
    raw = f"allow-{_protocol(packet)}{port}-{packet.src}-to-{packet.dst}"
    name = re.sub(r"[^a-z0-9-]", "-", raw.lower())
    return name[:63].rstrip("-")


def _vpc_suggestion(network: Network, packet: Packet, hit: Hit, base: Suggestion) -> Suggestion:
    if hit.ref.kind == "implied":
        priority = DEFAULT_PRIORITY
    elif hit.priority == 0:
        return replace(
            base,
            note=f"{hit.label} denies at priority 0: no VPC rule is met before it. Narrow "
            "its ranges or remove it.",
        )
    else:
        priority = hit.priority - 1
    name = _rule_name(packet)
    direction = base.direction
    entry: dict[str, Any] = {"IPProtocol": _protocol(packet)}
    ports = _ports(packet)
    if ports:
        entry["ports"] = ports
    src, dst = f"{packet.src}/32", f"{packet.dst}/32"
    body = {
        "name": name,
        "network": f"global/networks/{network.name}",
        "direction": direction,
        "priority": priority,
        "allowed": [entry],
        "sourceRanges": [src],
        "destinationRanges": [dst],
        "description": f"Allows only {_flow(packet)} (suggested by intranode).",
    }
    rules = _protocol(packet) + (f":{ports[0]}" if ports else "")
    gcloud = (
        f"gcloud compute firewall-rules create {name} --network={network.name} "
        f"--direction={direction} --priority={priority} --action=ALLOW --rules={rules} "
        f"--source-ranges={src} --destination-ranges={dst}"
    )
    return replace(base, kind="firewall", rule=body, gcloud=gcloud)


def _policy_suggestion(network: Network, packet: Packet, hit: Hit, base: Suggestion) -> Suggestion:
    policy = network.policies.get(hit.ref.id)
    taken = {r.priority for r in policy.rules} if policy is not None else set()
    priority = next((p for p in range(hit.priority - 1, -1, -1) if p not in taken), None)
    if policy is None or priority is None:
        return replace(
            base,
            note=f"{hit.label} leaves no free priority before it in its policy: narrow or "
            "remove it.",
        )
    hierarchical = hit.rule_type == "HIERARCHICAL_FIREWALL_POLICY_RULE"
    layer4: dict[str, Any] = {"ipProtocol": _protocol(packet)}
    ports = _ports(packet)
    if ports:
        layer4["ports"] = ports
    src, dst = f"{packet.src}/32", f"{packet.dst}/32"
    body = {
        "priority": priority,
        "direction": base.direction,
        "action": "allow",
        "match": {"srcIpRanges": [src], "destIpRanges": [dst], "layer4Configs": [layer4]},
        "description": f"Allows only {_flow(packet)} (suggested by intranode).",
    }
    l4 = _protocol(packet) + (f":{ports[0]}" if ports else "")
    common = (
        f"--action=allow --direction={base.direction} --src-ip-ranges={src} "
        f"--dest-ip-ranges={dst} --layer4-configs={l4}"
    )
    if hierarchical:
        gcloud = (
            f"gcloud compute firewall-policies rules create {priority} "
            f"--firewall-policy={policy.id} {common}"
        )
        kind: Kind = "hierarchical-policy-rule"
    else:
        gcloud = (
            f"gcloud compute network-firewall-policies rules create {priority} "
            f"--firewall-policy={policy.name} --global-firewall-policy {common}"
        )
        kind = "network-policy-rule"
    return replace(base, kind=kind, rule=body, gcloud=gcloud, policy_id=policy.id)


def _flow(packet: Packet) -> str:
    port = f" port {packet.dst_port}" if _ports(packet) else ""
    return f"{_protocol(packet).upper()}{port} from {packet.src} to {packet.dst}"


def with_suggestion(inputs: FirewallInputs, suggestion: Suggestion) -> FirewallInputs:
    """``inputs`` as they would be once the suggested rule exists (unchanged for "none")."""
    body = suggestion.rule
    if suggestion.kind == "firewall":
        entry = body["allowed"][0]
        rule = FirewallRule(
            name=str(body["name"]),
            network=inputs.network,
            priority=int(body["priority"]),
            direction=str(body["direction"]),
            action="ALLOW",
            matches=(_match(str(entry["IPProtocol"]), entry.get("ports") or []),),
            source_ranges=tuple(body["sourceRanges"]),
            destination_ranges=tuple(body["destinationRanges"]),
        )
        return replace(inputs, rules=(*inputs.rules, VpcRule("suggested", rule)))
    if suggestion.kind in ("hierarchical-policy-rule", "network-policy-rule"):
        match = body["match"]
        l4 = match["layer4Configs"][0]
        new = PolicyRule(
            priority=int(body["priority"]),
            direction=suggestion.direction,
            action="allow",
            layer4=(_match(str(l4["ipProtocol"]), l4.get("ports") or []),),
            src_ranges=tuple(match["srcIpRanges"]),
            dest_ranges=tuple(match["destIpRanges"]),
        )
        policies = tuple(
            replace(p, rules=(*p.rules, new)) if p.id == suggestion.policy_id else p
            for p in inputs.policies
        )
        return replace(inputs, policies=policies)
    return inputs


def _match(protocol: str, ports: list[str]) -> ProtocolMatch:
    number = next((n for n, name in _RULE_PROTOCOLS.items() if name == protocol), None)
    proto = number if number is not None else int(protocol)
    return ProtocolMatch(proto, tuple((int(p), int(p)) for p in ports))


__all__ = ["Suggestion", "blocking", "suggest", "suggestions", "with_suggestion"]
