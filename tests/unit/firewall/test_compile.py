"""The nftables compiler: each scenario's ruleset is held to a reviewed golden file (the table
as ``nft`` text, then the JSON commands), and the properties every ruleset must have.

After an intended change, regenerate with
``INTRANODE_REGEN_GOLDEN=1 .venv/bin/pytest tests/unit/firewall/test_compile.py`` and review
the diff. The kernel test (``tests/kernel/firewall``) holds the compiled rulesets to the model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from intranode.domain.firewall.compile_nft import (
    DENIED_LOG_GROUP,
    FAMILY,
    TABLE,
    TRACKED_COUNTER,
    Counts,
    compile_router_ruleset,
    counter_hits,
    render,
)
from intranode.domain.firewall.inputs import FirewallInputs, FirewallPolicy, Instance
from intranode.domain.firewall.model import Packet, evaluate, plan

from .scenarios import (
    FOLDER,
    NETWORK,
    NODE_A,
    NODE_B,
    NODE_C,
    ORG,
    POD_RANGE,
    PROJECT,
    WEB_SA,
    gke_and_default,
    inputs,
    policy,
    policy_rule,
    vpc_rule,
)

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("INTRANODE_REGEN_GOLDEN") == "1"
ROUTER = "in-v-default"


def _deny_8080() -> FirewallInputs:
    deny = vpc_rule(
        900,
        name="deny-8080",
        priority=900,
        sourceRanges=[POD_RANGE],
        denied=[{"IPProtocol": "tcp", "ports": ["8080"]}],
        logConfig={"enable": True},
    )
    return inputs(*gke_and_default(), deny)


def _egress_deny_tagged() -> FirewallInputs:
    deny = vpc_rule(
        901,
        name="web-no-egress",
        direction="EGRESS",
        targetTags=["web"],
        destinationRanges=[POD_RANGE, "10.128.0.0/20"],
        denied=[{"IPProtocol": "all"}],
    )
    return inputs(*gke_and_default(), deny)


def _service_account_target() -> FirewallInputs:
    only_web = vpc_rule(
        902,
        name="web-sa-https",
        priority=800,
        sourceRanges=[POD_RANGE],
        targetServiceAccounts=[WEB_SA],
        allowed=[{"IPProtocol": "tcp", "ports": ["443", "8443-8444"]}],
        logConfig={"enable": True},
    )
    deny_rest = vpc_rule(
        903,
        name="web-sa-deny",
        priority=900,
        targetServiceAccounts=[WEB_SA],
        denied=[{"IPProtocol": "tcp"}],
    )
    return inputs(*gke_and_default(), only_web, deny_rest)


def _org_goto_next_folder_deny() -> FirewallInputs:
    org = policy(
        "1001",
        ORG,
        policy_rule(
            1000,
            "goto_next",
            match={"srcIpRanges": [POD_RANGE], "layer4Configs": [{"ipProtocol": "tcp"}]},
        ),
        policy_rule(2000, "allow", match={"layer4Configs": [{"ipProtocol": "icmp"}]}),
    )
    folder = policy(
        "2002",
        FOLDER,
        policy_rule(
            500,
            "deny",
            match={"layer4Configs": [{"ipProtocol": "tcp", "ports": ["8080"]}]},
            enableLogging=True,
        ),
    )
    return inputs(*gke_and_default(), policies=(org, folder))


def _before_classic() -> FirewallInputs:
    allow = vpc_rule(
        904, name="allow-8080", priority=100, allowed=[{"IPProtocol": "tcp", "ports": ["8080"]}]
    )
    netpol = policy(
        "3003",
        NETWORK,
        policy_rule(
            10,
            "deny",
            match={"srcIpRanges": ["10.52.0.0/24"], "layer4Configs": [{"ipProtocol": "tcp"}]},
        ),
        hierarchical=False,
    )
    return inputs(allow, policies=(netpol,), order="BEFORE_CLASSIC_FIREWALL")


def _disabled_rules() -> FirewallInputs:
    off = vpc_rule(
        905, name="deny-all-off", priority=0, denied=[{"IPProtocol": "all"}], disabled=True
    )
    on = vpc_rule(906, name="allow-ssh", allowed=[{"IPProtocol": "tcp", "ports": ["22"]}])
    return inputs(off, on)


def _priority_ties() -> FirewallInputs:
    rules = [
        vpc_rule(
            907, name="a-allow-web", priority=1000, allowed=[{"IPProtocol": "tcp", "ports": ["80"]}]
        ),
        vpc_rule(
            908, name="z-deny-web", priority=1000, denied=[{"IPProtocol": "tcp", "ports": ["80"]}]
        ),
        vpc_rule(909, name="b-allow-all", priority=1000, allowed=[{"IPProtocol": "all"}]),
    ]
    return inputs(*rules)


SCENARIOS: dict[str, Callable[[], FirewallInputs]] = {
    "gke_default": lambda: inputs(*gke_and_default()),
    "deny_8080_from_pods": _deny_8080,
    "egress_deny_tagged_node": _egress_deny_tagged,
    "service_account_target": _service_account_target,
    "org_goto_next_folder_deny": _org_goto_next_folder_deny,
    "before_classic_firewall": _before_classic,
    "disabled_rules": _disabled_rules,
    "priority_ties": _priority_ties,
}


def _render(firewall: FirewallInputs) -> str:
    op = compile_router_ruleset(firewall, ROUTER)
    doc = {"nft": render(op).splitlines(), "commands": op.commands()}
    return json.dumps(doc, indent=1) + "\n"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_ruleset_matches_its_golden_file(name: str) -> None:
    path = GOLDEN / f"{name}.json"
    text = _render(SCENARIOS[name]())
    if REGEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}; regenerate with INTRANODE_REGEN_GOLDEN=1"
    assert text == path.read_text(), f"{name} ruleset changed; review and regenerate"


def test_every_golden_file_belongs_to_a_scenario() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(SCENARIOS)


# -- properties ---------------------------------------------------------------------------------
def _commands(firewall: FirewallInputs) -> list[dict[str, Any]]:
    op = compile_router_ruleset(firewall, ROUTER)
    assert (op.ns, op.family, op.table) == (ROUTER, FAMILY, TABLE)
    return op.commands()


def _of(commands: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [c["add"][kind] for c in commands if kind in c["add"]]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_rule_has_a_counter_and_every_jump_a_chain(name: str) -> None:
    firewall = SCENARIOS[name]()
    commands = _commands(firewall)
    counters = [c["name"] for c in _of(commands, "counter")]
    keys = list(dict.fromkeys(r.hit.ref.key for r in plan(firewall).rules))
    assert counters == [*keys, TRACKED_COUNTER]
    assert all(c["family"] == FAMILY and c["table"] == TABLE for c in _of(commands, "counter"))
    chains = {c["name"] for c in _of(commands, "chain")}
    targets = set()
    for rule in _of(commands, "rule"):
        assert rule["chain"] in chains
        for expr in rule["expr"]:
            if "counter" in expr:
                assert expr["counter"] in counters
            if "log" in expr:
                assert expr["log"]["prefix"] in counters and len(expr["log"]["prefix"]) <= 64
            for verb in ("goto", "jump"):
                if verb in expr:
                    targets.add(expr[verb]["target"])
    for m in _of(commands, "map"):
        targets |= {value["jump"]["target"] for _, value in m.get("elem", [])}
    assert targets <= chains


def test_nodes_that_meet_the_same_rules_share_chains() -> None:
    commands = _commands(_service_account_target())
    ingress = next(m for m in _of(commands, "map") if m["name"] == "ingress_links")
    jumps = {key["concat"][0]: value["jump"]["target"] for key, value in ingress["elem"]}
    assert jumps["n-0a01"] == jumps["n-0a02"] != jumps["n-0a03"]
    # Every address of a node is judged as that node's.
    keys = [key["concat"] for key, _ in ingress["elem"]]
    assert keys == [
        ["n-0a01", "10.128.0.2"],
        ["n-0a01", {"prefix": {"addr": "10.52.0.0", "len": 24}}],
        ["n-0a02", "10.128.0.3"],
        ["n-0a02", {"prefix": {"addr": "10.52.1.0", "len": 24}}],
        ["n-0a03", "10.128.0.4"],
        ["n-0a03", {"prefix": {"addr": "10.52.2.0", "len": 24}}],
    ]


def test_disabled_rules_get_neither_rules_nor_counters() -> None:
    text = render(compile_router_ruleset(_disabled_rules(), ROUTER))
    assert "I:fw:905" not in text and "deny-all-off" not in text
    assert 'counter name "I:fw:906"' in text


def test_a_ruleset_without_instances_still_loads_and_decides_nothing() -> None:
    commands = _commands(inputs(*gke_and_default(), instances=()))
    assert all("elem" not in m for m in _of(commands, "map"))
    assert {c["name"] for c in _of(commands, "chain")} == {
        "firewall_forward",
        "egress_implied",
        "ingress_implied",
    }


def test_ipv6_alias_ranges_get_no_map_element() -> None:
    node = Instance("v6", "0b01", "10.128.0.9", ("fd00::/64", "10.52.9.0/24"))
    commands = _commands(inputs(instances=(node,)))
    egress = next(m for m in _of(commands, "map") if m["name"] == "egress_links")
    assert [key["concat"][1] for key, _ in egress["elem"]] == [
        "10.128.0.9",
        {"prefix": {"addr": "10.52.9.0", "len": 24}},
    ]


def test_denied_packets_are_logged_to_the_flow_log_group_with_the_rule_key() -> None:
    text = render(compile_router_ruleset(_deny_8080(), ROUTER))
    assert f'counter name "I:fw:900" log prefix "I:fw:900" group {DENIED_LOG_GROUP} drop' in text
    assert f'counter name "I:implied" log prefix "I:implied" group {DENIED_LOG_GROUP} drop' in text


def test_counter_hits_reads_only_the_firewall_tables_counters() -> None:
    def counter(table: str, name: str, packets: int, size: int) -> dict[str, Any]:
        return {
            "counter": {
                "family": "inet",
                "table": table,
                "name": name,
                "handle": 1,
                "packets": packets,
                "bytes": size,
            }
        }

    listing = {
        "nftables": [
            {"metainfo": {"version": "1.0.6"}},
            counter("vpc_firewall", "I:fw:1", 3, 180),
            counter("vpc_firewall", "tracked", 9, 900),
            counter("other", "I:fw:1", 7, 1),
        ]
    }
    assert counter_hits(listing) == {"I:fw:1": Counts(3, 180), TRACKED_COUNTER: Counts(9, 900)}
    assert counter_hits({}) == {}


def test_instances_are_ordered_by_node_id_whatever_the_input_order() -> None:
    shuffled = inputs(*gke_and_default(), instances=(NODE_C, NODE_A, NODE_B))
    assert _commands(shuffled) == _commands(inputs(*gke_and_default()))


def test_a_policy_associated_at_two_levels_is_met_twice_and_counted_once() -> None:
    doc = {
        "id": "77",
        "name": "77",
        "shortName": "twice",
        "rules": [
            {
                "priority": 5,
                "action": "goto_next",
                "match": {"layer4Configs": [{"ipProtocol": "tcp"}]},
            }
        ],
        "associations": [
            {"name": "org", "attachmentTarget": ORG},
            {"name": "folder", "attachmentTarget": FOLDER},
        ],
    }
    twice = FirewallPolicy.from_document(doc, PROJECT)
    firewall = inputs(*gke_and_default(), policies=(twice,))
    trace = evaluate(firewall, Packet("10.52.0.5", "10.52.1.5", 6, 80, NODE_A.name, NODE_B.name))
    assert [h.label for h in trace.met][-3:] == [
        "policy twice priority 5",
        "policy twice priority 5",
        "firewall gke-c1-1a2b3c4d-all",
    ]
    counters = [c["name"] for c in _of(_commands(firewall), "counter")]
    assert counters.count("I:fp:77:5") == 1
    text = render(compile_router_ruleset(firewall, ROUTER))
    assert text.count('counter name "I:fp:77:5" goto') == 2
