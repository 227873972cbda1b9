"""``GET /v2/projects/P/logs`` and ``DELETE /v2/projects/P/logs/LOG``."""

from __future__ import annotations

from fastapi.testclient import TestClient

from intranode.controllers import logs
from intranode.controllers.context import Context
from tests.unit.conftest import PROJECT


def write_logs(ctx: Context, *log_ids: str) -> None:
    logs.write_entries(
        ctx,
        [
            {"logName": f"projects/{PROJECT}/logs/{i}", "resource": {"type": "global"}}
            for i in log_ids
        ],
    )


def test_list_logs_names_each_log_with_entries_once(client: TestClient, ctx: Context) -> None:
    write_logs(ctx, "compute.googleapis.com%2Fvpc_flows", "app", "app")
    r = client.get(f"/v2/projects/{PROJECT}/logs")
    assert r.status_code == 200
    assert r.json() == {
        "logNames": [
            f"projects/{PROJECT}/logs/app",
            f"projects/{PROJECT}/logs/compute.googleapis.com%2Fvpc_flows",
        ]
    }


def test_list_logs_pages(client: TestClient, ctx: Context) -> None:
    write_logs(ctx, "a", "b", "c")
    first = client.get(f"/v2/projects/{PROJECT}/logs", params={"pageSize": 2}).json()
    assert first["logNames"] == [f"projects/{PROJECT}/logs/a", f"projects/{PROJECT}/logs/b"]
    rest = client.get(
        f"/v2/projects/{PROJECT}/logs", params={"pageSize": 2, "pageToken": first["nextPageToken"]}
    ).json()
    assert rest == {"logNames": [f"projects/{PROJECT}/logs/c"]}


def test_delete_log_removes_its_entries_only(client: TestClient, ctx: Context) -> None:
    write_logs(ctx, "compute.googleapis.com%2Fvpc_flows", "app")
    r = client.delete(f"/v2/projects/{PROJECT}/logs/compute.googleapis.com%2Fvpc_flows")
    assert (r.status_code, r.json()) == (200, {})
    names = client.get(f"/v2/projects/{PROJECT}/logs").json()["logNames"]
    assert names == [f"projects/{PROJECT}/logs/app"]
    listed = client.post("/v2/entries:list", json={"resourceNames": [f"projects/{PROJECT}"]})
    assert [e["logName"] for e in listed.json()["entries"]] == [f"projects/{PROJECT}/logs/app"]


def test_delete_of_a_log_without_entries_is_not_found(client: TestClient, ctx: Context) -> None:
    write_logs(ctx, "app")
    r = client.delete(f"/v2/projects/{PROJECT}/logs/nope")
    assert r.status_code == 404
    assert r.json()["error"]["message"] == f"Log projects/{PROJECT}/logs/nope does not exist."
    assert len(client.get(f"/v2/projects/{PROJECT}/logs").json()["logNames"]) == 1
