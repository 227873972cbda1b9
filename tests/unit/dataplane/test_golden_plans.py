"""Plans are pure: each plan function's output is held to a reviewed golden file.

A golden file holds the plan twice: as the ``ip``/``nft`` commands a reviewer reads
(``describe``) and as the typed operations (``ops``). After an intended change, regenerate
with ``INTRANODE_REGEN_GOLDEN=1 .venv/bin/pytest tests/unit/dataplane/test_golden_plans.py``
and review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from intranode.domain import netplan
from intranode.domain.netplan import NodeNetworking, Op

from .topo import topo

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("INTRANODE_REGEN_GOLDEN") == "1"

T = topo()
N1, N2 = T.nodes
P1 = T.pods[0]

PLANS: dict[str, Callable[[], tuple[Op, ...]]] = {
    "router_new": lambda: netplan.router_ops(T.router, ()),
    "router_with_nodes": lambda: netplan.router_ops(T.router, T.nodes),
    "node": lambda: netplan.node_ops(N1, T.router),
    "pod": lambda: netplan.pod_ops(P1, N1),
    "inv_on": lambda: netplan.inv_ops(N1, True),
    "inv_off": lambda: netplan.inv_ops(N1, False),
    "ip_masq_default": lambda: netplan.ip_masq_ops(N1),
    "ip_masq_custom": lambda: netplan.ip_masq_ops(
        N1, ["10.128.0.0/9", "fd00::/8"], masq_link_local=True
    ),
    "network": lambda: netplan.network_ops(
        T.router, T.nodes, T.pods, {N1.short_id: NodeNetworking(intra_node_visibility=True)}
    ),
}


def _render(ops: tuple[Op, ...]) -> str:
    doc = {"describe": [op.describe() for op in ops], "ops": [netplan.to_dict(op) for op in ops]}
    return json.dumps(doc, indent=2) + "\n"


@pytest.mark.parametrize("name", sorted(PLANS))
def test_plan_matches_its_golden_file(name: str) -> None:
    path = GOLDEN / f"{name}.json"
    text = _render(PLANS[name]())
    if REGEN:
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}; regenerate with INTRANODE_REGEN_GOLDEN=1"
    assert text == path.read_text(), f"{name} plan changed; review and regenerate"


def test_every_golden_file_belongs_to_a_plan() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(PLANS)
