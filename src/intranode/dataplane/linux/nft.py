"""nftables through ``ip netns exec <ns> nft -j -f -``: one atomic transaction per table.

The time goes to libnftables, not to the process (measured: a 2000-rule ruleset loads in
0.59 s by ``nft -j`` and 0.56 s in-process), so a subprocess costs nothing that matters and
needs no thread to ``setns``. Raises ``subprocess.CalledProcessError`` with nft's stderr.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from intranode.domain.netplan import NftRuleset


def _run(netns: str, args: list[str], stdin: str | None = None) -> str:
    proc = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(
            proc.returncode, proc.args, output=proc.stdout, stderr=proc.stderr
        )
    return proc.stdout


def _table(family: str, name: str) -> dict[str, Any]:
    return {"table": {"family": family, "name": name}}


def replace_table(op: NftRuleset) -> None:
    """Swap the table for ``op``'s contents in one transaction: ``add`` (so ``delete`` cannot
    fail), ``delete``, ``add`` again, then the chains and rules."""
    table = _table(op.family, op.table)
    commands = [{"add": table}, {"delete": table}, {"add": table}, *op.commands()]
    _run(op.ns, ["-j", "-f", "-"], json.dumps({"nftables": commands}))


def delete_table(netns: str, family: str, name: str) -> None:
    """Remove a table; one that does not exist is already removed (``add`` then ``delete``
    in one transaction never fails for a missing table)."""
    table = _table(family, name)
    _run(netns, ["-j", "-f", "-"], json.dumps({"nftables": [{"add": table}, {"delete": table}]}))


def list_tables(netns: str) -> tuple[str, ...]:
    """The namespace's tables as ``"<family> <name>"``."""
    data = json.loads(_run(netns, ["-j", "list", "tables"]))
    return tuple(
        f"{item['table']['family']} {item['table']['name']}"
        for item in data.get("nftables", [])
        if "table" in item
    )
