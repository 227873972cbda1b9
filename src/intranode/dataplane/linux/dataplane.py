"""The Linux data plane: plans applied to real network namespaces (needs root).

Netlink, sysctls and namespace system calls run on one kernel thread
(:mod:`~intranode.dataplane.linux.nsthread`); nftables runs as ``nft -j`` in the namespace
(:mod:`~intranode.dataplane.linux.nft`). The ledger is written from the caller's thread, before
each creation and after each removal (:mod:`~intranode.dataplane.ledgering`). Library errors
become :class:`~intranode.errors.DataplaneError` carrying the errno (netlink, system calls) or
nft's exit code and stderr.
"""

from __future__ import annotations

import errno as errnos
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from pyroute2.netlink.exceptions import NetlinkError

from intranode.dataplane.ledgering import apply_recorded, forget_netns
from intranode.dataplane.linux import nft
from intranode.dataplane.linux.netlink import Netlink
from intranode.dataplane.linux.nsthread import NamespaceThread, netns_exists, sysctl_path
from intranode.dataplane.protocol import Ledger, LinkCounters, ObjectKind, refused
from intranode.domain.netplan import (
    AddAddress,
    AddRoute,
    AddRule,
    CreateNetns,
    CreateVethPair,
    DeleteLink,
    DeleteNetns,
    DeleteNftTable,
    DeleteRoute,
    DeleteRule,
    LinkUp,
    NetnsState,
    NftRuleset,
    Op,
    SetSysctl,
)
from intranode.errors import DataplaneError

T = TypeVar("T")


def _translated(what: str, fn: Callable[[], T]) -> T:
    """Run ``fn``; errors from pyroute2, system calls and nft become ``DataplaneError``."""
    try:
        return fn()
    except NetlinkError as exc:
        raise refused(what, exc.code) from exc
    except subprocess.CalledProcessError as exc:
        stderr = (exc.stderr or "").strip()
        raise DataplaneError(
            f"{what}: exit status {exc.returncode}: {stderr}", errno=exc.returncode, stderr=stderr
        ) from exc
    except OSError as exc:
        raise refused(what, exc.errno if exc.errno is not None else errnos.EIO) from exc


def _missing_netns(netns: str) -> DataplaneError:
    return refused(f"network namespace {netns}", errnos.ENOENT)


class LinuxDataplane:
    """:class:`~intranode.dataplane.protocol.Dataplane` on the running kernel."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._thread = NamespaceThread()
        self._netlink = Netlink(self._thread)

    def close(self) -> None:
        self._thread.run(self._netlink.close)
        self._thread.close()

    # -- changes ---------------------------------------------------------------------------------
    def apply(self, ops: Sequence[Op], *, owner: str = "") -> None:
        apply_recorded(ops, owner=owner, ledger=self._ledger, run=self._run, exists=self.exists)

    def delete_netns(self, name: str) -> None:
        self._run(DeleteNetns(name))
        forget_netns(self._ledger, name)

    def _run(self, op: Op) -> None:
        if isinstance(op, NftRuleset | DeleteNftTable):
            # A subprocess: no need for the kernel thread.
            _translated(op.describe(), lambda: self._nft(op))
            return
        self._thread.run(lambda: _translated(op.describe(), lambda: self._kernel(op)))

    def _nft(self, op: NftRuleset | DeleteNftTable) -> None:
        if isinstance(op, DeleteNftTable):
            if netns_exists(op.ns):
                nft.delete_table(op.ns, op.family, op.table)
            return
        if not netns_exists(op.ns):
            raise FileNotFoundError(errnos.ENOENT, "no such network namespace", op.ns)
        nft.replace_table(op)

    def _kernel(self, op: Op) -> None:
        """One operation, on the kernel thread."""
        nl = self._netlink
        if isinstance(op, CreateNetns):
            self._thread.create_netns(op.ns)
        elif isinstance(op, DeleteNetns):
            nl.forget(op.ns)
            self._thread.remove_netns(op.ns)
        elif isinstance(op, CreateVethPair):
            nl.create_veth(op)
        elif isinstance(op, DeleteLink):
            nl.delete_link(op)
        elif isinstance(op, LinkUp):
            nl.link_up(op)
        elif isinstance(op, AddAddress):
            nl.add_address(op)
        elif isinstance(op, AddRoute):
            nl.add_route(op)
        elif isinstance(op, DeleteRoute):
            nl.delete_route(op)
        elif isinstance(op, AddRule):
            nl.add_rule(op)
        elif isinstance(op, DeleteRule):
            nl.delete_rule(op)
        elif isinstance(op, SetSysctl):
            self._write_sysctl(op)
        else:  # nftables operations never come here
            raise TypeError(f"not a kernel-thread operation: {op!r}")

    def _write_sysctl(self, op: SetSysctl) -> None:
        path = sysctl_path(op.key)

        def write() -> None:
            with open(path, "w") as f:
                f.write(f"{op.value}\n")

        self._thread.in_netns(op.ns, write)

    # -- observation -----------------------------------------------------------------------------
    def exists(self, kind: ObjectKind, netns: str, name: str) -> bool:
        if kind == "netns":
            return netns_exists(name)
        if not netns_exists(netns):
            return False
        if kind == "link":
            what = f"look up link {name} in {netns}"
            return self._thread.run(
                lambda: _translated(what, lambda: self._netlink.has_link(netns, name))
            )
        return name in _translated(f"list nft tables of {netns}", lambda: nft.list_tables(netns))

    def read_state(self, netns: str, sysctls: Iterable[str] = ()) -> NetnsState:
        if not netns_exists(netns):
            raise _missing_netns(netns)
        keys = tuple(sysctls)

        def read() -> NetnsState:
            nl = self._netlink
            names, links = nl.links(netns)
            return NetnsState(
                ns=netns,
                links=links,
                addresses=nl.addresses(netns, names),
                routes=nl.routes(netns, names),
                rules=nl.rules(netns),
                sysctls={key: self._read_sysctl(netns, key) for key in keys},
            )

        state = self._thread.run(lambda: _translated(f"read {netns}", read))
        tables = _translated(f"list nft tables of {netns}", lambda: nft.list_tables(netns))
        return NetnsState(
            ns=state.ns,
            links=state.links,
            addresses=state.addresses,
            routes=state.routes,
            rules=state.rules,
            nft_tables=tables,
            sysctls=state.sysctls,
        ).canonical()

    def read_sysctl(self, netns: str, key: str) -> int:
        if not netns_exists(netns):
            raise _missing_netns(netns)
        what = f"ip netns exec {netns} sysctl {key}"
        return self._thread.run(lambda: _translated(what, lambda: self._read_sysctl(netns, key)))

    def _read_sysctl(self, netns: str, key: str) -> int:
        path = sysctl_path(key)

        def read() -> int:
            with open(path) as f:
                return int(f.read().split()[0])

        return self._thread.in_netns(netns, read)

    def counters(self, netns: str) -> Mapping[str, LinkCounters]:
        if not netns_exists(netns):
            raise _missing_netns(netns)
        what = f"ip -n {netns} -s link"
        return self._thread.run(lambda: _translated(what, lambda: self._netlink.counters(netns)))
