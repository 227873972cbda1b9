"""Logs explorer: the guide's flow-log query one click away, the matching entries expandable
to their JSON, the parser's error at the column it names, the time range, and the live tail."""

from __future__ import annotations

import json
import re
import urllib.parse
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.controllers.logs import write_entries
from intranode.domain.timefmt import rfc3339
from tests.unit.conftest import PROJECT
from tests.unit.console.helpers import add_pod, create_cluster, node_names

FLOWS = f"projects/{PROJECT}/logs/compute.googleapis.com%2Fvpc_flows"


def _flow(ctx: Context, src: str, dest: str, *, age: float = 0.0) -> dict[str, Any]:
    t = rfc3339(ctx.clock() - age)
    return {
        "logName": FLOWS,
        "resource": {
            "type": "gce_subnetwork",
            "labels": {
                "project_id": PROJECT,
                "subnetwork_name": "default",
                "location": "us-central1-a",
            },
        },
        "timestamp": t,
        "jsonPayload": {
            "connection": {
                "src_ip": src,
                "src_port": 35414,
                "dest_ip": dest,
                "dest_port": 8080,
                "protocol": 6,
            },
            "reporter": "SRC",
            "bytes_sent": "412",
            "packets_sent": "6",
            "start_time": t,
            "end_time": t,
        },
    }


def _rows(html: str) -> list[str]:
    return [unescape(s) for s in re.findall(r"<summary>([^<]*)</summary>", html)]


def test_the_guides_query_finds_the_pod_to_pod_entry(client: TestClient, ctx: Context) -> None:
    create_cluster(client, "flow-log-test")
    node = node_names(ctx, "flow-log-test")[0]
    add_pod(ctx, "flow-log-test", "pod-1", node, "10.0.0.13")
    add_pod(ctx, "flow-log-test", "pod-2", node, "10.0.0.14")
    write_entries(ctx, [_flow(ctx, "10.0.0.13", "10.0.0.14"), _flow(ctx, "10.0.0.14", "10.0.0.13")])
    page = client.get("/console/logs/query").text
    href = unescape(re.findall(r'id=guide-query href="([^"]+)"', page)[0])
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)["query"][0]
    assert query == (
        f'logName="{FLOWS}" AND jsonPayload.connection.src_ip="10.0.0.13" '
        'AND jsonPayload.connection.dest_ip="10.0.0.14"'
    )
    result = client.get(href).text
    assert _rows(result) == [
        "10.0.0.13:35414 → 10.0.0.14:8080 protocol 6 · 412 bytes · reporter SRC"
    ]
    entry = json.loads(unescape(re.findall(r"<pre>([^<]*)</pre>", result)[0]))
    assert entry["jsonPayload"]["connection"]["dest_port"] == 8080
    assert entry["logName"] == FLOWS
    assert "1 entry." in result


def test_without_pod_1_and_pod_2_the_guides_query_reads_every_flow_log(
    client: TestClient,
) -> None:
    page = client.get("/console/logs/query").text
    href = unescape(re.findall(r'id=guide-query href="([^"]+)"', page)[0])
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)["query"] == [
        f'logName="{FLOWS}"'
    ]


@pytest.mark.parametrize(
    ("query", "line", "column", "caret"),
    [
        ("textPayload:rc=", 1, 15, "textPayload:rc=\n              ^"),
        ('logName="x"\nAND AND y', 2, 5, "AND AND y\n    ^"),
    ],
)
def test_a_syntax_error_is_shown_at_its_column(
    client: TestClient, query: str, line: int, column: int, caret: str
) -> None:
    r = client.get("/console/logs/query", params={"query": query})
    assert r.status_code == 400
    assert f"syntax error at line {line}, column {column}" in r.text
    assert (
        unescape(re.findall(r"<pre class=caret aria-hidden=true>([^<]*)</pre>", r.text)[0]) == caret
    )
    assert f'data-error-line="{line}" data-error-column="{column}"' in r.text
    assert "id=results" not in r.text


def test_a_filter_that_cannot_run_shows_the_apis_message(client: TestClient) -> None:
    r = client.get("/console/logs/query", params={"query": "nosuchfield=1"})
    assert r.status_code == 400
    message = client.post(
        "/v2/entries:list",
        json={"resourceNames": [f"projects/{PROJECT}"], "filter": "nosuchfield=1"},
    ).json()["error"]["message"]
    assert (
        unescape(re.findall(r"id=query-error class=query-error role=alert><p>([^<]*)<", r.text)[0])
        == message
    )


def test_the_time_range_leaves_out_older_entries(client: TestClient, ctx: Context) -> None:
    write_entries(
        ctx, [_flow(ctx, "10.0.0.1", "10.0.0.2", age=7200), _flow(ctx, "10.0.0.3", "10.0.0.4")]
    )
    recent = _rows(client.get("/console/logs/query", params={"range": "1h"}).text)
    assert [r.split(":")[0] for r in recent] == ["10.0.0.3"]
    day = _rows(client.get("/console/logs/query", params={"range": "1d", "order": "asc"}).text)
    assert [r.split(":")[0] for r in day] == ["10.0.0.1", "10.0.0.3"]


def test_the_live_tail_returns_only_entries_received_since_its_cursor(
    client: TestClient, ctx: Context
) -> None:
    write_entries(ctx, [_flow(ctx, "10.0.0.1", "10.0.0.2")])
    page = client.get("/console/logs/query", params={"query": 'logName:"vpc_flows"'}).text
    url = unescape(re.findall(r'id=tail aria-pressed=false data-url="([^"]+)"', page)[0])
    cursor = unescape(re.findall(r'data-cursor="([^"]+)"', page)[0])
    first = client.get(url, params={"after": cursor}).json()
    assert first["count"] == 0 and first["cursor"] == cursor
    write_entries(ctx, [_flow(ctx, "10.0.0.5", "10.0.0.6")])
    second = client.get(url, params={"after": cursor}).json()
    assert second["count"] == 1 and "10.0.0.5:35414 → 10.0.0.6:8080" in unescape(second["rows"])
    assert second["cursor"] > cursor
    assert client.get(url, params={"after": second["cursor"]}).json()["count"] == 0


def test_the_live_tail_refuses_a_bad_query(client: TestClient) -> None:
    r = client.get("/console/logs/tail", params={"query": "a OR OR b"})
    assert r.status_code == 400
    assert r.json() == {"error": "Unparseable filter: syntax error at line 1, column 6, token 'OR'"}
