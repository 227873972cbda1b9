"""The fake kernel: plans build the ptp/netd layout, re-applying converges, mistakes are
refused with the kernel's errno, drift is found and repaired, teardown leaves nothing."""

from __future__ import annotations

import errno

import pytest

from intranode.dataplane.fake import FakeDataplane
from intranode.dataplane.protocol import Ledger
from intranode.dataplane.teardown import teardown
from intranode.domain import netplan
from intranode.domain.netplan import (
    AddRoute,
    CreateNetns,
    CreateVethPair,
    DeleteLink,
    LinkUp,
    NetnsState,
    NodeNetworking,
    Op,
    Route,
    Rule,
    SetSysctl,
    unsatisfied,
)
from intranode.errors import DataplaneError

from .topo import topo

T = topo()
N1, N2 = T.nodes
P1, P2, P3 = T.pods
ALL_NS = [T.router.netns, N1.netns, N2.netns, P1.netns, P2.netns, P3.netns]


def _plan(inv: bool = False) -> tuple[Op, ...]:
    conf = {N1.short_id: NodeNetworking(intra_node_visibility=inv)}
    return netplan.network_ops(T.router, T.nodes, T.pods, conf)


def _observe(fake: FakeDataplane, ops: tuple[Op, ...]) -> dict[str, NetnsState]:
    keys = netplan.sysctl_keys(ops)
    return {ns: fake.read_state(ns, keys.get(ns, ())) for ns in fake.namespaces}


def test_a_network_plan_builds_the_ptp_layout_and_is_then_satisfied(fake: FakeDataplane) -> None:
    plan = _plan()
    fake.apply(plan, owner="net")
    assert unsatisfied(plan, _observe(fake, plan)) == ()
    pod = fake.read_state(P1.netns)
    assert set(pod.routes) == {
        Route("10.52.0.1/32", "eth0", scope="link", src="10.52.0.2"),
        Route("10.52.0.0/24", "eth0", via="10.52.0.1", src="10.52.0.2"),
        Route("0.0.0.0/0", "eth0", via="10.52.0.1"),
    }
    node = fake.read_state(N1.netns)
    assert {(a.dev, a.cidr) for a in node.addresses if a.dev.startswith("p-")} == {
        ("p-b001", "10.52.0.1/32"),
        ("p-b002", "10.52.0.1/32"),
    }
    assert Route("10.52.0.3/32", "p-b002", scope="host") in node.routes
    router = fake.read_state(T.router.netns)
    assert Route("10.52.1.0/24", "n-0a02", via="10.128.0.3") in router.routes
    assert node.nft_tables == ("ip ip_masq_agent",)


def test_re_applying_a_plan_changes_nothing(fake: FakeDataplane, ledger: Ledger) -> None:
    plan = _plan(inv=True)
    fake.apply(plan, owner="net")
    before, rows = _observe(fake, plan), ledger.entries()
    fake.apply(plan, owner="net")
    assert _observe(fake, plan) == before
    assert ledger.entries() == rows


def test_every_namespace_veth_and_table_is_in_the_ledger_before_teardown(
    fake: FakeDataplane, ledger: Ledger
) -> None:
    fake.apply(_plan(inv=True), owner="net")
    kinds = [(e.kind, e.netns, e.name) for e in ledger.entries()]
    assert [k for k in kinds if k[0] == "netns"] == [("netns", "", ns) for ns in ALL_NS]
    assert ("veth", N1.netns, "p-b001") in kinds
    assert ("veth", T.router.netns, "n-0a02") in kinds
    assert ("nft_table", N1.netns, "ip netd") in kinds
    assert ("nft_table", N2.netns, "ip netd") not in kinds  # INV is off there


def test_a_veth_into_a_missing_namespace_is_refused_and_not_recorded(
    fake: FakeDataplane, ledger: Ledger
) -> None:
    fake.apply([CreateNetns("in-n-0a01")])
    op = CreateVethPair("in-n-0a01", "p-b001", "in-p-b001", "eth0", 1460)
    with pytest.raises(DataplaneError) as err:
        fake.apply([op])
    assert err.value.errno == errno.ENOENT
    assert str(err.value) == f"{op.describe()}: No such file or directory"
    assert [e.name for e in ledger.entries()] == ["in-n-0a01"]
    assert fake.read_state("in-n-0a01").link("p-b001") is None


@pytest.mark.parametrize(
    ("op", "code"),
    [
        (LinkUp(N1.netns, "p-ffff"), errno.ENODEV),
        (AddRoute(N1.netns, "10.9.0.0/16", "eth0", via="192.0.2.1"), errno.ENETUNREACH),
        (AddRoute("in-n-ffff", "10.9.0.0/16", "eth0"), errno.ENOENT),
        (SetSysctl(N1.netns, "net.ipv4.conf.p-ffff.rp_filter", 2), errno.ENOENT),
    ],
)
def test_what_the_kernel_refuses_the_fake_refuses_with_the_same_errno(
    fake: FakeDataplane, op: Op, code: int
) -> None:
    fake.apply(_plan())
    before = _observe(fake, ())
    with pytest.raises(DataplaneError) as err:
        fake.apply([op])
    assert err.value.errno == code
    assert _observe(fake, ()) == before


def test_only_host_routes_may_go_through_a_down_link(fake: FakeDataplane) -> None:
    fake.apply([CreateNetns("in-n-0001"), CreateNetns("in-p-0001")])
    fake.apply([CreateVethPair("in-n-0001", "p-0001", "in-p-0001", "eth0", 1460)])
    with pytest.raises(DataplaneError) as err:
        fake.apply([AddRoute("in-n-0001", "10.52.0.0/24", "p-0001", scope="link")])
    assert err.value.errno == errno.ENETDOWN
    with pytest.raises(DataplaneError) as err:
        fake.apply([AddRoute("in-n-0001", "10.53.0.0/24", "p-0001", via="10.52.0.2")])
    assert err.value.errno == errno.ENETUNREACH
    fake.apply([AddRoute("in-n-0001", "10.52.0.2/32", "p-0001", scope="host")])
    with pytest.raises(DataplaneError) as err:
        fake.apply([AddRoute("in-n-0001", "10.53.0.0/24", "p-0001", via="10.52.0.2")])
    assert err.value.errno == errno.ENETDOWN


def test_a_deleted_pod_veth_is_found_as_drift_and_repaired_by_re_applying(
    fake: FakeDataplane,
) -> None:
    plan = _plan()
    fake.apply(plan)
    fake.apply([DeleteLink(N1.netns, "p-b001")])
    assert fake.read_state(P1.netns).link("eth0") is None  # the peer went with it
    missing = unsatisfied(plan, _observe(fake, plan))
    assert CreateVethPair(N1.netns, "p-b001", P1.netns, "eth0", 1460) in missing
    assert AddRoute(N1.netns, "10.52.0.2/32", "p-b001", scope="host") in missing
    assert all(getattr(op, "ns", None) in (N1.netns, P1.netns) for op in missing)
    fake.apply(plan)
    assert unsatisfied(plan, _observe(fake, plan)) == ()


def test_disabling_inv_removes_all_of_it(fake: FakeDataplane) -> None:
    fake.apply(_plan(inv=False))
    keys = ("net.ipv4.conf.eth0.rp_filter", "net.ipv4.conf.all.src_valid_mark")
    off = fake.read_state(N1.netns, keys)
    fake.apply(netplan.inv_ops(N1, True))
    on = fake.read_state(N1.netns, keys)
    assert Rule(76, 1, not_iif="eth0") in on.rules
    assert Route("0.0.0.0/0", "eth0", via="10.128.0.1", table=1) in on.routes
    assert on.sysctls == {keys[0]: 2, keys[1]: 1}
    assert "ip netd" in on.nft_tables
    fake.apply(netplan.inv_ops(N1, False))
    assert fake.read_state(N1.netns, keys) == off
    assert off.sysctls == {keys[0]: 1, keys[1]: 0}


def test_unsatisfied_tells_which_removals_are_still_to_do(fake: FakeDataplane) -> None:
    fake.apply(_plan(inv=True))
    off = netplan.inv_ops(N1, False)
    todo = unsatisfied(off, _observe(fake, off))
    assert [type(op).__name__ for op in todo] == [
        *["DeleteRule"] * 7,
        "DeleteRoute",
        "DeleteNftTable",
        "SetSysctl",
        "SetSysctl",
    ]
    fake.apply(off)
    assert unsatisfied(off, _observe(fake, off)) == ()
    assert unsatisfied([netplan.DeleteNetns("in-p-ffff")], _observe(fake, ())) == ()


def test_deleting_a_node_namespace_takes_its_router_link_and_routes(fake: FakeDataplane) -> None:
    fake.apply(_plan())
    fake.delete_netns(N2.netns)
    router = fake.read_state(T.router.netns)
    assert router.link("n-0a02") is None
    assert all(r.dev != "n-0a02" for r in router.routes)
    assert fake.read_state(P3.netns).link("eth0") is None  # its node end is gone


def test_teardown_removes_everything_the_ledger_lists(fake: FakeDataplane, ledger: Ledger) -> None:
    fake.apply(_plan(inv=True), owner="net")
    assert teardown(ledger, fake) == []
    assert fake.namespaces == {}
    assert ledger.entries() == []


def test_teardown_of_one_owner_leaves_the_others(fake: FakeDataplane, ledger: Ledger) -> None:
    fake.apply(netplan.network_ops(T.router, T.nodes, ()), owner="net")
    fake.apply(netplan.pod_ops(P1, N1), owner="pod-1")
    fake.apply(netplan.pod_ops(P2, N1), owner="pod-2")
    teardown(ledger, fake, owner="pod-1")
    assert P1.netns not in fake.namespaces and P2.netns in fake.namespaces
    assert fake.read_state(N1.netns).link("p-b001") is None
    assert {e.owner for e in ledger.entries()} == {"net", "pod-2"}
    assert ("veth", N1.netns, "p-b001") not in [(e.kind, e.netns, e.name) for e in ledger.entries()]


def test_plans_refuse_inconsistent_input() -> None:
    with pytest.raises(ValueError, match="belongs to node 0a01, not 0a02"):
        netplan.pod_ops(P1, N2)
    with pytest.raises(ValueError, match=r"invalid nonMasqueradeCIDR '10\.0\.0\.0/33'"):
        netplan.ip_masq_ops(N1, ["10.0.0.0/33"])
    with pytest.raises(ValueError, match="not listed"):
        netplan.network_ops(T.router, (N2, N2), (P1,))
