"""SQL narrowing plus evaluation returns exactly what evaluation alone accepts.

Random entries (flow logs with odd shapes: missing keys, numbers as strings, arrays, nulls,
upper-case addresses) are written through the real write path; random filters over the
indexed fields and others are read through ``entries:list``'s controller and compared with
``evaluate`` applied to every stored entry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intranode.config import Settings
from intranode.controllers import logs, serviceusage
from intranode.controllers.context import Context
from intranode.domain.logquery.compile_sql import compile_filter
from intranode.domain.logquery.evaluate import evaluate
from intranode.domain.logquery.parser import parse

PROJECT = "p"

ips = st.sampled_from(["10.52.0.13", "10.52.0.14", "10.52.1.2", "FE80::1", "fe80::1", "", "ab"])
ports = st.sampled_from([0, 80, 8080, 8080.0, 8080.5, -1, 65535])
odd = st.sampled_from([None, True, False, [], ["10.52.0.13"], [8080, "x"], {"a": 1}, "8080", 3])
ip_values = st.one_of(ips, ips, odd)
port_values = st.one_of(ports, ports, odd)


@st.composite
def connections(draw: st.DrawFn) -> Any:
    conn: dict[str, Any] = {}
    for key, values in (
        ("src_ip", ip_values),
        ("dest_ip", ip_values),
        ("src_port", port_values),
        ("dest_port", port_values),
        ("protocol", port_values),
    ):
        if draw(st.integers(0, 4)):
            conn[key] = draw(values)
    shape = draw(st.integers(0, 9))
    if shape == 0:
        return [conn, {"src_ip": draw(ips)}]
    if shape == 1:
        return draw(st.sampled_from(["text", 5, None]))
    return conn


@st.composite
def entries(draw: st.DrawFn) -> dict[str, Any]:
    log_id = draw(
        st.sampled_from(
            ["compute.googleapis.com%2Fvpc_flows", "compute.googleapis.com/VPC_FLOWS", "app", "App"]
        )
    )
    entry: dict[str, Any] = {
        "logName": f"projects/{draw(st.sampled_from([PROJECT, PROJECT, 'other']))}/logs/{log_id}",
        "resource": {"type": draw(st.sampled_from(["gce_subnetwork", "GCE_SUBNETWORK", "global"]))},
        "timestamp": draw(
            st.sampled_from(
                ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.5Z", "2024-05-01T11:00:00Z"]
            )
        ),
    }
    severity = draw(st.sampled_from([None, "DEBUG", "INFO", "WARNING", "ERROR", "EMERGENCY", 0]))
    if severity is not None:
        entry["severity"] = severity
    payload = draw(st.integers(0, 5))
    if payload == 0:
        entry["textPayload"] = draw(st.sampled_from(["hello 10.52.0.13", "8080", ""]))
    elif payload > 1:
        body: dict[str, Any] = {"reporter": draw(st.sampled_from(["SRC", "DEST"]))}
        if payload > 2:
            body["connection"] = draw(connections())
        entry["jsonPayload"] = body
    if draw(st.booleans()):
        entry["labels"] = {"a": draw(st.sampled_from(["x", "X", "y"]))}
    return entry


FIELDS = [
    "logName",
    "resource.type",
    "severity",
    "timestamp",
    "receiveTimestamp",
    "insertId",
    "textPayload",
    "labels.a",
    "jsonPayload.reporter",
    "jsonPayload.connection",
    "jsonPayload.connection.src_ip",
    "jsonPayload.connection.dest_ip",
    "jsonPayload.connection.src_port",
    "jsonPayload.connection.dest_port",
    "jsonPayload.connection.protocol",
]
OPS = ["=", "!=", "<", "<=", ">", ">=", ":", "=~", "!~"]
LITERALS = [
    '"10.52.0.13"',
    "10.52.0.13",
    '"fe80::1"',
    '"FE80::1"',
    "10.52",
    "8080",
    '"8080"',
    "8080.0",
    "-1",
    "0",
    "x",
    "X",
    '""',
    "NULL_VALUE",
    '"NULL_VALUE"',
    "ERROR",
    "warning",
    "400",
    "true",
    '"2024-05-01T10:00:00Z"',
    "2024-05-01",
    '"2024-05-01T12:00:00+02:00"',
    '"projects/p/logs/compute.googleapis.com%2Fvpc_flows"',
    "projects/p/logs/app",
    "vpc",
    "gce_subnetwork",
    '"^10\\\\.52"',
    '"(?i)fe80"',
    '"8"',
    "abc",
]


@st.composite
def leaves(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    field = draw(st.sampled_from(FIELDS))
    if kind == 0:
        return f"{field}:*"
    if kind == 1:
        return draw(st.sampled_from(["hello", '"10.52"', "8080", "src", "NULL_VALUE"]))
    if kind == 2:
        return draw(
            st.sampled_from(
                [
                    'log_id("compute.googleapis.com/vpc_flows")',
                    'log_id("app")',
                    "source(projects/p)",
                    'ip_in_net(jsonPayload.connection.src_ip, "10.52.0.0/24")',
                    "sample(insertId, 0.5)",
                    'SEARCH("10 52")',
                ]
            )
        )
    op = draw(st.sampled_from(OPS))
    if kind == 3:
        a, b = draw(st.sampled_from(LITERALS)), draw(st.sampled_from(LITERALS))
        return f"{field} {op} ({a} OR NOT {b})"
    return f"{field} {op} {draw(st.sampled_from(LITERALS))}"


filters = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: f"({t[0]} AND {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]} OR {t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]} {t[1]}"),
        inner.map(lambda t: f"NOT ({t})"),
        inner.map(lambda t: f"-{t}" if not t.startswith("-") else f"NOT {t}"),
    ),
    max_leaves=6,
)


def new_context(tmp: Path) -> Context:
    ctx = Context.open(Settings(state_dir=tmp, port=0, project=PROJECT), "t", db_path=":memory:")
    serviceusage.seed_project(ctx, PROJECT)
    return ctx


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stored=st.lists(entries(), min_size=1, max_size=14), texts=st.lists(filters, max_size=6))
def test_sql_then_evaluation_equals_evaluation_alone(
    tmp_path: Path, stored: list[dict[str, Any]], texts: list[str]
) -> None:
    ctx = new_context(tmp_path)
    try:
        logs.write_entries(ctx, stored)
        with ctx.db.reading() as conn:
            rows = conn.execute("SELECT entry FROM log_entries ORDER BY ts_ns, insert_id, seq")
            everything = [json.loads(r[0]) for r in rows.fetchall()]
        in_project = [e for e in everything if e["logName"].startswith(f"projects/{PROJECT}/")]
        for text in ["", *texts]:
            node = parse(text)
            expected = [e["insertId"] for e in in_project if evaluate(node, e)]
            page = logs.list_entries(
                ctx, logs.ListRequest([f"projects/{PROJECT}"], text, "timestamp asc", 1000)
            )
            got = [json.loads(e)["insertId"] for e in page.entries]
            assert got == expected, (text, compile_filter(node, ctx.logs.catalog()))
            assert page.next_page_token is None
    finally:
        ctx.db.close()


def test_exact_sql_needs_no_evaluation_and_inexact_sql_says_so(tmp_path: Path) -> None:
    ctx = new_context(tmp_path)
    logs.write_entries(
        ctx,
        [
            {
                "logName": "projects/p/logs/compute.googleapis.com%2Fvpc_flows",
                "resource": {"type": "gce_subnetwork"},
                "jsonPayload": {"connection": {"src_ip": "10.52.0.13", "dest_port": 8080}},
            }
        ],
    )
    catalog = ctx.logs.catalog()
    exact = compile_filter(
        parse('logName:vpc_flows severity<=EMERGENCY timestamp>="2024-01-01"'), catalog
    )
    assert exact.exact
    assert exact.where.text == "ts_ns >= ?"  # the log and severity parts hold for every row
    inexact = compile_filter(parse('jsonPayload.connection.src_ip="10.52.0.13"'), catalog)
    assert not inexact.exact
    assert inexact.where.text == "(src_ip IS NOT NULL AND src_ip IN (?, ?))"
    ctx.db.close()
