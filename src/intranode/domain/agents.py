"""What the node agents of every cluster should make of the store, as pure data.

On GKE each node runs kubelet, the ptp CNI plugin, netd and ip-masq-agent; intranode's node
agent (``controllers/nodeagent.py``) does their work on its kernel objects. This module reads
the stored documents (clusters, Kubernetes nodes, pods, the ``kube-system/ip-masq-agent``
ConfigMap, subnets) and says what should exist: one VPC router per network that has nodes, one
node namespace per node with its networking (intra-node visibility, ip-masq-agent), one pod
namespace per pod that runs, and what is wrong with the configuration (a non-masquerade list
that leaves out the pod range while intra-node visibility is on).

Public API: :func:`wanted` ``(clusters, nodes, pods, configmaps, subnets) -> Wanted``;
:func:`parse_ip_masq_config`; :data:`EMULATED`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from intranode.domain.netplan import DEFAULT_NON_MASQUERADE_CIDRS, NodeNetworking

Doc = Mapping[str, Any]

# System pods the cluster controller runs itself (kube-proxy, netd, ...): nothing to start.
EMULATED = "intranode.io/emulated-component"
IP_MASQ_CONFIGMAP = ("kube-system", "ip-masq-agent")
# The cluster states in which nodes exist and run.
_LIVE = {"RUNNING", "RECONCILING", "DEGRADED", "PROVISIONING", "ERROR"}


@dataclass(frozen=True)
class IpMasqConfig:
    non_masquerade_cidrs: tuple[str, ...] = DEFAULT_NON_MASQUERADE_CIDRS
    masq_link_local: bool = False
    error: str = ""


@dataclass(frozen=True)
class NodeWant:
    uid: str
    key: str
    name: str
    cluster_key: str
    network: str
    ip: str
    gateway: str
    pod_cidr: str
    networking: NodeNetworking


@dataclass(frozen=True)
class PodWant:
    uid: str
    key: str
    name: str
    namespace: str
    node_uid: str
    ip: str
    host_network: bool
    # Only what a change to restarts containers: the pod's spec (status changes do not count).
    spec_hash: str


@dataclass(frozen=True)
class AgentWarning:
    """A misconfiguration users must hear of (an Event on the ConfigMap, a cluster condition)."""

    cluster_key: str
    reason: str
    message: str


@dataclass(frozen=True)
class Wanted:
    networks: frozenset[str] = frozenset()
    nodes: Mapping[str, NodeWant] = field(default_factory=dict)
    pods: Mapping[str, PodWant] = field(default_factory=dict)
    warnings: tuple[AgentWarning, ...] = ()


def spec_hash(pod: Doc) -> str:
    spec = pod.get("spec") or {}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def parse_ip_masq_config(data: Mapping[str, str] | None) -> IpMasqConfig:
    """The agent's ``config`` key (YAML or JSON): ``nonMasqueradeCIDRs``, ``masqLinkLocal``.

    Like the agent, a config that does not parse keeps the defaults and reports why.
    """
    text = (data or {}).get("config")
    if not text:
        return IpMasqConfig()
    try:
        conf = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        return IpMasqConfig(error=f"ip-masq-agent config does not parse: {exc}")
    if not isinstance(conf, dict):
        return IpMasqConfig(error="ip-masq-agent config must be a mapping")
    cidrs = conf.get("nonMasqueradeCIDRs", list(DEFAULT_NON_MASQUERADE_CIDRS))
    if not isinstance(cidrs, list) or not all(isinstance(c, str) for c in cidrs):
        return IpMasqConfig(error="nonMasqueradeCIDRs must be a list of CIDRs")
    for c in cidrs:
        try:
            ipaddress.ip_network(c, strict=False)
        except ValueError:
            return IpMasqConfig(error=f"nonMasqueradeCIDRs: {c!r} is not a CIDR")
    return IpMasqConfig(tuple(cidrs), bool(conf.get("masqLinkLocal", False)))


def _covered(inner: str, cidrs: Iterable[str]) -> bool:
    net = ipaddress.ip_network(inner, strict=False)
    for c in cidrs:
        outer = ipaddress.ip_network(c, strict=False)
        if outer.version == net.version and net.subnet_of(outer):  # type: ignore[arg-type]
            return True
    return False


def _internal_ip(node: Doc) -> str:
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return str(a.get("address", ""))
    return ""


def wanted(
    clusters: Iterable[tuple[str, Doc]],
    nodes: Iterable[tuple[str, Doc]],
    pods: Iterable[tuple[str, Doc]],
    configmaps: Iterable[tuple[str, Doc]],
    subnets: Mapping[str, Doc],
) -> Wanted:
    """Everything the node agents should run. Keys are store keys; ``subnets`` maps a subnet
    key (``projects/P/regions/R/subnetworks/S``) to its document."""
    live = {key: doc for key, doc in clusters if doc.get("status") in _LIVE}
    masq: dict[str, IpMasqConfig] = {}
    for key, cm in configmaps:
        meta = cm.get("metadata") or {}
        if (meta.get("namespace"), meta.get("name")) == IP_MASQ_CONFIGMAP:
            cluster = key.split("/namespaces/", 1)[0]
            masq[cluster] = parse_ip_masq_config(cm.get("data"))

    warnings: list[AgentWarning] = []
    node_wants: dict[str, NodeWant] = {}
    by_name: dict[tuple[str, str], str] = {}
    for cluster_key, c in live.items():
        conf = masq.get(cluster_key, IpMasqConfig())
        inv = bool((c.get("networkConfig") or {}).get("enableIntraNodeVisibility"))
        pod_range = str(c.get("clusterIpv4Cidr") or "")
        if conf.error:
            warnings.append(AgentWarning(cluster_key, "IpMasqAgentConfigInvalid", conf.error))
        elif inv and pod_range and not _covered(pod_range, conf.non_masquerade_cidrs):
            warnings.append(
                AgentWarning(
                    cluster_key,
                    "IntraNodeVisibilityMasquerade",
                    f"kube-system/ip-masq-agent: nonMasqueradeCIDRs "
                    f"{list(conf.non_masquerade_cidrs)} leaves out the Pod range {pod_range}. "
                    "With intra-node visibility on, pod-to-pod traffic on a node leaves the "
                    "node and is masqueraded to the node's address, so it breaks. Add "
                    f"{pod_range} to nonMasqueradeCIDRs.",
                )
            )
        subnet_key = str((c.get("networkConfig") or {}).get("subnetwork") or "")
        gateway = str((subnets.get(subnet_key) or {}).get("gatewayAddress") or "")
        network = str(c.get("network") or "default")
        networking = NodeNetworking(
            intra_node_visibility=inv,
            non_masquerade_cidrs=conf.non_masquerade_cidrs,
            masq_link_local=conf.masq_link_local,
        )
        for key, n in nodes:
            if not key.startswith(cluster_key + "/"):
                continue
            meta = n.get("metadata") or {}
            ip, pod_cidr = _internal_ip(n), str((n.get("spec") or {}).get("podCIDR") or "")
            labels = meta.get("labels") or {}
            if not ip or not pod_cidr or not gateway or labels.get("kubernetes.io/os") == "windows":
                continue
            uid = str(meta["uid"])
            node_wants[uid] = NodeWant(
                uid, key, str(meta["name"]), cluster_key, network, ip, gateway, pod_cidr, networking
            )
            by_name[(cluster_key, str(meta["name"]))] = uid

    pod_wants: dict[str, PodWant] = {}
    for key, p in pods:
        cluster_key = key.split("/namespaces/", 1)[0]
        meta, spec, status = p.get("metadata") or {}, p.get("spec") or {}, p.get("status") or {}
        if (meta.get("annotations") or {}).get(EMULATED) == "true":
            continue
        node_uid = by_name.get((cluster_key, str(spec.get("nodeName") or "")))
        ip = str(status.get("podIP") or "")
        if node_uid is None or not ip or meta.get("deletionTimestamp"):
            continue
        uid = str(meta["uid"])
        pod_wants[uid] = PodWant(
            uid,
            key,
            str(meta["name"]),
            str(meta.get("namespace") or "default"),
            node_uid,
            ip,
            bool(spec.get("hostNetwork")),
            spec_hash(p),
        )
    return Wanted(
        networks=frozenset(n.network for n in node_wants.values()),
        nodes=node_wants,
        pods=pod_wants,
        warnings=tuple(warnings),
    )
