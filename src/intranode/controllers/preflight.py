"""``intranode preflight CLUSTER``: before ``clusters update --enable-intra-node-visibility``,
what would break (the pure check is :mod:`intranode.domain.connectivity.preflight`).

It reads the cluster, its Pods and Services, the firewall of its network (the model the
router's table is compiled from, shared with Connectivity Tests), the ``kube-system/
ip-masq-agent`` ConfigMap, and the flows seen recently between two Pods of one node:

- from VPC flow logs (only when intra-node visibility was on: that is when same-node flows
  cross the VPC), read through the Logging controller with ``seen_within`` as the window;
- from conntrack in each node's namespace, when the data plane runs and the daemon
  installed a flow source (:func:`use_flow_source`): same-node traffic always passes through
  the node's namespace, so its connections are there whatever the setting.

Public API::

    use_flow_source(ctx, source)    the daemon's LinuxFlowSource (conntrack of node namespaces)
    run(ctx, project, cluster, location=None, seen_within=3600.0) -> dict   the report's JSON
"""

from __future__ import annotations

import copy
import json
import weakref
from collections.abc import Iterable
from typing import Any

from intranode.controllers import connectivity, logs, serviceusage
from intranode.controllers.context import Context
from intranode.dataplane.flow_source import FlowSource
from intranode.domain import agents
from intranode.domain import resources as R
from intranode.domain.connectivity import preflight
from intranode.domain.connectivity.world import Pod, cluster_view
from intranode.domain.container import check_inv_allowed, pool_is_windows
from intranode.domain.netplan import LEDGER_NETNS
from intranode.domain.timefmt import rfc3339
from intranode.errors import ApiError, DataplaneError, FailedPrecondition, InvalidArgument, NotFound
from intranode.store.ledger import SqliteLedger
from intranode.store.resources import Resource, ResourceStore

_PROTOCOL_NAMES = {6: "TCP", 17: "UDP", 132: "SCTP"}
_FLOW_LOG = "compute.googleapis.com%2Fvpc_flows"
_MAX_LOG_PAGES = 20

_sources: weakref.WeakKeyDictionary[ResourceStore, FlowSource] = weakref.WeakKeyDictionary()


def use_flow_source(ctx: Context, source: FlowSource | None) -> None:
    if source is None:
        _sources.pop(ctx.resources, None)
    else:
        _sources[ctx.resources] = source


def _cluster(ctx: Context, project: str, name: str, location: str | None) -> Resource:
    if location:
        res = ctx.resources.get(R.CLUSTER, R.cluster_key(project, location, name))
        if res is None:
            raise NotFound(f"Not found: projects/{project}/locations/{location}/clusters/{name}.")
        return res
    found = [
        r
        for r in ctx.resources.list_prefix(R.CLUSTER, f"projects/{project}/locations/")
        if r.key.rsplit("/", 1)[-1] == name
    ]
    if not found:
        raise NotFound(f"Not found: cluster {name} in project {project} (any location).")
    if len(found) > 1:
        where = ", ".join(r.key.split("/")[3] for r in found)
        raise InvalidArgument(f"Cluster {name} exists in {where}: name its location.")
    return found[0]


def _requirements(doc: dict[str, Any]) -> list[preflight.Requirement]:
    out = []
    try:
        check_inv_allowed({**doc, "nodePools": []})
        out.append(
            preflight.Requirement(
                "version", True, f"GKE {doc.get('currentMasterVersion')} (1.15 or later)."
            )
        )
    except FailedPrecondition as exc:
        out.append(preflight.Requirement("version", False, exc.message))
    windows = [str(p.get("name")) for p in doc.get("nodePools") or () if pool_is_windows(p)]
    if windows:
        message = (
            "Windows Server node pools cannot run with intra-node visibility: "
            + ", ".join(windows)
            + "."
        )
        out.append(preflight.Requirement("windowsNodePools", False, message))
    else:
        out.append(preflight.Requirement("windowsNodePools", True, "No Windows Server node pool."))
    return out


def _masquerade(ctx: Context, key: str, doc: dict[str, Any]) -> list[str]:
    """What the node agents would warn of once intra-node visibility is on."""
    enabled = copy.deepcopy(doc)
    enabled.setdefault("networkConfig", {})["enableIntraNodeVisibility"] = True
    enabled["status"] = "RUNNING"
    configmaps = [
        (r.key, r.data)
        for r in ctx.resources.list_prefix(
            R.k8s_kind("configmaps"), f"{key}/namespaces/kube-system"
        )
    ]
    wanted = agents.wanted([(key, enabled)], [], [], configmaps, {})
    return [w.message for w in wanted.warnings if w.cluster_key == key]


def _from_flow_logs(
    ctx: Context, project: str, cluster: str, since: float
) -> list[tuple[str, str, str, int]]:
    flt = (
        f'logName="projects/{project}/logs/{_FLOW_LOG}" AND timestamp>="{rfc3339(since)}" '
        f'AND jsonPayload.src_gke_details.cluster.cluster_name="{cluster}" '
        f'AND jsonPayload.dest_gke_details.cluster.cluster_name="{cluster}"'
    )
    out: list[tuple[str, str, str, int]] = []
    token = ""
    for _ in range(_MAX_LOG_PAGES):
        try:
            page = logs.list_entries(
                ctx, logs.ListRequest([f"projects/{project}"], flt, "", 1000, token)
            )
        except ApiError:
            return out  # Logging disabled: nothing seen there
        for text in page.entries:
            out.extend(_flow_log_connection(text))
        if not page.next_page_token:
            break
        token = page.next_page_token
    return out


def _flow_log_connection(text: str) -> list[tuple[str, str, str, int]]:
    conn = (json.loads(text).get("jsonPayload") or {}).get("connection") or {}
    name = _PROTOCOL_NAMES.get(int(conn.get("protocol") or 0))
    if name is None or conn.get("dest_port") is None:
        return []
    return [(str(conn.get("src_ip")), str(conn.get("dest_ip")), name, int(conn["dest_port"]))]


def _from_conntrack(ctx: Context, key: str, pods: Iterable[Pod]) -> list[tuple[str, str, str, int]]:
    source = _sources.get(ctx.resources)
    if source is None or not ctx.data_plane:
        return []
    ledger = SqliteLedger(ctx.db)
    nodes = {p.node for p in pods}
    out = []
    for res in ctx.resources.find(R.k8s_kind("nodes"), parent=key):
        meta = res.data.get("metadata") or {}
        if meta.get("name") not in nodes:
            continue
        owner = f"node:{meta.get('uid')}"
        netns = next((e.name for e in ledger.entries(owner) if e.kind == LEDGER_NETNS), "")
        if not netns:
            continue
        try:
            entries = source.snapshot(netns)
        except DataplaneError:
            continue
        for entry in entries:
            o = entry.original
            name = _PROTOCOL_NAMES.get(o.protocol)
            if name is not None and o.dest_port is not None:
                out.append((o.src_ip, o.dest_ip, name, o.dest_port))
    return out


def _takes_part(pod: Pod, doc: dict[str, Any]) -> bool:
    """A Pod with an address of its own that has not finished; not one of the system Pods
    intranode only shows (they run nothing, so nothing of theirs works now)."""
    meta, status = doc.get("metadata") or {}, doc.get("status") or {}
    if (meta.get("annotations") or {}).get(agents.EMULATED) == "true":
        return False
    finished = status.get("phase") in ("Succeeded", "Failed")
    return bool(pod.ip and pod.node and not pod.host_network and not finished)


def run(
    ctx: Context,
    project: str,
    cluster: str,
    location: str | None = None,
    seen_within: float = 3600.0,
) -> dict[str, Any]:
    """The preflight report of a cluster, as JSON (see :class:`preflight.Report`)."""
    pid = serviceusage.resolve_project(ctx, project)
    if seen_within < 0:
        raise InvalidArgument(f"Invalid value for seenWithin: {seen_within}. Must be 0 or more.")
    res = _cluster(ctx, pid, cluster, location)
    view = cluster_view(res.key, res.data)
    network = connectivity.networks(ctx, pid).get(view.network)
    if network is None:
        raise FailedPrecondition(f"The network {view.network} of cluster {cluster} does not exist.")
    pods = [(pod, doc) for pod, doc in connectivity.pods_of(ctx, view) if _takes_part(pod, doc)]
    services = [
        r.data for r in ctx.resources.list_prefix(R.k8s_kind("services"), f"{res.key}/namespaces/")
    ]
    only = [p for p, _ in pods]
    seen = _from_flow_logs(ctx, pid, view.name, ctx.clock() - seen_within) if seen_within else []
    seen += _from_conntrack(ctx, res.key, only)
    flows = preflight.merge(
        preflight.declared_flows(pods, services), preflight.observed_flows(only, seen)
    )
    report = preflight.check(
        view,
        network,
        flows,
        project=pid,
        masquerade=_masquerade(ctx, res.key, res.data),
        requirements=_requirements(res.data),
    )
    return report.to_json()
