"""The VPC firewall as Google evaluates it, as pure functions: what happens to a packet.

A packet that crosses the VPC meets the **egress** rules of the instance that sends it and
then, if they let it go, the **ingress** rules of the instance that receives it (for a
same-node flow both are the same node). In each direction evaluation goes through stages
(gcp_vpc_specs §C4):

1. the hierarchical policies: the organization's, then each folder's from the top down;
2. with ``AFTER_CLASSIC_FIREWALL`` (the default) the VPC firewall rules, then the global
   network firewall policy; with ``BEFORE_CLASSIC_FIREWALL`` the other way round;
3. the implied rule: egress allowed, ingress denied (priority 65535).

In a stage the matching rule of highest priority (lowest number) decides: ``allow`` and
``deny`` end the evaluation, ``goto_next`` (or no match) moves to the next stage. Among VPC
rules of equal priority a deny comes first (deny wins a tie); among equal rules of the same
action the one with the smaller name is reported (Google does not say which). A policy's
predefined ``goto_next`` rules catch what no other rule of the policy matched, so they appear
in a trace.

Matching (§B2, §C1): a rule applies to the instance it targets (no targets: every instance
of the network; ``targetTags`` / ``targetServiceAccounts`` select by the instance's tags or
service account; a policy's ``targetResources`` select by network); disabled rules do not
exist. Sources are a union: ``sourceRanges`` OR the **primary IPs** of the instances carrying
a ``sourceTags`` tag or running as a ``sourceServiceAccounts`` account (never their alias
ranges: Pod traffic needs ranges, as on GCP). ``destinationRanges`` (and a rule's
``sourceRanges`` on EGRESS) narrow further. The VPC here is IPv4: IPv6 ranges match nothing.
Only new connections are evaluated: return traffic of an allowed connection is allowed by
connection tracking before any rule (§B4), which the model leaves to its caller.

Public API::

    plan(inputs) -> Plan                    rules per instance, direction and stage (shared
                                            with the nftables compiler)
    FirewallModel(inputs).evaluate(packet) -> Trace        many packets, compiled once
    evaluate(inputs, packet) -> Trace       one packet
    Packet, Trace, Verdict, Hit, RuleRef (key / parse_ref: counter and nflog names), Match
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from intranode.domain.firewall.inputs import (
    BEFORE_CLASSIC_FIREWALL,
    Direction,
    FirewallInputs,
    FirewallPolicy,
    Instance,
    PolicyRule,
    VpcRule,
)
from intranode.domain.firewalls import ProtocolMatch

Action = Literal["ALLOW", "DENY", "GOTO_NEXT"]
RuleType = Literal[
    "HIERARCHICAL_FIREWALL_POLICY_RULE",
    "VPC_FIREWALL_RULE",
    "NETWORK_FIREWALL_POLICY_RULE",
    "IMPLIED_VPC_FIREWALL_RULE",
]
RefKind = Literal["fw", "fp", "implied"]

IMPLIED_PRIORITY = 65535
PORT_PROTOCOLS = frozenset({6, 17, 132})  # tcp, udp, sctp: the protocols with ports
DIRECTIONS: tuple[Direction, Direction] = ("EGRESS", "INGRESS")
_LETTER = {"INGRESS": "I", "EGRESS": "E"}
_DIRECTION_OF: dict[str, Direction] = {"I": "INGRESS", "E": "EGRESS"}
_ACTION_OF: dict[str, Action] = {"allow": "ALLOW", "deny": "DENY", "goto_next": "GOTO_NEXT"}


# -- naming rules ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RuleRef:
    """Which rule, in a form short enough to name an nftables counter and an nflog prefix:
    ``key`` is ``I:fw:<firewall id>``, ``E:fp:<policy id>:<priority>`` or ``I:implied``
    (``I``/``E``: ingress/egress). At most 36 characters with Google's ids (20 digits at most)."""

    direction: Direction
    kind: RefKind
    id: str = ""
    priority: int | None = None

    @property
    def key(self) -> str:
        letter = _LETTER[self.direction]
        if self.kind == "implied":
            return f"{letter}:implied"
        if self.kind == "fw":
            return f"{letter}:fw:{self.id}"
        return f"{letter}:fp:{self.id}:{self.priority}"


def parse_ref(key: str) -> RuleRef:
    """The :class:`RuleRef` whose ``key`` is ``key`` (ValueError when it is not one)."""
    parts = key.split(":")
    direction = _DIRECTION_OF.get(parts[0])
    if direction is not None:
        if parts[1:] == ["implied"]:
            return RuleRef(direction, "implied")
        if len(parts) == 3 and parts[1] == "fw" and parts[2]:
            return RuleRef(direction, "fw", parts[2])
        if len(parts) == 4 and parts[1] == "fp" and parts[2] and parts[3].isdigit():
            return RuleRef(direction, "fp", parts[2], int(parts[3]))
    raise ValueError(f"not a firewall rule reference: {key!r}")


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule a packet met: what it is (``rule_type`` as Connectivity Tests name it), its
    priority, its action and whether it logs (``logConfig.enable`` / ``enableLogging``)."""

    ref: RuleRef
    rule_type: RuleType
    priority: int
    action: Action
    name: str = ""  # the VPC rule's name, a policy rule's ruleName
    policy: str = ""  # the policy's name, for policy rules
    log: bool = False

    @property
    def label(self) -> str:
        """``firewall deny-8080``, ``policy org-pol priority 1000``, ``implied ingress``."""
        if self.ref.kind == "fw":
            return f"firewall {self.name}"
        if self.ref.kind == "fp":
            named = f" ({self.name})" if self.name else ""
            return f"policy {self.policy} priority {self.priority}{named}"
        return f"implied {self.ref.direction.lower()}"


# -- matching -------------------------------------------------------------------------------
Networks = tuple[ipaddress.IPv4Network, ...]
PortRanges = tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Match:
    """A rule's test, normalized for IPv4: address sets collapsed (``None``: any address,
    ``()``: none), ``protocols`` as ``(protocol, port ranges)`` pairs sorted by protocol
    (``None``: every protocol; ``()`` port ranges: every port)."""

    sources: Networks | None
    destinations: Networks | None
    protocols: tuple[tuple[int, PortRanges], ...] | None

    @property
    def never(self) -> bool:
        return self.sources == () or self.destinations == ()


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule as evaluated: where it came from and what it tests."""

    hit: Hit
    match: Match


def networks(ranges: Iterable[str]) -> Networks | None:
    """IPv4 CIDRs collapsed; ``None`` when one covers everything. IPv6 ranges are dropped,
    so a list of IPv6 ranges only gives ``()``: nothing matches it."""
    nets = [ipaddress.ip_network(r, strict=False) for r in ranges]
    v4 = [n for n in nets if isinstance(n, ipaddress.IPv4Network)]
    if any(n.prefixlen == 0 for n in v4):
        return None
    return tuple(ipaddress.collapse_addresses(v4))


def _merge_ports(ranges: Iterable[tuple[int, int]]) -> PortRanges:
    out: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return tuple(out)


def protocols(matches: Sequence[ProtocolMatch]) -> tuple[tuple[int, PortRanges], ...] | None:
    """``allowed``/``denied``/``layer4Configs`` entries as ``(protocol, ports)``: one entry
    for every protocol makes ``None``; an entry without ports covers every port of its
    protocol; ports count only for tcp, udp and sctp."""
    if not matches or any(m.protocol is None for m in matches):
        return None
    every: set[int] = set()
    ranges: dict[int, list[tuple[int, int]]] = {}
    for m in matches:
        assert m.protocol is not None
        if not m.ports or m.protocol not in PORT_PROTOCOLS:
            every.add(m.protocol)
        else:
            ranges.setdefault(m.protocol, []).extend(m.ports)
    merged = {p: () if p in every else _merge_ports(ranges[p]) for p in every | set(ranges)}
    full = ((0, 65535),)
    return tuple(sorted((p, () if r == full else r) for p, r in merged.items()))


# -- the plan -------------------------------------------------------------------------------
Stage = tuple[Rule, ...]
Origin = VpcRule | PolicyRule  # what a rule was read from (its targets)


@dataclass(frozen=True)
class Plan:
    """What the model and the compiler share: for each instance (by name) and direction the
    stages in evaluation order, each a tuple of the rules that apply there sorted as they are
    met, the implied rule last (alone in its stage); ``rules`` is every enabled rule of the
    network's firewall (each gets a counter), in the order stages are met."""

    stages: Mapping[tuple[str, Direction], tuple[Stage, ...]]
    rules: tuple[Rule, ...]
    instances: tuple[Instance, ...]


def implied_rule(direction: Direction) -> Rule:
    action: Action = "ALLOW" if direction == "EGRESS" else "DENY"
    hit = Hit(RuleRef(direction, "implied"), "IMPLIED_VPC_FIREWALL_RULE", IMPLIED_PRIORITY, action)
    return Rule(hit, Match(None, None, None))


def _source_ips(
    instances: Sequence[Instance], tags: Sequence[str], accounts: Sequence[str]
) -> list[str]:
    wanted_tags, wanted_accounts = set(tags), set(accounts)
    return [
        f"{inst.ip}/32"
        for inst in instances
        if wanted_tags.intersection(inst.tags) or inst.service_account in wanted_accounts
    ]


def _vpc_rule(vpc: VpcRule, instances: Sequence[Instance]) -> Rule:
    r = vpc.rule
    if r.direction == "INGRESS" and (r.source_tags or r.source_service_accounts):
        extra = _source_ips(instances, r.source_tags, r.source_service_accounts)
        sources = networks([*r.source_ranges, *extra])
    else:
        sources = networks(r.source_ranges) if r.source_ranges else None
    direction: Direction = "EGRESS" if r.direction == "EGRESS" else "INGRESS"
    hit = Hit(
        RuleRef(direction, "fw", vpc.id),
        "VPC_FIREWALL_RULE",
        r.priority,
        "ALLOW" if r.action == "ALLOW" else "DENY",
        name=r.name,
        log=r.log_enabled,
    )
    dests = networks(r.destination_ranges) if r.destination_ranges else None
    return Rule(hit, Match(sources, dests, protocols(r.matches)))


def _policy_rule(policy: FirewallPolicy, rule: PolicyRule, rule_type: RuleType) -> Rule:
    def side(ranges: tuple[str, ...], other: bool) -> Networks | None:
        return networks(ranges) if ranges or other else None

    hit = Hit(
        RuleRef(rule.direction, "fp", policy.id, rule.priority),
        rule_type,
        rule.priority,
        _ACTION_OF[rule.action],
        name=rule.rule_name,
        policy=policy.name,
        log=rule.enable_logging,
    )
    match = Match(
        side(rule.src_ranges, rule.other_sources),
        side(rule.dest_ranges, rule.other_destinations),
        protocols(rule.layer4),
    )
    return Rule(hit, match)


def _targets_vpc(vpc: VpcRule, inst: Instance) -> bool:
    r = vpc.rule
    if r.target_tags:
        return bool(set(r.target_tags).intersection(inst.tags))
    if r.target_service_accounts:
        return inst.service_account in r.target_service_accounts
    return True


def _targets_policy(rule: PolicyRule, inst: Instance, network: str) -> bool:
    if rule.targets_nothing:
        return False
    if rule.target_resources and network not in rule.target_resources:
        return False
    return not rule.target_service_accounts or inst.service_account in rule.target_service_accounts


def _associated(policies: Sequence[FirewallPolicy], target: str) -> FirewallPolicy | None:
    found = [p for p in policies if target in p.associations]
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ValueError(f"{target} has more than one firewall policy associated: {names}")
    return found[0] if found else None


def plan(inputs: FirewallInputs) -> Plan:
    """Sort the network's rules into stages per instance and direction (see :class:`Plan`)."""
    instances = inputs.instances
    # Each source of rules, in Google's order, with the rules it holds (targets decided later).
    sources: list[list[tuple[Rule, Origin]]] = []
    for ancestor in inputs.ancestry:
        policy = _associated(inputs.policies, ancestor)
        if policy is not None:
            sources.append(_policy_stage(policy, "HIERARCHICAL_FIREWALL_POLICY_RULE"))
    vpc = sorted(
        (r for r in inputs.rules if r.rule.network == inputs.network and not r.rule.disabled),
        key=lambda r: (r.rule.priority, r.rule.action != "DENY", r.rule.name),
    )
    vpc_stage: list[tuple[Rule, Origin]] = [(_vpc_rule(r, instances), r) for r in vpc]
    network_policy = _associated(inputs.policies, inputs.network)
    network_stage = (
        _policy_stage(network_policy, "NETWORK_FIREWALL_POLICY_RULE") if network_policy else []
    )
    if inputs.enforcement_order == BEFORE_CLASSIC_FIREWALL:
        sources += [network_stage, vpc_stage]
    else:
        sources += [vpc_stage, network_stage]

    stages: dict[tuple[str, Direction], tuple[Stage, ...]] = {}
    # Targets depend only on tags and service account: a node pool's nodes share one answer.
    by_profile: dict[tuple[frozenset[str], str | None, Direction], tuple[Stage, ...]] = {}
    for inst in instances:
        for direction in DIRECTIONS:
            profile = (frozenset(inst.tags), inst.service_account, direction)
            if profile not in by_profile:
                wanted: list[Stage] = []
                for source in sources:
                    stage = tuple(
                        rule
                        for rule, origin in source
                        if rule.hit.ref.direction == direction
                        and not rule.match.never
                        and _targets(origin, inst, inputs.network)
                    )
                    if stage:
                        wanted.append(stage)
                wanted.append((implied_rule(direction),))
                by_profile[profile] = tuple(wanted)
            stages[(inst.name, direction)] = by_profile[profile]
    every = tuple(rule for source in sources for rule, _ in source)
    return Plan(stages, (*every, implied_rule("EGRESS"), implied_rule("INGRESS")), instances)


def _policy_stage(policy: FirewallPolicy, rule_type: RuleType) -> list[tuple[Rule, Origin]]:
    rules = sorted((r for r in policy.rules if not r.disabled), key=lambda r: r.priority)
    return [(_policy_rule(policy, r, rule_type), r) for r in rules]


def _targets(origin: Origin, inst: Instance, network: str) -> bool:
    if isinstance(origin, VpcRule):
        return _targets_vpc(origin, inst)
    return _targets_policy(origin, inst, network)


# -- evaluation -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Packet:
    """The first packet of a connection. ``protocol`` is the IP protocol number; ``dst_port``
    counts for tcp, udp and sctp; ``src_instance`` / ``dst_instance`` name the instances that
    send and receive it (``None``: outside the network, no rule of that side applies)."""

    src: str
    dst: str
    protocol: int
    dst_port: int | None = None
    src_instance: str | None = None
    dst_instance: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """One direction's outcome at one instance: the rules met in order, the last decided."""

    direction: Direction
    instance: str
    allowed: bool
    met: tuple[Hit, ...]

    @property
    def deciding(self) -> Hit:
        return self.met[-1]


@dataclass(frozen=True, slots=True)
class Trace:
    """What happens to a packet: egress at the sender, then (if egress let it go) ingress at
    the receiver; ``None`` where that side is outside the network or was never reached."""

    packet: Packet
    egress: Verdict | None
    ingress: Verdict | None

    @property
    def allowed(self) -> bool:
        return all(v.allowed for v in (self.egress, self.ingress) if v is not None)

    @property
    def met(self) -> tuple[Hit, ...]:
        """Every rule met, egress first."""
        return tuple(h for v in (self.egress, self.ingress) if v is not None for h in v.met)


Intervals = tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class _Fast:
    """A rule for one protocol at one instance and direction: ports (None: any), address
    intervals (None: any), and the verdict it gives when it is the only rule met (None for
    goto_next), made once because most packets meet one rule."""

    hit: Hit
    alone: Verdict | None
    ports: PortRanges | None
    src: Intervals | None
    dst: Intervals | None
    src_starts: tuple[int, ...] | None = None
    dst_starts: tuple[int, ...] | None = None


def _intervals(nets: Networks | None) -> Intervals | None:
    if nets is None:
        return None
    return tuple((int(n.network_address), int(n.broadcast_address)) for n in nets)


def _inside(intervals: Intervals, starts: tuple[int, ...] | None, ip: int) -> bool:
    if starts is None:  # few intervals: a plain loop beats bisect and any() (no generator)
        for low, high in intervals:  # noqa: SIM110
            if low <= ip <= high:
                return True
        return False
    i = bisect_right(starts, ip) - 1
    return i >= 0 and ip <= intervals[i][1]


@lru_cache(maxsize=65536)
def _ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def _fast(rule: Rule, protocol: int, direction: Direction, instance: str) -> _Fast | None:
    m = rule.match
    ports: PortRanges | None = None
    if m.protocols is not None:
        found = [r for p, r in m.protocols if p == protocol]
        if not found:
            return None
        ports = found[0] or None
    src, dst = _intervals(m.sources), _intervals(m.destinations)
    hit = rule.hit
    alone = None
    if hit.action != "GOTO_NEXT":
        alone = Verdict(direction, instance, hit.action == "ALLOW", (hit,))
    return _Fast(
        hit,
        alone,
        ports,
        src,
        dst,
        tuple(s for s, _ in src) if src is not None and len(src) > 8 else None,
        tuple(s for s, _ in dst) if dst is not None and len(dst) > 8 else None,
    )


_INDEX_FROM = 16  # stages with more rules than this get an address index
_INDEX_SPREAD = 64  # ... unless rules would be listed this many times per rule on average


@dataclass(frozen=True, slots=True)
class _Stage:
    """One stage's rules for one protocol, in order. A long stage is indexed on one address
    side (``side`` 1: source, 2: destination; 0: not indexed): ``starts`` cut the address
    space into segments, ``members[i]`` are the positions of the rules whose set on that side
    covers segment ``i``, ``unbounded`` those of the rules with any address on that side.
    Evaluation then looks only at rules that can match, still in order."""

    rules: tuple[_Fast, ...]
    side: int = 0
    starts: tuple[int, ...] = ()
    members: tuple[tuple[int, ...], ...] = ()
    unbounded: tuple[int, ...] = ()

    def candidates(self, src: int, dst: int) -> Sequence[_Fast]:
        if not self.side:
            return self.rules
        seg = bisect_right(self.starts, src if self.side == 1 else dst) - 1
        members = self.members[seg]
        if not self.unbounded:
            positions: Sequence[int] = members
        elif not members:
            positions = self.unbounded
        else:
            positions = sorted(members + self.unbounded)
        return [self.rules[i] for i in positions]


def _stage(rules: tuple[_Fast, ...]) -> _Stage:
    if len(rules) <= _INDEX_FROM:
        return _Stage(rules)
    src_any = tuple(i for i, r in enumerate(rules) if r.src is None)
    dst_any = tuple(i for i, r in enumerate(rules) if r.dst is None)
    side = 1 if len(src_any) <= len(dst_any) else 2
    bounded = [(i, r.src if side == 1 else r.dst) for i, r in enumerate(rules)]
    spans = [(i, lo, hi) for i, ivs in bounded if ivs is not None for lo, hi in ivs]
    points = sorted({0, *(lo for _, lo, _ in spans), *(hi + 1 for _, _, hi in spans)})
    cuts = [(i, bisect_left(points, lo), bisect_left(points, hi + 1)) for i, lo, hi in spans]
    if sum(b - a for _, a, b in cuts) > _INDEX_SPREAD * len(rules):
        return _Stage(rules)
    members: list[list[int]] = [[] for _ in points]
    for i, first, end in cuts:  # in rule order, so each member list stays sorted
        for segment in range(first, end):
            members[segment].append(i)
    return _Stage(
        rules,
        side,
        tuple(points),
        tuple(tuple(m) for m in members),
        src_any if side == 1 else dst_any,
    )


@dataclass
class FirewallModel:
    """The model compiled once for many packets: per instance, direction and protocol the
    applicable rules are kept in evaluation order (built lazily, then reused)."""

    inputs: FirewallInputs
    plan: Plan = field(init=False)
    _by_name: dict[str, Instance] = field(init=False)
    _cache: dict[tuple[str, Direction, int], tuple[_Stage, ...]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self.plan = plan(self.inputs)
        self._by_name = {inst.name: inst for inst in self.inputs.instances}

    def locate(self, ip: str) -> Instance | None:
        """The instance that holds ``ip`` as its primary IP or in an alias range."""
        addr = ipaddress.IPv4Address(ip)
        for inst in self.inputs.instances:
            if any(addr in ipaddress.ip_network(r, strict=False) for r in inst.addresses):
                return inst
        return None

    def evaluate(self, packet: Packet) -> Trace:
        sender, receiver = packet.src_instance, packet.dst_instance
        for name in (sender, receiver):
            if name is not None and name not in self._by_name:
                raise ValueError(f"unknown instance {name!r}")
        src, dst = _ip(packet.src), _ip(packet.dst)
        egress = ingress = None
        if sender is not None:
            egress = self._verdict(packet, "EGRESS", sender, src, dst)
        if receiver is not None and (egress is None or egress.allowed):
            ingress = self._verdict(packet, "INGRESS", receiver, src, dst)
        return Trace(packet, egress, ingress)

    def _stages(self, instance: str, direction: Direction, proto: int) -> tuple[_Stage, ...]:
        key = (instance, direction, proto)
        found = self._cache.get(key)
        if found is None:
            found = tuple(
                _stage(tuple(f for f in (_fast(r, proto, direction, instance) for r in stage) if f))
                for stage in self.plan.stages[(instance, direction)]
            )
            self._cache[key] = found
        return found

    def _verdict(
        self, packet: Packet, direction: Direction, instance: str, src: int, dst: int
    ) -> Verdict:
        port = packet.dst_port
        met: list[Hit] = []
        for stage in self._stages(instance, direction, packet.protocol):
            for rule in stage.candidates(src, dst):
                ports = rule.ports
                if ports is not None:
                    if port is None:
                        continue
                    for low, high in ports:
                        if low <= port <= high:
                            break
                    else:
                        continue
                if rule.src is not None and not _inside(rule.src, rule.src_starts, src):
                    continue
                if rule.dst is not None and not _inside(rule.dst, rule.dst_starts, dst):
                    continue
                if rule.alone is None:  # goto_next: on to the next stage
                    met.append(rule.hit)
                    break
                if not met:
                    return rule.alone
                met.append(rule.hit)
                return Verdict(direction, instance, rule.hit.action == "ALLOW", tuple(met))
        raise AssertionError("the implied rule always matches")  # pragma: no cover


def evaluate(inputs: FirewallInputs, packet: Packet) -> Trace:
    """One packet's trace; for many packets build a :class:`FirewallModel` once."""
    return FirewallModel(inputs).evaluate(packet)
