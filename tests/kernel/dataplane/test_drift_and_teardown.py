"""Drift is found and repaired by re-applying the plan; teardown leaves the host as it was;
the fake kernel holds the same state and refuses the same mistakes as the real one."""

from __future__ import annotations

import asyncio
import errno
import re
import subprocess

import pytest

from intranode.dataplane.fake import FakeDataplane, MemoryLedger
from intranode.dataplane.linux import LinuxDataplane
from intranode.dataplane.protocol import Dataplane
from intranode.dataplane.teardown import teardown
from intranode.domain import netplan
from intranode.domain.netplan import (
    AddRoute,
    CreateNetns,
    CreateVethPair,
    LinkUp,
    NetnsState,
    NftRuleset,
    Op,
    SetSysctl,
    unsatisfied,
)
from intranode.errors import DataplaneError
from intranode.store.db import Database
from intranode.store.ledger import SqliteLedger

from .conftest import Kernel, Network, host_links, make_network, netns_list
from .traffic import ping

pytestmark = pytest.mark.kernel


def _observe(dp: Dataplane, ops: tuple[Op, ...], namespaces: list[str]) -> dict[str, NetnsState]:
    keys = netplan.sysctl_keys(ops)
    present = [ns for ns in namespaces if dp.exists("netns", "", ns)]
    return {ns: dp.read_state(ns, keys.get(ns, ())) for ns in present}


def _namespaces(net: Network) -> list[str]:
    return [net.router.netns, net.n1.netns, net.n2.netns, *(p.netns for p in net.pods)]


def test_a_deleted_pod_veth_is_drift_and_re_applying_repairs_it(
    kernel: Kernel, net: Network
) -> None:
    a, b = net.pods[0], net.pods[1]
    plan = net.ops()
    assert unsatisfied(plan, _observe(kernel.dp, plan, _namespaces(net))) == ()
    subprocess.run(["ip", "-n", net.n1.netns, "link", "del", a.node_link], check=True)
    assert ping(a.netns, b.ip).received == 0
    missing = unsatisfied(plan, _observe(kernel.dp, plan, _namespaces(net)))
    assert CreateVethPair(net.n1.netns, a.node_link, a.netns, "eth0", 1460) in missing
    assert AddRoute(net.n1.netns, f"{a.ip}/32", a.node_link, scope="host") in missing
    kernel.dp.apply(plan)
    assert unsatisfied(plan, _observe(kernel.dp, plan, _namespaces(net))) == ()
    assert ping(a.netns, b.ip).received == 1


def _settled(names: list[str], mine: str) -> list[str]:
    """Namespaces other than those of concurrent test runs (``t<4 hex>-``), which come and go
    on their own; ours are kept so that a leftover shows."""
    return sorted(n for n in names if n.startswith(mine) or not re.match(r"t[0-9a-f]{4}-", n))


def test_teardown_leaves_netns_list_and_host_links_exactly_as_before(kernel: Kernel) -> None:
    before_ns, before_links = _settled(netns_list(), kernel.prefix), host_links()
    net = make_network(kernel.names)
    kernel.dp.apply(net.ops(inv=True), owner="net")
    assert set(_namespaces(net)) <= set(netns_list())
    assert host_links() == before_links  # links were made inside namespaces only
    assert teardown(kernel.ledger, kernel.dp) == []
    assert kernel.ledger.entries() == []
    assert _settled(netns_list(), kernel.prefix) == before_ns
    assert host_links() == before_links


def test_the_fake_holds_the_same_state_as_the_kernel(kernel: Kernel, net: Network) -> None:
    plan = net.ops(inv=True)
    kernel.dp.apply(plan)
    fake = FakeDataplane(MemoryLedger())
    fake.apply(plan)
    namespaces = _namespaces(net)
    assert _observe(fake, plan, namespaces) == _observe(kernel.dp, plan, namespaces)


REFUSALS: list[tuple[str, int]] = [
    ("veth into a missing namespace", errno.ENOENT),
    ("link up of a missing link", errno.ENODEV),
    ("route through a down link", errno.ENETDOWN),
    ("route via a gateway not on-link", errno.ENETUNREACH),
    ("route via a gateway on a down link", errno.ENETDOWN),
    ("sysctl of a missing link", errno.ENOENT),
    ("nft table in a missing namespace", errno.ENOENT),
]


def _refusal(prefix: str, what: str) -> tuple[list[Op], Op]:
    n, p = f"{prefix}n-0001", f"{prefix}p-0001"
    setup: list[Op] = [CreateNetns(n)]
    if what == "veth into a missing namespace":
        return setup, CreateVethPair(n, "p-0001", p, "eth0", 1460)
    setup += [CreateNetns(p), CreateVethPair(n, "p-0001", p, "eth0", 1460)]
    ops: dict[str, Op] = {
        "link up of a missing link": LinkUp(n, "p-ffff"),
        "route through a down link": AddRoute(n, "10.52.0.0/24", "p-0001", scope="link"),
        "route via a gateway not on-link": AddRoute(p, "0.0.0.0/0", "eth0", via="10.52.0.1"),
        "route via a gateway on a down link": AddRoute(
            n, "10.53.0.0/24", "p-0001", via="10.52.0.2"
        ),
        "sysctl of a missing link": SetSysctl(n, "net.ipv4.conf.p-ffff.rp_filter", 2),
        "nft table in a missing namespace": NftRuleset(f"{prefix}p-ffff", "ip", "x", "[]"),
    }
    if what == "route via a gateway not on-link":
        setup.append(LinkUp(p, "eth0"))
    if what == "route via a gateway on a down link":
        setup.append(AddRoute(n, "10.52.0.2/32", "p-0001", scope="host"))
    return setup, ops[what]


@pytest.mark.parametrize(("what", "code"), REFUSALS)
def test_the_fake_refuses_what_the_kernel_refuses_with_the_same_error(
    kernel: Kernel, what: str, code: int
) -> None:
    setup, bad = _refusal(kernel.prefix, what)
    fake = FakeDataplane(MemoryLedger())
    errors = []
    for dp in (kernel.dp, fake):
        dp.apply(setup)
        with pytest.raises(DataplaneError) as err:
            dp.apply([bad])
        errors.append((err.value.errno, str(err.value)))
    assert errors[0] == errors[1]
    assert errors[0][0] == code


def test_a_refused_creation_leaves_no_ledger_row(kernel: Kernel) -> None:
    n = f"{kernel.prefix}n-0001"
    kernel.dp.apply([CreateNetns(n)], owner="t")
    with pytest.raises(DataplaneError):
        kernel.dp.apply([CreateVethPair(n, "p-0001", f"{kernel.prefix}p-0001", "eth0", 1460)])
    assert [(e.kind, e.name) for e in kernel.ledger.entries()] == [("netns", n)]


def test_a_restarted_dataplane_tears_down_what_an_earlier_one_recorded(kernel: Kernel) -> None:
    net = make_network(kernel.names)
    kernel.dp.apply(net.ops(), owner="net")
    # A second dataplane over the same database stands in for a restarted daemon.
    assert kernel.ledger.db.path is not None
    db = Database(kernel.ledger.db.path)
    again = LinuxDataplane(SqliteLedger(db))
    try:
        assert teardown(SqliteLedger(db), again) == []
    finally:
        again.close()
        db.close()
    assert [n for n in netns_list() if n.startswith(kernel.prefix)] == []


def test_the_dataplane_serves_asyncio_code_through_to_thread(kernel: Kernel) -> None:
    """The daemon calls the dataplane from its event loop with ``asyncio.to_thread``: sync
    pyroute2 would fail inside a running loop, so all netlink work runs on the kernel thread."""
    ns = f"{kernel.prefix}n-0001"

    async def main() -> NetnsState:
        dp = LinuxDataplane(kernel.ledger)  # made inside the running loop, as the daemon would
        try:
            await asyncio.to_thread(dp.apply, [CreateNetns(ns), LinkUp(ns, "lo")], owner="t")
            return await asyncio.to_thread(dp.read_state, ns)
        finally:
            await asyncio.to_thread(dp.close)

    state = asyncio.run(main())
    lo = state.link("lo")
    assert lo is not None and lo.up
    assert [(e.kind, e.name) for e in kernel.ledger.entries()] == [("netns", ns)]
