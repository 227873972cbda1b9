"""Connectivity Tests (Network Management API v1): the tests, their long-running operations,
the configuration analysis of each run and the live probes.

A test is stored as the API returns it (kind ``networkmanagement.connectivityTest``). Create,
update (PATCH with ``updateMask``) and rerun answer with an operation that is not done; its
work (run by the operation runner) reads the store into a
:class:`~intranode.domain.connectivity.world.World`, analyses the test
(:func:`~intranode.domain.connectivity.analysis.analyze`), sends live probes when the data
plane runs, writes ``reachabilityDetails``, ``returnReachabilityDetails`` (``roundTrip``),
``probingDetails`` and, for a flow the firewall drops, ``intranodeSuggestions`` (what to
change, beyond Google) into the test, and ends the operation with the test as its
``response``. Delete removes the test at once and answers with a done operation.

The firewall of each network is the model the node agent compiles into the router's table,
read through :func:`intranode.controllers.firewall.inputs_for_network` and kept per store
until a firewall rule, policy, instance, network, route or subnet changes.

Live probes go from the source Pod's (or node's) network namespace, found in the kernel-object
ledger (``pod:<uid>`` / ``node:<uid>``), to the destination. The daemon installs its prober
with :func:`use_prober` (see ``daemon.py``); without one, or without the data plane,
``probingDetails`` says why no probe was sent.

Public API::

    use_prober(ctx, prober)                     the daemon's LinuxProber (or a fake in tests)
    create_test, get_test, list_tests, update_test, rerun_test, delete_test
    get_operation, list_operations, cancel_operation, delete_operation
    await recover(ctx)                          resume unfinished runs after a restart
    world_for(ctx, project, spec) -> World
    networks(ctx, project) -> {network key: Network}; pods_of(ctx, cluster) (for preflight)
"""

from __future__ import annotations

import asyncio
import copy
import re
import secrets
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from intranode.controllers import firewall, serviceusage
from intranode.controllers.context import Context
from intranode.dataplane.prober import PROTOCOLS as PROBE_PROTOCOLS
from intranode.dataplane.prober import ProbeEndpoint, Prober
from intranode.domain import resources as R
from intranode.domain.compute import paginate
from intranode.domain.connectivity import spec as specs
from intranode.domain.connectivity.advice import suggestions
from intranode.domain.connectivity.analysis import Analysis, analyze
from intranode.domain.connectivity.probing import NotProbed, ProbeResult, probing_details
from intranode.domain.connectivity.steps import EndpointInfo, reachability_json
from intranode.domain.connectivity.world import (
    ClusterView,
    Network,
    Node,
    Pod,
    World,
    cluster_view,
    network_view,
    node_view,
    pod_view,
)
from intranode.domain.netplan import LEDGER_NETNS
from intranode.domain.timefmt import rfc3339
from intranode.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from intranode.store.ledger import SqliteLedger
from intranode.store.resources import Change, ResourceStore

SERVICE = "networkmanagement.googleapis.com"
TYPE_PREFIX = "type.googleapis.com/google.cloud.networkmanagement.v1."
PROBE_COUNT = 10
DEFAULT_PAGE = 500
PODS, NODES = R.k8s_kind("pods"), R.k8s_kind("nodes")
# What the world's networks and nodes are made of: a change to one of these rebuilds them.
_WORLD_KINDS = firewall.FIREWALL_KINDS | {R.ROUTE, R.SUBNETWORK}
Doc = dict[str, Any]

_probers: weakref.WeakKeyDictionary[ResourceStore, Prober] = weakref.WeakKeyDictionary()


def use_prober(ctx: Context, prober: Prober | None) -> None:
    """The prober live checks use (one per daemon: kept with its store)."""
    if prober is None:
        _probers.pop(ctx.resources, None)
    else:
        _probers[ctx.resources] = prober


# -- the world the analysis reads -------------------------------------------------------------
@dataclass(frozen=True)
class _Built:
    networks: Mapping[str, Network]
    nodes: Mapping[str, Node]


class _WorldCache:
    """Networks (their firewall models) and nodes per project, dropped when what they are
    made of changes; ``generation`` keeps a build that raced a change from being kept."""

    def __init__(self, store: ResourceStore) -> None:
        self.generation = 0
        self.built: dict[str, _Built] = {}
        self._lock = threading.Lock()
        store.subscribe(self._changed)

    def _changed(self, change: Change) -> None:
        if change.resource.kind in _WORLD_KINDS:
            with self._lock:
                self.generation += 1
                self.built.clear()

    def keep(self, project: str, generation: int, built: _Built) -> None:
        with self._lock:
            if generation == self.generation:
                self.built[project] = built


_caches: weakref.WeakKeyDictionary[ResourceStore, _WorldCache] = weakref.WeakKeyDictionary()


def _cache(ctx: Context) -> _WorldCache:
    found = _caches.get(ctx.resources)
    if found is None:
        found = _caches[ctx.resources] = _WorldCache(ctx.resources)
    return found


def _build(ctx: Context, project: str) -> _Built:
    res = ctx.resources
    nodes = {
        n.name: n
        for n in (
            node_view(r.key, r.data)
            for r in res.list_prefix(R.INSTANCE, f"projects/{project}/zones/")
        )
    }
    names = {name: name for name in nodes}
    routes = [(r.key, r.data) for r in res.find(R.ROUTE, parent=f"projects/{project}/global")]
    subnets = [r.data for r in res.list_prefix(R.SUBNETWORK, f"projects/{project}/regions/")]
    networks = {}
    for r in res.find(R.NETWORK, parent=f"projects/{project}/global"):
        inputs = firewall.inputs_for_network(ctx, project, str(r.data["name"]), names)
        networks[r.key] = network_view(r.key, inputs, routes, subnets)
    return _Built(networks, nodes)


def _networks_and_nodes(ctx: Context, project: str) -> _Built:
    cache = _cache(ctx)
    found = cache.built.get(project)
    if found is None:
        generation = cache.generation
        found = _build(ctx, project)
        cache.keep(project, generation, found)
    return found


def networks(ctx: Context, project: str) -> Mapping[str, Network]:
    """The project's networks by store key, each with its firewall model."""
    return _networks_and_nodes(ctx, project).networks


def _clusters(ctx: Context, project: str) -> dict[str, ClusterView]:
    return {
        r.key: cluster_view(r.key, r.data)
        for r in ctx.resources.list_prefix(R.CLUSTER, f"projects/{project}/locations/")
    }


def _pods(
    ctx: Context, clusters: Mapping[str, ClusterView], keys: set[str], ips: set[str]
) -> list[Pod]:
    """The Pods named by ``keys`` or holding one of ``ips`` (found in the placement index:
    only their documents are read)."""
    out = []
    for cluster_key, cluster in clusters.items():
        for key, placed in ctx.placements.pods(cluster_key).items():
            if key in keys or (placed.ip in ips and not placed.terminated):
                res = ctx.resources.get(PODS, key)
                if res is not None:
                    out.append(pod_view(key, res.data, cluster))
    return out


def world_for(ctx: Context, project: str, spec: specs.TestSpec) -> World:
    """The project's networks, nodes and clusters, with the Pods ``spec`` names or whose
    addresses it names (the analysis needs no other)."""
    built = _networks_and_nodes(ctx, project)
    clusters = _clusters(ctx, project)
    keys, ips = set(), set()
    for ep in (spec.source, spec.destination):
        if ep.gke_pod is not None:
            ref = ep.gke_pod
            keys.add(R.k8s_key(ref.cluster_key, "pods", ref.name, ref.namespace))
        if ep.ip:
            ips.add(ep.ip)
    pods = _pods(ctx, clusters, keys, ips)
    return World(project, built.networks, built.nodes, tuple(pods))


# -- names, documents, operations ---------------------------------------------------------------
def _project(ctx: Context, project: str) -> str:
    pid = serviceusage.resolve_project(ctx, project)
    serviceusage.require_enabled(ctx, pid, SERVICE)
    return pid


def _now(ctx: Context) -> str:
    return rfc3339(ctx.clock())


def _test(ctx: Context, project: str, test_id: str) -> Doc:
    key = R.connectivity_test_key(project, test_id)
    res = ctx.resources.get(R.CONNECTIVITY_TEST, key)
    if res is None:
        raise NotFound(f"Resource '{key}' was not found")
    return res.data


def _operation_name(ctx: Context) -> str:
    ms = int(ctx.clock() * 1000)
    return (
        f"operation-{ms}-{secrets.token_hex(7)[:13]}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
    )


def _new_operation(
    ctx: Context, project: str, target: str, verb: str, *, done: Doc | None = None
) -> Doc:
    now = _now(ctx)
    key = R.network_management_operation_key(project, _operation_name(ctx))
    metadata = {
        "@type": TYPE_PREFIX + "OperationMetadata",
        "createTime": now,
        "target": target,
        "verb": verb,
        "cancelRequested": False,
        "apiVersion": "v1",
    }
    op: Doc = {"name": key, "metadata": metadata, "done": False}
    if done is not None:
        metadata["endTime"] = now
        op.update(done=True, response=done)
    ctx.resources.create(
        R.NETWORK_MANAGEMENT_OPERATION, key, R.network_management_parent(project), op
    )
    return op


def _finish(
    ctx: Context, op_key: str, *, response: Doc | None = None, error: Doc | None = None
) -> None:
    with ctx.resources.transaction():
        res = ctx.resources.get(R.NETWORK_MANAGEMENT_OPERATION, op_key)
        if res is None or res.data.get("done"):
            return
        op = copy.deepcopy(res.data)
        op["metadata"]["endTime"] = _now(ctx)
        op["done"] = True
        if error is not None:
            op["error"] = error
        elif response is not None:
            op["response"] = response
        ctx.resources.update(R.NETWORK_MANAGEMENT_OPERATION, op_key, op)


def _as_response(doc: Doc) -> Doc:
    return {"@type": TYPE_PREFIX + "ConnectivityTest", **doc}


# -- the API's methods --------------------------------------------------------------------------
def create_test(ctx: Context, project: str, test_id: str, data: Any) -> Doc:
    pid = _project(ctx, project)
    specs.check_test_id(test_id)
    doc = specs.new_test_document(pid, test_id, data, _now(ctx))
    key = doc["name"]
    with ctx.resources.transaction():
        if ctx.resources.get(R.CONNECTIVITY_TEST, key) is not None:
            raise AlreadyExists(f"Resource '{key}' already exists")
        ctx.resources.create(R.CONNECTIVITY_TEST, key, R.network_management_parent(pid), doc)
        op = _new_operation(ctx, pid, key, "create")
    _spawn(ctx, op["name"], key)
    return op


def get_test(ctx: Context, project: str, test_id: str) -> Doc:
    return _test(ctx, _project(ctx, project), test_id)


def list_tests(
    ctx: Context,
    project: str,
    *,
    page_size: int = 0,
    page_token: str = "",
    filter_: str = "",
    order_by: str = "",
) -> tuple[list[Doc], str | None]:
    pid = _project(ctx, project)
    if page_size < 0:
        raise InvalidArgument(
            f"Invalid value for field 'page_size': '{page_size}'. Must be 0 or more."
        )
    docs = [
        r.data
        for r in ctx.resources.find(R.CONNECTIVITY_TEST, parent=R.network_management_parent(pid))
    ]
    docs = [d for d in docs if _matches(d, filter_)]
    docs = _ordered(docs, order_by)
    return paginate(docs, page_size or DEFAULT_PAGE, page_token or None)


def update_test(ctx: Context, project: str, test_id: str, data: Any, update_mask: str) -> Doc:
    pid = _project(ctx, project)
    with ctx.resources.transaction():
        current = _test(ctx, pid, test_id)
        doc = specs.updated_document(pid, current, data, update_mask, _now(ctx))
        ctx.resources.update(R.CONNECTIVITY_TEST, doc["name"], doc)
        op = _new_operation(ctx, pid, doc["name"], "update")
    _spawn(ctx, op["name"], doc["name"])
    return op


def rerun_test(ctx: Context, project: str, test_id: str) -> Doc:
    pid = _project(ctx, project)
    with ctx.resources.transaction():
        doc = _test(ctx, pid, test_id)
        op = _new_operation(ctx, pid, doc["name"], "rerun")
    _spawn(ctx, op["name"], doc["name"])
    return op


def delete_test(ctx: Context, project: str, test_id: str) -> Doc:
    pid = _project(ctx, project)
    with ctx.resources.transaction():
        doc = _test(ctx, pid, test_id)
        ctx.resources.delete(R.CONNECTIVITY_TEST, doc["name"])
        empty = {"@type": "type.googleapis.com/google.protobuf.Empty"}
        return _new_operation(ctx, pid, doc["name"], "delete", done=empty)


def done_operation(ctx: Context, project: str, name: str) -> Doc:
    key = R.network_management_operation_key(project, name)
    res = ctx.resources.get(R.NETWORK_MANAGEMENT_OPERATION, key)
    if res is None:
        raise NotFound(f"Resource '{key}' was not found")
    return res.data


def get_operation(ctx: Context, project: str, name: str) -> Doc:
    return done_operation(ctx, _project(ctx, project), name)


def list_operations(
    ctx: Context, project: str, *, page_size: int = 0, page_token: str = "", filter_: str = ""
) -> tuple[list[Doc], str | None]:
    pid = _project(ctx, project)
    if page_size < 0:
        raise InvalidArgument(
            f"Invalid value for field 'page_size': '{page_size}'. Must be 0 or more."
        )
    ops = [
        r.data
        for r in ctx.resources.find(
            R.NETWORK_MANAGEMENT_OPERATION, parent=R.network_management_parent(pid)
        )
    ]
    ops = [o for o in ops if _matches(o, filter_)]
    return paginate(ops, page_size or DEFAULT_PAGE, page_token or None)


def cancel_operation(ctx: Context, project: str, name: str) -> Doc:
    """Google's cancel: the operation ends with ``CANCELLED`` (code 1) if it still runs; the
    test keeps whatever it held before the run."""
    pid = _project(ctx, project)
    op = done_operation(ctx, pid, name)
    if op.get("done"):
        raise FailedPrecondition(f"Operation {op['name']} is already done.")
    with ctx.resources.transaction():
        current = copy.deepcopy(done_operation(ctx, pid, name))
        current["metadata"]["cancelRequested"] = True
        ctx.resources.update(R.NETWORK_MANAGEMENT_OPERATION, current["name"], current)
    _finish(ctx, op["name"], error={"code": 1, "message": "Operation was cancelled."})
    return {}


def delete_operation(ctx: Context, project: str, name: str) -> Doc:
    pid = _project(ctx, project)
    op = done_operation(ctx, pid, name)
    ctx.resources.delete(R.NETWORK_MANAGEMENT_OPERATION, op["name"])
    return {}


# -- list filters (``field = value``, ``field != value``, ``field:value``, joined by AND) --------
_TERM = re.compile(r'^\s*([A-Za-z_][\w.]*)\s*(!=|=|:)\s*(?:"([^"]*)"|(\S+))\s*$')


def _matches(doc: Doc, filter_: str) -> bool:
    if not filter_.strip():
        return True
    for term in re.split(r"\s+AND\s+", filter_.strip()):
        m = _TERM.match(term)
        if m is None:
            raise InvalidArgument(
                f"Invalid filter '{filter_}': intranode understands terms of the form "
                "field = value, field != value and field:value joined by AND."
            )
        path, op, quoted, bare = m.groups()
        want = quoted if quoted is not None else bare
        value: Any = doc
        for part in specs.camel(path).split("."):
            value = value.get(part) if isinstance(value, dict) else None
        have = (
            "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        )
        if op == ":" and want == "*":
            ok = value is not None
        elif op in ("=", ":"):
            ok = have == want
        else:
            ok = have != want
        if not ok:
            return False
    return True


def _ordered(docs: list[Doc], order_by: str) -> list[Doc]:
    for clause in reversed([c.strip() for c in order_by.split(",") if c.strip()]):
        parts = clause.split()
        if len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
            raise InvalidArgument(f"Invalid order_by '{order_by}'.")
        fld = specs.camel(parts[0])
        docs = sorted(docs, key=lambda d: str(d.get(fld, "")), reverse=parts[-1].lower() == "desc")
    return docs


# -- a run ---------------------------------------------------------------------------------------
def _spawn(ctx: Context, op_key: str, test_key: str) -> None:
    async def work() -> None:
        await _run(ctx, op_key, test_key)

    def failed(message: str, code: int) -> None:
        _finish(ctx, op_key, error={"code": _rpc_code(code), "message": message})

    ctx.runner.spawn(op_key, work, failed)


def _rpc_code(http: int) -> int:
    return {400: 3, 404: 5, 409: 6, 412: 9, 501: 12, 503: 14}.get(http, 13)


async def _run(ctx: Context, op_key: str, test_key: str) -> None:
    res = ctx.resources.get(R.CONNECTIVITY_TEST, test_key)
    if res is None:
        _finish(ctx, op_key, error={"code": 5, "message": f"Resource '{test_key}' was not found"})
        return
    project = test_key.split("/")[1]
    inputs = {k: v for k, v in res.data.items() if k not in specs.OUTPUT_ONLY}
    spec = specs.test_spec(project, inputs)
    world = world_for(ctx, project, spec)
    analysis = analyze(world, spec)
    verified = _now(ctx)
    results: Doc = {
        "reachabilityDetails": reachability_json(analysis.result, analysis.traces, verified)
    }
    if analysis.return_result is not None:
        results["returnReachabilityDetails"] = reachability_json(
            analysis.return_result, analysis.return_traces, verified
        )
    advice = _advice(world, spec, analysis)
    if advice:
        results["intranodeSuggestions"] = advice
    outcome = await _live_check(ctx, world, spec, analysis)
    endpoint = _probe_endpoint(spec, analysis)
    results["probingDetails"] = probing_details(analysis.result, outcome, endpoint, _now(ctx))
    with ctx.resources.transaction():
        current = ctx.resources.get(R.CONNECTIVITY_TEST, test_key)
        if current is None:
            _finish(
                ctx, op_key, error={"code": 5, "message": f"Resource '{test_key}' was not found"}
            )
            return
        if current.data.get("updateTime") != res.data.get("updateTime"):
            # The test changed while this run worked: the run of that change reports.
            _finish(ctx, op_key, response=_as_response(current.data))
            return
        doc = {k: v for k, v in current.data.items() if k not in specs.RESULTS}
        doc.update(results)
        ctx.resources.update(R.CONNECTIVITY_TEST, test_key, doc)
        _finish(ctx, op_key, response=_as_response(doc))


def _advice(world: World, spec: specs.TestSpec, analysis: Analysis) -> list[Doc]:
    out: list[Doc] = []
    for outcome in analysis.outcomes:
        block = outcome.block
        if block is None or outcome.source is None:
            continue
        sender = outcome.source.node.name if outcome.source.node else None
        receiver = outcome.target.node.name if outcome.target.node else None
        for s in suggestions(
            block.network, block.packet, spec.project, sender=sender, receiver=receiver
        ):
            found = s.to_json()
            if found not in out:
                out.append(found)
    return out


def _probe_endpoint(spec: specs.TestSpec, analysis: Analysis) -> EndpointInfo:
    first = analysis.outcomes[0]
    return EndpointInfo(
        first.source.ip if first.source else spec.source.ip,
        first.dst_ip or spec.destination.ip,
        spec.protocol,
        spec.destination_port,
        source_network_uri=first.source.network if first.source else "",
        destination_network_uri=first.target.node.network if first.target.node else "",
    )


async def _live_check(
    ctx: Context, world: World, spec: specs.TestSpec, analysis: Analysis
) -> ProbeResult | NotProbed:
    if not ctx.data_plane:
        return NotProbed(
            "intranode runs without its data plane (--no-dataplane): no packet can be sent, "
            "so only the configuration was analysed."
        )
    prober = _probers.get(ctx.resources)
    if prober is None:
        return NotProbed("this daemon has no prober: no packet can be sent.")
    if spec.protocol not in PROBE_PROTOCOLS:
        return NotProbed(
            f"live probes are sent for TCP, UDP and ICMP, not {spec.protocol}.", "UNIMPLEMENTED"
        )
    first = analysis.outcomes[0]
    if first.source is None or first.source.kind not in ("pod", "instance") or not first.dst_ip:
        return NotProbed(
            "the source is nowhere intranode can send from.", abort_cause="NO_SOURCE_LOCATION"
        )
    namespaces = _Namespaces(ctx, world.project)
    src_netns = namespaces.of(first.source.pod, first.source.node)
    if not src_netns:
        what = f"Pod {first.source.pod.display}" if first.source.pod else "the source node"
        return NotProbed(f"{what} has no network namespace (is it running?).", "NOT_FOUND")
    dst_netns = namespaces.of(first.target.pod, first.target.node)
    src = ProbeEndpoint(first.source.ip, src_netns)
    dst = ProbeEndpoint(first.dst_ip, dst_netns)
    return await asyncio.to_thread(
        prober.probe, src, dst, spec.protocol, spec.destination_port, PROBE_COUNT
    )


class _Namespaces:
    """Kernel namespaces of Pods and nodes, from the ledger (``pod:<uid>``, ``node:<uid>``)."""

    def __init__(self, ctx: Context, project: str) -> None:
        self.ctx, self.project = ctx, project
        self.ledger = SqliteLedger(ctx.db)

    def _netns(self, owner: str) -> str:
        return next((e.name for e in self.ledger.entries(owner) if e.kind == LEDGER_NETNS), "")

    def of(self, pod: Pod | None, node: Node | None) -> str:
        if pod is not None and not pod.host_network:
            return self._netns(f"pod:{pod.uid}") if pod.uid else ""
        if node is None:
            return ""
        for res in self.ctx.resources.list_prefix(NODES, f"projects/{self.project}/"):
            meta = res.data.get("metadata") or {}
            if meta.get("name") == node.name and meta.get("uid"):
                return self._netns(f"node:{meta['uid']}")
        return ""


# -- after a restart ------------------------------------------------------------------------------
async def recover(ctx: Context) -> None:
    """Run again every create, update or rerun a stopped daemon left unfinished (their work
    only reads the store and writes the test: running it again is safe)."""
    for res in ctx.resources.find(R.NETWORK_MANAGEMENT_OPERATION):
        op = res.data
        if op.get("done"):
            continue
        target = str(op.get("metadata", {}).get("target", ""))
        if op.get("metadata", {}).get("verb") in ("create", "update", "rerun"):
            _spawn(ctx, res.key, target)
        else:
            _finish(
                ctx,
                res.key,
                error={"code": 10, "message": "The daemon stopped during the operation."},
            )


def pods_of(ctx: Context, cluster: ClusterView) -> Iterable[tuple[Pod, Doc]]:
    """Every Pod of a cluster with its document (for preflight)."""
    for r in ctx.resources.list_prefix(PODS, f"{cluster.key}/namespaces/"):
        yield pod_view(r.key, r.data, cluster), r.data
