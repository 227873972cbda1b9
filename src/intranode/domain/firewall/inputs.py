"""What the firewall model and compiler read: the rules, policies and instances of ONE VPC
network, as frozen data the controller builds from the stored documents.

- :class:`VpcRule`: a classic VPC firewall rule (``compute#firewall``) with its numeric ``id``;
  the typed rule is :class:`intranode.domain.firewalls.FirewallRule` (its parsing is reused).
- :class:`FirewallPolicy` / :class:`PolicyRule`: a hierarchical (organization or folder) or
  global network firewall policy (``compute#firewallPolicy``) with its rules and associations.
  :func:`predefined_rules` are the four ``goto_next`` rules every policy holds (gcp_vpc_specs
  §C2); :meth:`FirewallPolicy.from_document` adds any the document lacks.
- :class:`Instance`: a compute instance (a GKE node) of the network: primary IP, alias ranges
  (the node's Pod range), network tags, service account, and the short id of its kernel node
  (the router's link to it is ``n-<node_id>``).
- :class:`FirewallInputs`: all of the above plus the project's ancestry (organization, then
  folders top-down) and the network's ``networkFirewallPolicyEnforcementOrder``.

Policy matchers intranode cannot evaluate (secure tags, address groups, FQDNs, geolocations,
threat intelligence, network types) never match: a rule whose only sources (or destinations)
are of those kinds matches no packet, and a rule with ``targetSecureTags`` targets no instance
(no instance here carries secure tags). ``apply_security_profile_group`` acts as ``allow``
(there is no L7 inspection).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from intranode.domain.firewalls import FirewallRule, ProtocolMatch, port_range, protocol_number
from intranode.domain.resources import key_from_link

Direction = Literal["INGRESS", "EGRESS"]
EnforcementOrder = Literal["AFTER_CLASSIC_FIREWALL", "BEFORE_CLASSIC_FIREWALL"]
PolicyAction = Literal["allow", "deny", "goto_next"]

AFTER_CLASSIC_FIREWALL: EnforcementOrder = "AFTER_CLASSIC_FIREWALL"
BEFORE_CLASSIC_FIREWALL: EnforcementOrder = "BEFORE_CLASSIC_FIREWALL"

# Source / destination matchers of a policy rule that intranode cannot evaluate (see above).
_OTHER_SOURCES = (
    "srcSecureTags",
    "srcAddressGroups",
    "srcFqdns",
    "srcRegionCodes",
    "srcThreatIntelligences",
    "srcNetworkType",
    "srcNetworkContext",
    "srcNetworks",
)
_OTHER_DESTINATIONS = (
    "destAddressGroups",
    "destFqdns",
    "destRegionCodes",
    "destThreatIntelligences",
    "destNetworkType",
    "destNetworkContext",
)
_ACTIONS: Mapping[str, PolicyAction] = {
    "allow": "allow",
    "deny": "deny",
    "goto_next": "goto_next",
    "apply_security_profile_group": "allow",
}


@dataclass(frozen=True)
class VpcRule:
    """A classic VPC firewall rule and the ``id`` of its document (counters and log prefixes
    name rules by id: a name can be 63 characters, an nflog prefix should stay short)."""

    id: str
    rule: FirewallRule

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], project: str) -> VpcRule:
        return cls(str(doc["id"]), FirewallRule.from_document(dict(doc), project))


@dataclass(frozen=True)
class PolicyRule:
    """One rule of a firewall policy. Empty ``src_ranges`` / ``dest_ranges`` with no other
    matcher mean any address; ``other_sources`` / ``other_destinations`` say the rule also
    names matchers intranode cannot evaluate (they match nothing); ``targets_nothing`` is set
    by ``targetSecureTags``."""

    priority: int
    direction: Direction
    action: PolicyAction
    layer4: tuple[ProtocolMatch, ...] = (ProtocolMatch(None),)
    src_ranges: tuple[str, ...] = ()
    dest_ranges: tuple[str, ...] = ()
    target_resources: tuple[str, ...] = ()  # network store keys; empty: every network
    target_service_accounts: tuple[str, ...] = ()
    other_sources: bool = False
    other_destinations: bool = False
    targets_nothing: bool = False
    disabled: bool = False
    enable_logging: bool = False
    rule_name: str = ""

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], project: str) -> PolicyRule:
        """Read a stored ``FirewallPolicyRule`` (already validated by the API)."""
        match = doc.get("match") or {}
        layer4 = tuple(
            ProtocolMatch(
                protocol_number(str(cfg["ipProtocol"])),
                tuple(p for p in (port_range(s) for s in cfg.get("ports") or []) if p),
            )
            for cfg in match.get("layer4Configs") or [{"ipProtocol": "all"}]
        )
        direction: Direction = "EGRESS" if doc.get("direction") == "EGRESS" else "INGRESS"
        action = _ACTIONS.get(str(doc.get("action", "")).lower())
        if action is None:
            raise ValueError(f"firewall policy rule action {doc.get('action')!r} is not known")
        return cls(
            priority=int(doc["priority"]),
            direction=direction,
            action=action,
            layer4=layer4,
            src_ranges=tuple(match.get("srcIpRanges") or ()),
            dest_ranges=tuple(match.get("destIpRanges") or ()),
            target_resources=tuple(
                key_from_link(str(link), project) for link in doc.get("targetResources") or ()
            ),
            target_service_accounts=tuple(doc.get("targetServiceAccounts") or ()),
            other_sources=any(match.get(k) for k in _OTHER_SOURCES),
            other_destinations=any(match.get(k) for k in _OTHER_DESTINATIONS),
            targets_nothing=bool(doc.get("targetSecureTags")),
            disabled=bool(doc.get("disabled", False)),
            enable_logging=bool(doc.get("enableLogging", False)),
            rule_name=str(doc.get("ruleName") or ""),
        )


def predefined_rules() -> tuple[PolicyRule, ...]:
    """The four rules every firewall policy holds and nobody can change (gcp_vpc_specs §C2)."""
    return (
        PolicyRule(2147483644, "EGRESS", "goto_next", dest_ranges=("::/0",)),
        PolicyRule(2147483645, "INGRESS", "goto_next", src_ranges=("::/0",)),
        PolicyRule(2147483646, "EGRESS", "goto_next", dest_ranges=("0.0.0.0/0",)),
        PolicyRule(2147483647, "INGRESS", "goto_next", src_ranges=("0.0.0.0/0",)),
    )


@dataclass(frozen=True)
class FirewallPolicy:
    """A hierarchical or global network firewall policy. ``id`` is its numeric id (for a
    hierarchical policy also its ``name``); ``associations`` are the attachment targets:
    ``organizations/N`` or ``folders/N`` for hierarchical policies, network store keys for
    network policies."""

    id: str
    name: str
    rules: tuple[PolicyRule, ...]
    associations: tuple[str, ...] = ()

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], project: str) -> FirewallPolicy:
        rules = [PolicyRule.from_document(r, project) for r in doc.get("rules") or ()]
        return cls(
            id=str(doc.get("id") or doc["name"]),
            name=str(doc.get("shortName") or doc.get("name") or doc["id"]),
            rules=with_predefined(rules),
            associations=tuple(
                _attachment(str(a["attachmentTarget"]), project)
                for a in doc.get("associations") or ()
            ),
        )


def with_predefined(rules: Iterable[PolicyRule]) -> tuple[PolicyRule, ...]:
    """``rules`` plus any predefined rule whose priority none of them holds."""
    given = tuple(rules)
    taken = {r.priority for r in given}
    return given + tuple(r for r in predefined_rules() if r.priority not in taken)


def _attachment(target: str, project: str) -> str:
    if target.startswith(("organizations/", "folders/")):
        return target
    return key_from_link(target, project)


@dataclass(frozen=True)
class Instance:
    """A compute instance (a GKE node) of the network, as the firewall sees it."""

    name: str
    node_id: str  # the kernel node's short id; the router's link to it is n-<node_id>
    ip: str  # nic0's primary internal IPv4 address
    alias_ranges: tuple[str, ...] = ()  # nic0's alias IP ranges (a GKE node's Pod range)
    tags: tuple[str, ...] = ()
    service_account: str | None = None

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], node_id: str) -> Instance:
        """Read a stored ``compute#instance`` (as the cluster controller writes a node's)."""
        nic = (doc.get("networkInterfaces") or [{}])[0]
        accounts = doc.get("serviceAccounts") or []
        return cls(
            name=str(doc["name"]),
            node_id=node_id,
            ip=str(nic["networkIP"]),
            alias_ranges=tuple(str(a["ipCidrRange"]) for a in nic.get("aliasIpRanges") or ()),
            tags=tuple((doc.get("tags") or {}).get("items") or ()),
            service_account=str(accounts[0]["email"]) if accounts else None,
        )

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every range the instance sends from and receives at: its IP as /32, its aliases."""
        return (f"{self.ip}/32", *self.alias_ranges)


@dataclass(frozen=True)
class FirewallInputs:
    """Everything that decides the fate of a packet in one VPC network.

    ``ancestry`` is the project's organization then folders, top-down
    (``("organizations/1", "folders/2")``); ``policies`` may hold every policy the store
    has: a hierarchical policy applies when associated with an ancestor, a network policy
    when associated with ``network``. At most one policy may be associated with one target.
    """

    network: str  # store key: projects/P/global/networks/N
    rules: tuple[VpcRule, ...] = ()
    policies: tuple[FirewallPolicy, ...] = ()
    ancestry: tuple[str, ...] = ()
    enforcement_order: EnforcementOrder = AFTER_CLASSIC_FIREWALL
    instances: tuple[Instance, ...] = ()


def inputs_from_documents(
    project: str,
    network: str,
    *,
    firewalls: Iterable[Mapping[str, Any]],
    instances: Iterable[tuple[Mapping[str, Any], str]],
    policies: Iterable[Mapping[str, Any]] = (),
    ancestry: Sequence[str] = (),
    enforcement_order: str | None = None,
) -> FirewallInputs:
    """Everything the firewall of ``network`` (a store key) needs, from stored documents:
    ``compute#firewall`` rules, ``(compute#instance, kernel node id)`` pairs and firewall
    policies of any network (those elsewhere are left out), the project's ancestry
    (organization, then folders top-down) and the network's
    ``networkFirewallPolicyEnforcementOrder`` (None or absent: after the classic rules)."""
    members = []
    for doc, node_id in instances:
        nic = (doc.get("networkInterfaces") or [{}])[0]
        if nic.get("network") and key_from_link(str(nic["network"]), project) == network:
            members.append(Instance.from_document(doc, node_id))
    order = (
        BEFORE_CLASSIC_FIREWALL
        if enforcement_order == BEFORE_CLASSIC_FIREWALL
        else (AFTER_CLASSIC_FIREWALL)
    )
    return FirewallInputs(
        network=network,
        rules=tuple(
            rule
            for rule in (VpcRule.from_document(doc, project) for doc in firewalls)
            if rule.rule.network == network
        ),
        policies=tuple(FirewallPolicy.from_document(doc, project) for doc in policies),
        ancestry=tuple(ancestry),
        enforcement_order=order,
        instances=tuple(sorted(members, key=lambda i: i.node_id)),
    )
