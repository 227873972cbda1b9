"""``intranode flows``: the table of VPC flow-log records, its filter, limits, JSON and
``--follow``, against the daemon's Logging API (in process through the CLI's HTTP client, and
once against a real daemon process)."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from intranode.api.app import create_app
from intranode.cli import flows
from intranode.cli.client import DaemonClient
from intranode.cli.main import cli
from intranode.cli.target import Target
from intranode.controllers.context import Context
from tests.unit.conftest import PROJECT, TOKEN

FLOWS = f"projects/{PROJECT}/logs/compute.googleapis.com%2Fvpc_flows"
NODE_A = "gke-flow-log-test-default-pool-1a2b3c4d-aaaa"
NODE_B = "gke-flow-log-test-default-pool-1a2b3c4d-bbbb"
NOW = dt.datetime.now(dt.UTC)


def ago(seconds: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pod(name: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "cluster": {"cluster_name": "flow-log-test", "cluster_location": "us-central1-a"},
        "pod": {"pod_name": name, "pod_namespace": namespace},
    }


def record(
    when: str,
    src: tuple[str, str | None, str | None],
    dest: tuple[str, str | None, str | None],
    *,
    reporter: str = "SRC",
    port: int | None = 8080,
    protocol: int = 6,
    nbytes: str = "1066",
    insert_id: str | None = None,
    project: str = PROJECT,
) -> dict[str, Any]:
    """A flow-log entry; each end is (ip, pod or None, node or None)."""
    connection: dict[str, Any] = {"src_ip": src[0], "dest_ip": dest[0], "protocol": protocol}
    if port is not None:
        connection.update(src_port=35414, dest_port=port)
    payload: dict[str, Any] = {
        "connection": connection,
        "reporter": reporter,
        "bytes_sent": nbytes,
        "packets_sent": "6",
        "start_time": when,
        "end_time": when,
    }
    for side, (_, pod_name, node) in (("src", src), ("dest", dest)):
        if node is not None:
            payload[f"{side}_instance"] = {"project_id": project, "vm_name": node}
        if pod_name is not None:
            namespace, _, name = pod_name.rpartition("/")
            payload[f"{side}_gke_details"] = pod(name, namespace or "default")
    entry: dict[str, Any] = {
        "logName": f"projects/{project}/logs/compute.googleapis.com%2Fvpc_flows",
        "resource": {"type": "gce_subnetwork", "labels": {"project_id": project}},
        "timestamp": when,
        "jsonPayload": payload,
    }
    if insert_id:
        entry["insertId"] = insert_id
    return entry


POD1 = ("10.52.0.4", "pod-1", NODE_A)
POD2 = ("10.52.0.5", "pod-2", NODE_A)
POD3 = ("10.52.1.7", "kube-system/pod-3", NODE_B)
VM = ("10.128.0.9", None, "plain-vm")
OUTSIDE = ("192.0.2.1", None, None)

ENTRIES = [
    record(ago(60), POD1, POD2, insert_id="same-node"),
    record(ago(50), POD1, POD3, insert_id="cross-node", reporter="DEST", nbytes="52"),
    record(ago(40), VM, OUTSIDE, port=None, protocol=1, insert_id="icmp"),
    record(ago(30), POD2, POD1, port=53, protocol=17, insert_id="udp"),
    record(ago(2 * 86400), POD1, POD2, insert_id="two-days-old"),
    {
        "logName": f"projects/{PROJECT}/logs/app",
        "resource": {"type": "global"},
        "timestamp": ago(20),
        "textPayload": "not a flow",
        "insertId": "app",
    },
]


@pytest.fixture
def daemon(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The daemon's API in process, reached through the CLI's own HTTP client."""
    state = ctx.settings.state_dir
    state.mkdir(parents=True, exist_ok=True)
    ctx.settings.daemon_file.write_text(ctx.settings.to_json())
    ctx.settings.token_path.write_text(TOKEN + "\n")
    with TestClient(create_app(ctx), headers={"Authorization": f"Bearer {TOKEN}"}) as http:

        def client(target: Target) -> DaemonClient:
            c = DaemonClient(target)
            c._http = http
            return c

        monkeypatch.setattr(flows, "_client", client)
        r = http.post("/v2/entries:write", json={"entries": ENTRIES})
        assert r.status_code == 200, r.text
        yield http


def run(ctx: Context, *args: str) -> Result:
    return CliRunner().invoke(cli, ["flows", "--state-dir", str(ctx.settings.state_dir), *args])


def table_rows(output: str) -> list[str]:
    return [line.rstrip() for line in output.splitlines() if "→" in line]


def test_the_table_shows_each_flow_newest_last(daemon: TestClient, ctx: Context) -> None:
    r = run(ctx)
    assert r.exit_code == 0, r.output
    header = r.output.splitlines()[0].split()
    assert header == [
        "time",
        "(UTC)",
        "source",
        "destination",
        "port",
        "bytes",
        "packets",
        "reporter",
        "path",
    ]
    rows = table_rows(r.output)
    assert len(rows) == 4  # not the two-day-old one (freshness 1d), not the app log
    assert [row.split("→")[0].split()[-1] for row in rows] == [
        "pod-1",
        "pod-1",
        "10.128.0.9",
        "pod-2",
    ]
    same, cross, icmp, udp = (row.split() for row in rows)
    assert same[2:] == [
        "pod-1",
        "→",
        "pod-2",
        "8080/TCP",
        "1066",
        "6",
        "SRC",
        "via",
        "VPC,",
        "same",
        "node",
        "(intra-node",
        "visibility)",
    ]
    assert cross[2:] == [
        "pod-1",
        "→",
        "kube-system/pod-3",
        "8080/TCP",
        "52",
        "6",
        "DEST",
        "via",
        "VPC",
    ]
    assert icmp[2:] == ["10.128.0.9", "→", "192.0.2.1", "ICMP", "1066", "6", "SRC", "via", "VPC"]
    assert udp[4:6] == ["pod-1", "53/UDP"]
    assert same[0] + " " + same[1] == ago(60)[:19].replace("T", " ")


def test_limit_keeps_the_newest_and_freshness_reaches_back(
    daemon: TestClient, ctx: Context
) -> None:
    r = run(ctx, "--limit", "2")
    assert r.exit_code == 0, r.output
    assert [row.split()[4] for row in table_rows(r.output)] == ["192.0.2.1", "pod-1"]
    r = run(ctx, "--freshness", "3d", "--format", "json")
    assert r.exit_code == 0, r.output
    ids = [row["insert_id"] for row in json.loads(r.output)]
    assert ids == ["two-days-old", "same-node", "cross-node", "icmp", "udp"]
    # 45 s before NOW, the time the entries' timestamps count back from.
    back = (dt.datetime.now(dt.UTC) - NOW).total_seconds() + 45
    r = run(ctx, "--freshness", f"PT{back:.0f}S", "--format", "json")
    assert [row["insert_id"] for row in json.loads(r.output)] == ["icmp", "udp"]


def test_json_carries_every_column(daemon: TestClient, ctx: Context) -> None:
    r = run(ctx, "--format", "json", 'jsonPayload.reporter="DEST"')
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == [
        {
            "insert_id": "cross-node",
            "time": ago(50),
            "src": "pod-1",
            "src_ip": "10.52.0.4",
            "dest": "kube-system/pod-3",
            "dest_ip": "10.52.1.7",
            "dest_port": 8080,
            "protocol": "TCP",
            "bytes": "52",
            "packets": "6",
            "reporter": "DEST",
            "same_node": False,
            "path": "via VPC",
        }
    ]


def test_the_filter_is_the_logging_query_language(daemon: TestClient, ctx: Context) -> None:
    r = run(
        ctx,
        "--format",
        "json",
        'jsonPayload.connection.src_ip="10.52.0.4" jsonPayload.connection.dest_port>=1000',
    )
    assert [row["insert_id"] for row in json.loads(r.output)] == ["same-node", "cross-node"]
    # A filter naming timestamps turns freshness off, as gcloud does.
    r = run(ctx, "--format", "json", f'timestamp<"{ago(86400)}"')
    assert [row["insert_id"] for row in json.loads(r.output)] == ["two-days-old"]
    r = run(ctx, "textPayload:flow")
    assert r.exit_code == 0
    assert table_rows(r.output) == []
    assert "No VPC flow-log records matched." in r.output


def test_bad_input_is_refused_with_the_reason(daemon: TestClient, ctx: Context) -> None:
    r = run(ctx, "jsonPayload.reporter=")
    assert r.exit_code == 1
    # The user's filter comes first, so the position is the one in what the user typed.
    assert r.output == (
        "Error: INVALID_ARGUMENT: Unparseable filter: syntax error at line 1, column 23, "
        "token 'AND'\n"
    )
    r = run(ctx, "--limit", "0")
    assert r.exit_code == 2
    assert "Value must be greater than or equal to 1" in r.output
    r = run(ctx, "--freshness", "yesterday")
    assert r.exit_code == 2
    assert "Failed to parse duration: 'yesterday'" in r.output


def test_follow_prints_each_new_record_once_and_stops_on_ctrl_c(
    daemon: TestClient, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    polls = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            new = [record(ago(-1), POD2, POD3, insert_id="new-1", nbytes="777")]
            assert daemon.post("/v2/entries:write", json={"entries": new}).status_code == 200
        elif len(polls) == 3:
            new = [record(ago(-2), POD3, POD1, insert_id="new-2", nbytes="888")]
            assert daemon.post("/v2/entries:write", json={"entries": new}).status_code == 200
        elif len(polls) >= 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(flows, "_sleep", sleep)
    r = run(ctx, "--follow", "--format", "json")
    assert r.exit_code == 0, r.output
    assert polls == [1.0] * 5
    ids = [json.loads(line)["insert_id"] for line in r.output.splitlines()]
    assert ids == ["same-node", "cross-node", "icmp", "udp", "new-1", "new-2"]
    polls.clear()
    polls.extend([0.0] * 4)  # the next sleep is the Ctrl-C
    r = run(ctx, "--follow", "--limit", "1")
    assert r.exit_code == 0, r.output
    assert [row.split()[2] for row in table_rows(r.output)] == ["kube-system/pod-3"]


def test_durations_read_as_gcloud_reads_them() -> None:
    assert [
        flows.parse_duration(t) for t in ("30", "30s", "10m", "2h", "1d", "1h30m", "PT1H", "P1DT2H")
    ] == [30, 30, 600, 7200, 86400, 5400, 3600, 93600]
    for bad in ("", "1x", "P", "PT", "-5", "1d-2h"):
        with pytest.raises(ValueError, match="Failed to parse duration"):
            flows.parse_duration(bad)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_against_a_real_daemon(tmp_path: Path) -> None:
    state = tmp_path / "st"
    runner = CliRunner()
    up = runner.invoke(
        cli,
        [
            "up",
            "--detach",
            "--no-dataplane",
            "--state-dir",
            str(state),
            "--port",
            str(_free_port()),
        ],
    )
    try:
        assert up.exit_code == 0, up.output
        target = Target(state)
        settings = target.settings()
        entries = [
            record(ago(5), POD1, POD2, insert_id="a", project=settings.project),
            record(ago(4), POD1, POD3, insert_id="b", project=settings.project),
        ]
        r = httpx.post(
            f"{settings.base_url}/v2/entries:write",
            json={"entries": entries},
            headers={"Authorization": f"Bearer {target.token()}"},
        )
        assert r.status_code == 200, r.text
        out = runner.invoke(cli, ["flows", "--state-dir", str(state)])
        assert out.exit_code == 0, out.output
        rows = table_rows(out.output)
        assert [row.split()[2:5] for row in rows] == [
            ["pod-1", "→", "pod-2"],
            ["pod-1", "→", "kube-system/pod-3"],
        ]
        assert rows[0].endswith("via VPC, same node (intra-node visibility)")
        assert rows[1].endswith("via VPC")
    finally:
        down = runner.invoke(cli, ["down", "--purge", "--state-dir", str(state)])
        assert down.exit_code == 0, down.output
