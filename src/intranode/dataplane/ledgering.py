"""The ledger discipline both dataplanes follow when they apply a plan.

Before an operation creates a namespace, a veth or an nftables table, the object is recorded
(so a crash right after leaves a row a restart can act on); if the kernel refuses and nothing
was made, the row is dropped again; after an operation removes an object, its row — and the
rows of everything that went with it, e.g. each veth with an end in a deleted namespace — go.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from intranode.dataplane.protocol import Ledger, ObjectKind
from intranode.domain.netplan import (
    LEDGER_NETNS,
    LEDGER_NFT_TABLE,
    LEDGER_VETH,
    CreateNetns,
    CreateVethPair,
    DeleteLink,
    DeleteNetns,
    DeleteNftTable,
    NftRuleset,
    Op,
)
from intranode.errors import DataplaneError


@dataclass(frozen=True)
class _Creation:
    kind: str  # the ledger's kind
    netns: str
    name: str
    data: dict[str, str]
    object_kind: ObjectKind  # what to ask ``exists`` about


def _creation(op: Op) -> _Creation | None:
    if isinstance(op, CreateNetns):
        return _Creation(LEDGER_NETNS, "", op.ns, {}, "netns")
    if isinstance(op, CreateVethPair):
        data = {"peer_netns": op.ns_b, "peer_name": op.name_b}
        return _Creation(LEDGER_VETH, op.ns_a, op.name_a, data, "link")
    if isinstance(op, NftRuleset):
        data = {"family": op.family, "table": op.table}
        return _Creation(LEDGER_NFT_TABLE, op.ns, f"{op.family} {op.table}", data, "nft_table")
    return None


def forget_netns(ledger: Ledger, netns: str) -> None:
    """A namespace is gone, and with it what lived in it and each veth with an end in it."""
    for entry in ledger.entries_touching(netns):
        ledger.forget(entry.kind, entry.netns, entry.name)


def _forget_removed(ledger: Ledger, op: Op) -> None:
    if isinstance(op, DeleteNetns):
        forget_netns(ledger, op.ns)
    elif isinstance(op, DeleteLink):
        for entry in ledger.entries_touching(op.ns):
            if entry.kind != LEDGER_VETH:
                continue
            peer = (entry.data.get("peer_netns"), entry.data.get("peer_name"))
            if (entry.netns, entry.name) == (op.ns, op.name) or peer == (op.ns, op.name):
                ledger.forget(entry.kind, entry.netns, entry.name)
    elif isinstance(op, DeleteNftTable):
        ledger.forget(LEDGER_NFT_TABLE, op.ns, f"{op.family} {op.table}")


def apply_recorded(
    ops: Sequence[Op],
    *,
    owner: str,
    ledger: Ledger,
    run: Callable[[Op], None],
    exists: Callable[[ObjectKind, str, str], bool],
) -> None:
    """Apply ``ops`` one by one with ``run``, keeping ``ledger`` true to the kernel."""
    for op in ops:
        new = _creation(op)
        if new is not None:
            ledger.record(new.kind, new.netns, new.name, owner, new.data)
        try:
            run(op)
        except DataplaneError:
            if new is not None and not exists(new.object_kind, new.netns, new.name):
                ledger.forget(new.kind, new.netns, new.name)
            raise
        _forget_removed(ledger, op)
