"""The VPC firewall compiled to ONE nftables table for the network's router namespace.

Every packet that crosses the VPC is forwarded by the router namespace: it enters from the
sending node's link ``n-<src node id>`` and leaves by the receiving node's ``n-<dst node id>``
(the same link for a same-node flow). The table ``inet vpc_firewall`` (nothing else of the
namespace is touched; the flow-log hook ``ip vpc_flows`` is separate) holds::

    chain firewall_forward   hook forward, priority 0, policy accept
        ct state established,related counter name "tracked" accept     # stateful (§B4)
        iifname . ip saddr vmap @egress_links     # egress rules of the sending instance
        oifname . ip daddr vmap @ingress_links    # ingress rules of the receiving instance
    map egress_links / ingress_links  { "n-<id>" . <instance IP or alias range> : jump <chain> }

A map element exists for each instance's primary IP and alias ranges on its own link, so a
packet is judged as the instance's only when it comes from (goes to) one of its addresses.
Each jump leads to a chain per evaluation stage (hierarchical policies, VPC rules, network
policy, in :func:`~intranode.domain.firewall.model.plan`'s order); stages are linked with
``goto``, so ``return`` goes straight back to ``firewall_forward``:

- ``allow``: egress ``return`` (on to the ingress side), ingress ``accept``;
- ``deny``: ``log group 5 prefix "<rule key>"`` then ``drop`` (the flow-log hook reads nflog
  group :data:`DENIED_LOG_GROUP`; the prefix is :attr:`RuleRef.key`, at most 36 characters);
- ``goto_next`` and the end of a stage: ``goto`` the next stage's chain; the last is the
  shared ``egress_implied`` (return) or ``ingress_implied`` (log, drop) chain.

Allowed packets of rules with logging on are logged to group :data:`ALLOWED_LOG_GROUP` (only
new connections reach the rules, so it is one entry per connection) for Firewall Rules Logging.

Instances that meet the same rules share their chains (a node pool's nodes do), so the size of
the table grows with the rules and the kinds of nodes, not with the number of nodes. Every rule
counts its hits in a named counter (``nft -j list counters``; :func:`counter_hits` reads it
back) whose name is the rule's key; ``tracked`` counts packets of allowed connections.

Address and port lists are anonymous interval sets (collapsed, so they never overlap). A rule
with several ``allowed`` entries becomes one nftables rule per protocol that has ports plus one
for the protocols without ports, all sharing the rule's counter.

Public API: :func:`compile_router_ruleset` ``(inputs, netns) -> NftRuleset``,
:func:`counter_hits`, :func:`render` (the table as ``nft`` text, for golden files and logs),
the names below.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from intranode.domain.firewall.inputs import Direction, FirewallInputs, Instance
from intranode.domain.firewall.model import (
    DIRECTIONS,
    Networks,
    Rule,
    RuleRef,
    Stage,
    networks,
    plan,
)
from intranode.domain.netplan import NftRuleset
from intranode.domain.topology import node_link

FAMILY = "inet"
TABLE = "vpc_firewall"
FORWARD_CHAIN = "firewall_forward"
FORWARD_PRIORITY = 0
LINK_MAPS: Mapping[Direction, str] = {"EGRESS": "egress_links", "INGRESS": "ingress_links"}
IMPLIED_CHAINS: Mapping[Direction, str] = {"EGRESS": "egress_implied", "INGRESS": "ingress_implied"}
TRACKED_COUNTER = "tracked"
DENIED_LOG_GROUP = 5  # nflog group of denied packets (the flow-log hook's DeniedSource)
ALLOWED_LOG_GROUP = 6  # nflog group of allowed new connections of rules with logging on
_COMMENT_MAX = 127  # nftables keeps at most 128 bytes of a rule comment

Expr = dict[str, Any]
_IP_FIELD = {"src": "saddr", "dst": "daddr"}


def compile_router_ruleset(inputs: FirewallInputs, netns: str) -> NftRuleset:
    """The firewall of ``inputs.network`` as the table ``inet vpc_firewall`` of the router
    namespace ``netns``: apply it with the data plane, which swaps the table in one atomic
    transaction (connection-tracking entries survive, so established connections go on)."""
    p = plan(inputs)
    # A policy associated at two levels of the hierarchy is met twice but counts in one place.
    counters = list(dict.fromkeys(rule.hit.ref.key for rule in p.rules))
    chains: list[str] = [IMPLIED_CHAINS["EGRESS"], IMPLIED_CHAINS["INGRESS"]]
    rules: list[Expr] = []
    elements: dict[Direction, list[Any]] = {"EGRESS": [], "INGRESS": []}
    entry_of: dict[tuple[Direction, tuple[tuple[RuleRef, ...], ...]], str] = {}
    for inst in sorted(p.instances, key=lambda i: i.node_id):
        for direction in DIRECTIONS:
            stages = p.stages[(inst.name, direction)][:-1]  # the implied stage is shared
            shape = (direction, tuple(tuple(r.hit.ref for r in stage) for stage in stages))
            if shape not in entry_of:
                group = sum(1 for d, _ in entry_of if d == direction)
                names = [f"{direction.lower()}_{group}_{s}" for s in range(len(stages))]
                chains += names
                rules += _stage_rules(direction, stages, names)
                entry_of[shape] = names[0] if names else IMPLIED_CHAINS[direction]
            elements[direction] += _elements(inst, entry_of[shape])
    for direction in DIRECTIONS:
        rules += _implied_rules(direction)

    commands: list[Expr] = [_add("counter", name=name) for name in [*counters, TRACKED_COUNTER]]
    commands.append(
        _add(
            "chain",
            name=FORWARD_CHAIN,
            type="filter",
            hook="forward",
            prio=FORWARD_PRIORITY,
            policy="accept",
        )
    )
    commands += [_add("chain", name=name) for name in chains]
    for direction in DIRECTIONS:
        body: dict[str, Any] = {
            "name": LINK_MAPS[direction],
            "type": ["ifname", "ipv4_addr"],
            "map": "verdict",
            "flags": ["interval"],
        }
        if elements[direction]:
            body["elem"] = elements[direction]
        commands.append(_add("map", **body))
    commands += _forward_rules()
    commands += rules
    return NftRuleset(netns, FAMILY, TABLE, json.dumps(commands, separators=(",", ":")))


# -- pieces ------------------------------------------------------------------------------------
def _add(kind: str, **body: Any) -> Expr:
    return {"add": {kind: {"family": FAMILY, "table": TABLE, **body}}}


def _rule(chain: str, expr: list[Expr], comment: str | None = None) -> Expr:
    body: dict[str, Any] = {"chain": chain, "expr": expr}
    if comment:
        body["comment"] = comment[:_COMMENT_MAX]
    return _add("rule", **body)


def _match(left: Expr, right: Any, op: str = "==") -> Expr:
    return {"match": {"op": op, "left": left, "right": right}}


def _forward_rules() -> list[Expr]:
    ct_state = _match({"ct": {"key": "state"}}, ["established", "related"], "in")
    rules = [
        _rule(
            FORWARD_CHAIN,
            [ct_state, {"counter": TRACKED_COUNTER}, {"accept": None}],
            "stateful: packets of allowed connections",
        )
    ]
    sides: tuple[tuple[Direction, str, str, str], ...] = (
        ("EGRESS", "iifname", "saddr", "egress rules of the sending instance"),
        ("INGRESS", "oifname", "daddr", "ingress rules of the receiving instance"),
    )
    for direction, link, field, comment in sides:
        key = {"concat": [{"meta": {"key": link}}, {"payload": {"protocol": "ip", "field": field}}]}
        vmap = {"vmap": {"key": key, "data": f"@{LINK_MAPS[direction]}"}}
        rules.append(_rule(FORWARD_CHAIN, [vmap], comment))
    return rules


def _elements(inst: Instance, chain: str) -> list[Any]:
    out = []
    for address in inst.addresses:
        net = _v4(address)
        if net is not None:
            out.append([{"concat": [node_link(inst.node_id), net]}, {"jump": {"target": chain}}])
    return out


def _v4(cidr: str) -> Any:
    """A map key part for an instance's address; None for an IPv6 range (the VPC is IPv4)."""
    nets = networks([cidr])
    if nets is None:
        return {"prefix": {"addr": "0.0.0.0", "len": 0}}
    return _address(nets[0]) if nets else None


def _address(net: ipaddress.IPv4Network) -> Any:
    if net.prefixlen == 32:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _one_or_set(items: Sequence[Any]) -> Any:
    return items[0] if len(items) == 1 else {"set": list(items)}


def _addresses(side: str, nets: Networks) -> Expr:
    left = {"payload": {"protocol": "ip", "field": _IP_FIELD[side]}}
    return _match(left, _one_or_set([_address(n) for n in nets]))


def _l4_variants(rule: Rule) -> list[list[Expr]]:
    """The protocol/port tests of a rule, one per nftables rule it becomes."""
    protos = rule.match.protocols
    if protos is None:
        return [[]]
    proto = {"meta": {"key": "l4proto"}}
    dport = {"payload": {"protocol": "th", "field": "dport"}}
    anyport = [p for p, ports in protos if not ports]
    out: list[list[Expr]] = []
    if anyport:
        out.append([_match(proto, _one_or_set(anyport))])
    for p, ports in protos:
        if ports:
            values = [lo if lo == hi else {"range": [lo, hi]} for lo, hi in ports]
            out.append([_match(proto, p), _match(dport, _one_or_set(values))])
    return out


def _verdict(rule: Rule, direction: Direction, next_chain: str) -> list[Expr]:
    key = rule.hit.ref.key
    action = rule.hit.action
    if action == "GOTO_NEXT":
        return [{"goto": {"target": next_chain}}]
    if action == "DENY":
        return [{"log": {"prefix": key, "group": DENIED_LOG_GROUP}}, {"drop": None}]
    logged = [{"log": {"prefix": key, "group": ALLOWED_LOG_GROUP}}] if rule.hit.log else []
    return [*logged, {"return": None} if direction == "EGRESS" else {"accept": None}]


def _comment(rule: Rule) -> str:
    hit = rule.hit
    priority = f" (priority {hit.priority})" if hit.ref.kind == "fw" else ""  # else in the label
    return f"{hit.label}: {hit.action}{priority}"


def _stage_rules(direction: Direction, stages: Sequence[Stage], names: Sequence[str]) -> list[Expr]:
    out: list[Expr] = []
    for s, stage in enumerate(stages):
        chain = names[s]
        next_chain = names[s + 1] if s + 1 < len(stages) else IMPLIED_CHAINS[direction]
        for rule in stage:
            tests: list[Expr] = []
            if rule.match.sources is not None:
                tests.append(_addresses("src", rule.match.sources))
            if rule.match.destinations is not None:
                tests.append(_addresses("dst", rule.match.destinations))
            tail = [{"counter": rule.hit.ref.key}, *_verdict(rule, direction, next_chain)]
            for l4 in _l4_variants(rule):
                out.append(_rule(chain, [*l4, *tests, *tail], _comment(rule)))
        out.append(_rule(chain, [{"goto": {"target": next_chain}}], "no match: next stage"))
    return out


def _implied_rules(direction: Direction) -> list[Expr]:
    key = RuleRef(direction, "implied").key
    if direction == "EGRESS":
        verdict: list[Expr] = [{"return": None}]
        comment = "implied allow egress (priority 65535)"
    else:
        verdict = [{"log": {"prefix": key, "group": DENIED_LOG_GROUP}}, {"drop": None}]
        comment = "implied deny ingress (priority 65535)"
    return [_rule(IMPLIED_CHAINS[direction], [{"counter": key}, *verdict], comment)]


# -- reading back -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Counts:
    packets: int
    bytes: int


def counter_hits(listing: Mapping[str, Any]) -> dict[str, Counts]:
    """``nft -j list counters`` (parsed) -> hits per counter of the firewall table, by name:
    a rule's :attr:`RuleRef.key` (see :func:`~intranode.domain.firewall.model.parse_ref`) or
    :data:`TRACKED_COUNTER`."""
    out: dict[str, Counts] = {}
    for item in listing.get("nftables", []):
        counter = item.get("counter")
        if counter and counter.get("family") == FAMILY and counter.get("table") == TABLE:
            out[str(counter["name"])] = Counts(int(counter["packets"]), int(counter["bytes"]))
    return out


# -- reading the ruleset -------------------------------------------------------------------------
def render(op: NftRuleset) -> str:
    """The table as ``nft list table`` would show it (protocols as numbers): for golden files
    and logs. Renders the shapes :func:`compile_router_ruleset` emits, nothing more."""
    counters: list[str] = []
    maps: list[str] = []
    chains: dict[str, list[str]] = {}
    for command in op.commands():
        kind, body = next(iter(command["add"].items()))
        if kind == "counter":
            counters.append(f"\tcounter {body['name']} {{ }}")
        elif kind == "map":
            elems = ",\n\t\t\t".join(
                f"{_text(key)} : {_statement(value)}" for key, value in body.get("elem", [])
            )
            maps.append(
                f"\tmap {body['name']} {{\n\t\ttype {' . '.join(body['type'])} : {body['map']}\n"
                f"\t\tflags {','.join(body['flags'])}\n\t\telements = {{ {elems} }}\n\t}}"
            )
        elif kind == "chain":
            lines = chains.setdefault(body["name"], [])
            if "hook" in body:
                lines.append(
                    f"type {body['type']} hook {body['hook']} priority {body['prio']}; "
                    f"policy {body['policy']};"
                )
        else:
            words = [_statement(e) for e in body["expr"]]
            if "comment" in body:
                words.append(f'comment "{body["comment"]}"')
            chains[body["chain"]].append(" ".join(words))
    blocks = [*counters, *maps]
    for name, lines in chains.items():
        inner = "".join(f"\t\t{line}\n" for line in lines)
        blocks.append(f"\tchain {name} {{\n{inner}\t}}")
    return f"table {op.family} {op.table} {{\n" + "\n".join(blocks) + "\n}\n"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"' if value.startswith("n-") else value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if "set" in value:
        return "{ " + ", ".join(_text(v) for v in value["set"]) + " }"
    if "prefix" in value:
        return f"{value['prefix']['addr']}/{value['prefix']['len']}"
    if "range" in value:
        return f"{value['range'][0]}-{value['range'][1]}"
    if "concat" in value:
        return " . ".join(_text(v) for v in value["concat"])
    if "payload" in value:
        return f"{value['payload']['protocol']} {value['payload']['field']}"
    if "meta" in value:
        key = value["meta"]["key"]
        return key if key.endswith("name") else f"meta {key}"
    if "ct" in value:
        return f"ct {value['ct']['key']}"
    raise ValueError(f"cannot render {value!r}")


def _statement(expr: Expr) -> str:
    kind, body = next(iter(expr.items()))
    if kind == "match":
        op = "" if body["op"] in ("==", "in") else f"{body['op']} "
        return f"{_text(body['left'])} {op}{_text(body['right'])}"
    if kind == "counter":
        return f'counter name "{body}"'
    if kind == "log":
        return f'log prefix "{body["prefix"]}" group {body["group"]}'
    if kind in ("goto", "jump"):
        return f"{kind} {body['target']}"
    if kind == "vmap":
        return f"{_text(body['key'])} vmap {body['data']}"
    return str(kind)
