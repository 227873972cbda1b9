"""Configuration analysis: the path a test's packet takes, step by step, as Google's
Connectivity Tests trace it, from the same firewall model the router's nftables table is
compiled from.

A forward trace, for each place the source can be (usually one; several when its address
exists in several networks):

1. where it starts: ``START_FROM_GKE_POD`` (a Pod; a ``hostNetwork`` Pod is its node),
   ``START_FROM_INSTANCE``, ``START_FROM_PRIVATE_NETWORK`` (an address of a subnet nobody
   holds), ``START_FROM_INTERNET``;
2. **traffic that stays on its node**: a Pod to another Pod on the same node while the
   cluster's intra-node visibility is off, a Pod to its own node, a node to its own Pods. The
   node delivers the packet itself, so the next step is the arrival (``ARRIVE_AT_GKE_POD`` or
   ``ARRIVE_AT_INSTANCE``) straight after the start, with no firewall or route step: the VPC
   never sees the packet. This is GKE's behaviour without intra-node visibility;
3. otherwise the VPC path: ``APPLY_EGRESS_FIREWALL_RULE`` at the sending node (one step per
   rule met: ``goto_next`` policy rules, then the rule that decided), ``APPLY_ROUTE``,
   ``ARRIVE_AT_INSTANCE`` at the receiving node, ``APPLY_INGRESS_FIREWALL_RULE`` there (for
   a same-node flow with intra-node visibility on, both ends are the same node), then
   ``ARRIVE_AT_GKE_POD`` for a Pod;
4. a final step: ``DELIVER`` (``GKE_POD``, ``INSTANCE``, ``INTERNET``), ``DROP`` with a cause
   (``FIREWALL_RULE`` and the rule's URI, ``NO_ROUTE``, ``GKE_POD_NOT_RUNNING``,
   ``INSTANCE_NOT_RUNNING``, ``PRIVATE_TRAFFIC_TO_INTERNET``, ``NO_EXTERNAL_ADDRESS``,
   ``UNKNOWN_INTERNAL_ADDRESS``, ``NO_ROUTE_FROM_INTERNET_TO_PRIVATE_IPV4_ADDRESS``) or
   ``ABORT`` with a cause (``SOURCE_ENDPOINT_NOT_FOUND``, ``DESTINATION_ENDPOINT_NOT_FOUND``,
   ``UNKNOWN_IP``, ``UNSUPPORTED``).

With ``roundTrip``, each delivered forward trace gets a return trace (same
``forwardTraceId``) from the destination back to the source; its firewall steps are
``TRACKING_STATE``: connection tracking lets the reply through before any rule (gcp_vpc_specs
§B4). With ``bypassFirewallChecks`` the firewall steps are ``ANALYSIS_SKIPPED``.

Not modelled: ip-masq-agent's SNAT (``intranode preflight`` reports a misconfiguration),
Kubernetes Services (a ClusterIP is an address nobody holds), load balancers, peering, VPN
and Cloud NAT (their endpoints abort as ``UNSUPPORTED``), IPv6.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from intranode.domain.connectivity.spec import EndpointSpec, TestSpec
from intranode.domain.connectivity.steps import (
    AbortInfo,
    DeliverInfo,
    DropInfo,
    EndpointInfo,
    FirewallInfo,
    GkePodInfo,
    Info,
    InstanceInfo,
    NetworkInfo,
    Result,
    RouteInfo,
    Step,
    Trace,
    result_of,
)
from intranode.domain.connectivity.world import (
    Holder,
    Network,
    Node,
    Pod,
    Route,
    World,
    select_route,
)
from intranode.domain.firewall import Hit, Packet, Verdict
from intranode.domain.firewall.inputs import Direction
from intranode.domain.resources import firewall_key, hierarchical_policy_key, network_policy_key

LocationKind = Literal["pod", "instance", "private", "internet"]
_VERBS = {"ALLOW": "allows", "DENY": "denies", "GOTO_NEXT": "passes on (goto_next)"}
# Internal addresses (RFC 1918 and shared address space): the internet has no route to them.
_INTERNAL = tuple(
    ipaddress.IPv4Network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)


def _internal(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    return isinstance(addr, ipaddress.IPv4Address) and any(addr in n for n in _INTERNAL)


@dataclass(frozen=True)
class Location:
    """Where a packet starts: a Pod (with its node), an instance, an address of a network's
    subnet nobody holds, or the internet."""

    kind: LocationKind
    ip: str
    network: str = ""  # network store key ("" for the internet)
    node: Node | None = None
    pod: Pod | None = None


@dataclass(frozen=True)
class Block:
    """A firewall rule that stopped the packet: at which node, in which direction, by what."""

    direction: Direction
    node: Node
    hit: Hit
    network: Network
    packet: Packet


@dataclass(frozen=True)
class Outcome:
    """One forward trace and what the rest of intranode needs of it: where it started, what
    holds the destination address, and the firewall rule that dropped it, if one did."""

    trace: Trace
    source: Location | None
    target: Holder
    dst_ip: str
    block: Block | None = None


@dataclass(frozen=True)
class Analysis:
    result: Result
    outcomes: tuple[Outcome, ...]
    return_result: Result | None = None
    return_traces: tuple[Trace, ...] = ()

    @property
    def traces(self) -> tuple[Trace, ...]:
        return tuple(o.trace for o in self.outcomes)


class _Abort(Exception):
    def __init__(self, cause: str, description: str, uri: str = "", ip: str = "") -> None:
        super().__init__(description)
        self.info = AbortInfo(cause, uri, ip)
        self.description = description


def analyze(world: World, spec: TestSpec) -> Analysis:
    """Trace the test's packet through ``world`` (see the module docstring)."""
    outcomes: list[Outcome] = []
    try:
        sources = _sources(world, spec.source, spec)
    except _Abort as abort:
        trace = _aborted(spec, abort, 1, spec.source.ip, "")
        return Analysis("UNDETERMINED", (Outcome(trace, None, Holder(), ""),))
    for n, source in enumerate(sources, start=1):
        try:
            dst_ip = _destination_ip(world, spec.destination)
        except _Abort as abort:
            outcomes.append(Outcome(_aborted(spec, abort, n, source.ip, ""), source, Holder(), ""))
            continue
        outcomes.append(_Walk(world, spec, n, source, dst_ip).forward())
    traces = [o.trace for o in outcomes]
    result = result_of(traces)
    if not spec.round_trip:
        return Analysis(result, tuple(outcomes))
    returns = []
    for o in outcomes:
        back = _reply_source(o) if o.trace.final == "DELIVER" else None
        if back is not None and o.source is not None:
            walk = _Walk(world, spec, o.trace.forward_trace_id, back, o.source.ip, reply=True)
            returns.append(walk.forward().trace)
    return Analysis(
        result, tuple(outcomes), result_of(returns) if returns else None, tuple(returns)
    )


def _aborted(spec: TestSpec, abort: _Abort, trace_id: int, src_ip: str, dst_ip: str) -> Trace:
    endpoint = EndpointInfo(src_ip, dst_ip or spec.destination.ip, spec.protocol)
    step = Step("ABORT", abort.description, spec.project, abort.info)
    return Trace(endpoint, (step,), trace_id)


# -- where the packet starts and where it goes -----------------------------------------------
def _unsupported(ep: EndpointSpec, side: str) -> _Abort:
    return _Abort(
        "UNSUPPORTED",
        f"Analysis aborted: intranode has no {ep.unsupported} endpoints ({side}); it models "
        "GKE Pods, compute instances and IP addresses.",
    )


def _sources(world: World, ep: EndpointSpec, spec: TestSpec) -> list[Location]:
    if ep.unsupported:
        raise _unsupported(ep, "source")
    if ep.gke_pod is not None:
        key = f"{ep.gke_pod.cluster_key}/namespaces/{ep.gke_pod.namespace}/pods/{ep.gke_pod.name}"
        pod = world.pod(key)
        if pod is None:
            raise _Abort(
                "SOURCE_ENDPOINT_NOT_FOUND",
                f"Analysis aborted: the source Pod {ep.gke_pod.namespace}/{ep.gke_pod.name} does "
                "not exist.",
            )
        return [_pod_location(world, pod)]
    if ep.instance:
        node = world.node_by_key(ep.instance)
        if node is None:
            raise _Abort(
                "SOURCE_ENDPOINT_NOT_FOUND",
                f"Analysis aborted: the source instance {ep.instance} does not exist.",
                uri=ep.instance,
            )
        ip = ep.ip or node.ip
        held = world.holder(node.network, ip)
        if held.pod is not None and held.pod.node == node.name:
            return [_pod_location(world, held.pod)]
        return [Location("instance", ip, node.network, node)]
    ip = ep.ip
    if ipaddress.ip_address(ip).version != 4:
        raise _Abort(
            "UNSUPPORTED", "Analysis aborted: intranode's VPC networks are IPv4 only.", ip=ip
        )
    if ep.network_type == "NON_GCP_NETWORK":
        raise _Abort(
            "UNSUPPORTED",
            "Analysis aborted: intranode has no networks outside Google Cloud (no VPN or "
            "Interconnect).",
            ip=ip,
        )
    if ep.network_type == "INTERNET":
        return [Location("internet", ip)]
    networks = [ep.network] if ep.network else world.networks_holding(ip)
    networks = [n for n in networks if n in world.networks]
    if not networks:
        if ep.network:
            raise _Abort(
                "UNKNOWN_NETWORK",
                f"Analysis aborted: the network {ep.network} does not exist.",
                uri=ep.network,
            )
        if _internal(ip):
            raise _Abort(
                "UNKNOWN_IP",
                f"Analysis aborted: no network of project {spec.project} holds the source "
                f"address {ip}; name its network.",
                ip=ip,
            )
        return [Location("internet", ip)]
    out = []
    for network in networks:
        held = world.holder(network, ip)
        if held.pod is not None:
            out.append(_pod_location(world, held.pod))
        elif held.node is not None:
            out.append(Location("instance", ip, network, held.node))
        else:
            out.append(Location("private", ip, network))
    return out


def _pod_location(world: World, pod: Pod) -> Location:
    node = world.nodes.get(pod.node)
    if pod.host_network and node is not None:
        return Location("instance", node.ip, node.network, node)
    return Location("pod", pod.ip, pod.cluster.network, node, pod)


def _destination_ip(world: World, ep: EndpointSpec) -> str:
    if ep.unsupported:
        raise _unsupported(ep, "destination")
    if ep.gke_pod is not None:
        key = f"{ep.gke_pod.cluster_key}/namespaces/{ep.gke_pod.namespace}/pods/{ep.gke_pod.name}"
        pod = world.pod(key)
        if pod is None or not pod.ip:
            raise _Abort(
                "DESTINATION_ENDPOINT_NOT_FOUND",
                f"Analysis aborted: the destination Pod {ep.gke_pod.namespace}/"
                f"{ep.gke_pod.name} "
                + ("does not exist." if pod is None else "has no IP address (not scheduled)."),
            )
        return pod.ip
    if ep.instance:
        node = world.node_by_key(ep.instance)
        if node is None:
            raise _Abort(
                "DESTINATION_ENDPOINT_NOT_FOUND",
                f"Analysis aborted: the destination instance {ep.instance} does not exist.",
                uri=ep.instance,
            )
        return ep.ip or node.ip
    if ipaddress.ip_address(ep.ip).version != 4:
        raise _Abort(
            "UNSUPPORTED", "Analysis aborted: intranode's VPC networks are IPv4 only.", ip=ep.ip
        )
    return ep.ip


def _reply_source(outcome: Outcome) -> Location | None:
    """Where the reply starts: the Pod or instance the packet was delivered to (replies to
    the internet or to an address nobody holds are not traced)."""
    target, src = outcome.target, outcome.source
    if target.node is None or src is None or src.kind not in ("pod", "instance"):
        return None
    if target.pod is not None:
        return Location("pod", target.pod.ip, target.pod.cluster.network, target.node, target.pod)
    return Location("instance", outcome.dst_ip, target.node.network, target.node)


# -- the walk -------------------------------------------------------------------------------
def _instance_info(node: Node) -> InstanceInfo:
    return InstanceInfo(
        node.name, node.key, node.network, node.ip, node.tags, node.external_ip, node.running
    )


def _pod_info(pod: Pod) -> GkePodInfo:
    return GkePodInfo(pod.uri, pod.ip, pod.cluster.network)


def firewall_info(network: Network, hit: Hit, project: str) -> FirewallInfo:
    """The ``FirewallInfo`` of a rule the model reports as met."""
    direction = hit.ref.direction
    if hit.ref.kind == "fw":
        rule = network.vpc_rules.get(hit.ref.id)
        return FirewallInfo(
            "VPC_FIREWALL_RULE",
            direction,
            hit.action,
            hit.priority,
            display_name=hit.name,
            uri=firewall_key(project, hit.name),
            network_uri=network.key,
            target_tags=rule.rule.target_tags if rule else (),
            target_service_accounts=rule.rule.target_service_accounts if rule else (),
        )
    if hit.ref.kind == "fp":
        prule = network.policy_rule(hit.ref.id, hit.priority)
        hierarchical = hit.rule_type == "HIERARCHICAL_FIREWALL_POLICY_RULE"
        uri = (
            hierarchical_policy_key(hit.ref.id)
            if hierarchical
            else network_policy_key(project, hit.policy)
        )
        return FirewallInfo(
            hit.rule_type,
            direction,
            hit.action,
            hit.priority,
            display_name=hit.name,
            network_uri="" if hierarchical else network.key,
            target_service_accounts=prule.target_service_accounts if prule else (),
            policy=hit.policy,
            policy_uri=uri,
        )
    return FirewallInfo(
        "IMPLIED_VPC_FIREWALL_RULE",
        direction,
        hit.action,
        hit.priority,
        display_name=f"implied-{hit.action.lower()}-{direction.lower()}",
        network_uri=network.key,
    )


def rule_uri(network: Network, hit: Hit, project: str) -> str:
    info = firewall_info(network, hit, project)
    return info.uri or info.policy_uri or network.key


class _Walk:
    """Builds one trace; each method adds steps, the final ones end it."""

    def __init__(
        self,
        world: World,
        spec: TestSpec,
        trace_id: int,
        source: Location,
        dst_ip: str,
        *,
        reply: bool = False,
    ) -> None:
        self.world, self.spec, self.trace_id = world, spec, trace_id
        self.source, self.dst_ip, self.reply = source, dst_ip, reply
        self.steps: list[Step] = []
        self.target = Holder()
        self.block: Block | None = None
        port = spec.destination_port
        self.dst_port = None if reply else port
        self.src_port = port if reply else None

    # -- steps ----------------------------------------------------------------------------
    def _add(
        self, state: str, description: str, info: Info | None = None, drop: bool = False
    ) -> None:
        self.steps.append(Step(state, description, self.spec.project, info, drop))

    def _end(self, state: str, description: str, info: Info) -> Outcome:
        self._add(state, description, info)
        network = self.target.node.network if self.target.node else ""
        endpoint = EndpointInfo(
            self.source.ip,
            self.dst_ip,
            self.spec.protocol,
            self.dst_port,
            self.src_port,
            self.source.network,
            network,
        )
        trace = Trace(endpoint, tuple(self.steps), self.trace_id)
        return Outcome(trace, self.source, self.target, self.dst_ip, self.block)

    def _drop(self, cause: str, description: str, uri: str = "") -> Outcome:
        info = DropInfo(cause, uri, self.source.ip, self.dst_ip)
        return self._end("DROP", description, info)

    # -- the path -------------------------------------------------------------------------
    def forward(self) -> Outcome:
        src = self.source
        self._start()
        if src.pod is not None and not src.pod.running:
            return self._drop(
                "GKE_POD_NOT_RUNNING",
                f"Dropped: Pod {src.pod.display} is not running.",
                src.pod.uri,
            )
        if src.node is not None and not src.node.running:
            return self._drop(
                "INSTANCE_NOT_RUNNING",
                f"Dropped: instance {src.node.name} is not running.",
                src.node.key,
            )
        if ipaddress.ip_address(self.dst_ip).version != 4:
            return self._end(
                "ABORT",
                "Analysis aborted: intranode's VPC networks are IPv4 only.",
                AbortInfo("MISMATCHED_IP_VERSION", ip_address=self.dst_ip),
            )
        if src.kind == "internet":
            return self._from_internet()
        network = self.world.networks[src.network]
        self.target = self.world.holder(src.network, self.dst_ip)
        if self._stays_on_node():
            return self._local()
        return self._through_vpc(network)

    def _start(self) -> None:
        src = self.source
        what = "reply " if self.reply else ""
        if src.kind == "pod" and src.pod is not None:
            self._add(
                "START_FROM_GKE_POD",
                f"Initial state: {what}packet from Pod {src.pod.display} ({src.ip}) on node "
                f"{src.pod.node}.",
                _pod_info(src.pod),
            )
        elif src.kind == "instance" and src.node is not None:
            self._add(
                "START_FROM_INSTANCE",
                f"Initial state: {what}packet from instance {src.node.name} ({src.ip}).",
                _instance_info(src.node),
            )
        elif src.kind == "private":
            network = self.world.networks[src.network]
            matched = network.subnet_range_of(ipaddress.IPv4Address(src.ip))
            self._add(
                "START_FROM_PRIVATE_NETWORK",
                f"Initial state: {what}packet from {src.ip} in network {network.name}, an "
                "address no instance holds.",
                NetworkInfo(network.name, network.key, matched),
            )
        else:
            self._add(
                "START_FROM_INTERNET",
                f"Initial state: {what}packet from {src.ip} on the internet.",
                EndpointInfo(src.ip, self.dst_ip, self.spec.protocol, self.dst_port),
            )

    def _from_internet(self) -> Outcome:
        if _internal(self.dst_ip):
            return self._drop(
                "NO_ROUTE_FROM_INTERNET_TO_PRIVATE_IPV4_ADDRESS",
                f"Dropped: the internet has no route to the private address {self.dst_ip}.",
            )
        return self._end(
            "ABORT",
            f"Analysis aborted: {self.dst_ip} is no address of a network of project "
            f"{self.spec.project}.",
            AbortInfo("UNKNOWN_IP", ip_address=self.dst_ip),
        )

    def _stays_on_node(self) -> bool:
        src, target = self.source, self.target
        if src.node is None or target.node is None or src.node.name != target.node.name:
            return False
        if target.alias_range:
            return False  # in the node's Pod range, no Pod: the node has no route for it
        if src.kind != "pod" or target.pod is None:
            return True  # the node's own address, or the node to its Pods: never leaves it
        assert src.pod is not None
        return not src.pod.cluster.intra_node_visibility

    def _local(self) -> Outcome:
        src, target = self.source, self.target
        assert target.node is not None
        node = target.node.name
        if target.pod is not None:
            if src.pod is not None:
                why = (
                    f"Pods {src.pod.display} and {target.pod.display} run on the same node "
                    f"{node} and cluster {src.pod.cluster.name} has intra-node visibility off"
                )
            else:
                why = f"Pod {target.pod.display} runs on node {node} itself"
            self._add(
                "ARRIVE_AT_GKE_POD",
                f"Delivered on the node: {why}, so node {node} delivers the packet locally. "
                "It never reaches the VPC network: no firewall rule, route, flow log or packet "
                "mirroring applies.",
                _pod_info(target.pod),
            )
            return self._deliver_to_pod(target.pod)
        what = f"Pod {src.pod.display} runs on" if src.pod is not None else "The packet stays on"
        self._add(
            "ARRIVE_AT_INSTANCE",
            f"Delivered on the node: {what} instance {node} itself; the packet never reaches "
            "the VPC network.",
            _instance_info(target.node),
        )
        return self._deliver_to_node(target.node)

    def _through_vpc(self, network: Network) -> Outcome:
        src = self.source
        sender = src.node
        verdicts = self._firewall(network, sender, self.target.node)
        if sender is not None:
            stop = self._firewall_steps("EGRESS", network, sender, verdicts[0])
            if stop is not None:
                return stop
        tags = sender.tags if sender is not None else ()
        route = select_route(network.routes, self.dst_ip, tags)
        if route is None:
            return self._drop(
                "NO_ROUTE",
                f"Dropped: network {network.name} has no route to {self.dst_ip}.",
                network.key,
            )
        self._add(
            "APPLY_ROUTE",
            f"Config checking state: route {route.name} ({route.dest}) matches {self.dst_ip}.",
            RouteInfo(
                route.route_type,
                route.next_hop_type,
                route.name,
                route.key,
                str(route.dest),
                network.key,
                route.priority,
                route.tags,
                route.next_hop,
            ),
        )
        receiver = self._next_hop(network, route)
        if isinstance(receiver, Outcome):
            return receiver
        if receiver is not self.target.node:
            # A next hop other than the address's holder (routes-based Pod ranges): ingress
            # is checked where the packet arrives.
            self.target = Holder(
                receiver,
                self.target.pod
                if self.target.pod and self.target.pod.node == receiver.name
                else None,
            )
            verdicts = self._firewall(network, None, receiver)
        self._add(
            "ARRIVE_AT_INSTANCE",
            f"Forwarding state: arriving at instance {receiver.name}"
            + (f", the node of Pod {self.target.pod.display}." if self.target.pod else "."),
            _instance_info(receiver),
        )
        if not receiver.running:
            return self._drop(
                "INSTANCE_NOT_RUNNING",
                f"Dropped: instance {receiver.name} is not running.",
                receiver.key,
            )
        stop = self._firewall_steps("INGRESS", network, receiver, verdicts[1])
        if stop is not None:
            return stop
        if self.target.pod is not None:
            pod = self.target.pod
            self._add(
                "ARRIVE_AT_GKE_POD",
                f"Forwarding state: node {receiver.name} hands the packet to Pod {pod.display}.",
                _pod_info(pod),
            )
            return self._deliver_to_pod(pod)
        if self.target.alias_range:
            return self._drop(
                "UNKNOWN_INTERNAL_ADDRESS",
                f"Dropped: {self.dst_ip} is in node {receiver.name}'s Pod range "
                f"{self.target.alias_range} but no Pod has it.",
                receiver.key,
            )
        return self._deliver_to_node(receiver)

    def _next_hop(self, network: Network, route: Route) -> Node | Outcome:
        hop = route.next_hop_type
        if hop == "NEXT_HOP_INTERNET_GATEWAY":
            if _internal(self.dst_ip):
                return self._drop(
                    "PRIVATE_TRAFFIC_TO_INTERNET",
                    f"Dropped: {self.dst_ip} is a private address no instance of network "
                    f"{network.name} holds; the default route sends it to the internet.",
                    route.key,
                )
            sender = self.source.node
            if sender is not None and sender.external_ip:
                return self._end(
                    "DELIVER",
                    f"Final state: the packet leaves for the internet through {route.name}.",
                    DeliverInfo("INTERNET", ip_address=self.dst_ip),
                )
            return self._drop(
                "NO_EXTERNAL_ADDRESS",
                "Dropped: the sender has no external IP address to reach the internet with.",
                sender.key if sender is not None else "",
            )
        if hop == "NEXT_HOP_NETWORK":
            if self.target.node is None:
                return self._drop(
                    "UNKNOWN_INTERNAL_ADDRESS",
                    f"Dropped: no instance or Pod of network {network.name} has {self.dst_ip}.",
                    network.key,
                )
            return self.target.node
        if hop == "NEXT_HOP_INSTANCE":
            node = self.world.node_by_key(route.next_hop)
            if node is None:
                return self._drop(
                    "ROUTE_NEXT_HOP_RESOURCE_NOT_FOUND",
                    f"Dropped: route {route.name}'s next hop {route.next_hop} does not exist.",
                    route.key,
                )
            return node
        if hop == "NEXT_HOP_IP":
            held = self.world.holder(network.key, route.next_hop)
            if held.node is None:
                return self._drop(
                    "ROUTE_NEXT_HOP_IP_ADDRESS_NOT_RESOLVED",
                    f"Dropped: route {route.name}'s next hop {route.next_hop} is no instance's.",
                    route.key,
                )
            return held.node
        return self._end(
            "ABORT",
            f"Analysis aborted: route {route.name} leads to a {hop} intranode does not model.",
            AbortInfo("UNSUPPORTED", route.key),
        )

    # -- the firewall ---------------------------------------------------------------------
    def _firewall(
        self, network: Network, sender: Node | None, receiver: Node | None
    ) -> tuple[Verdict | None, Verdict | None]:
        if self.reply or self.spec.bypass_firewall_checks:
            return None, None
        trace = network.model.evaluate(self._packet(network, sender, receiver))
        return trace.egress, trace.ingress

    def _packet(self, network: Network, sender: Node | None, receiver: Node | None) -> Packet:
        known = network.instance_names
        return Packet(
            self.source.ip,
            self.dst_ip,
            self.spec.protocol_number,
            self.dst_port,
            sender.name if sender is not None and sender.name in known else None,
            receiver.name if receiver is not None and receiver.name in known else None,
        )

    def _firewall_steps(
        self, direction: Direction, network: Network, node: Node, verdict: Verdict | None
    ) -> Outcome | None:
        state = f"APPLY_{direction}_FIREWALL_RULE"
        where = f"{direction.lower()} at instance {node.name}"
        if self.reply:
            self._add(
                state,
                f"Config checking state: {where}: the reply is allowed by connection tracking.",
                FirewallInfo("TRACKING_STATE", direction, "ALLOW"),
            )
            return None
        if self.spec.bypass_firewall_checks or verdict is None:
            self._add(
                state,
                f"Config checking state: {where}: firewall checks bypassed (bypassFirewallChecks).",
                FirewallInfo("ANALYSIS_SKIPPED", direction),
            )
            return None
        for hit in verdict.met:
            deciding = hit is verdict.deciding
            info = firewall_info(network, hit, self.spec.project)
            verb = _VERBS[hit.action]
            self._add(
                state,
                f"Config checking state: {where}: {hit.label} (priority {hit.priority}) "
                f"{verb} the packet.",
                info,
                drop=deciding and not verdict.allowed,
            )
        if verdict.allowed:
            return None
        hit = verdict.deciding
        self.block = Block(direction, node, hit, network, self._packet(network, None, None))
        return self._drop(
            "FIREWALL_RULE",
            f"Dropped by {hit.label} ({direction}, priority {hit.priority}, {hit.action}) at "
            f"instance {node.name}.",
            rule_uri(network, hit, self.spec.project),
        )

    # -- arrival ------------------------------------------------------------------------------
    def _deliver_to_pod(self, pod: Pod) -> Outcome:
        if not pod.running:
            return self._drop(
                "GKE_POD_NOT_RUNNING",
                f"Dropped: Pod {pod.display} is not running.",
                pod.uri,
            )
        return self._end(
            "DELIVER",
            f"Final state: the packet is delivered to Pod {pod.display}.",
            DeliverInfo("GKE_POD", pod.uri, pod.ip),
        )

    def _deliver_to_node(self, node: Node) -> Outcome:
        if not node.running:
            return self._drop(
                "INSTANCE_NOT_RUNNING", f"Dropped: instance {node.name} is not running.", node.key
            )
        return self._end(
            "DELIVER",
            f"Final state: the packet is delivered to instance {node.name}.",
            DeliverInfo("INSTANCE", node.key, self.dst_ip),
        )


def blocks(outcomes: Sequence[Outcome]) -> list[Block]:
    return [o.block for o in outcomes if o.block is not None]
