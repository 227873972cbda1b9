"""The model and the kernel agree: for random firewalls (VPC rules with priorities and ties,
allow/deny, protocols and ports, ranges, tags, service accounts, disabled rules; organization
and folder policies with goto_next; a network policy before or after the VPC rules) and random
first packets, a packet reaches its destination node exactly when the model allows it, and
every rule's counter moved exactly as often as the model says the rule was met.

Each hypothesis example compiles one firewall, loads it into the lab's router (one atomic
transaction), sends ``PACKETS`` packets and compares; ``FIREWALL_DIFF_EXAMPLES`` examples (100
by default) make at least 2,000 cases. The seed is random per run and printed on failure;
rerun a failure with ``FIREWALL_DIFF_SEED=<seed>``.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st

from intranode.domain.firewall.compile_nft import (
    TRACKED_COUNTER,
    compile_router_ruleset,
    counter_hits,
)
from intranode.domain.firewall.inputs import (
    FirewallInputs,
    FirewallPolicy,
    Instance,
    VpcRule,
)
from intranode.domain.firewall.model import FirewallModel, Packet
from intranode.domain.firewalls import firewall_document
from intranode.domain.resources import compute_link

from .lab import NODE_SPECS, FirewallLab

PROJECT = "fw-diff"
NETWORK = f"projects/{PROJECT}/global/networks/default"
OTHER_NETWORK = f"projects/{PROJECT}/global/networks/other"
ANCESTRY = ("organizations/100", "folders/200", "folders/300")
SEED = int(os.environ.get("FIREWALL_DIFF_SEED") or secrets.randbits(32))
EXAMPLES = int(os.environ.get("FIREWALL_DIFF_EXAMPLES") or 100)
PACKETS = 20

TAGS = ("web", "db", "gke-c1-node")
ACCOUNTS = ("a@fw-diff.iam.gserviceaccount.com", "b@fw-diff.iam.gserviceaccount.com")
V4_RANGES = (
    "0.0.0.0/0",
    "10.0.0.0/8",
    "10.52.0.0/14",
    "10.52.0.0/24",
    "10.52.0.128/26",
    "10.52.1.0/25",
    "10.52.1.128/25",
    "10.52.2.0/24",
    "10.128.0.0/20",
    "10.128.0.2",
    "10.128.0.3/32",
    "10.128.0.4/31",
    "192.168.0.0/16",
)
V6_RANGES = ("::/0", "fd00::/8")
PORTS = (22, 53, 80, 443, 3389, 8080, 10255)
POD_HOSTS = (2, 77, 130, 200)
PROTOCOLS = (6, 17, 1, 132, 50, 51, 47)


# -- strategies ---------------------------------------------------------------------------------
def port_specs() -> st.SearchStrategy[str]:
    single = st.one_of(st.sampled_from(PORTS), st.integers(1, 19999)).map(str)
    ranged = st.tuples(st.sampled_from((0, 1, 50, 440, 8000)), st.integers(0, 20000)).map(
        lambda t: f"{min(t)}-{max(t)}"
    )
    return st.one_of(single, ranged)


@st.composite
def protocol_entries(draw: st.DrawFn, key: str) -> list[dict[str, Any]]:
    entries = []
    for _ in range(draw(st.integers(1, 3))):
        proto = draw(st.sampled_from(("tcp", "udp", "sctp", "icmp", "esp", "ah", "all", "47", "6")))
        entry: dict[str, Any] = {key: proto}
        if proto in ("tcp", "udp", "sctp", "6") and draw(st.booleans()):
            entry["ports"] = draw(st.lists(port_specs(), min_size=1, max_size=3))
        entries.append(entry)
    return entries


def ranges() -> st.SearchStrategy[list[str]]:
    return st.one_of(
        st.lists(st.sampled_from(V4_RANGES), min_size=1, max_size=3, unique=True),
        st.lists(st.sampled_from(V6_RANGES), min_size=1, max_size=1),
    )


@st.composite
def vpc_rule_doc(draw: st.DrawFn, index: int) -> dict[str, Any]:
    direction = draw(st.sampled_from(("INGRESS", "EGRESS")))
    action = draw(st.sampled_from(("allowed", "denied")))
    body: dict[str, Any] = {
        "name": f"r{index}",
        "direction": direction,
        "priority": draw(
            st.one_of(st.sampled_from((0, 900, 1000, 1000, 65534, 65535)), st.integers(0, 65535))
        ),
        action: draw(protocol_entries("IPProtocol")),
        "disabled": draw(st.booleans()) and draw(st.booleans()),
        "logConfig": {"enable": draw(st.booleans())},
    }
    if draw(st.booleans()):
        body["sourceRanges"] = draw(ranges())
    if draw(st.booleans()):
        body["destinationRanges"] = draw(ranges())
    identity = draw(st.sampled_from(("none", "tags", "accounts")))
    pool = (*TAGS, "nobody") if identity == "tags" else (*ACCOUNTS, "c@nowhere")
    name = "Tags" if identity == "tags" else "ServiceAccounts"
    if identity != "none":
        sources = direction == "INGRESS" and draw(st.booleans())
        if sources:
            body[f"source{name}"] = draw(
                st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True)
            )
        if not sources or draw(st.booleans()):
            body[f"target{name}"] = draw(
                st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True)
            )
    doc = firewall_document(PROJECT, body, now=0)
    doc["id"] = str(1000 + index)
    return doc


@st.composite
def policy_doc(draw: st.DrawFn, pid: str, target: str, hierarchical: bool) -> dict[str, Any]:
    priorities = draw(
        st.lists(st.sampled_from((10, 100, 500, 1000, 1001, 2000, 65535)), max_size=4, unique=True)
    )
    rules = []
    for priority in priorities:
        rule: dict[str, Any] = {
            "priority": priority,
            "direction": draw(st.sampled_from(("INGRESS", "EGRESS"))),
            "action": draw(st.sampled_from(("allow", "deny", "goto_next"))),
            "match": {"layer4Configs": draw(protocol_entries("ipProtocol"))},
            "disabled": draw(st.booleans()) and draw(st.booleans()),
        }
        if draw(st.booleans()):
            rule["match"]["srcIpRanges"] = draw(ranges())
        if draw(st.booleans()):
            rule["match"]["destIpRanges"] = draw(ranges())
        if draw(st.booleans()):
            rule["targetServiceAccounts"] = [draw(st.sampled_from(ACCOUNTS))]
        if hierarchical and draw(st.booleans()):
            rule["targetResources"] = [
                compute_link(draw(st.sampled_from((NETWORK, OTHER_NETWORK))))
            ]
        rules.append(rule)
    return {
        "id": pid,
        "name": pid if hierarchical else f"pol-{pid}",
        "shortName": f"pol-{pid}",
        "rules": rules,
        "associations": [{"name": f"a-{pid}", "attachmentTarget": target}],
    }


@st.composite
def firewalls(draw: st.DrawFn) -> FirewallInputs:
    instances = tuple(
        Instance(
            name=f"node-{short_id}",
            node_id=short_id,
            ip=ip,
            alias_ranges=(pods,),
            tags=tuple(draw(st.lists(st.sampled_from(TAGS), max_size=2, unique=True))),
            service_account=draw(st.sampled_from((*ACCOUNTS, None))),
        )
        for short_id, ip, pods in NODE_SPECS
    )
    docs = [draw(vpc_rule_doc(i)) for i in range(draw(st.integers(0, 10)))]
    policies = []
    for n, ancestor in enumerate(ANCESTRY):
        if draw(st.booleans()):
            doc = draw(policy_doc(str(200 + n), ancestor, hierarchical=True))
            policies.append(FirewallPolicy.from_document(doc, PROJECT))
    if draw(st.booleans()):
        target = compute_link(draw(st.sampled_from((NETWORK, NETWORK, OTHER_NETWORK))))
        doc = draw(policy_doc("300", target, hierarchical=False))
        policies.append(FirewallPolicy.from_document(doc, PROJECT))
    return FirewallInputs(
        network=NETWORK,
        rules=tuple(VpcRule.from_document(d, PROJECT) for d in docs),
        policies=tuple(policies),
        ancestry=ANCESTRY,
        enforcement_order=draw(
            st.sampled_from(("AFTER_CLASSIC_FIREWALL", "BEFORE_CLASSIC_FIREWALL"))
        ),
        instances=instances,
    )


def _address(draw: st.DrawFn, node: int) -> str:
    _, ip, pods = NODE_SPECS[node]
    host = draw(st.sampled_from((None, *POD_HOSTS)))
    return ip if host is None else pods.replace(".0/24", f".{host}")


@st.composite
def packets(draw: st.DrawFn) -> list[tuple[str, Packet]]:
    out: list[tuple[str, Packet]] = []
    reverse_seen: set[tuple[str, str, int]] = set()
    while len(out) < PACKETS:
        src_node, dst_node = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        src, dst = _address(draw, src_node), _address(draw, dst_node)
        if dst == NODE_SPECS[src_node][1] or src == dst:
            continue  # a node's own address is delivered inside the node, never routed
        proto = draw(st.sampled_from(PROTOCOLS))
        port = draw(st.one_of(st.sampled_from(PORTS), st.integers(1, 19999)))
        if proto not in (6, 17, 132, 1):
            # Conntrack tracks other protocols by addresses alone: the reverse of an allowed
            # packet would be its reply, not a new connection.
            if (src, dst, proto) in reverse_seen:
                continue
            reverse_seen.add((dst, src, proto))
        packet = Packet(
            src,
            dst,
            proto,
            port if proto in (6, 17, 132) else None,
            f"node-{NODE_SPECS[src_node][0]}",
            f"node-{NODE_SPECS[dst_node][0]}",
        )
        out.append((NODE_SPECS[src_node][0], packet))
    return out


@dataclass(frozen=True)
class Scenario:
    inputs: FirewallInputs
    packets: list[tuple[str, Packet]]


scenarios = st.builds(Scenario, firewalls(), packets())


# -- the test -------------------------------------------------------------------------------------
def test_kernel_verdicts_and_counters_equal_the_models(lab: FirewallLab) -> None:
    cases: list[int] = []
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @seed(SEED)
    @given(scenario=scenarios)
    def check(scenario: Scenario) -> None:
        model = FirewallModel(scenario.inputs)
        traces = [model.evaluate(p) for _, p in scenario.packets]
        op = compile_router_ruleset(scenario.inputs, lab.router.netns)
        lab.flush_conntrack()
        lab.load(op)
        allowed = {i for i, t in enumerate(traces) if t.allowed}
        arrived = lab.send(scenario.packets, allowed)
        expected_hits = Counter(h.ref.key for t in traces for h in t.met)
        kernel_hits = {
            name: c.packets for name, c in counter_hits(lab.counters()).items() if c.packets
        }
        wrong = [
            f"{p} kernel={'delivered' if i in arrived else 'dropped'} model={traces[i]}"
            for i, (_, p) in enumerate(scenario.packets)
            if (i in arrived) != (i in allowed)
        ]
        note("\n".join(wrong))
        reproduce = f"reproduce with FIREWALL_DIFF_SEED={SEED}"
        assert not wrong, f"{len(wrong)} verdicts differ ({reproduce}):\n" + "\n".join(wrong)
        assert TRACKED_COUNTER not in kernel_hits, reproduce
        assert kernel_hits == dict(expected_hits), reproduce
        cases.append(len(scenario.packets))

    try:
        check()
    finally:
        print(
            f"\nfirewall differential: seed {SEED}, {len(cases)} rule sets, {sum(cases)} packets,"
            f" {time.monotonic() - started:.1f} s"
        )
    assert sum(cases) >= EXAMPLES * PACKETS, f"only {sum(cases)} cases (seed {SEED})"
