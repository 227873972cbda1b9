"""Creating a cluster: the operation, then everything GKE makes for a cluster."""

from __future__ import annotations

import ipaddress
import re

from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.domain import resources as R
from tests.unit.conftest import PROJECT
from tests.unit.container.conftest import (
    BASE,
    CA,
    ENDPOINT,
    ZONE,
    RecordingEndpoints,
    cluster_url,
    create,
    gke_firewalls,
    instances,
    k8s,
    names,
    standard,
    subnet,
    wait_done,
)

VERSION = "1.32.4-gke.1106006"
CONTAINER = "https://container.googleapis.com/v1/"


def test_create_answers_a_running_operation_while_the_cluster_provisions(
    client: TestClient, endpoints: RecordingEndpoints
) -> None:
    endpoints.hold.set()
    r = client.post(cluster_url(), json={"cluster": standard(), "parent": "ignored"})
    assert r.status_code == 200
    op = r.json()
    assert re.fullmatch(r"operation-\d{13}-[0-9a-f]{8}", op["name"])
    assert op["operationType"] == "CREATE_CLUSTER"
    assert op["status"] == "RUNNING"
    assert op["zone"] == op["location"] == ZONE
    assert op["selfLink"] == f"{CONTAINER}projects/{PROJECT}/zones/{ZONE}/operations/{op['name']}"
    assert op["targetLink"] == f"{CONTAINER}projects/{PROJECT}/zones/{ZONE}/clusters/flow-log-test"
    assert op["startTime"].endswith("Z")
    assert "progress" not in op and "endTime" not in op

    assert endpoints.waiting.wait(5)
    assert client.get(cluster_url("flow-log-test")).json()["status"] == "PROVISIONING"
    endpoints.hold.clear()
    done = wait_done(client, op)
    assert done["status"] == "DONE" and "error" not in done and done["endTime"].endswith("Z")
    assert client.get(cluster_url("flow-log-test")).json()["status"] == "RUNNING"


def test_a_running_cluster_has_every_field_clients_read(client: TestClient) -> None:
    _, c = create(client, standard())
    assert c["status"] == "RUNNING"
    assert c["currentMasterVersion"] == c["currentNodeVersion"] == VERSION
    assert c["nodePools"][0]["version"] == VERSION
    assert c["nodePools"][0]["status"] == "RUNNING"
    assert c["nodePools"][0]["config"]["machineType"] == "e2-medium"
    assert c["endpoint"] == ENDPOINT
    assert c["masterAuth"]["clusterCaCertificate"] == CA
    assert c["location"] == c["zone"] == ZONE
    assert c["locations"] == [ZONE]
    assert c["selfLink"] == f"{CONTAINER}projects/{PROJECT}/zones/{ZONE}/clusters/flow-log-test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", c["createTime"])
    assert re.fullmatch(r"[0-9a-f]{64}", c["id"])
    assert c["networkConfig"]["network"] == f"projects/{PROJECT}/global/networks/default"
    assert c["networkConfig"]["subnetwork"] == (
        f"projects/{PROJECT}/regions/us-central1/subnetworks/default"
    )
    assert c["networkConfig"]["enableIntraNodeVisibility"] is True
    policy = c["ipAllocationPolicy"]
    assert policy["useIpAliases"] is True
    assert policy["clusterIpv4Cidr"] == c["clusterIpv4Cidr"]
    assert policy["servicesIpv4Cidr"] == c["servicesIpv4Cidr"]
    pods = ipaddress.ip_network(c["clusterIpv4Cidr"])
    services = ipaddress.ip_network(c["servicesIpv4Cidr"])
    assert (pods.prefixlen, services.prefixlen) == (14, 20)
    assert not pods.overlaps(services)
    auto_mode = ipaddress.ip_network("10.128.0.0/9")
    assert not pods.overlaps(auto_mode) and not services.overlaps(auto_mode)
    assert c["currentNodeCount"] == 1
    assert c["releaseChannel"] == {"channel": "REGULAR"}


def test_each_node_is_an_instance_with_an_alias_range_and_a_kubernetes_node(
    client: TestClient, ctx: Context
) -> None:
    _, c = create(client, standard())
    chash = c["id"][:8]
    [inst] = instances(ctx, "flow-log-test")
    name = inst["name"]
    assert re.fullmatch(r"gke-flow-log-test-default-pool-[0-9a-f]{8}-[a-z0-9]{4}", name)
    assert inst["status"] == "RUNNING"
    assert inst["zone"].endswith(f"/projects/{PROJECT}/zones/{ZONE}")
    assert inst["machineType"].endswith(f"/zones/{ZONE}/machineTypes/e2-medium")
    nic = inst["networkInterfaces"][0]
    assert nic["networkIP"] == "10.128.0.2"  # the first address after the gateway
    assert nic["subnetwork"] == R.compute_link(R.subnetwork_key(PROJECT, "us-central1", "default"))
    assert nic["network"] == R.compute_link(R.network_key(PROJECT, "default"))
    [alias] = nic["aliasIpRanges"]
    assert alias["subnetworkRangeName"] == f"gke-flow-log-test-pods-{chash}"
    assert ipaddress.ip_network(alias["ipCidrRange"]).subnet_of(
        ipaddress.ip_network(c["clusterIpv4Cidr"])
    )
    assert ipaddress.ip_network(alias["ipCidrRange"]).prefixlen == 24
    assert inst["tags"]["items"] == [f"gke-flow-log-test-{chash}-node"]
    assert inst["labels"]["goog-gke-node"] == ""
    assert inst["serviceAccounts"][0]["email"].endswith("-compute@developer.gserviceaccount.com")

    [node] = k8s(ctx, "flow-log-test", "nodes")
    assert node["metadata"]["name"] == name
    assert node["spec"]["podCIDR"] == alias["ipCidrRange"]
    assert node["spec"]["podCIDRs"] == [alias["ipCidrRange"]]
    assert node["spec"]["providerID"] == f"gce://{PROJECT}/{ZONE}/{name}"
    labels = node["metadata"]["labels"]
    assert labels["cloud.google.com/gke-nodepool"] == "default-pool"
    assert labels["kubernetes.io/hostname"] == name
    assert labels["topology.kubernetes.io/zone"] == ZONE
    assert labels["cloud.google.com/gke-netd-ready"] == "true"
    assert labels["kubernetes.io/os"] == "linux"
    status = node["status"]
    assert {"type": "InternalIP", "address": "10.128.0.2"} in status["addresses"]
    assert {"type": "Hostname", "address": name} in status["addresses"]
    ready = [x for x in status["conditions"] if x["type"] == "Ready"]
    assert ready[0]["status"] == "True"
    assert status["nodeInfo"]["kubeletVersion"] == "v" + VERSION


def test_the_subnet_carries_the_clusters_pod_and_service_ranges(
    client: TestClient, ctx: Context
) -> None:
    before = subnet(ctx)["fingerprint"]
    _, c = create(client, standard())
    chash = c["id"][:8]
    after = subnet(ctx)
    assert after["secondaryIpRanges"] == [
        {"rangeName": f"gke-flow-log-test-pods-{chash}", "ipCidrRange": c["clusterIpv4Cidr"]},
        {"rangeName": f"gke-flow-log-test-services-{chash}", "ipCidrRange": c["servicesIpv4Cidr"]},
    ]
    assert after["fingerprint"] != before
    assert c["ipAllocationPolicy"]["clusterSecondaryRangeName"] == f"gke-flow-log-test-pods-{chash}"


def test_gke_creates_its_firewall_rules_for_the_node_tag(client: TestClient, ctx: Context) -> None:
    _, c = create(client, standard())
    prefix = f"gke-flow-log-test-{c['id'][:8]}"
    tag = f"{prefix}-node"
    rules = gke_firewalls(ctx)
    assert set(rules) == {f"{prefix}-{s}" for s in ("all", "vms", "ssh", "inkubelet", "exkubelet")}
    for rule in rules.values():
        assert rule["direction"] == "INGRESS"
        assert rule["targetTags"] == [tag]
        assert rule["network"].endswith(f"projects/{PROJECT}/global/networks/default")
    every = rules[f"{prefix}-all"]
    assert every["sourceRanges"] == [c["clusterIpv4Cidr"]]
    assert {a["IPProtocol"] for a in every["allowed"]} == {
        "tcp",
        "udp",
        "icmp",
        "esp",
        "ah",
        "sctp",
    }
    assert rules[f"{prefix}-vms"]["sourceRanges"] == ["10.128.0.0/20"]
    assert rules[f"{prefix}-ssh"]["allowed"] == [{"IPProtocol": "tcp", "ports": ["22"]}]
    inkubelet = rules[f"{prefix}-inkubelet"]
    assert inkubelet["priority"] == 999
    assert inkubelet["sourceTags"] == [tag]
    assert inkubelet["allowed"] == [{"IPProtocol": "tcp", "ports": ["10255"]}]
    exkubelet = rules[f"{prefix}-exkubelet"]
    assert exkubelet["priority"] == 1000
    assert exkubelet["sourceRanges"] == ["0.0.0.0/0"]
    assert exkubelet["denied"] == [{"IPProtocol": "tcp", "ports": ["10255"]}]


def test_the_cluster_has_gkes_namespaces_services_and_kube_system(
    client: TestClient, ctx: Context
) -> None:
    _, c = create(client, standard())
    assert names(k8s(ctx, "flow-log-test", "namespaces")) == {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
    }
    services = {s["metadata"]["name"]: s for s in k8s(ctx, "flow-log-test", "services")}
    base = ipaddress.ip_network(c["servicesIpv4Cidr"]).network_address
    assert services["kubernetes"]["spec"]["clusterIP"] == str(base + 1)
    assert services["kube-dns"]["spec"]["clusterIP"] == str(base + 10)
    assert names(k8s(ctx, "flow-log-test", "daemonsets")) == {
        "fluentbit-gke",
        "gke-metrics-agent",
        "netd",
    }
    [node] = k8s(ctx, "flow-log-test", "nodes")
    node_name = node["metadata"]["name"]
    pods = {p["metadata"]["name"]: p for p in k8s(ctx, "flow-log-test", "pods")}
    proxy = pods[f"kube-proxy-{node_name}"]
    assert proxy["spec"]["hostNetwork"] is True
    assert proxy["status"]["podIP"] == "10.128.0.2"
    [netd] = [p for n, p in pods.items() if re.fullmatch(r"netd-[a-z0-9]{5}", n)]
    assert netd["spec"]["hostNetwork"] is True
    assert netd["spec"]["nodeName"] == node_name
    assert netd["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    [dns] = [p for n, p in pods.items() if n.startswith("kube-dns-")]
    assert ipaddress.ip_address(dns["status"]["podIP"]) in ipaddress.ip_network(
        node["spec"]["podCIDR"]
    )
    for pod in pods.values():
        assert pod["metadata"]["namespace"] == "kube-system"
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["hostIP"] == "10.128.0.2"


def test_without_intra_node_visibility_there_is_no_netd(client: TestClient, ctx: Context) -> None:
    _, c = create(client, standard(inv=False))
    assert "enableIntraNodeVisibility" not in c["networkConfig"]
    assert "netd" not in names(k8s(ctx, "flow-log-test", "daemonsets"))
    assert not [p for p in names(k8s(ctx, "flow-log-test", "pods")) if p.startswith("netd-")]


def test_three_nodes_get_their_own_addresses_and_system_pods(
    client: TestClient, ctx: Context
) -> None:
    _, c = create(client, standard(nodes=3))
    assert c["currentNodeCount"] == 3
    nodes = k8s(ctx, "flow-log-test", "nodes")
    ips = sorted(
        a["address"] for n in nodes for a in n["status"]["addresses"] if a["type"] == "InternalIP"
    )
    assert ips == ["10.128.0.2", "10.128.0.3", "10.128.0.4"]
    assert len({n["spec"]["podCIDR"] for n in nodes}) == 3
    [netd] = [d for d in k8s(ctx, "flow-log-test", "daemonsets") if d["metadata"]["name"] == "netd"]
    assert netd["status"]["desiredNumberScheduled"] == netd["status"]["numberReady"] == 3
    pods = k8s(ctx, "flow-log-test", "pods")
    netd_nodes = [p["spec"]["nodeName"] for p in pods if p["metadata"]["name"].startswith("netd-")]
    assert sorted(netd_nodes) == sorted(names(nodes))
    assert len([p for p in pods if p["metadata"]["name"].startswith("kube-dns-")]) == 2


def test_a_regional_cluster_has_nodes_in_three_zones(client: TestClient, ctx: Context) -> None:
    done, c = create(client, standard(name="reg", nodes=1), location="us-central1")
    zones = ["us-central1-a", "us-central1-b", "us-central1-c"]
    assert c["locations"] == zones
    assert c["selfLink"] == f"{CONTAINER}projects/{PROJECT}/locations/us-central1/clusters/reg"
    assert done["selfLink"].startswith(f"{CONTAINER}projects/{PROJECT}/zones/us-central1/")
    assert c["currentNodeCount"] == 3
    assert sorted(i["zone"].rsplit("/", 1)[-1] for i in instances(ctx, "reg")) == zones
    assert len(c["nodePools"][0]["instanceGroupUrls"]) == 3


def test_a_second_cluster_gets_ranges_that_overlap_nothing(client: TestClient) -> None:
    _, one = create(client, standard(name="one"))
    _, two = create(client, standard(name="two"))
    taken = [
        ipaddress.ip_network(x)
        for x in (one["clusterIpv4Cidr"], one["servicesIpv4Cidr"], "10.128.0.0/9")
    ]
    for cidr in (two["clusterIpv4Cidr"], two["servicesIpv4Cidr"]):
        assert not any(ipaddress.ip_network(cidr).overlaps(t) for t in taken)


def test_requested_pod_and_service_ranges_are_honoured(client: TestClient) -> None:
    body = standard(name="sized")
    body["ipAllocationPolicy"] = {
        "useIpAliases": True,
        "clusterIpv4CidrBlock": "/16",
        "servicesIpv4CidrBlock": "10.96.0.0/22",
    }
    _, c = create(client, body)
    assert ipaddress.ip_network(c["clusterIpv4Cidr"]).prefixlen == 16
    assert c["servicesIpv4Cidr"] == "10.96.0.0/22"


def test_the_python_clients_initial_node_count_makes_the_default_pool(
    client: TestClient, ctx: Context
) -> None:
    _, c = create(client, {"name": "py", "initialNodeCount": 2, "networkConfig": {}})
    assert [p["name"] for p in c["nodePools"]] == ["default-pool"]
    assert c["nodePools"][0]["initialNodeCount"] == 2
    assert c["currentNodeCount"] == 2
    assert "enableIntraNodeVisibility" not in c["networkConfig"]


def test_autopilot_has_intra_node_visibility_on(client: TestClient, ctx: Context) -> None:
    body = {  # what ``gcloud container clusters create-auto auto --region=us-central1`` sends
        "name": "auto",
        "autopilot": {"enabled": True},
        "ipAllocationPolicy": {"createSubnetwork": False, "useIpAliases": True},
        "nodePools": [
            {"config": {"oauthScopes": []}, "initialNodeCount": 1, "name": "default-pool"}
        ],
    }
    _, c = create(client, body, location="us-central1")
    assert c["autopilot"] == {"enabled": True}
    assert c["networkConfig"]["enableIntraNodeVisibility"] is True
    assert "netd" in names(k8s(ctx, "auto", "daemonsets", location="us-central1"))


def test_list_shows_clusters_of_every_location_with_a_dash(client: TestClient) -> None:
    create(client, standard(name="zonal"))
    create(client, standard(name="regional"), location="us-central1")
    every = client.get(f"{BASE}/-/clusters").json()["clusters"]
    assert sorted(c["name"] for c in every) == ["regional", "zonal"]
    here = client.get(f"{BASE}/{ZONE}/clusters").json()["clusters"]
    assert [c["name"] for c in here] == ["zonal"]
    assert client.get(f"{BASE}/us-east1-b/clusters").json() == {}
