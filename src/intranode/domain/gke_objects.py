"""What a new GKE cluster holds, as pure documents: the Compute instance and the Kubernetes Node
of each node, and the Kubernetes objects GKE installs (namespaces, Services, the kube-system
workloads).

kube-system, as intranode installs it (a subset of GKE's, enough to show what GKE runs and what
intra-node visibility adds):

=====================  ==========================  ===========================================
kube-proxy-<node>      static (mirror) pod         every Linux node, host network
fluentbit-gke          DaemonSet                   every Linux node, host network
gke-metrics-agent      DaemonSet                   every Linux node, host network
netd                   DaemonSet                   Linux nodes labelled ``gke-netd-ready``,
                                                   host network; only with intra-node visibility
kube-dns               Deployment -> ReplicaSet    1 replica (2 with more than one Linux node),
                                                   Pod IPs from the nodes' ranges
=====================  ==========================  ===========================================

GKE's components are emulated by intranode itself (netd's policy routing is set up by the data
plane, not by a container), so their pods are Running from the start and carry the annotation
``EMULATED_ANNOTATION``; the data plane starts no container for them.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from intranode.domain import naming
from intranode.domain.kube_objects import object_meta
from intranode.domain.resources import compute_link, new_fingerprint
from intranode.domain.timefmt import compute_time, k8s_time

EMULATED_ANNOTATION = "intranode.io/emulated-component"
COMPONENT_ANNOTATION = "components.gke.io/component-name"
NODEPOOL_LABEL = "cloud.google.com/gke-nodepool"
NETD_READY_LABEL = "cloud.google.com/gke-netd-ready"
OS_LABEL = "kubernetes.io/os"

KUBE_SYSTEM = "kube-system"

Obj = dict[str, Any]


# Nodes -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeSpec:
    """One GKE node: a Compute instance and the Kubernetes Node of the same name."""

    project: str
    project_number: str
    cluster: str
    cluster_id: str
    location: str
    zone: str
    pool: str
    group: str  # instance group name
    name: str
    network: str  # store keys
    subnetwork: str
    internal_ip: str
    pod_cidr: str
    pods_range: str
    tag: str
    version: str
    windows: bool
    config: Mapping[str, Any] = field(default_factory=dict)  # the pool's NodeConfig

    @property
    def machine_type(self) -> str:
        return str(self.config.get("machineType") or "e2-medium")

    @property
    def region(self) -> str:
        return self.zone.rsplit("-", 1)[0]


def node_labels_of_instance(cluster: str, location: str, pool: str) -> dict[str, str]:
    """The labels GKE puts on a node's instance; intranode finds a cluster's instances by them."""
    return {
        "goog-gke-node": "",
        "goog-k8s-cluster-name": cluster,
        "goog-k8s-cluster-location": location,
        "goog-k8s-node-pool-name": pool,
    }


def service_account_email(config: Mapping[str, Any], project_number: str) -> str:
    sa = str(config.get("serviceAccount") or "default")
    return f"{project_number}-compute@developer.gserviceaccount.com" if sa == "default" else sa


def instance_document(spec: NodeSpec, *, instance_id: str, now: float) -> Obj:
    """The ``compute#instance`` of a node: its primary IP from the subnet, the node's Pod range
    as an alias IP range of nic0, GKE's tags, labels and metadata."""
    p, z = spec.project, spec.zone
    key = f"projects/{p}/zones/{z}/instances/{spec.name}"
    cfg = spec.config
    labels = dict(cfg.get("resourceLabels") or {})
    labels.update(node_labels_of_instance(spec.cluster, spec.location, spec.pool))
    metadata = {
        "cluster-name": spec.cluster,
        "cluster-location": spec.location,
        "cluster-uid": spec.cluster_id,
        "created-by": f"projects/{spec.project_number}/zones/{z}/instanceGroupManagers/"
        f"{spec.group}",
        "gci-ensure-gke-docker": "true",
        "kube-labels": ",".join(f"{k}={v}" for k, v in sorted(node_labels(spec).items())),
        **{str(k): str(v) for k, v in (cfg.get("metadata") or {}).items()},
    }
    stamp = compute_time(now)
    return {
        "kind": "compute#instance",
        "id": instance_id,
        "creationTimestamp": stamp,
        "name": spec.name,
        "tags": {"items": [spec.tag, *cfg.get("tags", [])], "fingerprint": new_fingerprint()},
        "machineType": compute_link(f"projects/{p}/zones/{z}/machineTypes/{spec.machine_type}"),
        "status": "RUNNING",
        "zone": compute_link(f"projects/{p}/zones/{z}"),
        "canIpForward": True,
        "networkInterfaces": [
            {
                "kind": "compute#networkInterface",
                "network": compute_link(spec.network),
                "subnetwork": compute_link(spec.subnetwork),
                "networkIP": spec.internal_ip,
                "name": "nic0",
                "aliasIpRanges": [
                    {"ipCidrRange": spec.pod_cidr, "subnetworkRangeName": spec.pods_range}
                ],
                "fingerprint": new_fingerprint(),
                "stackType": "IPV4_ONLY",
            }
        ],
        "disks": [
            {
                "kind": "compute#attachedDisk",
                "type": "PERSISTENT",
                "mode": "READ_WRITE",
                "source": compute_link(f"projects/{p}/zones/{z}/disks/{spec.name}"),
                "deviceName": "persistent-disk-0",
                "index": 0,
                "boot": True,
                "autoDelete": True,
                "interface": "SCSI",
                "diskSizeGb": str(cfg.get("diskSizeGb") or 100),
            }
        ],
        "metadata": {
            "kind": "compute#metadata",
            "fingerprint": new_fingerprint(),
            "items": [{"key": k, "value": v} for k, v in metadata.items()],
        },
        "serviceAccounts": [
            {
                "email": service_account_email(cfg, spec.project_number),
                "scopes": list(cfg.get("oauthScopes") or []),
            }
        ],
        "selfLink": compute_link(key),
        "scheduling": {
            "onHostMaintenance": "MIGRATE",
            "automaticRestart": True,
            "preemptible": bool(cfg.get("preemptible")),
            "provisioningModel": "SPOT" if cfg.get("spot") else "STANDARD",
        },
        "cpuPlatform": "Intel Broadwell",
        "labels": labels,
        "labelFingerprint": new_fingerprint(),
        "startRestricted": False,
        "deletionProtection": False,
        "shieldedInstanceConfig": {
            "enableSecureBoot": False,
            "enableVtpm": True,
            "enableIntegrityMonitoring": True,
        },
        "fingerprint": new_fingerprint(),
        "lastStartTimestamp": stamp,
    }


def node_labels(spec: NodeSpec) -> dict[str, str]:
    os_name = "windows" if spec.windows else "linux"
    family = spec.machine_type.split("-", 1)[0]
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": spec.machine_type,
        "beta.kubernetes.io/os": os_name,
        "cloud.google.com/gke-boot-disk": "pd-balanced",
        "cloud.google.com/gke-container-runtime": "containerd",
        "cloud.google.com/gke-logging-variant": "DEFAULT",
        "cloud.google.com/gke-max-pods-per-node": "110",
        NODEPOOL_LABEL: spec.pool,
        "cloud.google.com/gke-os-distribution": "windows" if spec.windows else "cos",
        "cloud.google.com/gke-provisioning": "standard",
        "cloud.google.com/gke-stack-type": "IPV4",
        "cloud.google.com/machine-family": family,
        "cloud.google.com/private-node": "false",
        "failure-domain.beta.kubernetes.io/region": spec.region,
        "failure-domain.beta.kubernetes.io/zone": spec.zone,
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": spec.name,
        OS_LABEL: os_name,
        "node.kubernetes.io/instance-type": spec.machine_type,
        "topology.gke.io/zone": spec.zone,
        "topology.kubernetes.io/region": spec.region,
        "topology.kubernetes.io/zone": spec.zone,
    }
    if not spec.windows:
        # kube-up labels only Linux nodes: Windows nodes do not run netd.
        labels[NETD_READY_LABEL] = "true"
    labels.update({str(k): str(v) for k, v in (spec.config.get("labels") or {}).items()})
    return labels


_MEMORY_GB_PER_CPU = {"e2": 4.0, "n1": 3.75, "n2": 4.0, "n2d": 4.0, "c2": 4.0, "t2d": 4.0}
_SHARED_CORE = {"e2-micro": (2, 1.0), "e2-small": (2, 2.0), "e2-medium": (2, 4.0)}


def machine_shape(machine_type: str) -> tuple[int, float]:
    """(vCPUs, GB of memory) of a machine type; unknown types count as e2-medium."""
    if machine_type in _SHARED_CORE:
        return _SHARED_CORE[machine_type]
    m = re.fullmatch(r"([a-z0-9]+)-(standard|highmem|highcpu)-(\d+)", machine_type)
    if not m:
        return _SHARED_CORE["e2-medium"]
    cpus = int(m.group(3))
    per_cpu = _MEMORY_GB_PER_CPU.get(m.group(1), 4.0)
    per_cpu *= {"standard": 1.0, "highmem": 2.0, "highcpu": 0.25}[m.group(2)]
    return cpus, cpus * per_cpu


def node_object(spec: NodeSpec, *, instance_id: str, now: float) -> Obj:
    cpus, mem_gb = machine_shape(spec.machine_type)
    mem_ki = int(mem_gb * 1024 * 1024 * 0.96)
    capacity = {
        "cpu": str(cpus),
        "ephemeral-storage": "98831908Ki",
        "hugepages-2Mi": "0",
        "memory": f"{mem_ki}Ki",
        "pods": "110",
    }
    allocatable = {
        **capacity,
        "cpu": f"{cpus * 1000 - 1060}m" if cpus > 2 else "940m",
        "ephemeral-storage": "47060071478",
        "memory": f"{int(mem_ki * 0.72)}Ki",
    }
    meta = object_meta(
        spec.name,
        now=now,
        labels=node_labels(spec),
        annotations={
            "container.googleapis.com/instance_id": instance_id,
            "node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        },
    )
    node_spec: Obj = {
        "podCIDR": spec.pod_cidr,
        "podCIDRs": [spec.pod_cidr],
        "providerID": f"gce://{spec.project}/{spec.zone}/{spec.name}",
    }
    if spec.windows:
        node_spec["taints"] = [
            {"key": "node.kubernetes.io/os", "value": "windows", "effect": "NoSchedule"}
        ]
    stamp = k8s_time(now)

    def cond(kind: str, status: str, reason: str, message: str) -> Obj:
        return {
            "type": kind,
            "status": status,
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
            "reason": reason,
            "message": message,
        }

    version = "v" + spec.version
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta,
        "spec": node_spec,
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": spec.internal_ip},
                {"type": "Hostname", "address": spec.name},
            ],
            "allocatable": allocatable,
            "capacity": capacity,
            "conditions": [
                cond(
                    "NetworkUnavailable",
                    "False",
                    "RouteCreated",
                    "NodeController create implicit route",
                ),
                cond(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                cond(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                cond(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": naming.new_cluster_id()[:32],
                "containerRuntimeVersion": "containerd://1.7.27",
                "kernelVersion": "10.0.17763.7009" if spec.windows else "6.6.87+",
                "kubeProxyVersion": version,
                "kubeletVersion": version,
                "machineID": naming.new_cluster_id()[:32],
                "operatingSystem": "windows" if spec.windows else "linux",
                "osImage": "Windows Server 2019 Datacenter"
                if spec.windows
                else "Container-Optimized OS from Google",
                "systemUUID": naming.new_cluster_id()[:32],
            },
        },
    }


# Firewall rules ----------------------------------------------------------------------------------
def firewall_bodies(
    *,
    cluster: str,
    chash: str,
    network: str,
    pods_cidr: str,
    subnet_cidr: str,
    master_ip: str,
) -> list[Obj]:
    """The insert bodies of the rules GKE creates for a cluster (netd_inv.md §4), all ingress to
    the cluster's node tag."""
    tag = naming.node_tag(cluster, chash)

    def rule(suffix: str, sources: list[str], **extra: Any) -> Obj:
        body: Obj = {
            "name": naming.firewall_name(cluster, chash, suffix),
            "network": network,
            "direction": "INGRESS",
            "priority": 1000,
            "sourceRanges": sources,
            "targetTags": [tag],
        }
        body.update(extra)
        return body

    every = ("tcp", "udp", "icmp", "esp", "ah", "sctp")
    return [
        rule("all", [pods_cidr], allowed=[{"IPProtocol": p} for p in every]),
        rule(
            "vms",
            [subnet_cidr],
            allowed=[
                {"IPProtocol": "tcp", "ports": ["1-65535"]},
                {"IPProtocol": "udp", "ports": ["1-65535"]},
                {"IPProtocol": "icmp"},
            ],
        ),
        rule("ssh", [f"{master_ip}/32"], allowed=[{"IPProtocol": "tcp", "ports": ["22"]}]),
        rule(
            "inkubelet",
            [pods_cidr],
            priority=999,
            sourceTags=[tag],
            allowed=[{"IPProtocol": "tcp", "ports": ["10255"]}],
        ),
        rule("exkubelet", ["0.0.0.0/0"], denied=[{"IPProtocol": "tcp", "ports": ["10255"]}]),
    ]


# Namespaces and Services -----------------------------------------------------------------------
def service_object(
    name: str,
    namespace: str,
    cluster_ip: str,
    ports: list[Obj],
    *,
    now: float,
    labels: dict[str, str] | None = None,
    selector: dict[str, str] | None = None,
) -> Obj:
    spec: Obj = {
        "clusterIP": cluster_ip,
        "clusterIPs": [cluster_ip],
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "ports": ports,
        "sessionAffinity": "None",
        "type": "ClusterIP",
    }
    if selector:
        spec["selector"] = selector
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(name, now=now, namespace=namespace, labels=labels),
        "spec": spec,
        "status": {"loadBalancer": {}},
    }


def cluster_services(services_cidr: str, *, now: float) -> list[Obj]:
    """``default/kubernetes`` (first address of the Service range) and ``kube-system/kube-dns``
    (the tenth, as kube-up gives it)."""
    net = ipaddress.ip_network(services_cidr)
    return [
        service_object(
            "kubernetes",
            "default",
            str(net.network_address + 1),
            [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}],
            now=now,
            labels={"component": "apiserver", "provider": "kubernetes"},
        ),
        service_object(
            "kube-dns",
            KUBE_SYSTEM,
            str(net.network_address + 10),
            [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            ],
            now=now,
            labels={
                "k8s-app": "kube-dns",
                "kubernetes.io/cluster-service": "true",
                "kubernetes.io/name": "KubeDNS",
                "addonmanager.kubernetes.io/mode": "Reconcile",
            },
            selector={"k8s-app": "kube-dns"},
        ),
    ]


# kube-system workloads -------------------------------------------------------------------------
@dataclass(frozen=True)
class SystemDaemonSet:
    name: str
    containers: tuple[tuple[str, str], ...]  # (name, image)
    only_with_inv: bool = False
    node_selector: tuple[tuple[str, str], ...] = ((OS_LABEL, "linux"),)


SYSTEM_DAEMONSETS = (
    SystemDaemonSet(
        "fluentbit-gke",
        (
            ("fluentbit", "gke.gcr.io/fluent-bit:v1.8.12-gke.43"),
            ("fluentbit-gke", "gke.gcr.io/fluent-bit-gke-exporter:v0.28.0-gke.0"),
        ),
    ),
    SystemDaemonSet(
        "gke-metrics-agent",
        (
            ("gke-metrics-agent", "gke.gcr.io/gke-metrics-agent:1.15.3-gke.0"),
            ("core-metrics-exporter", "gke.gcr.io/gke-metrics-collector:20250301_2300_RC0"),
        ),
    ),
    SystemDaemonSet(
        "netd",
        (("netd", "gke.gcr.io/netd:v0.8.4-gke.3"),),
        only_with_inv=True,
        node_selector=((NETD_READY_LABEL, "true"), (OS_LABEL, "linux")),
    ),
)
KUBE_DNS = "kube-dns"
KUBE_DNS_CONTAINERS = (
    ("kubedns", "gke.gcr.io/k8s-dns-kube-dns:1.23.0-gke.9"),
    ("dnsmasq", "gke.gcr.io/k8s-dns-dnsmasq-nanny:1.23.0-gke.9"),
    ("sidecar", "gke.gcr.io/k8s-dns-sidecar:1.23.0-gke.9"),
    ("prometheus-to-sd", "gke.gcr.io/prometheus-to-sd:v0.11.12-gke.36"),
)
KUBE_PROXY_IMAGE = "gke.gcr.io/kube-proxy-amd64:v{version}"


def _containers(containers: tuple[tuple[str, str], ...], *, requests: Obj) -> list[Obj]:
    return [
        {
            "name": name,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "resources": {"requests": dict(requests)},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }
        for name, image in containers
    ]


def _system_annotations(component: str) -> dict[str, str]:
    return {COMPONENT_ANNOTATION: component, EMULATED_ANNOTATION: "true"}


def daemonset_object(ds: SystemDaemonSet, *, now: float) -> Obj:
    labels = {"k8s-app": ds.name, "addonmanager.kubernetes.io/mode": "Reconcile"}
    meta = object_meta(ds.name, now=now, namespace=KUBE_SYSTEM, labels=labels)
    meta["generation"] = 1
    meta["annotations"] = {"deprecated.daemonset.template.generation": "1"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": {"k8s-app": ds.name}},
            "template": {
                "metadata": {"labels": {"k8s-app": ds.name}},
                "spec": {
                    "containers": _containers(ds.containers, requests={"cpu": "5m"}),
                    "hostNetwork": True,
                    "nodeSelector": dict(ds.node_selector),
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": ds.name,
                    "tolerations": [{"operator": "Exists"}],
                },
            },
            "updateStrategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
            },
            "revisionHistoryLimit": 10,
        },
        "status": daemonset_status(0, 0),
    }


def daemonset_status(desired: int, ready: int) -> Obj:
    return {
        "currentNumberScheduled": desired,
        "desiredNumberScheduled": desired,
        "numberAvailable": ready,
        "numberMisscheduled": 0,
        "numberReady": ready,
        "observedGeneration": 1,
        "updatedNumberScheduled": desired,
    }


def owner(obj: Mapping[str, Any]) -> Obj:
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def daemonset_pod(ds: SystemDaemonSet, ds_obj: Mapping[str, Any], node: str, *, now: float) -> Obj:
    template = ds_obj["spec"]["template"]["spec"]
    labels = {"k8s-app": ds.name, "controller-revision-hash": "1", "pod-template-generation": "1"}
    meta = object_meta(
        naming.daemonset_pod_name(ds.name),
        now=now,
        namespace=KUBE_SYSTEM,
        labels=labels,
        annotations=_system_annotations(ds.name),
        owner=owner(ds_obj),
        generate_name=f"{ds.name}-",
    )
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                ]
            }
        }
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            **template,
            "nodeName": node,
            "dnsPolicy": "Default",
            "affinity": affinity,
            "priority": 2000001000,
        },
    }


def kube_proxy_pod(node: Mapping[str, Any], version: str, *, now: float) -> Obj:
    """The mirror pod of the kube-proxy static pod kube-up writes on every Linux node."""
    name = node["metadata"]["name"]
    config_hash = secrets.token_hex(16)
    annotations = {
        "kubernetes.io/config.hash": config_hash,
        "kubernetes.io/config.mirror": config_hash,
        "kubernetes.io/config.source": "file",
        **_system_annotations("kube-proxy"),
    }
    meta = object_meta(
        naming.static_pod_name("kube-proxy", name),
        now=now,
        namespace=KUBE_SYSTEM,
        labels={"component": "kube-proxy", "tier": "node"},
        annotations=annotations,
        owner={
            "apiVersion": "v1",
            "kind": "Node",
            "name": name,
            "uid": node["metadata"]["uid"],
            "controller": True,
        },
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "containers": _containers(
                (("kube-proxy", KUBE_PROXY_IMAGE.format(version=version)),),
                requests={"cpu": "100m"},
            ),
            "hostNetwork": True,
            "nodeName": name,
            "priorityClassName": "system-node-critical",
            "priority": 2000001000,
            "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
        },
    }


def kube_dns_objects(*, replicas: int, now: float) -> tuple[Obj, Obj]:
    """The kube-dns Deployment and its current ReplicaSet."""
    pod_template = {
        "metadata": {"labels": {"k8s-app": KUBE_DNS}},
        "spec": {
            "containers": _containers(KUBE_DNS_CONTAINERS, requests={"cpu": "100m"}),
            "dnsPolicy": "Default",
            "priorityClassName": "system-cluster-critical",
            "serviceAccountName": KUBE_DNS,
            "nodeSelector": {OS_LABEL: "linux"},
        },
    }
    labels = {"k8s-app": KUBE_DNS, "addonmanager.kubernetes.io/mode": "Reconcile"}
    status = {
        "replicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "observedGeneration": 1,
    }
    dep_meta = object_meta(KUBE_DNS, now=now, namespace=KUBE_SYSTEM, labels=labels)
    dep_meta["generation"] = 1
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": dep_meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"k8s-app": KUBE_DNS}},
            "template": pod_template,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "10%", "maxUnavailable": 0},
            },
        },
        "status": {**status, "updatedReplicas": replicas},
    }
    template_hash = naming.template_hash()
    rs_labels = {"k8s-app": KUBE_DNS, "pod-template-hash": template_hash}
    rs_meta = object_meta(
        f"{KUBE_DNS}-{template_hash}",
        now=now,
        namespace=KUBE_SYSTEM,
        labels=rs_labels,
        owner=owner(deployment),
    )
    rs_meta["generation"] = 1
    replicaset = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": rs_meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": rs_labels},
            "template": {**pod_template, "metadata": {"labels": rs_labels}},
        },
        "status": {**status, "fullyLabeledReplicas": replicas},
    }
    return deployment, replicaset


def kube_dns_pod(replicaset: Mapping[str, Any], node: str, *, now: float) -> Obj:
    rs_name = replicaset["metadata"]["name"]
    template = replicaset["spec"]["template"]
    meta = object_meta(
        f"{rs_name}-{naming.pod_suffix()}",
        now=now,
        namespace=KUBE_SYSTEM,
        labels=dict(template["metadata"]["labels"]),
        annotations=_system_annotations(KUBE_DNS),
        owner=owner(replicaset),
        generate_name=f"{rs_name}-",
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {**template["spec"], "nodeName": node, "priority": 2000000000},
    }


def running_status(pending: Mapping[str, Any], now: float) -> Obj:
    """The status of a placed pod once its containers run: every condition True, each container
    ``running`` and ready. ``pending`` is the status placement gave it (IPs, start time)."""
    stamp = k8s_time(now)
    out = {k: v for k, v in pending.items() if k not in ("conditions", "containerStatuses")}
    out["phase"] = "Running"
    out["conditions"] = [
        {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}
        for t in (
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        )
    ]
    out["containerStatuses"] = [
        {
            "name": c["name"],
            "image": c["image"],
            "imageID": c["image"].split(":", 1)[0] + "@sha256:" + secrets.token_hex(32),
            "containerID": "containerd://" + secrets.token_hex(32),
            "ready": True,
            "restartCount": 0,
            "started": True,
            "lastState": {},
            "state": {"running": {"startedAt": stamp}},
        }
        for c in pending.get("containerStatuses") or []
    ]
    return out
