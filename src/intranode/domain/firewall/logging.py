"""Firewall Rules Logging: the ``compute.googleapis.com/firewall`` log entries of the packets the
router's firewall logged (gcp_vpc_specs §B6 for VPC firewall rules, §C6 for policy rules).

The compiled table (:mod:`.compile_nft`) logs the first packet of each connection a logging
rule allows to nflog group 6, and every packet any rule denies to group 5, each with the
deciding rule's key as prefix; the nflog reader turns both into :class:`LoggedPacket`. Here
they become entries:

* only rules with logging on produce entries (``logConfig.enable`` / ``enableLogging``, as
  the model's ``Hit.log`` says); implied rules never do; a packet whose rule is gone from the
  inputs (deleted since) or now says the opposite action is dropped;
* VPC firewall rules log TCP and UDP only (§B6); policy rules log every protocol (Google does
  not say otherwise for them), ICMP's connection without ports;
* the entry is written for the VM the rule applied to: the destination for INGRESS, the source
  for EGRESS (an address in a node's alias range is that node's: Pods are not instances);
  ``remote_instance``/``remote_vpc`` are the other end's when it is a VM of the network;
* one entry per connection per VM for allowed connections: the nflog rule sees every packet
  of a connection that is still NEW (a SYN sent again, UDP one way), so a 5-tuple that met
  the same rule less than :data:`CONNECTION_IDLE` seconds before is the same connection;
* denied: one entry per packet, except that a packet of a 5-tuple logged for the same rule
  less than :data:`DENIED_WINDOW` seconds before is left out (retransmissions of one attempt);
* metadata (``instance``, ``vpc``, ``remote_instance``, ``remote_vpc`` and the rule's ranges,
  tags and service accounts) unless the VPC rule's ``logConfig.metadata`` is
  ``EXCLUDE_ALL_METADATA``; policy rules carry no tags or service accounts; absent values are
  left out, never null. ``timestamp`` is the packet's time.

Public API::

    LoggedPacket(time, tuple, length, rule, direction, disposition)
    RuleBook(inputs).get(key) -> LoggingRule | None       the rules of a network, by key
    Deduplicator(denied_window, connection_idle).admit(packet) / .expire(now)
    build_entries(packets, book, inventory, dedup) -> list[LogEntry dict]
    log_name(project)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from intranode.domain.firewall.inputs import (
    Direction,
    FirewallInputs,
    FirewallPolicy,
    PolicyRule,
    VpcRule,
)
from intranode.domain.firewall.model import Hit, plan
from intranode.domain.firewalls import PROTOCOL_NUMBERS, ProtocolMatch
from intranode.domain.flowlogs.inventory import Endpoint, Inventory
from intranode.domain.flowlogs.observations import TCP, UDP, FiveTuple
from intranode.domain.flowlogs.records import (
    RESOURCE_TYPE,
    connection,
    instance_details,
    time_text,
    vpc_details,
)

LOG_ID = "compute.googleapis.com%2Ffirewall"
DENIED_WINDOW = 5.0  # seconds: denied packets of one 5-tuple and rule logged once per window
CONNECTION_IDLE = 60.0  # seconds: Linux's SYN retries (1+2+4+...+32 s) fit in one connection
VPC_PROTOCOLS = frozenset({TCP, UDP})
EXCLUDE_ALL_METADATA = "EXCLUDE_ALL_METADATA"
_PROTOCOL_NAMES = {n: name.upper() for name, n in PROTOCOL_NUMBERS.items() if n is not None}

Disposition = Literal["ALLOWED", "DENIED"]
_ACTION_OF: Mapping[Disposition, str] = {"ALLOWED": "ALLOW", "DENIED": "DENY"}


@dataclass(frozen=True, slots=True)
class LoggedPacket:
    """A packet a logging statement of the firewall reported: ``rule`` is the nflog prefix
    (the rule's key), ``direction`` the rule's, ``length`` the IP packet's length."""

    time: float
    tuple: FiveTuple
    length: int
    rule: str
    direction: Direction
    disposition: Disposition = "ALLOWED"


def log_name(project: str) -> str:
    return f"projects/{project}/logs/{LOG_ID}"


# -- the rules -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoggingRule:
    """What an entry says of the rule that decided: ``base`` is ``rule_details`` without
    metadata, ``metadata`` the rule's ranges/tags/accounts; ``with_metadata`` tells whether
    the entry carries metadata at all."""

    key: str
    log: bool
    vpc: bool  # a VPC firewall rule (TCP and UDP only)
    action: str  # ALLOW | DENY (GOTO_NEXT never decides)
    base: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    with_metadata: bool = True


def _ip_port_info(matches: Sequence[ProtocolMatch]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in matches:
        name = "ALL" if m.protocol is None else _PROTOCOL_NAMES.get(m.protocol, str(m.protocol))
        item: dict[str, Any] = {"ip_protocol": name}
        if m.ports:
            item["port_range"] = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in m.ports]
        out.append(item)
    return out


def _lists(**values: Sequence[str]) -> dict[str, list[str]]:
    return {name: list(v) for name, v in values.items() if v}


def _vpc(hit: Hit, rule: VpcRule, network: str) -> LoggingRule:
    r = rule.rule
    base = {
        "reference": f"network:{network}/firewall:{r.name}",
        "priority": r.priority,
        "action": hit.action,
        "direction": hit.ref.direction,
        "ip_port_info": _ip_port_info(r.matches),
    }
    metadata = _lists(
        source_range=r.source_ranges,
        destination_range=r.destination_ranges,
        source_tag=r.source_tags,
        target_tag=r.target_tags,
        source_service_account=r.source_service_accounts,
        target_service_account=r.target_service_accounts,
    )
    return LoggingRule(
        hit.ref.key,
        hit.log,
        True,
        hit.action,
        base,
        metadata,
        with_metadata=r.log_metadata != EXCLUDE_ALL_METADATA,
    )


def _policy(hit: Hit, policy: FirewallPolicy, rule: PolicyRule, reference: str) -> LoggingRule:
    base = {
        "reference": reference,
        "priority": rule.priority,
        "action": hit.action,
        "direction": hit.ref.direction,
        "ip_port_info": _ip_port_info(rule.layer4),
    }
    metadata = _lists(source_range=rule.src_ranges, destination_range=rule.dest_ranges)
    return LoggingRule(hit.ref.key, hit.log, False, hit.action, base, metadata)


class RuleBook:
    """The rules of one network's firewall by key (:attr:`RuleRef.key`, the nflog prefix), as
    the compiled table holds them: :func:`~.model.plan` says which rules are in force and
    whether they log; the inputs give what an entry shows of them."""

    def __init__(self, inputs: FirewallInputs) -> None:
        self.inputs = inputs
        self.network = inputs.network.rsplit("/", 1)[-1]
        vpc = {r.id: r for r in inputs.rules}
        policies = {p.id: p for p in inputs.policies}
        self._rules: dict[str, LoggingRule] = {}
        for rule in plan(inputs).rules:
            hit = rule.hit
            ref = hit.ref
            if ref.key in self._rules or ref.kind == "implied" or hit.action == "GOTO_NEXT":
                continue
            if ref.kind == "fw" and ref.id in vpc:
                self._rules[ref.key] = _vpc(hit, vpc[ref.id], self.network)
            elif ref.kind == "fp" and ref.id in policies:
                policy = policies[ref.id]
                found = [
                    r
                    for r in policy.rules
                    if r.priority == ref.priority and r.direction == ref.direction
                ]
                if found:
                    reference = self._reference(hit, policy)
                    self._rules[ref.key] = _policy(hit, policy, found[0], reference)

    def _reference(self, hit: Hit, policy: FirewallPolicy) -> str:
        if hit.rule_type == "NETWORK_FIREWALL_POLICY_RULE":
            # Real entries name a network policy by its name, not its numeric id.
            return f"network:{self.network}/firewallPolicy:{policy.name}"
        # Google writes "{folder tier index}" here without saying more: the attachment point
        # (organizations/N or folders/N, the first of the ancestry that holds the policy)
        # says which tier, readably.
        tier = next((a for a in self.inputs.ancestry if a in policy.associations), "")
        return f"{tier}/firewallPolicy:{policy.id}"

    def get(self, key: str) -> LoggingRule | None:
        return self._rules.get(key)

    def __len__(self) -> int:
        return len(self._rules)


# -- one entry per connection ----------------------------------------------------------------------
class Deduplicator:
    """Which logged packets make an entry (see the module docstring): per rule key and
    5-tuple, the last time an allowed packet was seen and a denied one was logged."""

    def __init__(
        self, *, denied_window: float = DENIED_WINDOW, connection_idle: float = CONNECTION_IDLE
    ) -> None:
        self.denied_window = denied_window
        self.connection_idle = connection_idle
        self._seen: dict[tuple[str, FiveTuple], float] = {}
        self._logged: dict[tuple[str, FiveTuple], float] = {}

    def admit(self, packet: LoggedPacket) -> bool:
        key = (packet.rule, packet.tuple)
        t = packet.time
        if packet.disposition == "ALLOWED":
            last = self._seen.get(key)
            self._seen[key] = t if last is None else max(last, t)
            return last is None or t - last >= self.connection_idle
        last = self._logged.get(key)
        if last is not None and t - last < self.denied_window:
            return False
        self._logged[key] = t
        return True

    def expire(self, now: float) -> None:
        """Forget what can no longer hold back a packet seen at ``now`` or later."""
        self._seen = {k: t for k, t in self._seen.items() if now - t < self.connection_idle}
        self._logged = {k: t for k, t in self._logged.items() if now - t < self.denied_window}

    def __len__(self) -> int:
        return len(self._seen) + len(self._logged)


# -- entries ---------------------------------------------------------------------------------------
def _resource(ep: Endpoint) -> dict[str, Any]:
    subnet = ep.subnet
    return {
        "type": RESOURCE_TYPE,
        "labels": {
            "project_id": subnet.project,
            "subnetwork_id": subnet.id,
            "subnetwork_name": subnet.name,
            "location": ep.instance.zone,
        },
    }


def _rule_details(rule: LoggingRule) -> dict[str, Any]:
    if not rule.with_metadata:
        return dict(rule.base)
    return {**rule.base, **rule.metadata}


def entry(
    packet: LoggedPacket, rule: LoggingRule, vm: Endpoint, remote: Endpoint | None
) -> dict[str, Any]:
    """The LogEntry of one logged packet, written for ``vm`` (the VM the rule applied to)."""
    record: dict[str, Any] = {
        "connection": connection(packet.tuple),
        "disposition": packet.disposition,
        "rule_details": _rule_details(rule),
    }
    if rule.with_metadata:
        record["instance"] = instance_details(vm)
        record["vpc"] = vpc_details(vm.subnet)
        if remote is not None:
            record["remote_instance"] = instance_details(remote)
            record["remote_vpc"] = vpc_details(remote.subnet)
    return {
        "logName": log_name(vm.subnet.project),
        "resource": _resource(vm),
        "timestamp": time_text(packet.time),
        "jsonPayload": record,
    }


def build_entries(
    packets: Iterable[LoggedPacket],
    book: RuleBook,
    inventory: Inventory,
    dedup: Deduplicator | None = None,
) -> list[dict[str, Any]]:
    """The entries of the packets one router's firewall logged, in packet order (see the
    module docstring for which packets make one). ``dedup`` carries what was seen across
    calls; without it each call stands alone."""
    seen = dedup if dedup is not None else Deduplicator()
    out: list[dict[str, Any]] = []
    for p in packets:
        rule = book.get(p.rule)
        if rule is None or not rule.log or rule.action != _ACTION_OF[p.disposition]:
            continue
        if rule.vpc and p.tuple.protocol not in VPC_PROTOCOLS:
            continue
        t = p.tuple
        here, there = (t.dest_ip, t.src_ip) if p.direction == "INGRESS" else (t.src_ip, t.dest_ip)
        vm = inventory.endpoint(book.network, here)
        if vm is None or not seen.admit(p):
            continue
        out.append(entry(p, rule, vm, inventory.endpoint(book.network, there)))
    return out
