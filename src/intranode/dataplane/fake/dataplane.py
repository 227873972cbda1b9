"""An in-memory kernel: namespaces, links, addresses, routes, rules, sysctls, nft tables.

It keeps the kernel's bookkeeping that plans rely on: a new namespace holds a down ``lo`` and
the three default rules; ``lo`` gets 127.0.0.1/8 when it comes up; an address shorter than /32
on an up link (not ``lo``) adds its connected route to main; removing a link removes its peer,
their addresses and every route through either. It refuses what the kernel refuses, with the
same errno: a missing namespace (ENOENT), a missing link (ENODEV), a gateway no link- or
host-scope route covers on that link (ENETUNREACH), a route through a down link other than a
host route (ENETDOWN), a sysctl of a missing link (ENOENT). ``tests/kernel/dataplane`` holds the
two to the same states and errors.
"""

from __future__ import annotations

import errno as errnos
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from intranode.dataplane.ledgering import apply_recorded, forget_netns
from intranode.dataplane.protocol import Ledger, LinkCounters, ObjectKind, refused
from intranode.domain.netplan import (
    LOCAL_TABLE,
    MAIN_TABLE,
    AddAddress,
    Address,
    AddRoute,
    AddRule,
    CreateNetns,
    CreateVethPair,
    DeleteLink,
    DeleteNetns,
    DeleteNftTable,
    DeleteRoute,
    DeleteRule,
    LinkState,
    LinkUp,
    NetnsState,
    NftRuleset,
    Op,
    Route,
    Rule,
    SetSysctl,
)

_DEFAULT_RULES = (Rule(0, LOCAL_TABLE), Rule(32766, MAIN_TABLE), Rule(32767, 253))


@dataclass
class _Link:
    kind: str
    mtu: int
    up: bool = False
    peer: tuple[str, str] | None = None


@dataclass
class _Netns:
    links: dict[str, _Link] = field(default_factory=lambda: {"lo": _Link("loopback", 65536)})
    addresses: list[Address] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=lambda: list(_DEFAULT_RULES))
    sysctls: dict[str, int] = field(default_factory=dict)
    nft: dict[str, NftRuleset] = field(default_factory=dict)


class FakeDataplane:
    """:class:`~intranode.dataplane.protocol.Dataplane` in memory. ``namespaces`` and
    :meth:`ruleset` let tests look inside; ``applied`` lists every operation run."""

    def __init__(self, ledger: Ledger, sysctl_defaults: Mapping[str, int] | None = None) -> None:
        """``sysctl_defaults``: what a sysctl never set reads as (else 0); a real namespace
        inherits many from the host, which the fake cannot know."""
        self._ledger = ledger
        self._sysctl_defaults = dict(sysctl_defaults or {})
        self.namespaces: dict[str, _Netns] = {}
        self.applied: list[Op] = []

    def close(self) -> None:
        return None

    # -- changes ---------------------------------------------------------------------------------
    def apply(self, ops: Sequence[Op], *, owner: str = "") -> None:
        apply_recorded(ops, owner=owner, ledger=self._ledger, run=self._run, exists=self.exists)

    def delete_netns(self, name: str) -> None:
        self._run(DeleteNetns(name))
        forget_netns(self._ledger, name)

    def _ns(self, name: str, op: Op) -> _Netns:
        ns = self.namespaces.get(name)
        if ns is None:
            raise refused(op.describe(), errnos.ENOENT)
        return ns

    def _link(self, ns: _Netns, dev: str, op: Op) -> _Link:
        link = ns.links.get(dev)
        if link is None:
            raise refused(op.describe(), errnos.ENODEV)
        return link

    def _run(self, op: Op) -> None:
        self.applied.append(op)
        if isinstance(op, CreateNetns):
            self.namespaces.setdefault(op.ns, _Netns())
        elif isinstance(op, DeleteNetns):
            for dev in list(self.namespaces.get(op.ns, _Netns()).links):
                self._remove_link(op.ns, dev)
            self.namespaces.pop(op.ns, None)
        elif isinstance(op, CreateVethPair):
            self._create_veth(op)
        elif isinstance(op, DeleteLink):
            self._remove_link(op.ns, op.name)
        elif isinstance(op, LinkUp):
            self._link_up(op)
        elif isinstance(op, AddAddress):
            self._add_address(op)
        elif isinstance(op, AddRoute):
            self._add_route(op)
        elif isinstance(op, DeleteRoute):
            if op.ns in self.namespaces:
                ns = self.namespaces[op.ns]
                match = next((r for r in ns.routes if op.matches(r)), None)
                if match is not None:
                    ns.routes.remove(match)
        elif isinstance(op, AddRule):
            ns = self._ns(op.ns, op)
            if op.rule not in ns.rules:
                ns.rules.append(op.rule)
                ns.rules.sort(key=lambda r: r.priority)
        elif isinstance(op, DeleteRule):
            if op.ns in self.namespaces and op.rule in self.namespaces[op.ns].rules:
                self.namespaces[op.ns].rules.remove(op.rule)
        elif isinstance(op, SetSysctl):
            self._set_sysctl(op)
        elif isinstance(op, NftRuleset):
            self._ns(op.ns, op).nft[f"{op.family} {op.table}"] = op
        elif isinstance(op, DeleteNftTable):
            self.namespaces.get(op.ns, _Netns()).nft.pop(f"{op.family} {op.table}", None)

    def _create_veth(self, op: CreateVethPair) -> None:
        a, b = self._ns(op.ns_a, op), self._ns(op.ns_b, op)
        if op.name_a in a.links or op.name_b in b.links:
            if op.name_a in a.links and op.name_b in b.links:
                return
            raise refused(op.describe(), errnos.EEXIST)
        a.links[op.name_a] = _Link("veth", op.mtu, peer=(op.ns_b, op.name_b))
        b.links[op.name_b] = _Link("veth", op.mtu, peer=(op.ns_a, op.name_a))

    def _remove_link(self, ns_name: str, dev: str) -> None:
        ns = self.namespaces.get(ns_name)
        if ns is None or dev not in ns.links:
            return
        link = ns.links.pop(dev)
        ns.addresses = [a for a in ns.addresses if a.dev != dev]
        ns.routes = [r for r in ns.routes if r.dev != dev]
        if link.peer is not None:
            self._remove_link(*link.peer)

    def _link_up(self, op: LinkUp) -> None:
        ns = self._ns(op.ns, op)
        link = self._link(ns, op.dev, op)
        if link.up:
            return
        link.up = True
        if link.kind == "loopback":
            ns.addresses.append(Address(op.dev, "127.0.0.1/8"))
        for address in ns.addresses:
            if address.dev == op.dev and link.kind != "loopback":
                self._connected_route(ns, address)

    def _add_address(self, op: AddAddress) -> None:
        ns = self._ns(op.ns, op)
        link = self._link(ns, op.dev, op)
        if op.address in ns.addresses:
            return
        ns.addresses.append(op.address)
        if link.up and link.kind != "loopback":
            self._connected_route(ns, op.address)

    @staticmethod
    def _connected_route(ns: _Netns, address: Address) -> None:
        iface = ipaddress.IPv4Interface(address.cidr)
        if iface.network.prefixlen == 32:
            return
        ns.routes.append(Route(str(iface.network), address.dev, scope="link", src=str(iface.ip)))

    def _add_route(self, op: AddRoute) -> None:
        ns = self._ns(op.ns, op)
        link = self._link(ns, op.dev, op)
        if op.via and not op.onlink:
            if not _reachable(ns.routes, op.via, op.dev, op.table):
                raise refused(op.describe(), errnos.ENETUNREACH)
            if not link.up:
                raise refused(op.describe(), errnos.ENETDOWN)
        elif not link.up and (op.onlink or op.scope != "host"):
            raise refused(op.describe(), errnos.ENETDOWN)
        new = op.route
        for i, route in enumerate(ns.routes):
            if (route.table, route.dst) == (new.table, new.dst):
                ns.routes[i] = new
                return
        ns.routes.append(new)

    def _set_sysctl(self, op: SetSysctl, *, check_only: bool = False) -> None:
        ns = self._ns(op.ns, op)
        parts = op.key.split(".")
        if parts[:3] in (["net", "ipv4", "conf"], ["net", "ipv6", "conf"]):
            dev = parts[3]
            if dev not in ("all", "default") and dev not in ns.links:
                raise refused(op.describe(), errnos.ENOENT)
        if not check_only:
            ns.sysctls[op.key] = op.value

    # -- observation -----------------------------------------------------------------------------
    def exists(self, kind: ObjectKind, netns: str, name: str) -> bool:
        if kind == "netns":
            return name in self.namespaces
        ns = self.namespaces.get(netns)
        if ns is None:
            return False
        return name in (ns.links if kind == "link" else ns.nft)

    def read_state(self, netns: str, sysctls: Iterable[str] = ()) -> NetnsState:
        ns = self.namespaces.get(netns)
        if ns is None:
            raise refused(f"network namespace {netns}", errnos.ENOENT)
        return NetnsState(
            ns=netns,
            links=tuple(LinkState(n, lk.kind, lk.mtu, lk.up) for n, lk in ns.links.items()),
            addresses=tuple(ns.addresses),
            routes=tuple(ns.routes),
            rules=tuple(ns.rules),
            nft_tables=tuple(ns.nft),
            sysctls={key: self.read_sysctl(netns, key) for key in sysctls},
        ).canonical()

    def read_sysctl(self, netns: str, key: str) -> int:
        ns = self.namespaces.get(netns)
        if ns is None:
            raise refused(f"network namespace {netns}", errnos.ENOENT)
        self._set_sysctl(SetSysctl(netns, key, 0), check_only=True)
        return ns.sysctls.get(key, self._sysctl_defaults.get(key, 0))

    def counters(self, netns: str) -> Mapping[str, LinkCounters]:
        ns = self.namespaces.get(netns)
        if ns is None:
            raise refused(f"network namespace {netns}", errnos.ENOENT)
        return {name: LinkCounters(0, 0, 0, 0) for name in ns.links}

    def ruleset(self, netns: str, family: str, table: str) -> NftRuleset | None:
        ns = self.namespaces.get(netns)
        return None if ns is None else ns.nft.get(f"{family} {table}")


def _reachable(routes: list[Route], gateway: str, dev: str, table: int) -> bool:
    """The kernel accepts a gateway that a link- or host-scope route without a gateway covers
    on the same device, looked up in the route's table and then in main."""
    gw = ipaddress.IPv4Address(gateway)
    for route in routes:
        usable = route.table in (table, MAIN_TABLE) and route.via is None and route.dev == dev
        if usable and route.scope != "global" and gw in ipaddress.IPv4Network(route.dst):
            return True
    return False
