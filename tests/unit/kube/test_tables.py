"""Tables for ``kubectl get``: columns, wide (priority 1) columns, cells, and HumanDuration."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.domain.kube.duration import human_duration
from intranode.domain.kube.tables import pod_cells
from tests.unit.kube.conftest import NODE, POD_1, PODS_URL, TABLE


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "<invalid>"),
        (-2, "<invalid>"),
        (-1.5, "0s"),
        (-0.5, "0s"),
        (0, "0s"),
        (45, "45s"),
        (119, "119s"),
        (120, "2m"),
        (185, "3m5s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (5 * 3600 + 12 * 60, "5h12m"),
        (8 * 3600, "8h"),
        (30 * 3600, "30h"),
        (47 * 3600 + 59 * 60, "47h"),
        (48 * 3600, "2d"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (8 * 86400, "8d"),
        (200 * 86400, "200d"),
        (2 * 365 * 86400 - 1, "729d"),
        (2 * 365 * 86400, "2y"),
        (2 * 365 * 86400 + 5 * 86400, "2y5d"),
        (8 * 365 * 86400, "8y"),
        (9 * 365 * 86400 + 100 * 86400, "9y"),
    ],
)
def test_human_duration_matches_apimachinery(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_pod_table_has_kubectls_columns_and_wide_priorities(kube: TestClient) -> None:
    created = kube.post(PODS_URL, json=POD_1).json()
    body = kube.get(PODS_URL, params={"limit": "500"}, headers={"accept": TABLE}).json()
    assert body["kind"] == "Table" and body["apiVersion"] == "meta.k8s.io/v1"
    columns = [(c["name"], c["priority"]) for c in body["columnDefinitions"]]
    assert columns == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ]
    (row,) = body["rows"]
    cells = row["cells"]
    assert cells[:4] == ["pod-1", "0/1", "ContainerCreating", "0"]
    assert cells[4].endswith("s")
    assert cells[5:] == [created["status"]["podIP"], NODE, "<none>", "<none>"]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "pod-1"
    one = kube.get(f"{PODS_URL}/pod-1", headers={"accept": TABLE}).json()
    assert one["rows"][0]["cells"][0] == "pod-1"
    full = kube.get(
        f"{PODS_URL}/pod-1", params={"includeObject": "Object"}, headers={"accept": TABLE}
    ).json()
    assert full["rows"][0]["object"]["kind"] == "Pod"


def test_plain_json_when_no_table_is_asked_for(kube: TestClient) -> None:
    kube.post(PODS_URL, json=POD_1)
    assert kube.get(PODS_URL, headers={"accept": "application/json"}).json()["kind"] == "PodList"


def test_pod_status_column_follows_container_states() -> None:
    running = {
        "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.52.0.5",
            "containerStatuses": [
                {"name": "a", "ready": True, "restartCount": 1, "state": {"running": {}}},
                {
                    "name": "b",
                    "ready": False,
                    "restartCount": 2,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"finishedAt": "2026-01-01T00:05:00Z"}},
                },
            ],
        },
    }
    now = 1767225600 + 600  # 2026-01-01T00:10:00Z
    cells = pod_cells(running, now)
    assert cells[:6] == ["p", "1/2", "CrashLoopBackOff", "3 (5m ago)", "10m", "10.52.0.5"]
    deleting = {**running, "metadata": {**running["metadata"], "deletionTimestamp": "x"}}
    assert pod_cells(deleting, now)[2] == "Terminating"


def test_node_table_has_the_wide_columns(kube: TestClient) -> None:
    body = kube.get("/api/v1/nodes", headers={"accept": TABLE}).json()
    assert [c["name"] for c in body["columnDefinitions"]] == [
        "Name",
        "Status",
        "Roles",
        "Age",
        "Version",
        "Internal-IP",
        "External-IP",
        "OS-Image",
        "Kernel-Version",
        "Container-Runtime",
    ]
    cells = body["rows"][0]["cells"]
    assert cells[:3] == [NODE, "Ready", "<none>"]
    assert cells[4:] == [
        "v1.32.4-gke.1106006",
        "10.128.0.2",
        "<none>",
        "Container-Optimized OS from Google",
        "6.6.72+",
        "containerd://1.7.24",
    ]


def test_namespace_configmap_and_daemonset_tables(kube: TestClient, ctx: Context) -> None:
    ns = kube.get("/api/v1/namespaces", headers={"accept": TABLE}).json()
    assert [c["name"] for c in ns["columnDefinitions"]] == ["Name", "Status", "Age"]
    assert [r["cells"][:2] for r in ns["rows"]] == [
        ["default", "Active"],
        ["kube-node-lease", "Active"],
        ["kube-public", "Active"],
        ["kube-system", "Active"],
    ]
    kube.post(
        "/api/v1/namespaces/default/configmaps",
        json={"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}},
    )
    cm = kube.get("/api/v1/namespaces/default/configmaps", headers={"accept": TABLE}).json()
    assert [c["name"] for c in cm["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert cm["rows"][0]["cells"][:2] == ["cfg", 2]
    ds = kube.get("/apis/apps/v1/namespaces/kube-system/daemonsets", headers={"accept": TABLE})
    assert [c["name"] for c in ds.json()["columnDefinitions"]] == [
        "Name",
        "Desired",
        "Current",
        "Ready",
        "Up-to-date",
        "Available",
        "Node Selector",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]
