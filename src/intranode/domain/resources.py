"""Kinds and keys of every stored resource, and the links Google prints for them.

A key is the resource's path without host or version (``projects/p/regions/r/subnetworks/s``);
the stored document is the resource exactly as its API returns it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

# Kinds ------------------------------------------------------------------------------------
SERVICE = "serviceusage.service"
NETWORK = "compute.network"
SUBNETWORK = "compute.subnetwork"
FIREWALL = "compute.firewall"
ROUTE = "compute.route"
INSTANCE = "compute.instance"
COMPUTE_OPERATION = "compute.operation"
CLUSTER = "container.cluster"
CONTAINER_OPERATION = "container.operation"
CLUSTER_SECRET = "container.secret"  # CA and serving keys of a cluster's Kubernetes endpoint


def k8s_kind(plural: str) -> str:
    """Kubernetes objects: ``k8s.pods``, ``k8s.namespaces``, ..."""
    return f"k8s.{plural}"


# Links ------------------------------------------------------------------------------------
COMPUTE_BASE = "https://www.googleapis.com/compute/v1/"
CONTAINER_BASE = "https://container.googleapis.com/v1/"


def project_key(project: str) -> str:
    return f"projects/{project}"


def network_key(project: str, network: str) -> str:
    return f"projects/{project}/global/networks/{network}"


def subnetwork_key(project: str, region: str, name: str) -> str:
    return f"projects/{project}/regions/{region}/subnetworks/{name}"


def firewall_key(project: str, name: str) -> str:
    return f"projects/{project}/global/firewalls/{name}"


def route_key(project: str, name: str) -> str:
    return f"projects/{project}/global/routes/{name}"


def instance_key(project: str, zone: str, name: str) -> str:
    return f"projects/{project}/zones/{zone}/instances/{name}"


def cluster_key(project: str, location: str, name: str) -> str:
    return f"projects/{project}/locations/{location}/clusters/{name}"


def compute_link(key: str) -> str:
    return COMPUTE_BASE + key


def key_from_link(link: str, project: str) -> str:
    """Accept a full URL, a partial path or a bare ``global/networks/x`` as Compute does."""
    s = link
    for prefix in (COMPUTE_BASE, "https://compute.googleapis.com/compute/v1/", "compute/v1/"):
        if s.startswith(prefix):
            s = s[len(prefix) :]
    s = s.lstrip("/")
    if not s.startswith("projects/"):
        s = f"projects/{project}/{s}"
    return s


def region_of_zone(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


# Identifiers --------------------------------------------------------------------------------
def new_numeric_id() -> str:
    """A uint64 id, as Compute sends it (a decimal string)."""
    return str(secrets.randbelow(9 * 10**18) + 10**18)


def new_fingerprint() -> str:
    """Base64 of 8 random bytes: gcloud's apitools decodes fingerprints as bytes."""
    return base64.b64encode(secrets.token_bytes(8)).decode()


def new_hex(n: int = 8) -> str:
    return secrets.token_hex((n + 1) // 2)[:n]


# Kubernetes objects --------------------------------------------------------------------------
def k8s_parent(cluster: str, namespace: str | None = None) -> str:
    """Parent of a Kubernetes object: the cluster key, or ``<cluster>/namespaces/<ns>``."""
    return cluster if namespace is None else f"{cluster}/namespaces/{namespace}"


def k8s_key(cluster: str, plural: str, name: str, namespace: str | None = None) -> str:
    """``<cluster>/namespaces/<ns>/<plural>/<name>`` or ``<cluster>/<plural>/<name>``."""
    return f"{k8s_parent(cluster, namespace)}/{plural}/{name}"


# Compute project (appended by the Compute API) ----------------------------------------------
# The ``compute#project`` document; its presence also records that the project was seeded,
# so deleting a default resource is not undone by the next daemon start.
COMPUTE_PROJECT = "compute.project"


# Service Usage (appended by the Service Usage issue) -----------------------------------------
SERVICE_OPERATION = "serviceusage.operation"


def project_number(project: str) -> str:
    """The 12-digit number Google shows for a project (Service Usage names, error consumers),
    derived from the project id so that it is stable across restarts."""
    digest = hashlib.sha256(project.encode()).digest()
    return str(100_000_000_000 + int.from_bytes(digest[:8], "big") % 900_000_000_000)


# Packet Mirroring and its collectors (appended by the Packet Mirroring issue) ---------------
PACKET_MIRRORING = "compute.packetMirroring"
INSTANCE_GROUP = "compute.instanceGroup"
# The members of an unmanaged instance group, keyed by the group's key: Google serves them by
# ``listInstances``, never in the group's own document.
INSTANCE_GROUP_MEMBERS = "compute.instanceGroupMembers"
HEALTH_CHECK = "compute.healthCheck"  # global and regional, told apart by the key's scope
BACKEND_SERVICE = "compute.backendService"  # regional
FORWARDING_RULE = "compute.forwardingRule"  # regional


def packet_mirroring_key(project: str, region: str, name: str) -> str:
    return f"projects/{project}/regions/{region}/packetMirrorings/{name}"


def instance_group_key(project: str, zone: str, name: str) -> str:
    return f"projects/{project}/zones/{zone}/instanceGroups/{name}"


def health_check_key(project: str, region: str | None, name: str) -> str:
    """A global health check when ``region`` is None, else a regional one."""
    scope = "global" if region is None else f"regions/{region}"
    return f"projects/{project}/{scope}/healthChecks/{name}"


def backend_service_key(project: str, region: str, name: str) -> str:
    return f"projects/{project}/regions/{region}/backendServices/{name}"


def forwarding_rule_key(project: str, region: str, name: str) -> str:
    return f"projects/{project}/regions/{region}/forwardingRules/{name}"


# Firewall policies (appended by the firewall policies issue) --------------------------------
# Hierarchical (organization / folder) and global network firewall policies, both in one kind,
# told apart by the key; a policy's associations live in its document, so any write to a
# policy, a rule or an association is a change of this kind.
FIREWALL_POLICY = "compute.firewallPolicy"


def hierarchical_policy_key(policy_id: str) -> str:
    return f"locations/global/firewallPolicies/{policy_id}"


def network_policy_key(project: str, name: str) -> str:
    return f"projects/{project}/global/firewallPolicies/{name}"


def organization_operation_key(name: str) -> str:
    """Operations of organization resources (``compute.operation`` kind, parent = the org)."""
    return f"locations/global/operations/{name}"


# Connectivity Tests (appended by the Connectivity Tests issue) -------------------------------
# Network Management API v1: tests live under ``projects/P/locations/global``, and so do their
# long-running operations (Container's operations share the path form, never the location).
CONNECTIVITY_TEST = "networkmanagement.connectivityTest"
NETWORK_MANAGEMENT_OPERATION = "networkmanagement.operation"


def network_management_parent(project: str) -> str:
    return f"projects/{project}/locations/global"


def connectivity_test_key(project: str, test_id: str) -> str:
    return f"{network_management_parent(project)}/connectivityTests/{test_id}"


def network_management_operation_key(project: str, name: str) -> str:
    return f"{network_management_parent(project)}/operations/{name}"
