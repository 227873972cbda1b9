"""Packet Mirroring: the ``compute#packetMirroring`` resource (body, Google's validation,
PATCH), and the pure plan that makes the VPC router clone packets to collectors.

The resource (gcp_vpc_specs §D1, §D2)
-------------------------------------
``name`` RFC 1035; ``network.url`` required and never changed; ``priority`` 0-65535 (1000);
``collectorIlb.url`` required: a forwarding rule of the policy's region and network with
``loadBalancingScheme: INTERNAL`` and ``isMirroringCollector: true``; ``mirroredResources``
needs at least one of ``subnetworks`` (at most 5, of the region and network), ``instances``
(at most 50, in zones of the region, nic0 in the network) and ``tags``; ``filter.cidrRanges``
CIDRs (IPv4 or IPv6), ``filter.IPProtocols`` tcp, udp, icmp, esp, ah, ipip, sctp or a number
0-255, ``filter.direction`` BOTH (default), INGRESS or EGRESS; ``enable`` the string TRUE
(default) or FALSE. Output adds ``canonicalUrl`` to every reference: the same resource named
by project number and numeric id, so it differs from ``url`` once a resource of that name was
deleted and created again. PATCH is a JSON merge patch (RFC 7386), what gcloud's ``update``
sends: the resource it read, changed, with cleared lists as ``[]``.

The plan (gcp_vpc_specs §D3, §0)
--------------------------------
Google mirrors at the VM's NIC; here every NIC is a link of the network's VPC router
namespace (``n-<node id>``), so mirroring is done on those links, by direction:

* a mirrored instance's EGRESS is what arrives at the router from its link: it is copied in
  the link's netdev **ingress** hook, before the router routes or filters it, so the copy is
  the packet exactly as the VM sent it (egress is mirrored before the egress firewall);
* its INGRESS is what the router sends down its link: copied in the link's netdev **egress**
  hook, after routing and the firewall, so the copy is the packet exactly as the VM receives
  it, and traffic the firewall denied is not mirrored as ingress.

So a same-node pod-to-pod packet with intra-node visibility, which leaves the node and comes
back on the same link, is copied twice with ``direction: BOTH`` (once each way), and a packet
between two mirrored nodes once per mirrored side, as Google mirrors each VM's NIC.

Filters: ``cidrRanges`` match the **remote** address as the API defines it, the source of an
INGRESS packet and the destination of an EGRESS packet (IPv6 ranges match nothing here, the
VPC is IPv4); ``IPProtocols`` the IP protocol; no filter, every IPv4 packet. When several
enabled policies select an instance, each packet of each side is mirrored by the FIRST policy
in (priority, name) order whose filter matches it, and by no other: the API's "the policy with
the lowest priority number wins when more than one rule applies to an instance", applied per
packet so that policies with disjoint filters on one instance each still see their traffic
(ties in priority go to the name, which Google does not specify). Instances behind a
mirroring collector are never mirrored (the ``isMirroringCollector`` contract, which also
keeps copies from being copied again).

Copies go to the collector's backends unchanged, link-layer header included: netdev ``dup``
transmits the frame as it is on the backend's router link, so the backend's NIC sees frames
addressed to another MAC (a collector captures them promiscuously, as on GCP; its IP stack
never answers them). With several backends, ``symhash`` picks one per flow, the same for both
directions of a connection (the ILB's symmetric hashing); with none, the packet is matched and
not copied (an ILB without backends drops).

Public API:

- :func:`packet_mirroring_document`, :func:`patch_packet_mirroring`: the resource.
- :class:`MirrorPolicy`, :class:`MirrorInstance`, :class:`MirroringInputs`,
  :func:`mirroring_inputs` (from stored documents): what the plan reads.
- :func:`mirroring_ruleset` ``(inputs, netns) -> NftRuleset``: the router's table
  ``netdev vpc_mirror`` (see :func:`render`), replaced atomically.
- :func:`mirrored_by`: the same decision as a pure function (which policy copies a packet on
  a link's side), for tests and explanations.
- :class:`Collector`, :func:`collector` (validated factory), :func:`collector_ops`: a
  collector backend's namespace ``<prefix>c-<4 hex>`` with ``eth0`` (the instance's address),
  linked to the router by ``c-<4 hex>``; :func:`is_collector_instance` and
  :data:`COLLECTOR_LABEL` mark the instances ``intranode mirror collector create`` makes.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, StrictStr

from intranode.domain.compute import (
    JsonInt,
    Wire,
    base_document,
    check_name,
    invalid_field,
    link_key,
    parse_cidr,
    parse_resource,
    reference,
    required_field,
)
from intranode.domain.firewalls import protocol_number
from intranode.domain.kube.merge import merge_patch
from intranode.domain.load_balancing import INTERNAL, Lookup, nic0, require
from intranode.domain.netplan import (
    AddAddress,
    AddRoute,
    CreateNetns,
    CreateVethPair,
    LinkUp,
    NftRuleset,
    Op,
    SetSysctl,
)
from intranode.domain.resources import (
    FORWARDING_RULE,
    INSTANCE,
    NETWORK,
    SUBNETWORK,
    compute_link,
    packet_mirroring_key,
    project_number,
    region_of_zone,
)
from intranode.domain.topology import GCE_MTU, NIC, KernelNames, VpcRouter

Doc = dict[str, Any]
Side = Literal["EGRESS", "INGRESS"]

DEFAULT_PRIORITY = 1000
DIRECTIONS = ("BOTH", "INGRESS", "EGRESS")
ENABLE_VALUES = ("TRUE", "FALSE")
MAX_SUBNETWORKS = 5
MAX_INSTANCES = 50
SIDES: tuple[Side, ...] = ("EGRESS", "INGRESS")
_PROTOCOL_NAMES = ("tcp", "udp", "icmp", "esp", "ah", "ipip", "sctp")


# The resource ---------------------------------------------------------------------------------
class UrlInfoBody(Wire):
    url: StrictStr | None = None
    canonical_url: Any = None  # output-only


class MirroredResourcesBody(Wire):
    subnetworks: list[UrlInfoBody] | None = None
    instances: list[UrlInfoBody] | None = None
    tags: list[StrictStr] | None = None


class MirroringFilterBody(Wire):
    cidr_ranges: list[StrictStr] | None = None
    ip_protocols: list[StrictStr] | None = Field(default=None, alias="IPProtocols")
    direction: StrictStr | None = None


class PacketMirroringBody(Wire):
    name: StrictStr | None = None
    description: StrictStr | None = None
    network: UrlInfoBody | None = None
    priority: JsonInt | None = None
    collector_ilb: UrlInfoBody | None = None
    mirrored_resources: MirroredResourcesBody | None = None
    filter: MirroringFilterBody | None = None
    enable: StrictStr | None = None
    # Output-only.
    kind: Any = None
    id: Any = None
    self_link: Any = None
    creation_timestamp: Any = None
    region: Any = None


def packet_mirroring_document(
    project: str, region: str, data: Any, now: float, lookup: Lookup
) -> Doc:
    """Validate an insert body; the policy as stored and served. References are looked up:
    a missing network, forwarding rule, subnetwork or instance is Google's 404."""
    body = parse_resource(PacketMirroringBody, data)
    name = check_name(body.name)
    base = base_document(
        "compute#packetMirroring", packet_mirroring_key(project, region, name), now
    )
    return _build(project, region, body, base, lookup)


def patch_packet_mirroring(
    project: str, region: str, current: Doc, data: Any, lookup: Lookup
) -> Doc:
    """PATCH as a JSON merge patch on the stored policy; the result is validated as a whole.
    The name and the network cannot change."""
    parse_resource(PacketMirroringBody, data)  # unknown names and wrong types, as Google words them
    merged = merge_patch(current, data)
    body = parse_resource(PacketMirroringBody, merged)
    if body.name != current["name"]:
        raise invalid_field("resource.name", body.name or "", "The name cannot be changed.")
    before = link_key(str(current["network"]["url"]), project)
    after = body.network.url if body.network and body.network.url else ""
    if not after or link_key(after, project) != before:
        raise invalid_field("resource.network.url", after, "The network cannot be changed.")
    base = {k: current[k] for k in ("kind", "id", "creationTimestamp", "name", "selfLink")}
    return _build(project, region, body, base, lookup)


def _canonical(project: str, key: str, doc: Doc) -> str:
    """A reference by project number and numeric id (``canonicalUrl``)."""
    scope = key.split("/")[2:-1]
    return compute_link("/".join(["projects", project_number(project), *scope, str(doc["id"])]))


def _info(project: str, key: str, doc: Doc) -> Doc:
    return {"url": compute_link(key), "canonicalUrl": _canonical(project, key, doc)}


def _build(project: str, region: str, body: PacketMirroringBody, base: Doc, lookup: Lookup) -> Doc:
    if body.network is None or not body.network.url:
        raise required_field("resource.network")
    net_key = reference(body.network.url, project, "resource.network.url", "global/networks")
    network = require(lookup, NETWORK, net_key)
    priority = DEFAULT_PRIORITY if body.priority is None else body.priority
    if not 0 <= priority <= 65535:
        raise invalid_field("resource.priority", priority, "Must be between 0 and 65535.")

    if body.collector_ilb is None or not body.collector_ilb.url:
        raise required_field("resource.collectorIlb")
    rule_key = reference(
        body.collector_ilb.url, project, "resource.collectorIlb.url", "regions/*/forwardingRules"
    )
    field_name = "resource.collectorIlb.url"
    if rule_key.split("/")[3] != region:
        raise invalid_field(
            field_name,
            body.collector_ilb.url,
            f"The collector must be a forwarding rule of the region {region}.",
        )
    rule = require(lookup, FORWARDING_RULE, rule_key)
    if rule.get("loadBalancingScheme") != INTERNAL or not rule.get("isMirroringCollector"):
        raise invalid_field(
            field_name,
            body.collector_ilb.url,
            "The collector must be a forwarding rule with loadBalancingScheme INTERNAL and "
            "isMirroringCollector set to true.",
        )
    if link_key(str(rule.get("network", "")), project) != net_key:
        raise invalid_field(
            field_name,
            body.collector_ilb.url,
            f"The collector must be in the network of the packet mirroring, "
            f"'{compute_link(net_key)}'.",
        )

    resources = _mirrored_resources(project, region, net_key, body.mirrored_resources, lookup)
    filt = _filter(body.filter or MirroringFilterBody())
    enable = body.enable or "TRUE"
    if enable not in ENABLE_VALUES:
        raise invalid_field("resource.enable", enable, "Must be one of [TRUE, FALSE].")

    doc: Doc = {k: base[k] for k in ("kind", "id", "creationTimestamp", "name")}
    if body.description:
        doc["description"] = body.description
    doc.update(
        {
            "region": compute_link(f"projects/{project}/regions/{region}"),
            "network": _info(project, net_key, network),
            "priority": priority,
            "collectorIlb": _info(project, rule_key, rule),
            "mirroredResources": resources,
            "filter": filt,
            "enable": enable,
            "selfLink": base["selfLink"],
        }
    )
    return doc


def _mirrored_resources(
    project: str,
    region: str,
    net_key: str,
    given: MirroredResourcesBody | None,
    lookup: Lookup,
) -> Doc:
    given = given or MirroredResourcesBody()
    subnets, instances, tags = given.subnetworks or [], given.instances or [], given.tags or []
    where = "resource.mirroredResources"
    if not (subnets or instances or tags):
        raise invalid_field(
            where, "", "At least one of subnetworks, instances or tags must be specified."
        )
    if len(subnets) > MAX_SUBNETWORKS:
        raise invalid_field(
            f"{where}.subnetworks",
            len(subnets),
            f"At most {MAX_SUBNETWORKS} subnetworks can be mirrored by one packet mirroring.",
        )
    if len(instances) > MAX_INSTANCES:
        raise invalid_field(
            f"{where}.instances",
            len(instances),
            f"At most {MAX_INSTANCES} instances can be mirrored by one packet mirroring.",
        )
    out: Doc = {}
    seen: set[str] = set()
    subnet_infos = []
    for i, info in enumerate(subnets):
        fld = f"{where}.subnetworks[{i}].url"
        if not info.url:
            raise required_field(fld)
        key = reference(info.url, project, fld, "regions/*/subnetworks")
        if key.split("/")[3] != region:
            raise invalid_field(fld, info.url, f"The subnetwork must be in the region {region}.")
        doc = require(lookup, SUBNETWORK, key)
        if link_key(str(doc.get("network", "")), project) != net_key:
            raise invalid_field(
                fld, info.url, "The subnetwork must be in the network of the packet mirroring."
            )
        if key in seen:
            raise invalid_field(fld, info.url, "The subnetwork is listed more than once.")
        seen.add(key)
        subnet_infos.append(_info(project, key, doc))
    instance_infos = []
    for i, info in enumerate(instances):
        fld = f"{where}.instances[{i}].url"
        if not info.url:
            raise required_field(fld)
        key = reference(info.url, project, fld, "zones/*/instances")
        if region_of_zone(key.split("/")[3]) != region:
            raise invalid_field(
                fld, info.url, f"The instance must be in a zone of the region {region}."
            )
        doc = require(lookup, INSTANCE, key)
        if link_key(str(nic0(doc).get("network", "")), project) != net_key:
            raise invalid_field(
                fld,
                info.url,
                "The instance has no network interface in the network of the packet mirroring.",
            )
        if key in seen:
            raise invalid_field(fld, info.url, "The instance is listed more than once.")
        seen.add(key)
        instance_infos.append(_info(project, key, doc))
    for i, tag in enumerate(tags):
        check_name(tag, f"{where}.tags[{i}]")
    if subnet_infos:
        out["subnetworks"] = subnet_infos
    if instance_infos:
        out["instances"] = instance_infos
    if tags:
        out["tags"] = list(dict.fromkeys(tags))
    return out


def _filter(given: MirroringFilterBody) -> Doc:
    out: Doc = {}
    ranges = list(given.cidr_ranges or [])
    for i, cidr in enumerate(ranges):
        parse_cidr(cidr, f"resource.filter.cidrRanges[{i}]")
    protocols = list(given.ip_protocols or [])
    for i, proto in enumerate(protocols):
        if _protocol(proto) is None:
            raise invalid_field(
                f"resource.filter.IPProtocols[{i}]",
                proto,
                f"Must be one of [{', '.join(_PROTOCOL_NAMES)}] or an IP protocol number "
                "between 0 and 255.",
            )
    if ranges:
        out["cidrRanges"] = ranges
    if protocols:
        out["IPProtocols"] = protocols
    direction = given.direction or "BOTH"
    if direction not in DIRECTIONS:
        raise invalid_field(
            "resource.filter.direction", direction, "Must be one of [BOTH, INGRESS, EGRESS]."
        )
    out["direction"] = direction
    return out


def _protocol(name: str) -> int | None:
    """The protocol number of a filter entry; None when Google would refuse it (``all`` is a
    firewall word, not a mirroring one)."""
    try:
        number = protocol_number(name)
    except ValueError:
        return None
    return number


# What the plan reads --------------------------------------------------------------------------
@dataclass(frozen=True)
class MirrorPolicy:
    """An enabled or disabled policy as the plan needs it (store keys throughout)."""

    key: str
    name: str
    priority: int
    network: str
    collector: str  # the forwarding rule
    subnetworks: tuple[str, ...] = ()
    instances: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    cidr_ranges: tuple[str, ...] = ()
    protocols: tuple[int, ...] = ()
    direction: str = "BOTH"
    enabled: bool = True

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], project: str) -> MirrorPolicy:
        res = doc.get("mirroredResources") or {}
        filt = doc.get("filter") or {}
        protocols = (_protocol(str(p)) for p in filt.get("IPProtocols") or ())
        return cls(
            key=link_key(str(doc["selfLink"]), project),
            name=str(doc["name"]),
            priority=int(doc.get("priority", DEFAULT_PRIORITY)),
            network=link_key(str(doc["network"]["url"]), project),
            collector=link_key(str(doc["collectorIlb"]["url"]), project),
            subnetworks=tuple(link_key(str(s["url"]), project) for s in res.get("subnetworks", ())),
            instances=tuple(link_key(str(s["url"]), project) for s in res.get("instances", ())),
            tags=tuple(res.get("tags") or ()),
            cidr_ranges=tuple(filt.get("cidrRanges") or ()),
            protocols=tuple(sorted({p for p in protocols if p is not None})),
            direction=str(filt.get("direction") or "BOTH"),
            enabled=doc.get("enable", "TRUE") == "TRUE",
        )

    def sides(self) -> tuple[Side, ...]:
        return SIDES if self.direction == "BOTH" else (_side(self.direction),)

    def selects(self, instance: MirrorInstance) -> bool:
        return (
            instance.key in self.instances
            or instance.subnetwork in self.subnetworks
            or bool(set(self.tags) & set(instance.tags))
        )


def _side(direction: str) -> Side:
    return "INGRESS" if direction == "INGRESS" else "EGRESS"


@dataclass(frozen=True)
class MirrorInstance:
    """A VM of the network with a link on its router (a GKE node's ``n-<id>``, a collector
    backend's ``c-<id>``)."""

    key: str  # store key projects/P/zones/Z/instances/N
    link: str
    subnetwork: str
    tags: tuple[str, ...] = ()

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], project: str, link: str) -> MirrorInstance:
        nic = nic0(dict(doc))
        return cls(
            key=link_key(str(doc["selfLink"]), project),
            link=link,
            subnetwork=link_key(str(nic.get("subnetwork", "")), project),
            tags=tuple((doc.get("tags") or {}).get("items") or ()),
        )


@dataclass(frozen=True)
class MirroringInputs:
    """Everything the mirroring of one VPC network depends on. ``collectors`` maps each
    collector forwarding rule (store key) to the router links of its backends, in a stable
    order; a rule missing from it has no backends."""

    network: str  # store key
    policies: tuple[MirrorPolicy, ...] = ()
    instances: tuple[MirrorInstance, ...] = ()
    collectors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def active(self) -> tuple[MirrorPolicy, ...]:
        """Enabled policies of the network, in the order they are tried."""
        mine = [p for p in self.policies if p.enabled and p.network == self.network]
        return tuple(sorted(mine, key=lambda p: (p.priority, p.name)))

    def backend_links(self) -> set[str]:
        return {link for links in self.collectors.values() for link in links}

    def selected(self, instance: MirrorInstance) -> tuple[MirrorPolicy, ...]:
        """The policies that mirror ``instance``, in order (none for a collector backend)."""
        if instance.link in self.backend_links():
            return ()
        return tuple(p for p in self.active() if p.selects(instance))


def mirroring_inputs(
    project: str,
    network: str,
    *,
    mirrorings: Iterable[Mapping[str, Any]],
    instances: Iterable[tuple[Mapping[str, Any], str]],
    collectors: Mapping[str, Sequence[str]],
) -> MirroringInputs:
    """The inputs of ``network`` (a store key) from stored ``compute#packetMirroring``
    documents (any network: others are left out), ``(compute#instance, router link)`` pairs
    for the VMs that have a link, and each collector forwarding rule's backend links."""
    members = []
    for doc, link in instances:
        nic = nic0(dict(doc))
        if nic.get("network") and link_key(str(nic["network"]), project) == network:
            members.append(MirrorInstance.from_document(doc, project, link))
    policies = [MirrorPolicy.from_document(doc, project) for doc in mirrorings]
    return MirroringInputs(
        network=network,
        policies=tuple(p for p in policies if p.network == network),
        instances=tuple(sorted(members, key=lambda m: m.link)),
        collectors={key: tuple(links) for key, links in sorted(collectors.items())},
    )


# The decision, as a pure function --------------------------------------------------------------
def _nets(ranges: Sequence[str]) -> list[ipaddress.IPv4Network] | None:
    """The IPv4 part of a filter's ranges, collapsed; None for no filter (every address)."""
    if not ranges:
        return None
    v4 = [
        n
        for n in (ipaddress.ip_network(r, strict=False) for r in ranges)
        if isinstance(n, ipaddress.IPv4Network)
    ]
    return list(ipaddress.collapse_addresses(v4))


def _matches(policy: MirrorPolicy, side: Side, src: str, dst: str, protocol: int) -> bool:
    if side not in policy.sides():
        return False
    if policy.protocols and protocol not in policy.protocols:
        return False
    nets = _nets(policy.cidr_ranges)
    remote = ipaddress.IPv4Address(dst if side == "EGRESS" else src)
    return nets is None or any(remote in n for n in nets)


def mirrored_by(
    inputs: MirroringInputs, link: str, side: Side, src: str, dst: str, protocol: int
) -> MirrorPolicy | None:
    """The policy that copies an IPv4 packet ``src -> dst`` seen on router ``link`` as the
    instance's ``side`` (EGRESS: it came from the link; INGRESS: it goes down it), or None."""
    instance = next((i for i in inputs.instances if i.link == link), None)
    if instance is None:
        return None
    for policy in inputs.selected(instance):
        if _matches(policy, side, src, dst, protocol):
            return policy
    return None


# The router's nftables table ------------------------------------------------------------------
FAMILY = "netdev"
TABLE = "vpc_mirror"
CHAIN_PRIORITY = 0
# The netdev hook that sees an instance's side on its router link.
HOOKS: Mapping[Side, str] = {"EGRESS": "ingress", "INGRESS": "egress"}
_REMOTE = {"EGRESS": "daddr", "INGRESS": "saddr"}
_COMMENT_MAX = 127
Expr = dict[str, Any]


def chain_name(side: Side, link: str) -> str:
    """``egress_n-0a01``: the instance's EGRESS, hooked at the link's netdev ingress."""
    return f"{side.lower()}_{link}"


def mirroring_ruleset(inputs: MirroringInputs, netns: str) -> NftRuleset:
    """The table ``netdev vpc_mirror`` of the router namespace ``netns``: for each mirrored
    instance and side a base chain on its link, one rule per selected policy in order, each
    ending in ``accept`` (the first match wins); one chain per collector backend when a
    collector has several (``symhash`` spreads flows over them). An empty table when nothing
    is mirrored. Every link named must exist in ``netns`` when the table is loaded."""
    collectors = {key: i for i, key in enumerate(sorted(inputs.collectors))}
    commands: list[Expr] = []
    rules: list[Expr] = []
    for instance in inputs.instances:
        policies = inputs.selected(instance)
        for side in SIDES:
            mine = [p for p in policies if side in p.sides()]
            if not mine:
                continue
            chain = chain_name(side, instance.link)
            commands.append(
                _add(
                    "chain",
                    name=chain,
                    type="filter",
                    hook=HOOKS[side],
                    dev=instance.link,
                    prio=CHAIN_PRIORITY,
                    policy="accept",
                )
            )
            for policy in mine:
                expr = _tests(policy, side)
                if expr is None:
                    continue  # only IPv6 ranges: no IPv4 packet matches
                verdict = _copy(collectors.get(policy.collector, -1), inputs, policy)
                comment = f"{policy.name} (priority {policy.priority}): {side} of {instance.key}"
                rules.append(_rule(chain, [*expr, {"counter": None}, *verdict], comment))
    for key, index in collectors.items():
        links = inputs.collectors[key]
        if len(links) > 1:
            for b, link in enumerate(links):
                name = _backend_chain(index, b)
                commands.append(_add("chain", name=name))
                rules.append(
                    _rule(name, [{"dup": {"addr": link}}, {"accept": None}], f"{key} backend {b}")
                )
    return NftRuleset(netns, FAMILY, TABLE, json.dumps([*commands, *rules], separators=(",", ":")))


def _backend_chain(collector: int, backend: int) -> str:
    return f"collector_{collector}_{backend}"


def _add(kind: str, **body: Any) -> Expr:
    return {"add": {kind: {"family": FAMILY, "table": TABLE, **body}}}


def _rule(chain: str, expr: list[Expr], comment: str) -> Expr:
    return _add("rule", chain=chain, expr=expr, comment=comment[:_COMMENT_MAX])


def _match(left: Expr, right: Any) -> Expr:
    return {"match": {"op": "==", "left": left, "right": right}}


def _one_or_set(items: Sequence[Any]) -> Any:
    return items[0] if len(items) == 1 else {"set": list(items)}


def _tests(policy: MirrorPolicy, side: Side) -> list[Expr] | None:
    """The rule's matches: IPv4 always, then the protocols and the remote address."""
    out = [_match({"meta": {"key": "protocol"}}, "ip")]
    if policy.protocols:
        out.append(_match({"meta": {"key": "l4proto"}}, _one_or_set(policy.protocols)))
    nets = _nets(policy.cidr_ranges)
    if nets is not None:
        if not nets:
            return None
        if nets != [ipaddress.IPv4Network("0.0.0.0/0")]:
            addresses = [
                str(n.network_address)
                if n.prefixlen == 32
                else {"prefix": {"addr": str(n.network_address), "len": n.prefixlen}}
                for n in nets
            ]
            left = {"payload": {"protocol": "ip", "field": _REMOTE[side]}}
            out.append(_match(left, _one_or_set(addresses)))
    return out


def _copy(index: int, inputs: MirroringInputs, policy: MirrorPolicy) -> list[Expr]:
    links = inputs.collectors.get(policy.collector, ())
    if not links:
        return [{"accept": None}]
    if len(links) == 1:
        return [{"dup": {"addr": links[0]}}, {"accept": None}]
    choices = [[b, {"goto": {"target": _backend_chain(index, b)}}] for b in range(len(links))]
    return [{"vmap": {"key": {"symhash": {"mod": len(links)}}, "data": {"set": choices}}}]


def render(op: NftRuleset) -> str:
    """The table in ``nft`` syntax, for golden files and logs (the shapes
    :func:`mirroring_ruleset` emits, nothing more)."""
    chains: dict[str, list[str]] = {}
    for command in op.commands():
        kind, body = next(iter(command["add"].items()))
        if kind == "chain":
            lines = chains.setdefault(body["name"], [])
            if "hook" in body:
                lines.append(
                    f'type {body["type"]} hook {body["hook"]} device "{body["dev"]}" '
                    f"priority {body['prio']}; policy {body['policy']};"
                )
        else:
            words = [_statement(e) for e in body["expr"]]
            chains[body["chain"]].append(" ".join([*words, f'comment "{body["comment"]}"']))
    blocks = []
    for name, lines in chains.items():
        inner = "".join(f"\t\t{line}\n" for line in lines)
        blocks.append(f"\tchain {name} {{\n{inner}\t}}")
    return f"table {op.family} {op.table} {{\n" + "\n".join(blocks) + "\n}\n"


def _text(value: Any) -> str:
    if isinstance(value, str | int):
        return str(value)
    if "set" in value:
        return "{ " + ", ".join(_text(v) for v in value["set"]) + " }"
    if "prefix" in value:
        return f"{value['prefix']['addr']}/{value['prefix']['len']}"
    if "payload" in value:
        return f"{value['payload']['protocol']} {value['payload']['field']}"
    if "meta" in value:
        return f"meta {value['meta']['key']}"
    if "symhash" in value:
        return f"symhash mod {value['symhash']['mod']}"
    raise ValueError(f"cannot render {value!r}")


def _statement(expr: Expr) -> str:
    kind, body = next(iter(expr.items()))
    if kind == "match":
        return f"{_text(body['left'])} {_text(body['right'])}"
    if kind == "dup":
        return f'dup to "{body["addr"]}"'
    if kind == "vmap":
        pairs = ", ".join(f"{k} : goto {v['goto']['target']}" for k, v in body["data"]["set"])
        return f"{_text(body['key'])} vmap {{ {pairs} }}"
    return str(kind)


# Collector backends in the kernel ------------------------------------------------------------
COLLECTOR_LABEL = "intranode-mirroring-collector"
COLLECTOR_SUFFIX = "-collector"  # collector NAME's backend instance is NAME-collector
_SHORT_ID = re.compile(r"^[0-9a-f]{4}$")


def collector_link(short_id: str) -> str:
    """The router's link to a collector backend: ``c-<id>`` (in the router namespace)."""
    return f"c-{short_id}"


@dataclass(frozen=True)
class Collector:
    """A collector backend VM: ``eth0`` holds ``ip``/32 and reaches ``gateway`` on-link, as a
    node's does; the router reaches it on ``c-<id>``."""

    short_id: str
    netns: str
    ip: str
    gateway: str
    mtu: int = GCE_MTU

    @property
    def router_link(self) -> str:
        return collector_link(self.short_id)


def collector(names: KernelNames, short_id: str, *, ip: str, gateway: str) -> Collector:
    """``<prefix>c-<id>`` with ``ip`` (the collector instance's address); the 4-hex id shares
    the space of node and pod ids (``topology.pick_short_id``). ValueError on bad input."""
    if not _SHORT_ID.match(short_id):
        raise ValueError(f"short id {short_id!r} must be 4 lowercase hex digits")
    address, gw = ipaddress.IPv4Address(ip), ipaddress.IPv4Address(gateway)
    if address == gw:
        raise ValueError(f"collector IP {ip} is the subnet gateway")
    return Collector(short_id, f"{names.prefix}c-{short_id}", str(address), str(gw))


def collector_ops(backend: Collector, router: VpcRouter) -> tuple[Op, ...]:
    """A collector backend's namespace linked to the router, wired as a node's is
    (``netplan.node_ops``): no IPv6 (nothing of its own enters a capture), ``eth0`` with
    the address/32, the gateway on-link; the router's side holds the gateway and a route to
    the address. Apply after ``router_ops``; apply the mirroring table after this."""
    ns, link, rns = backend.netns, backend.router_link, router.netns
    return (
        CreateNetns(ns),
        LinkUp(ns, "lo"),
        SetSysctl(ns, "net.ipv6.conf.all.disable_ipv6", 1),
        SetSysctl(ns, "net.ipv6.conf.default.disable_ipv6", 1),
        CreateVethPair(rns, link, ns, NIC, backend.mtu),
        AddAddress(ns, NIC, f"{backend.ip}/32"),
        LinkUp(ns, NIC),
        AddRoute(ns, f"{backend.gateway}/32", NIC, scope="link"),
        AddRoute(ns, "0.0.0.0/0", NIC, via=backend.gateway),
        SetSysctl(rns, f"net.ipv4.conf.{link}.send_redirects", 0),
        AddAddress(rns, link, f"{backend.gateway}/32"),
        LinkUp(rns, link),
        AddRoute(rns, f"{backend.ip}/32", link, scope="link"),
    )


def is_collector_instance(doc: Mapping[str, Any]) -> bool:
    """Whether an instance is a collector backend made by ``intranode mirror collector
    create`` (it needs a collector namespace, not a node's)."""
    return COLLECTOR_LABEL in (doc.get("labels") or {})
