"""Names GKE gives the things it makes for a cluster.

Google names everything a cluster owns after the cluster, so a user can tell from a name in
``gcloud compute instances list`` or ``kubectl get nodes`` which cluster it belongs to:

============================  =====================================================
operation                     ``operation-<epoch ms>-<8 hex>``
cluster hash                  first 8 hex digits of the cluster ``id``
firewall rules                ``gke-<cluster>-<hash>-{all,vms,ssh,inkubelet,exkubelet}``
node network tag              ``gke-<cluster>-<hash>-node``
secondary ranges              ``gke-<cluster>-pods-<hash>``, ``gke-<cluster>-services-<hash>``
instance group (per pool)     ``gke-<cluster>-<pool>-<8 hex>-grp``
node (instance and Node)      ``gke-<cluster>-<pool>-<8 hex>-<4 chars>``
DaemonSet pod                 ``<daemonset>-<5 chars>``
Deployment pod                ``<deployment>-<10 chars>-<5 chars>``
============================  =====================================================

Compute names must be RFC 1035 labels of at most 63 characters. Cluster names are at most 40
characters, which keeps firewall and range names within 63 as they are. In node names the
cluster and pool parts are each cut to 20 characters (then any trailing ``-`` dropped), the rule
intranode uses so that ``gke-`` + cluster + pool + group hash + suffix always fits; Google's
exact cut is not published.
"""

from __future__ import annotations

import secrets
import string

MAX_NAME = 63
NODE_PART_MAX = 20
FIREWALL_SUFFIXES = ("all", "vms", "ssh", "inkubelet", "exkubelet")

# Kubernetes' generated-name alphabet: no vowels and no confusable digits.
_K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NODE_ALPHABET = string.ascii_lowercase + string.digits


def _random(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _cut(part: str, n: int) -> str:
    return part[:n].rstrip("-")


# Operations and ids -------------------------------------------------------------------------
def operation_name(now: float) -> str:
    return f"operation-{int(now * 1000)}-{secrets.token_hex(4)}"


def new_cluster_id() -> str:
    """GKE cluster ids are 64 hex digits; their first 8 name the cluster's firewall rules."""
    return secrets.token_hex(32)


def cluster_hash(cluster_id: str) -> str:
    return cluster_id[:8]


def new_group_hash() -> str:
    return secrets.token_hex(4)


# Compute objects ------------------------------------------------------------------------------
def firewall_name(cluster: str, chash: str, suffix: str) -> str:
    return f"gke-{cluster}-{chash}-{suffix}"


def firewall_prefix(cluster: str, chash: str) -> str:
    return f"gke-{cluster}-{chash}-"


def node_tag(cluster: str, chash: str) -> str:
    return f"gke-{cluster}-{chash}-node"


def pods_range_name(cluster: str, chash: str) -> str:
    return f"gke-{cluster}-pods-{chash}"


def services_range_name(cluster: str, chash: str) -> str:
    return f"gke-{cluster}-services-{chash}"


def instance_group_base(cluster: str, pool: str, group_hash: str) -> str:
    return f"gke-{_cut(cluster, NODE_PART_MAX)}-{_cut(pool, NODE_PART_MAX)}-{group_hash}"


def instance_group_name(cluster: str, pool: str, group_hash: str) -> str:
    return instance_group_base(cluster, pool, group_hash) + "-grp"


def node_name(cluster: str, pool: str, group_hash: str, suffix: str | None = None) -> str:
    name = f"{instance_group_base(cluster, pool, group_hash)}-{suffix or new_node_suffix()}"
    assert len(name) <= MAX_NAME, name
    return name


def new_node_suffix() -> str:
    return _random(_NODE_ALPHABET, 4)


# Kubernetes objects ---------------------------------------------------------------------------
def pod_suffix() -> str:
    return _random(_K8S_ALPHABET, 5)


def template_hash() -> str:
    """A ReplicaSet's pod-template-hash."""
    return _random(_K8S_ALPHABET, 10)


def daemonset_pod_name(daemonset: str) -> str:
    return f"{daemonset}-{pod_suffix()}"


def static_pod_name(component: str, node: str) -> str:
    return f"{component}-{node}"
