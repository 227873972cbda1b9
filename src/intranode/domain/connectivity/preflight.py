"""``intranode preflight``: what turning intra-node visibility on would break in a cluster.

Without intra-node visibility a Pod's packets to another Pod on the same node never leave the
node: no VPC firewall rule applies to them. With it they cross the VPC network and meet the
egress rules of the node, then its ingress rules (gcp_vpc_specs §0). So every same-node flow
that works now is checked against the firewall as it will then apply, with the same model the
router's table is compiled from.

The flows: for each node, every Pod on it (not ``hostNetwork``: those use the node's own
address, whose traffic with its Pods stays on the node either way) to every port another
Pod on the same node declares (``containerPort``), exposes through a Service (``targetPort``,
a number or a port's name, of a Service whose selector picks the Pod), or was seen using
recently. Flows are checked once each; where a flow came from is kept.

Besides the firewall:

- ip-masq-agent: with intra-node visibility on, a same-node packet leaves the node, so a
  ``nonMasqueradeCIDRs`` that leaves out the Pod range masquerades it to the node's address
  and breaks every same-node flow (``netd_inv.md`` §2); the check is the node agents' own;
- the cluster's own requirements: GKE 1.15 or later, no Windows Server node pools.

Public API: :func:`declared_flows`, :func:`observed_flows`, :func:`check` -> :class:`Report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from intranode.domain.connectivity.advice import Suggestion, blocking, suggest
from intranode.domain.connectivity.analysis import firewall_info
from intranode.domain.connectivity.spec import PROTOCOLS
from intranode.domain.connectivity.steps import FirewallInfo
from intranode.domain.connectivity.world import ClusterView, Network, Pod
from intranode.domain.firewall import Packet

Doc = Mapping[str, Any]
_PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True, order=True)
class FlowKey:
    src: str  # Pod store keys
    dst: str
    protocol: str
    port: int


@dataclass(frozen=True)
class Flow:
    src: Pod
    dst: Pod
    protocol: str
    port: int
    origins: tuple[str, ...]  # "containerPort", "service NS/NAME", "seen"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": _pod_json(self.src),
            "destination": _pod_json(self.dst),
            "protocol": self.protocol,
            "port": self.port,
            "node": self.src.node,
            "from": list(self.origins),
        }


def _pod_json(pod: Pod) -> dict[str, Any]:
    return {"namespace": pod.namespace, "pod": pod.name, "ip": pod.ip}


@dataclass(frozen=True)
class Breakage:
    flow: Flow
    blocked_by: tuple[FirewallInfo, ...]
    suggestions: tuple[Suggestion, ...]
    masqueraded: bool = False

    def to_json(self) -> dict[str, Any]:
        out = self.flow.to_json()
        out["blockedBy"] = [b.to_json() for b in self.blocked_by]
        if self.masqueraded:
            out["masqueraded"] = True
        out["suggestions"] = [s.to_json() for s in self.suggestions]
        return out


@dataclass(frozen=True)
class Requirement:
    name: str
    ok: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "message": self.message}


@dataclass(frozen=True)
class Report:
    cluster: ClusterView
    flows_checked: int
    breaking: tuple[Breakage, ...]
    masquerade: tuple[str, ...] = ()  # what is wrong with ip-masq-agent, if anything
    requirements: tuple[Requirement, ...] = ()

    @property
    def already_enabled(self) -> bool:
        return self.cluster.intra_node_visibility

    @property
    def would_break(self) -> bool:
        """Something would stop working, or the update would be refused."""
        if self.already_enabled:
            return False
        return bool(self.breaking or self.masquerade) or not all(r.ok for r in self.requirements)

    def to_json(self) -> dict[str, Any]:
        by_rule: dict[tuple[str, str, str], int] = {}
        for b in self.breaking:
            for info in b.blocked_by:
                key = (
                    info.display_name or info.policy,
                    info.direction,
                    info.uri or info.policy_uri,
                )
                by_rule[key] = by_rule.get(key, 0) + 1
        return {
            "cluster": self.cluster.name,
            "location": self.cluster.location,
            "network": self.cluster.network,
            "intraNodeVisibility": self.cluster.intra_node_visibility,
            "wouldBreak": self.would_break,
            "flowsChecked": self.flows_checked,
            "flowsBreaking": len(self.breaking),
            "breaking": [b.to_json() for b in self.breaking],
            "blockingRules": [
                {"rule": name, "direction": d, "uri": uri, "flows": n}
                for (name, d, uri), n in sorted(by_rule.items(), key=lambda kv: -kv[1])
            ],
            "ipMasqAgent": {"ok": not self.masquerade, "problems": list(self.masquerade)},
            "requirements": [r.to_json() for r in self.requirements],
        }


# -- flows ----------------------------------------------------------------------------------
def _declared_ports(doc: Doc) -> tuple[list[tuple[str, int]], dict[str, tuple[str, int]]]:
    ports: list[tuple[str, int]] = []
    named: dict[str, tuple[str, int]] = {}
    for container in (doc.get("spec") or {}).get("containers") or ():
        for p in container.get("ports") or ():
            number = p.get("containerPort")
            protocol = str(p.get("protocol") or "TCP").upper()
            if not isinstance(number, int) or protocol not in _PORT_PROTOCOLS:
                continue
            ports.append((protocol, number))
            if p.get("name"):
                named[str(p["name"])] = (protocol, number)
    return ports, named


def _selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def declared_flows(pods: Sequence[tuple[Pod, Doc]], services: Iterable[Doc]) -> dict[FlowKey, Flow]:
    """Every same-node flow to a port a Pod declares or a Service exposes on it."""
    exposed: dict[str, dict[tuple[str, int], list[str]]] = {}
    service_list = list(services)
    for pod, doc in pods:
        ports, named = _declared_ports(doc)
        mine = exposed.setdefault(pod.key, {})
        for port in ports:
            mine.setdefault(port, []).append("containerPort")
        labels = (doc.get("metadata") or {}).get("labels") or {}
        for svc in service_list:
            meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
            if meta.get("namespace", "default") != pod.namespace:
                continue
            if not _selects(spec.get("selector") or {}, labels):
                continue
            origin = f"service {meta.get('namespace', 'default')}/{meta.get('name')}"
            for sp in spec.get("ports") or ():
                protocol = str(sp.get("protocol") or "TCP").upper()
                target = sp.get("targetPort", sp.get("port"))
                if isinstance(target, str) and not target.isdigit():
                    found = named.get(target)
                    if found is None:
                        continue
                    port = found
                elif target is not None:
                    port = (protocol, int(target))
                else:
                    continue
                if port[0] in _PORT_PROTOCOLS:
                    mine.setdefault(port, []).append(origin)
    by_node: dict[str, list[Pod]] = {}
    for pod, _ in pods:
        by_node.setdefault(pod.node, []).append(pod)
    flows: dict[FlowKey, Flow] = {}
    for members in by_node.values():
        for dst in members:
            for (protocol, number), origins in exposed.get(dst.key, {}).items():
                for src in members:
                    if src.key != dst.key:
                        key = FlowKey(src.key, dst.key, protocol, number)
                        flows[key] = Flow(src, dst, protocol, number, tuple(dict.fromkeys(origins)))
    return flows


def observed_flows(
    pods: Sequence[Pod], seen: Iterable[tuple[str, str, str, int]]
) -> dict[FlowKey, Flow]:
    """Flows seen recently (``(src ip, dst ip, protocol, dst port)``) between two Pods of one
    node."""
    by_ip = {p.ip: p for p in pods}
    flows: dict[FlowKey, Flow] = {}
    for src_ip, dst_ip, protocol, port in seen:
        src, dst = by_ip.get(src_ip), by_ip.get(dst_ip)
        if src is None or dst is None or src.key == dst.key or src.node != dst.node:
            continue
        flows[FlowKey(src.key, dst.key, protocol, port)] = Flow(src, dst, protocol, port, ("seen",))
    return flows


def merge(*groups: Mapping[FlowKey, Flow]) -> list[Flow]:
    out: dict[FlowKey, Flow] = {}
    for group in groups:
        for key, flow in group.items():
            known = out.get(key)
            if known is None:
                out[key] = flow
            else:
                origins = tuple(dict.fromkeys((*known.origins, *flow.origins)))
                out[key] = Flow(known.src, known.dst, known.protocol, known.port, origins)
    return [out[k] for k in sorted(out)]


# -- the check ------------------------------------------------------------------------------
def check(
    cluster: ClusterView,
    network: Network,
    flows: Sequence[Flow],
    *,
    project: str,
    masquerade: Sequence[str] = (),
    requirements: Sequence[Requirement] = (),
) -> Report:
    """Check each flow as it would go with intra-node visibility on: through the VPC, egress
    then ingress at its node."""
    breaking = []
    known = network.instance_names
    for flow in flows:
        node = flow.src.node
        if node not in known:
            continue
        bare = Packet(flow.src.ip, flow.dst.ip, PROTOCOLS[flow.protocol], flow.port)
        # Most flows pass: one evaluation says so; a dropped one is judged per direction.
        passes = network.model.evaluate(replace(bare, src_instance=node, dst_instance=node))
        blocked = [] if passes.allowed else blocking(network, bare, sender=node, receiver=node)
        if not blocked and not masquerade:
            continue
        breaking.append(
            Breakage(
                flow,
                tuple(firewall_info(network, v.deciding, project) for v in blocked),
                tuple(suggest(network, bare, project, v) for v in blocked),
                masqueraded=bool(masquerade),
            )
        )
    return Report(cluster, len(flows), tuple(breaking), tuple(masquerade), tuple(requirements))


__all__ = [
    "Breakage",
    "Flow",
    "FlowKey",
    "Report",
    "Requirement",
    "check",
    "declared_flows",
    "merge",
    "observed_flows",
]
