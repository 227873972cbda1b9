"""The node agents: kubelet, the ptp CNI plugin, netd and ip-masq-agent of every GKE node,
done on intranode's kernel objects.

It watches the store (clusters, nodes, pods, the ip-masq-agent ConfigMap, subnets), computes
what should exist (:func:`intranode.domain.agents.wanted`), and makes the kernel and the pod
runtime match: VPC router namespaces, node namespaces with netd's intra-node visibility set
and ip-masq-agent, pod namespaces wired as ptp does, and the pods' containers. Container
status changes are written back to the pods (``Running``, ``Ready``, restarts, exit codes).

Every kernel call runs on one worker thread (the data plane is synchronous and keeps one
netlink socket per namespace). Objects are owned in the ledger as ``router:<network>``,
``node:<uid>`` and ``pod:<uid>``, so a restarted daemon re-adopts them by exact name and the
short ids in kernel names stay stable. A periodic check re-applies a node's or pod's plan when
the kernel has drifted from it (a link deleted by hand comes back).

The VPC firewall of each network (its rules, policies and instances:
:mod:`intranode.controllers.firewall`) is compiled into the router's ``inet vpc_firewall``
table and swapped in, in one transaction, whenever what it is made of changes;
:attr:`NodeAgent.firewalls` holds the inputs in force per router namespace (for the firewall
log writer and Connectivity Tests).

Public API::

    NodeAgent(ctx, dataplane, ledger)
      async start()             adopt what the ledger lists, converge, then follow the store
      async stop(teardown=True) stop pods and remove every kernel object (intranode down)
      async sync()              converge once now (tests, and after each store change)
      executor                  the PodExecutor for ``kubectl exec``
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from intranode.controllers import firewall
from intranode.controllers.context import Context
from intranode.controllers.mirroring_agent import MIRRORING_KINDS, MirroringAgent
from intranode.dataplane.protocol import Dataplane, Ledger
from intranode.dataplane.runtime.cleanup import cleanup_recorded
from intranode.dataplane.runtime.executor import PodExec
from intranode.dataplane.runtime.pods import PodRuntime
from intranode.dataplane.runtime.podserver import PodServer
from intranode.dataplane.runtime.records import (
    KIND_CAPTURE,
    KIND_EXEC,
    KIND_PROCESS,
    KIND_SERVER,
    LedgerSink,
)
from intranode.dataplane.runtime.sandbox import Sandbox, netns_path, pod_hostname
from intranode.dataplane.runtime.spec import pod_run
from intranode.dataplane.runtime.status import ContainerStatus, pod_phase
from intranode.dataplane.teardown import teardown
from intranode.domain import agents
from intranode.domain import resources as R
from intranode.domain.firewall import FirewallInputs, compile_router_ruleset
from intranode.domain.kube_objects import new_uid
from intranode.domain.netplan import (
    LEDGER_NETNS,
    CreateVethPair,
    NftRuleset,
    Op,
    inv_ops,
    ip_masq_ops,
    node_ops,
    pod_ops,
    router_ops,
    sysctl_keys,
    unsatisfied,
)
from intranode.domain.timefmt import k8s_time
from intranode.domain.topology import KernelNames, Node, Pod, VpcRouter, pick_short_id
from intranode.errors import DataplaneError, IntranodeError, NotFound

log = logging.getLogger(__name__)
T = TypeVar("T")

PODS, NODES, CONFIGMAPS, EVENTS = (R.k8s_kind(k) for k in ("pods", "nodes", "configmaps", "events"))
_WATCHED = {
    R.CLUSTER,
    R.SUBNETWORK,
    PODS,
    NODES,
    CONFIGMAPS,
    *firewall.FIREWALL_KINDS,
    *MIRRORING_KINDS,
}
RUNTIME_OWNER = "runtime"
DRIFT_INTERVAL = 10.0  # netd re-applies its set every --reconcile-interval-seconds (10 s)


@dataclass
class _NodeState:
    want: agents.NodeWant
    node: Node
    ops: tuple[Op, ...]


@dataclass
class _PodState:
    want: agents.PodWant
    pod: Pod | None  # None for hostNetwork pods: they live in their node's namespace
    ops: tuple[Op, ...]


class NodeAgent:
    def __init__(self, ctx: Context, dataplane: Dataplane, ledger: Ledger) -> None:
        self.ctx = ctx
        self.dataplane = dataplane
        self.ledger = ledger
        self.names = KernelNames(ctx.settings.prefix)
        self.run_dir = ctx.settings.state_dir / "run"
        self.sink = LedgerSink(ledger, RUNTIME_OWNER)
        self.server = PodServer(self.run_dir / "podserver", self.sink)
        self.runtime: PodRuntime | None = None
        self.executor: PodExec | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataplane")
        self._routers: dict[str, VpcRouter] = {}
        self._rulesets: dict[str, NftRuleset] = {}  # network -> the firewall table applied
        self.firewalls: dict[str, FirewallInputs] = {}  # router netns -> inputs in force
        self._nodes: dict[str, _NodeState] = {}
        self._pods: dict[str, _PodState] = {}
        self._ids: dict[str, str] = {}  # ledger owner -> short id
        self._warned: set[tuple[str, str]] = set()
        self._kick = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Any = None
        self._sync_lock = asyncio.Lock()
        self.mirrors = MirroringAgent(
            ctx,
            self.names,
            self.sink,
            self._apply,
            self._kernel,
            self._id,
            dataplane.delete_netns,
        )

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._adopt_ids()
        records = self.sink.by_kind()
        await self.server.start(adopt=records.get(KIND_SERVER))
        self.runtime = PodRuntime(
            self.sink, self.server, self._on_status, adopt=records.get(KIND_PROCESS)
        )
        self.executor = PodExec(self.runtime)
        await self.sync()
        await self.runtime.stop_unclaimed()
        # Not prune_stale(): the containers just started add their sockets asynchronously, so
        # the server's own list of what is wanted may still lack them.
        await self.server.prune(keep=self._served_keys())
        # Exec sessions and captures of the daemon before are stopped (captures started anew).
        stale = {kind: records.get(kind) or {} for kind in (KIND_EXEC, KIND_CAPTURE)}
        await cleanup_recorded(self.sink, stale)
        await self._remove_unwanted_netns()
        loop = asyncio.get_running_loop()
        self._unsubscribe = self.ctx.resources.subscribe(
            lambda change: self._on_change(loop, change)
        )
        self._tasks = [
            asyncio.create_task(self._follow(), name="node agent"),
            asyncio.create_task(self._drift_loop(), name="node agent drift"),
        ]

    async def stop(self, *, teardown_kernel: bool = True) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if teardown_kernel:
            await self.mirrors.stop()
        if self.runtime is not None:
            if teardown_kernel:
                await self.runtime.stop_all(grace=2.0)
            else:
                await self.runtime.detach()
        await self.server.close(stop=teardown_kernel)
        if teardown_kernel:
            await cleanup_recorded(self.sink, self.sink.by_kind())
            try:
                await self._kernel(teardown, self.ledger, self.dataplane)
            except DataplaneError as exc:
                log.error("teardown left objects behind (the ledger keeps them): %s", exc)
        await self._kernel(self.dataplane.close)
        self._thread.shutdown(wait=True)

    # -- following the store --------------------------------------------------------------
    def _on_change(self, loop: asyncio.AbstractEventLoop, change: Any) -> None:
        res = change.resource
        if res.kind not in _WATCHED:
            return
        if res.kind == PODS and change.type == "MODIFIED":
            uid = str(res.data.get("metadata", {}).get("uid", ""))
            known = self._pods.get(uid)
            # Status writes (ours, mostly) change nothing the agent acts on.
            if known is not None and known.want.spec_hash == agents.spec_hash(res.data):
                return
        loop.call_soon_threadsafe(self._kick.set)

    async def _follow(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            try:
                await self.sync()
            except Exception:  # the agent must outlive one bad sync; the next one retries
                log.exception("node agent sync failed")
                await asyncio.sleep(0.5)
                self._kick.set()

    async def _drift_loop(self) -> None:
        while True:
            await asyncio.sleep(DRIFT_INTERVAL)
            try:
                await self.repair_drift()
            except Exception:
                log.exception("node agent drift check failed")

    # -- converging ----------------------------------------------------------------------
    def _read_wanted(self) -> agents.Wanted:
        res = self.ctx.resources
        subnets = {r.key: r.data for r in res.find(R.SUBNETWORK)}
        return agents.wanted(
            [(r.key, r.data) for r in res.find(R.CLUSTER)],
            [(r.key, r.data) for r in res.find(NODES)],
            [(r.key, r.data) for r in res.find(PODS)],
            [(r.key, r.data) for r in res.find(CONFIGMAPS)],
            subnets,
        )

    async def sync(self) -> None:
        async with self._sync_lock:
            want = self._read_wanted()
            await self._sync_pods_removed(want)
            await self._sync_nodes_removed(want)
            await self._sync_routers(want)
            await self._sync_nodes(want)
            await self._sync_firewalls(want)
            await self._sync_mirroring(want)
            await self._sync_pods(want)
            self._report_warnings(want)

    async def _sync_routers(self, want: agents.Wanted) -> None:
        for network in want.networks - set(self._routers):
            router = self.names.router(network)
            await self._apply(router_ops(router, ()), f"router:{network}")
            self._routers[network] = router

    async def _sync_firewalls(self, want: agents.Wanted) -> None:
        running: dict[str, dict[str, str]] = {}  # network -> instance name -> node short id
        projects: dict[str, str] = {}
        for uid, nw in want.nodes.items():
            if uid in self._nodes:
                running.setdefault(nw.network, {})[nw.name] = self._id(f"node:{uid}")
            projects.setdefault(nw.network, nw.cluster_key.split("/")[1])  # projects/P/...
        for network, router in self._routers.items():
            project = projects.get(network, self.ctx.settings.project)
            inputs = firewall.inputs_for_network(
                self.ctx, project, network, running.get(network, {})
            )
            op = compile_router_ruleset(inputs, router.netns)
            if self._rulesets.get(network) != op:
                try:
                    await self._apply((op,), f"router:{network}")
                except DataplaneError as exc:
                    log.error("firewall of network %s: %s", network, exc)
                    continue
                self._rulesets[network] = op
            self.firewalls[router.netns] = inputs

    async def _sync_mirroring(self, want: agents.Wanted) -> None:
        keys = {r.data.get("name"): r.key for r in self.ctx.resources.find(R.INSTANCE)}
        links = {
            keys[s.want.name]: s.node.router_link
            for s in self._nodes.values()
            if s.want.name in keys
        }
        await self.mirrors.sync(self._routers, links)

    async def _sync_nodes(self, want: agents.Wanted) -> None:
        for uid, nw in want.nodes.items():
            have = self._nodes.get(uid)
            if have is not None and have.want == nw:
                continue
            owner = f"node:{uid}"
            node = self.names.node(
                self._id(owner), ip=nw.ip, gateway=nw.gateway, pod_cidr=nw.pod_cidr
            )
            router = self._routers[nw.network]
            conf = nw.networking
            ops = (
                *node_ops(node, router),
                *ip_masq_ops(node, conf.non_masquerade_cidrs, conf.masq_link_local),
                *inv_ops(node, conf.intra_node_visibility),
            )
            try:
                await self._apply(ops, owner)
            except DataplaneError as exc:
                log.error("node %s: %s", nw.name, exc)
                continue
            self._nodes[uid] = _NodeState(nw, node, ops)

    async def _sync_pods(self, want: agents.Wanted) -> None:
        assert self.runtime is not None
        for uid, pw in want.pods.items():
            node_state = self._nodes.get(pw.node_uid)
            if node_state is None:
                continue
            have = self._pods.get(uid)
            if have is not None and have.want == pw:
                continue
            if have is None:
                state = await self._wire_pod(pw, node_state)
                if state is None:
                    continue
            else:
                state = have
                state.want = pw
            doc = self.ctx.resources.get(PODS, pw.key)
            if doc is None:
                continue
            self._pods[uid] = state
            await self.runtime.start_pod(self._pod_run(pw, state, node_state, doc.data))

    async def _wire_pod(self, pw: agents.PodWant, node_state: _NodeState) -> _PodState | None:
        if pw.host_network:
            return _PodState(pw, None, ())
        owner = f"pod:{pw.uid}"
        try:
            pod = self.names.pod(self._id(owner), ip=pw.ip, node=node_state.node)
        except ValueError as exc:
            log.error("pod %s/%s: %s", pw.namespace, pw.name, exc)
            return None
        ops = pod_ops(pod, node_state.node)
        try:
            await self._apply(ops, owner)
        except DataplaneError as exc:
            log.error("pod %s/%s: %s", pw.namespace, pw.name, exc)
            return None
        return _PodState(pw, pod, ops)

    def _pod_run(
        self, pw: agents.PodWant, state: _PodState, node_state: _NodeState, doc: dict[str, Any]
    ) -> Any:
        netns = state.pod.netns if state.pod is not None else node_state.node.netns
        spec = doc.get("spec") or {}
        hostname = (
            node_state.want.name
            if pw.host_network
            else pod_hostname(pw.name, str(spec.get("hostname") or ""))
        )
        sandbox = Sandbox(
            netns_path=netns_path(netns),
            uts_path=self.run_dir / "uts" / f"{netns}-{pw.uid[:8]}",
            hostname=hostname,
        )
        log_dir = pods_log_dir(self.ctx.settings.state_dir, pw.namespace, pw.name, pw.uid)
        restarts = {
            str(c.get("name")): int(c.get("restartCount", 0))
            for c in (doc.get("status") or {}).get("containerStatuses") or []
        }
        return pod_run(doc, sandbox, log_dir, restarts)

    def _served_keys(self) -> set[str]:
        keys = set()
        for uid, state in self._pods.items():
            doc = self.ctx.resources.get(PODS, state.want.key)
            for c in ((doc.data if doc else {}).get("spec") or {}).get("containers") or []:
                keys.add(f"{uid}/{c.get('name')}")
        return keys

    async def _sync_pods_removed(self, want: agents.Wanted) -> None:
        for uid in [u for u in self._pods if u not in want.pods]:
            await self._remove_pod(uid)

    async def _remove_pod(self, uid: str) -> None:
        state = self._pods.pop(uid)
        if self.runtime is not None:
            # Before the namespace goes: a process or socket inside would keep it alive.
            await self.runtime.stop_pod(uid, grace=2.0)
        if state.pod is not None:
            await self._kernel(self.dataplane.delete_netns, state.pod.netns)
        self._ids.pop(f"pod:{uid}", None)

    async def _sync_nodes_removed(self, want: agents.Wanted) -> None:
        for uid in [u for u in self._nodes if u not in want.nodes]:
            for pod_uid in [p for p, s in self._pods.items() if s.want.node_uid == uid]:
                await self._remove_pod(pod_uid)
            state = self._nodes.pop(uid)
            await self._kernel(self.dataplane.delete_netns, state.node.netns)
            self._ids.pop(f"node:{uid}", None)
        in_use = {s.want.network for s in self._nodes.values()} | set(want.networks)
        for network in [n for n in self._routers if n not in in_use]:
            await self.mirrors.remove_network(network)
            self._rulesets.pop(network, None)
            router = self._routers.pop(network)
            self.firewalls.pop(router.netns, None)
            await self._kernel(self.dataplane.delete_netns, router.netns)

    async def _remove_unwanted_netns(self) -> None:
        """After a restart: namespaces the ledger lists that no wanted object owns."""
        owners = {f"router:{n}" for n in self._routers}
        owners |= {f"node:{u}" for u in self._nodes} | {f"pod:{u}" for u in self._pods}
        owners |= self.mirrors.owners()
        for entry in self.ledger.entries():
            if entry.kind == LEDGER_NETNS and entry.owner not in owners:
                if entry.owner == RUNTIME_OWNER:
                    continue
                await self._kernel(self.dataplane.delete_netns, entry.name)

    async def repair_drift(self) -> None:
        """Re-apply the plan of every object the kernel no longer matches.

        Routers and nodes are few: their whole plans are checked. Pods are many: one read of
        each node's links and a look for each pod's namespace find a missing pod, so a check
        costs O(nodes) netlink dumps, not O(pods), and never starves pod creation."""
        async with self._sync_lock:
            plans: list[tuple[str, tuple[Op, ...]]] = [
                (
                    f"router:{n}",
                    (
                        *router_ops(
                            r, [s.node for s in self._nodes.values() if s.want.network == n]
                        ),
                        *((self._rulesets[n],) if n in self._rulesets else ()),
                        *(op for op in (self.mirrors.ruleset(n),) if op is not None),
                    ),
                )
                for n, r in self._routers.items()
            ]
            plans += [(f"node:{u}", s.ops) for u, s in self._nodes.items()]
            for owner, ops in plans:
                missing = await self._kernel(self._unsatisfied, ops)
                if missing:
                    log.warning("%s drifted (%d ops); re-applying", owner, len(missing))
                    await self._apply(ops, owner)
            for node_uid, node_state in self._nodes.items():
                pods = [
                    (u, s.pod)
                    for u, s in self._pods.items()
                    if s.pod is not None and s.want.node_uid == node_uid
                ]
                for uid in await self._kernel(self._broken_pods, node_state.node.netns, pods):
                    log.warning("pod:%s drifted; re-applying", uid)
                    await self._apply(self._pods[uid].ops, f"pod:{uid}")

    def _broken_pods(self, node_netns: str, pods: list[tuple[str, Pod]]) -> list[str]:
        node = self.dataplane.read_state(node_netns)
        return [
            uid
            for uid, pod in pods
            if node.link(pod.node_link) is None or not self.dataplane.exists("netns", "", pod.netns)
        ]

    def _unsatisfied(self, ops: tuple[Op, ...]) -> tuple[Op, ...]:
        keys = sysctl_keys(ops)
        namespaces = {op.ns for op in ops}
        namespaces |= {op.ns_b for op in ops if isinstance(op, CreateVethPair)}
        observed = {
            ns: self.dataplane.read_state(ns, keys.get(ns, ()))
            for ns in namespaces
            if self.dataplane.exists("netns", "", ns)
        }
        return unsatisfied(ops, observed)

    # -- pod status ------------------------------------------------------------------------
    def _on_status(self, status: ContainerStatus) -> None:
        state = self._pods.get(status.pod_uid)
        if state is None or self.runtime is None:
            return
        try:
            self._write_status(state.want, self.runtime.statuses(status.pod_uid))
        except IntranodeError:
            log.exception("writing the status of pod %s", state.want.name)

    def _write_status(self, pw: agents.PodWant, statuses: list[ContainerStatus]) -> None:
        res = self.ctx.resources
        with res.transaction():
            current = res.get(PODS, pw.key)
            if current is None or current.data["metadata"].get("uid") != pw.uid:
                return
            doc = copy.deepcopy(current.data)
            spec, status = doc.get("spec") or {}, doc.setdefault("status", {})
            by_name = {s.name: s.to_k8s() for s in statuses}
            new_cs = [
                by_name.get(str(c.get("name")), c) for c in status.get("containerStatuses") or []
            ]
            phase = pod_phase(str(spec.get("restartPolicy") or "Always"), statuses)
            ready = bool(statuses) and all(s.ready for s in statuses) and phase == "Running"
            status["containerStatuses"] = new_cs
            status["phase"] = phase
            _set_conditions(status, ready, self.ctx.clock())
            if doc != current.data:
                try:
                    res.update(PODS, pw.key, doc, expect_revision=current.revision)
                except NotFound:
                    return

    # -- warnings --------------------------------------------------------------------------
    def _report_warnings(self, want: agents.Wanted) -> None:
        now_warned = {(w.cluster_key, w.message) for w in want.warnings}
        for w in want.warnings:
            if (w.cluster_key, w.message) in self._warned:
                continue
            self._record_event(w)
            self._set_cluster_condition(w.cluster_key, w.reason, w.message)
        for cluster_key, _message in self._warned - now_warned:
            if not any(w.cluster_key == cluster_key for w in want.warnings):
                self._set_cluster_condition(cluster_key, None, "")
        self._warned = now_warned

    def _record_event(self, w: agents.AgentWarning) -> None:
        now = self.ctx.clock()
        ts = k8s_time(now)
        name = f"ip-masq-agent.{int(now * 1e9):x}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": name,
                "namespace": "kube-system",
                "uid": new_uid(),
                "creationTimestamp": ts,
            },
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "namespace": "kube-system",
                "name": "ip-masq-agent",
            },
            "reason": w.reason,
            "message": w.message,
            "source": {"component": "intranode-node-agent"},
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "count": 1,
            "type": "Warning",
            "reportingComponent": "intranode-node-agent",
            "reportingInstance": "",
        }
        key = R.k8s_key(w.cluster_key, "events", name, "kube-system")
        with contextlib.suppress(IntranodeError):
            self.ctx.resources.create(
                EVENTS, key, R.k8s_parent(w.cluster_key, "kube-system"), event
            )

    def _set_cluster_condition(self, cluster_key: str, reason: str | None, message: str) -> None:
        res = self.ctx.resources
        with res.transaction():
            current = res.get(R.CLUSTER, cluster_key)
            if current is None:
                return
            doc = copy.deepcopy(current.data)
            others = [
                c
                for c in doc.get("conditions") or []
                if not str(c.get("code", "")).startswith("INTRANODE_")
            ]
            if reason is not None:
                others.append(
                    {
                        "code": "INTRANODE_" + _snake(reason).upper(),
                        "message": message,
                        "canonicalCode": "FAILED_PRECONDITION",
                    }
                )
            if others:
                doc["conditions"] = others
            else:
                doc.pop("conditions", None)
            if doc != current.data:
                res.update(R.CLUSTER, cluster_key, doc)

    # -- kernel helpers --------------------------------------------------------------------
    def _adopt_ids(self) -> None:
        for entry in self.ledger.entries():
            if entry.kind != LEDGER_NETNS or ":" not in entry.owner:
                continue
            kind = entry.owner.split(":", 1)[0]
            if kind in ("node", "pod", "collector") and entry.name.startswith(self.names.prefix):
                self._ids[entry.owner] = entry.name.rsplit("-", 1)[-1]

    def _id(self, owner: str) -> str:
        if owner not in self._ids:
            self._ids[owner] = pick_short_id(set(self._ids.values()))
        return self._ids[owner]

    async def _apply(self, ops: tuple[Op, ...], owner: str) -> None:
        await self._kernel(lambda: self.dataplane.apply(ops, owner=owner))

    async def _kernel(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: fn(*args))


def _snake(name: str) -> str:
    out = ""
    for ch in name:
        out += ("_" + ch) if ch.isupper() and out else ch
    return out


def _set_conditions(status: dict[str, Any], ready: bool, now: float) -> None:
    ts = k8s_time(now)
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    for kind in ("Ready", "ContainersReady"):
        c = conditions.get(kind) or {"type": kind}
        want = "True" if ready else "False"
        if c.get("status") != want:
            c = {"type": kind, "status": want, "lastProbeTime": None, "lastTransitionTime": ts}
            if not ready:
                c["reason"] = "ContainersNotReady"
            conditions[kind] = c
    order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    status["conditions"] = [conditions[k] for k in order if k in conditions] + [
        c for k, c in conditions.items() if k not in order
    ]


def pods_log_dir(state_dir: Path, namespace: str, name: str, uid: str) -> Path:
    """Where a pod's container logs are (``kubectl logs`` reads them)."""
    return state_dir / "pods" / f"{namespace}_{name}_{uid}"
