"""Plans for the kernel: typed, frozen operations and the pure functions that compute them.

A plan is a tuple of operations applied in order by a :class:`~intranode.dataplane.protocol.
Dataplane`. Every operation is idempotent ("ensure", not "do"): creating what exists or deleting
what is gone succeeds, routes are *replaced*, an nftables table is swapped atomically. So the
same plan re-applied repairs drift, and a plan can be retried after any failure.

Operations (all frozen dataclasses; ``ns`` is always the namespace they act in):
``CreateNetns``, ``DeleteNetns``, ``CreateVethPair`` (both ends created straight inside their
namespaces), ``DeleteLink``, ``LinkUp``, ``AddAddress``, ``AddRoute``, ``DeleteRoute``,
``AddRule``, ``DeleteRule``, ``SetSysctl``, ``NftRuleset`` (one table, replaced atomically),
``DeleteNftTable``. Each has ``describe()``: the equivalent ``ip``/``nft`` command, for logs
and error messages.

Plan functions (see each docstring for the exact layout and why):

- :func:`router_ops` ``(router, nodes)``: the VPC router namespace and its side of each node
  link (gateway address, routes to the node and its pod range, no redirects).
- :func:`node_ops` ``(node, router)``: a node namespace, its ``eth0`` veth to the router, and
  the router's side of that link. Apply ``router_ops(router, ())`` once before the first node.
- :func:`pod_ops` ``(pod, node)``: a pod namespace wired as the ptp CNI plugin does.
- :func:`inv_ops` ``(node, enabled)``: netd's intra-node visibility set, or its removal. Apply it
  after ``node_ops`` in both cases: disabling also resets the sysctls to GCE's values.
- :func:`ip_masq_ops` ``(node, non_masquerade_cidrs, masq_link_local)``: ip-masq-agent's rules.
- :func:`network_ops` ``(router, nodes, pods, networking)``: all of the above for one VPC
  network, in dependency order; :class:`NodeNetworking` holds a node's INV and masq settings.

Observation and drift: :class:`NetnsState` (and :class:`LinkState`, :class:`Address`,
:class:`Route`, :class:`Rule`) is what a dataplane reads back; :func:`unsatisfied` returns the
operations of a plan whose effect is not visible in an observation, :func:`sysctl_keys` the
sysctls to read for that. :func:`to_dict` renders an operation as JSON-ready data (golden files,
logs). :class:`LedgerEntry` is a row of the kernel-object ledger (what exists, who owns it).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from intranode.domain.topology import NIC, Node, Pod, VpcRouter

Scope = Literal["global", "link", "host"]

MAIN_TABLE = 254
LOCAL_TABLE = 255
INV_TABLE = 1  # netd's customRouteTable
FLOW_NFT_TABLE = "vpc_flows"  # the router's conntrack hook for flow logs
INV_MARK = 0x4000  # kube-proxy's masquerade bit, kept local by netd's rule 74

DEFAULT_NON_MASQUERADE_CIDRS: tuple[str, ...] = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
LINK_LOCAL_CIDR = "169.254.0.0/16"

NETD_NFT_TABLE = "netd"  # holds GKE's GCP-PREROUTING / GCP-POSTROUTING connmark chains
IP_MASQ_NFT_TABLE = "ip_masq_agent"

# Ledger kinds: the kernel objects a dataplane records before it creates them.
LEDGER_NETNS = "netns"
LEDGER_VETH = "veth"
LEDGER_NFT_TABLE = "nft_table"

_DEFAULT_DST = "0.0.0.0/0"


# -- operations ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CreateNetns:
    ns: str

    def describe(self) -> str:
        return f"ip netns add {self.ns}"


@dataclass(frozen=True)
class DeleteNetns:
    ns: str

    def describe(self) -> str:
        return f"ip netns delete {self.ns}"


@dataclass(frozen=True)
class CreateVethPair:
    """``name_a`` is created in ``ns_a`` and its peer ``name_b`` straight in ``ns_b``."""

    ns_a: str
    name_a: str
    ns_b: str
    name_b: str
    mtu: int

    @property
    def ns(self) -> str:
        return self.ns_a

    def describe(self) -> str:
        return (
            f"ip -n {self.ns_a} link add {self.name_a} mtu {self.mtu} type veth "
            f"peer name {self.name_b} mtu {self.mtu} netns {self.ns_b}"
        )


@dataclass(frozen=True)
class DeleteLink:
    ns: str
    name: str

    def describe(self) -> str:
        return f"ip -n {self.ns} link delete {self.name}"


@dataclass(frozen=True)
class LinkUp:
    ns: str
    dev: str

    def describe(self) -> str:
        return f"ip -n {self.ns} link set {self.dev} up"


@dataclass(frozen=True)
class Address:
    """An IPv4 address on a link, ``cidr`` as ``10.52.0.2/24``."""

    dev: str
    cidr: str


@dataclass(frozen=True)
class AddAddress:
    ns: str
    dev: str
    cidr: str

    @property
    def address(self) -> Address:
        return Address(self.dev, self.cidr)

    def describe(self) -> str:
        return f"ip -n {self.ns} address add {self.cidr} dev {self.dev}"


@dataclass(frozen=True)
class Route:
    """An IPv4 route as the kernel holds it; ``dst`` is always a CIDR (``0.0.0.0/0``)."""

    dst: str
    dev: str
    via: str | None = None
    table: int = MAIN_TABLE
    scope: Scope = "global"
    onlink: bool = False
    src: str | None = None

    def words(self) -> str:
        out = [self.dst]
        if self.via:
            out += ["via", self.via]
        out += ["dev", self.dev]
        if self.table != MAIN_TABLE:
            out += ["table", str(self.table)]
        if self.scope != "global":
            out += ["scope", self.scope]
        if self.onlink:
            out.append("onlink")
        if self.src:
            out += ["src", self.src]
        return " ".join(out)


@dataclass(frozen=True)
class AddRoute:
    """Replaces any route to ``dst`` in ``table`` (``ip route replace``): re-applying converges,
    and a pod's ``podCIDR via gw`` takes the place of the kernel's connected route as ptp's
    delete-then-add does."""

    ns: str
    dst: str
    dev: str
    via: str | None = None
    table: int = MAIN_TABLE
    scope: Scope = "global"
    onlink: bool = False
    src: str | None = None

    @property
    def route(self) -> Route:
        return Route(self.dst, self.dev, self.via, self.table, self.scope, self.onlink, self.src)

    def describe(self) -> str:
        return f"ip -n {self.ns} route replace {self.route.words()}"


@dataclass(frozen=True)
class DeleteRoute:
    """Deletes the route to ``dst`` through ``dev`` in ``table``, whatever its other fields."""

    ns: str
    dst: str
    dev: str
    table: int = MAIN_TABLE

    def matches(self, route: Route) -> bool:
        return (route.dst, route.dev, route.table) == (self.dst, self.dev, self.table)

    def describe(self) -> str:
        table = "" if self.table == MAIN_TABLE else f" table {self.table}"
        return f"ip -n {self.ns} route delete {self.dst} dev {self.dev}{table}"


@dataclass(frozen=True)
class Rule:
    """An IPv4 policy-routing rule: ``priority: [not iif X | iif X] [to dst] [fwmark m/mask]
    lookup table``."""

    priority: int
    table: int
    fwmark: int | None = None
    fwmask: int | None = None
    iif: str | None = None
    not_iif: str | None = None
    dst: str | None = None

    def words(self) -> str:
        out = ["priority", str(self.priority)]
        if self.not_iif:
            out += ["not", "iif", self.not_iif]
        if self.iif:
            out += ["iif", self.iif]
        if self.dst:
            out += ["to", self.dst]
        if self.fwmark is not None:
            mark = f"{self.fwmark:#x}"
            out += ["fwmark", mark if self.fwmask is None else f"{mark}/{self.fwmask:#x}"]
        out += ["lookup", _table_name(self.table)]
        return " ".join(out)


@dataclass(frozen=True)
class AddRule:
    ns: str
    priority: int
    table: int
    fwmark: int | None = None
    fwmask: int | None = None
    iif: str | None = None
    not_iif: str | None = None
    dst: str | None = None

    @property
    def rule(self) -> Rule:
        return _rule_of(self)

    def describe(self) -> str:
        return f"ip -n {self.ns} rule add {self.rule.words()}"


@dataclass(frozen=True)
class DeleteRule:
    ns: str
    priority: int
    table: int
    fwmark: int | None = None
    fwmask: int | None = None
    iif: str | None = None
    not_iif: str | None = None
    dst: str | None = None

    @property
    def rule(self) -> Rule:
        return _rule_of(self)

    def describe(self) -> str:
        return f"ip -n {self.ns} rule delete {self.rule.words()}"


@dataclass(frozen=True)
class SetSysctl:
    """``key`` as sysctl(8) spells it (``net.ipv4.conf.eth0.rp_filter``); interface names in
    keys never contain dots in intranode's naming."""

    ns: str
    key: str
    value: int

    def describe(self) -> str:
        return f"ip netns exec {self.ns} sysctl -w {self.key}={self.value}"


@dataclass(frozen=True)
class NftRuleset:
    """One nftables table, replaced in one atomic transaction. ``json_commands`` is a JSON
    array of ``nft -j`` commands (chains and rules) that fill the table once it is recreated
    empty; a string so the operation stays immutable and hashable."""

    ns: str
    family: str
    table: str
    json_commands: str

    def commands(self) -> list[dict[str, Any]]:
        parsed: list[dict[str, Any]] = json.loads(self.json_commands)
        return parsed

    def describe(self) -> str:
        return f"ip netns exec {self.ns} nft -j -f -  # table {self.family} {self.table}"


@dataclass(frozen=True)
class DeleteNftTable:
    ns: str
    family: str
    table: str

    def describe(self) -> str:
        return f"ip netns exec {self.ns} nft delete table {self.family} {self.table}"


Op = (
    CreateNetns
    | DeleteNetns
    | CreateVethPair
    | DeleteLink
    | LinkUp
    | AddAddress
    | AddRoute
    | DeleteRoute
    | AddRule
    | DeleteRule
    | SetSysctl
    | NftRuleset
    | DeleteNftTable
)


def _rule_of(op: AddRule | DeleteRule) -> Rule:
    return Rule(op.priority, op.table, op.fwmark, op.fwmask, op.iif, op.not_iif, op.dst)


def _table_name(table: int) -> str:
    return {MAIN_TABLE: "main", LOCAL_TABLE: "local", 253: "default"}.get(table, str(table))


def to_dict(op: Op) -> dict[str, Any]:
    """``{"op": "AddRoute", "ns": ..., ...}``; an nft ruleset's commands as parsed JSON."""
    out: dict[str, Any] = {"op": type(op).__name__, **asdict(op)}
    if isinstance(op, NftRuleset):
        out["json_commands"] = op.commands()
    return out


# -- plans ---------------------------------------------------------------------------------
def _host(ip: str) -> str:
    return f"{ip}/32"


def router_ops(router: VpcRouter, nodes: Iterable[Node]) -> tuple[Op, ...]:
    """The VPC router: forwarding on, ICMP redirects off (it sends hair-pinned packets back out
    the link they came in on), strict reverse-path filtering as VPC anti-spoofing (a VM may
    send only from its own address and alias ranges), no IPv6 (the VPC here is IPv4).

    Flow logs read the router's conntrack: accounting and timestamps on (both per namespace,
    off by default) and a forward chain that matches ``ct state``, without which a namespace
    never registers conntrack at all.

    For each node in ``nodes`` also the router's side of the node's link, which ``node_ops``
    creates: pass only nodes whose ``node_ops`` were applied (``()`` for a new router).
    """
    ns = router.netns
    ops: list[Op] = [
        CreateNetns(ns),
        LinkUp(ns, "lo"),
        SetSysctl(ns, "net.ipv4.ip_forward", 1),
        SetSysctl(ns, "net.ipv4.conf.all.send_redirects", 0),
        SetSysctl(ns, "net.ipv4.conf.default.send_redirects", 0),
        SetSysctl(ns, "net.ipv4.conf.all.rp_filter", 1),
        SetSysctl(ns, "net.ipv4.conf.default.rp_filter", 1),
        SetSysctl(ns, "net.ipv6.conf.all.disable_ipv6", 1),
        SetSysctl(ns, "net.ipv6.conf.default.disable_ipv6", 1),
        _flow_tracking(router),
        SetSysctl(ns, "net.netfilter.nf_conntrack_acct", 1),
        SetSysctl(ns, "net.netfilter.nf_conntrack_timestamp", 1),
    ]
    for node in nodes:
        ops += _router_side(router, node)
    return tuple(ops)


def _flow_tracking(router: VpcRouter) -> NftRuleset:
    """A forward chain whose only rule counts tracked packets: it makes the kernel track every
    forwarded connection (the net.netfilter sysctls appear once it does) and decides nothing,
    so the firewall's own table stays the only place verdicts are made."""
    family, table = "ip", FLOW_NFT_TABLE
    commands = [
        _chain(family, table, "vpc_forward", "filter", "forward", 0),
        _rule(
            family,
            table,
            "vpc_forward",
            [
                _match("in", {"ct": {"key": "state"}}, ["new", "established", "related"]),
                {"counter": None},
            ],
            "track every forwarded connection for VPC Flow Logs",
        ),
    ]
    return NftRuleset(router.netns, family, table, _dump(commands))


def _router_side(router: VpcRouter, node: Node) -> list[Op]:
    """The router's end of a node link holds the subnet gateway as /32 (the same gateway on
    every link of the subnet), so the node's on-link ``default via <gw>`` resolves to it; the
    node's primary IP is reached on-link and its pod range (the alias range) via that IP."""
    ns, link = router.netns, node.router_link
    return [
        SetSysctl(ns, f"net.ipv4.conf.{link}.send_redirects", 0),
        AddAddress(ns, link, _host(node.gateway)),
        LinkUp(ns, link),
        AddRoute(ns, _host(node.ip), link, scope="link"),
        AddRoute(ns, node.pod_cidr, link, via=node.ip),
    ]


def node_ops(node: Node, router: VpcRouter) -> tuple[Op, ...]:
    """A GKE node as a GCE VM: ``eth0`` with the primary IP/32, ``<gw> dev eth0 scope link``
    and ``default via <gw>`` (GCE's on-link gateway), forwarding on (ptp sets it). GCE images
    run with ``rp_filter=1``, which is what netd restores on disable; set on ``all`` and
    ``default`` before ``eth0`` exists so every link inherits it. No IPv6.

    Also the router's side of the link (see :func:`router_ops`), so one plan attaches a node.
    """
    ns = node.netns
    ops: list[Op] = [
        CreateNetns(ns),
        LinkUp(ns, "lo"),
        SetSysctl(ns, "net.ipv4.ip_forward", 1),
        SetSysctl(ns, "net.ipv4.conf.all.rp_filter", 1),
        SetSysctl(ns, "net.ipv4.conf.default.rp_filter", 1),
        SetSysctl(ns, "net.ipv6.conf.all.disable_ipv6", 1),
        SetSysctl(ns, "net.ipv6.conf.default.disable_ipv6", 1),
        # Byte and packet counts of the node's own connections (the console's traffic map
        # shows pod traffic that stays in the node; per namespace, so never the host's).
        SetSysctl(ns, "net.netfilter.nf_conntrack_acct", 1),
        CreateVethPair(router.netns, node.router_link, ns, NIC, node.mtu),
        AddAddress(ns, NIC, _host(node.ip)),
        LinkUp(ns, NIC),
        AddRoute(ns, _host(node.gateway), NIC, scope="link"),
        AddRoute(ns, _DEFAULT_DST, NIC, via=node.gateway),
    ]
    return (*ops, *_router_side(router, node))


def pod_ops(pod: Pod, node: Node) -> tuple[Op, ...]:
    """A pod as the ptp CNI plugin wires it (netd_inv §1.2): ``eth0`` with ``podIP/<range
    prefix>``; routes ``gw/32 dev eth0 scope link src podIP``, ``podCIDR via gw src podIP``
    (replacing the connected route) and ``default via gw``. On the node: the veth ``p-<id>``
    holds ``gw/32`` (the same gw on every pod veth, so the pod's ARP for gw is answered) and
    ``podIP/32 dev p-<id> scope host``. No bridge, no proxy ARP.
    """
    if pod.node_id != node.short_id:
        raise ValueError(f"pod {pod.short_id} belongs to node {pod.node_id}, not {node.short_id}")
    ns, gw = pod.netns, node.pod_gateway
    return (
        CreateNetns(ns),
        CreateVethPair(node.netns, pod.node_link, ns, NIC, node.mtu),
        LinkUp(ns, "lo"),
        LinkUp(ns, NIC),
        AddAddress(ns, NIC, f"{pod.ip}/{node.pod_prefixlen}"),
        AddRoute(ns, _host(gw), NIC, scope="link", src=pod.ip),
        AddRoute(ns, node.pod_cidr, NIC, via=gw, src=pod.ip),
        AddRoute(ns, _DEFAULT_DST, NIC, via=gw),
        AddAddress(node.netns, pod.node_link, _host(gw)),
        LinkUp(node.netns, pod.node_link),
        AddRoute(node.netns, _host(pod.ip), pod.node_link, scope="host"),
    )


def _inv_rules(node: Node) -> list[Rule]:
    """netd's current rule set (PR #439, priorities 70-76): the prio-70 ``lookup local`` rules
    keep local destinations local even where the kernel's own local rule was moved behind
    them; 74 keeps kube-proxy-masqueraded (0x4000-marked) flows on the node; 75 keeps
    host-originated traffic and the reverse-path lookup (done as if from ``lo``) on the main
    table; 76 sends everything that did not come in on ``eth0`` to table 1, whose only route
    leads out ``eth0`` to the VPC. Left out, as on this kernel and netd's defaults: the UDP rule
    71 (kernels 6.6.57-6.12.33 only) and the DNS rules 72/73 (``--exclude-dns`` is off)."""
    local = [
        Rule(70, LOCAL_TABLE, dst=dst)
        for dst in ("127.0.0.0/8", LINK_LOCAL_CIDR, _host(node.ip), _host(node.pod_gateway))
    ]
    return [
        *local,
        Rule(74, MAIN_TABLE, fwmark=INV_MARK, fwmask=INV_MARK),
        Rule(75, MAIN_TABLE, iif="lo"),
        Rule(76, INV_TABLE, not_iif=NIC),
    ]


def _netd_connmark(node: Node) -> NftRuleset:
    """GKE's mangle ``GCP-PREROUTING``/``GCP-POSTROUTING`` in nftables: restore bit 0x4000 of
    the packet mark from the conntrack mark, and save it back when set, both masked so no other
    mark bit is touched (netd PR #106)."""
    family, table = "ip", NETD_NFT_TABLE
    meta_mark: dict[str, Any] = {"meta": {"key": "mark"}}
    ct_mark: dict[str, Any] = {"ct": {"key": "mark"}}
    restore = "netd: CONNMARK --restore-mark --nfmask 0x4000 --ctmask 0x4000"
    commands = [
        _chain(family, table, "gcp_prerouting", "filter", "prerouting", -150),
        _chain(family, table, "gcp_postrouting", "filter", "postrouting", -150),
        _rule(
            family,
            table,
            "gcp_prerouting",
            [_match("==", _masked(ct_mark), INV_MARK), _set(meta_mark, _or_mark(meta_mark))],
            f"{restore} (bit set)",
        ),
        _rule(
            family,
            table,
            "gcp_prerouting",
            [
                _match("==", _masked(ct_mark), 0),
                _set(meta_mark, {"&": [meta_mark, 0xFFFFFFFF ^ INV_MARK]}),
            ],
            f"{restore} (bit clear)",
        ),
        _rule(
            family,
            table,
            "gcp_postrouting",
            [_match("==", _masked(meta_mark), INV_MARK), _set(ct_mark, _or_mark(ct_mark))],
            "netd: -m mark --mark 0x4000/0x4000 -j CONNMARK --save-mark",
        ),
    ]
    return NftRuleset(node.netns, family, table, _dump(commands))


def inv_ops(node: Node, enabled: bool) -> tuple[Op, ...]:
    """netd's intra-node visibility set on a node (netd_inv §1.3), or its removal (§1.5).

    Enabled: ``eth0 rp_filter=2`` and ``all.src_valid_mark=1``, the connmark table, table 1
    ``default via <gw> dev eth0``, then the rules. Disabled: the rules go first, then the
    route and the table, then ``rp_filter=1`` and ``src_valid_mark=0``. The order keeps a
    live toggle safe: rule 76 only exists while loose rp_filter lets the hair-pinned packets
    back in on ``eth0``. (Measured on kernel 6.18: the reverse-path check of a forwarded packet
    looks its source up as if it came in on the route's output device, which rule 76 sends to
    table 1 and so out ``eth0``, so strict mode would pass too; loose is set because netd sets
    it, and where the lookup is made as if from ``lo`` (netd_inv §1.4) it is needed.)
    """
    ns = node.netns
    rules = _inv_rules(node)
    if enabled:
        return (
            SetSysctl(ns, f"net.ipv4.conf.{NIC}.rp_filter", 2),
            SetSysctl(ns, "net.ipv4.conf.all.src_valid_mark", 1),
            _netd_connmark(node),
            AddRoute(ns, _DEFAULT_DST, NIC, via=node.gateway, table=INV_TABLE),
            *(AddRule(ns, **asdict(r)) for r in rules),
        )
    return (
        *(DeleteRule(ns, **asdict(r)) for r in reversed(rules)),
        DeleteRoute(ns, _DEFAULT_DST, NIC, table=INV_TABLE),
        DeleteNftTable(ns, "ip", NETD_NFT_TABLE),
        SetSysctl(ns, "net.ipv4.conf.all.src_valid_mark", 0),
        SetSysctl(ns, f"net.ipv4.conf.{NIC}.rp_filter", 1),
    )


def ip_masq_ops(
    node: Node,
    non_masquerade_cidrs: Sequence[str] = DEFAULT_NON_MASQUERADE_CIDRS,
    masq_link_local: bool = False,
) -> tuple[Op, ...]:
    """ip-masq-agent as GKE runs it, in the node namespace: nat POSTROUTING sends every packet
    whose destination is not a local address (``-m addrtype ! --dst-type LOCAL``) to the
    agent's chain; the chain returns for link-local (unless ``masq_link_local``) and for each
    IPv4 non-masquerade CIDR, and masquerades (``--random-fully``) the rest. IPv6 CIDRs are
    skipped as the agent's IPv4 chain skips them. A CIDR that does not parse raises
    ``ValueError`` (the agent refuses such a config).
    """
    family, table, chain = "ip", IP_MASQ_NFT_TABLE, "ip_masq_agent"
    cidrs = []
    for cidr in non_masquerade_cidrs:
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise ValueError(f"invalid nonMasqueradeCIDR {cidr!r}: {exc}") from exc
        if net.version == 4:
            cidrs.append(net)
    returns = ([ipaddress.IPv4Network(LINK_LOCAL_CIDR)] if not masq_link_local else []) + cidrs
    commands = [
        _chain(family, table, "postrouting", "nat", "postrouting", 100),
        {"add": {"chain": {"family": family, "table": table, "name": chain}}},
        _rule(
            family,
            table,
            "postrouting",
            [
                _match("!=", {"fib": {"result": "type", "flags": ["daddr"]}}, "local"),
                {"jump": {"target": chain}},
            ],
            "ip-masq-agent: ensure nat POSTROUTING directs all non-LOCAL destination traffic "
            "to our custom IP-MASQ-AGENT chain",
        ),
        *(
            _rule(
                family,
                table,
                chain,
                [
                    _match(
                        "==",
                        {"payload": {"protocol": "ip", "field": "daddr"}},
                        {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}},
                    ),
                    {"return": None},
                ],
                "ip-masq-agent: local traffic is not subject to MASQUERADE",
            )
            for net in returns
        ),
        _rule(
            family,
            table,
            chain,
            [{"masquerade": {"flags": "fully-random"}}],
            "ip-masq-agent: outbound traffic is subject to MASQUERADE (must be last in chain)",
        ),
    ]
    return (NftRuleset(node.netns, family, table, _dump(commands)),)


@dataclass(frozen=True)
class NodeNetworking:
    """What a node's cluster asks of its networking: netd's intra-node visibility and the
    ip-masq-agent ConfigMap (``nonMasqueradeCIDRs``, ``masqLinkLocal``)."""

    intra_node_visibility: bool = False
    non_masquerade_cidrs: tuple[str, ...] = DEFAULT_NON_MASQUERADE_CIDRS
    masq_link_local: bool = False


def network_ops(
    router: VpcRouter,
    nodes: Sequence[Node],
    pods: Sequence[Pod],
    networking: Mapping[str, NodeNetworking] | None = None,
) -> tuple[Op, ...]:
    """A whole VPC network's desired kernel state in dependency order: the router, then each
    node with its ip-masq-agent and INV set (``networking`` by node short id; a node not in it
    gets the defaults), then each pod. Re-applying it converges; :func:`unsatisfied` over it
    finds drift anywhere in the network."""
    by_id = {node.short_id: node for node in nodes}
    ops: list[Op] = list(router_ops(router, ()))
    for node in nodes:
        conf = (networking or {}).get(node.short_id, NodeNetworking())
        ops += node_ops(node, router)
        ops += ip_masq_ops(node, conf.non_masquerade_cidrs, conf.masq_link_local)
        ops += inv_ops(node, conf.intra_node_visibility)
    for pod in pods:
        if pod.node_id not in by_id:
            raise ValueError(f"pod {pod.short_id} is on node {pod.node_id}, which is not listed")
        ops += pod_ops(pod, by_id[pod.node_id])
    return tuple(ops)


# -- nftables JSON helpers -------------------------------------------------------------------
def _dump(commands: list[dict[str, Any]]) -> str:
    return json.dumps(commands, separators=(",", ":"))


def _chain(family: str, table: str, name: str, type_: str, hook: str, prio: int) -> dict[str, Any]:
    return {
        "add": {
            "chain": {
                "family": family,
                "table": table,
                "name": name,
                "type": type_,
                "hook": hook,
                "prio": prio,
                "policy": "accept",
            }
        }
    }


def _rule(
    family: str, table: str, chain: str, expr: list[dict[str, Any]], comment: str
) -> dict[str, Any]:
    rule = {"family": family, "table": table, "chain": chain, "expr": expr, "comment": comment}
    return {"add": {"rule": rule}}


def _match(op: str, left: Any, right: Any) -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def _masked(key: dict[str, Any]) -> dict[str, Any]:
    return {"&": [key, INV_MARK]}


def _or_mark(key: dict[str, Any]) -> dict[str, Any]:
    return {"|": [key, INV_MARK]}


def _set(key: dict[str, Any], value: Any) -> dict[str, Any]:
    return {"mangle": {"key": key, "value": value}}


# -- observation and drift ---------------------------------------------------------------------
@dataclass(frozen=True)
class LinkState:
    name: str
    kind: str  # "veth", "loopback", ...
    mtu: int
    up: bool


@dataclass(frozen=True)
class NetnsState:
    """What a dataplane reads back from one namespace: IPv4 only, routes of every table but
    ``local``, every rule including the kernel's defaults, nft tables as ``"<family> <name>"``,
    and the values of the sysctls that were asked for."""

    ns: str
    links: tuple[LinkState, ...] = ()
    addresses: tuple[Address, ...] = ()
    routes: tuple[Route, ...] = ()
    rules: tuple[Rule, ...] = ()
    nft_tables: tuple[str, ...] = ()
    sysctls: Mapping[str, int] = field(default_factory=dict)

    def link(self, name: str) -> LinkState | None:
        return next((link for link in self.links if link.name == name), None)

    def canonical(self) -> NetnsState:
        """The same state in one order (the kernel lists by index and prefix, a fake by
        insertion), so two observations compare equal when they hold the same things."""
        return NetnsState(
            ns=self.ns,
            links=tuple(sorted(self.links, key=lambda x: x.name)),
            addresses=tuple(sorted(self.addresses, key=lambda a: (a.dev, a.cidr))),
            routes=tuple(sorted(self.routes, key=lambda r: (r.table, r.dst, r.dev, repr(r)))),
            rules=tuple(sorted(self.rules, key=lambda r: (r.priority, repr(r)))),
            nft_tables=tuple(sorted(self.nft_tables)),
            sysctls=dict(sorted(self.sysctls.items())),
        )


def sysctl_keys(ops: Iterable[Op]) -> dict[str, tuple[str, ...]]:
    """The sysctl keys a plan sets, per namespace: what to read to check it."""
    keys: dict[str, list[str]] = {}
    for op in ops:
        if isinstance(op, SetSysctl) and op.key not in keys.setdefault(op.ns, []):
            keys[op.ns].append(op.key)
    return {ns: tuple(k) for ns, k in keys.items()}


def unsatisfied(ops: Iterable[Op], observed: Mapping[str, NetnsState]) -> tuple[Op, ...]:
    """The operations whose effect ``observed`` does not show (a namespace missing from it is
    absent). An nftables table counts as present by name: its contents are re-asserted by
    applying, which is atomic and cheap."""
    return tuple(op for op in ops if not _satisfied(op, observed))


def _satisfied(op: Op, observed: Mapping[str, NetnsState]) -> bool:
    if isinstance(op, CreateNetns | DeleteNetns):
        return (op.ns in observed) == isinstance(op, CreateNetns)
    if isinstance(op, CreateVethPair):
        a, b = observed.get(op.ns_a), observed.get(op.ns_b)
        return bool(a and b and a.link(op.name_a) and b.link(op.name_b))
    state = observed.get(op.ns)
    if state is None:
        return isinstance(op, DeleteLink | DeleteRoute | DeleteRule | DeleteNftTable)
    if isinstance(op, DeleteLink):
        return state.link(op.name) is None
    if isinstance(op, LinkUp):
        link = state.link(op.dev)
        return bool(link and link.up)
    if isinstance(op, AddAddress):
        return op.address in state.addresses
    if isinstance(op, AddRoute):
        return op.route in state.routes
    if isinstance(op, DeleteRoute):
        return not any(op.matches(r) for r in state.routes)
    if isinstance(op, AddRule | DeleteRule):
        return (op.rule in state.rules) == isinstance(op, AddRule)
    if isinstance(op, SetSysctl):
        return state.sysctls.get(op.key) == op.value
    present = f"{op.family} {op.table}" in state.nft_tables
    return present == isinstance(op, NftRuleset)


# -- the ledger ------------------------------------------------------------------------------
@dataclass(frozen=True)
class LedgerEntry:
    """A kernel object intranode made: recorded before it is created, forgotten once removed.
    ``netns`` is where it lives (``""`` for a namespace itself); ``owner`` is the store key of
    what it serves; ``data`` says what else removal needs (a veth's peer, a table's family)."""

    kind: str
    netns: str
    name: str
    owner: str
    data: Mapping[str, str]
    created: float


def touches(entry: LedgerEntry, netns: str) -> bool:
    """Whether ``entry`` goes when namespace ``netns`` goes: the namespace itself, what lives
    in it, a veth with an end in it."""
    return (
        (entry.kind == LEDGER_NETNS and entry.name == netns)
        or entry.netns == netns
        or (entry.kind == LEDGER_VETH and entry.data.get("peer_netns") == netns)
    )
