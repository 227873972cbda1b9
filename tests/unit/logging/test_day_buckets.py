"""The log store's day buckets: order and paging across days, reads that visit only the days a
filter's timestamps allow, retention as a dropped table, two connections and rollbacks, and
databases written before the buckets existed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.config import Settings
from intranode.controllers import logs
from intranode.controllers.context import Context
from intranode.domain.logquery.parser import parse
from intranode.domain.logquery.values import parse_timestamp
from intranode.errors import StoreError
from intranode.store.db import Database
from intranode.store.logs import LogStore
from tests.unit.conftest import PROJECT, TOKEN

FLOWS = f"projects/{PROJECT}/logs/compute.googleapis.com%2Fvpc_flows"
APP = f"projects/{PROJECT}/logs/app"
DAY = 86_400


def flow(ts: str, insert_id: str, src: str = "10.52.0.13", dest: str = "10.52.0.14") -> Any:
    return {
        "logName": FLOWS,
        "resource": {"type": "gce_subnetwork", "labels": {"project_id": PROJECT}},
        "timestamp": ts,
        "insertId": insert_id,
        "jsonPayload": {"connection": {"src_ip": src, "dest_ip": dest, "protocol": 6}},
    }


def seconds(ts: str) -> float:
    ns = parse_timestamp(ts)
    assert ns is not None
    return ns / 1e9


def listed(ctx: Context, text: str = "", order: str = "", size: int = 1000) -> list[str]:
    page = logs.list_entries(ctx, logs.ListRequest([f"projects/{PROJECT}"], text, order, size))
    assert page.next_page_token is None
    return [json.loads(e)["insertId"] for e in page.entries]


def pages(client: TestClient, size: int, order: str) -> list[list[str]]:
    out: list[list[str]] = []
    token = ""
    while True:
        body = {"resourceNames": [f"projects/{PROJECT}"], "pageSize": size, "orderBy": order}
        r = client.post("/v2/entries:list", json={**body, "pageToken": token})
        assert r.status_code == 200, r.text
        out.append([e["insertId"] for e in r.json()["entries"]])
        token = r.json().get("nextPageToken", "")
        if not token:
            return out


# Three days, written out of order, with equal timestamps inside and across logs.
SPREAD = [
    flow("2024-05-02T00:00:00Z", "d"),
    flow("2024-05-01T23:59:59.999999999Z", "c"),
    flow("2024-05-01T00:00:00Z", "b"),
    flow("2024-05-01T00:00:00Z", "a"),
    flow("2024-05-03T12:00:00Z", "f"),
    {**flow("2024-05-02T00:00:00Z", "e"), "logName": APP},
    flow("2024-04-30T23:59:59Z", "z"),
]
IN_ORDER = ["z", "a", "b", "c", "d", "e", "f"]


def test_entries_are_kept_in_one_table_per_utc_day(ctx: Context) -> None:
    logs.write_entries(ctx, SPREAD)
    assert ctx.logs.buckets() == [
        "log_entries_20240430",
        "log_entries_20240501",
        "log_entries_20240502",
        "log_entries_20240503",
    ]
    with ctx.db.reading() as conn:
        day = conn.execute("SELECT insert_id FROM log_entries_20240501 ORDER BY 1").fetchall()
        # The view over every day lists them in write order.
        seq = conn.execute("SELECT insert_id FROM log_entries ORDER BY seq").fetchall()
    assert [r[0] for r in day] == ["a", "b", "c"]
    assert [r[0] for r in seq] == [e["insertId"] for e in SPREAD]


def test_order_and_ties_hold_across_days(ctx: Context) -> None:
    logs.write_entries(ctx, SPREAD)
    assert listed(ctx) == IN_ORDER
    assert listed(ctx, order="timestamp desc") == IN_ORDER[::-1]


@pytest.mark.parametrize("size", [1, 2, 3, 50])
@pytest.mark.parametrize("order", ["timestamp asc", "timestamp desc"])
def test_pages_cross_days_without_loss_or_repeat(
    client: TestClient, ctx: Context, size: int, order: str
) -> None:
    logs.write_entries(ctx, SPREAD)
    got = pages(client, size, order)
    expected = IN_ORDER if order.endswith("asc") else IN_ORDER[::-1]
    assert [i for page in got for i in page] == expected
    assert all(len(p) == size for p in got[:-1])


def test_a_filter_reads_only_the_days_its_timestamps_allow(ctx: Context) -> None:
    logs.write_entries(ctx, SPREAD)
    statements: list[str] = []
    with ctx.db.reading() as conn:
        conn.set_trace_callback(statements.append)
    try:
        text = 'timestamp>="2024-05-02T00:00:00Z" AND timestamp<"2024-05-03"'
        assert listed(ctx, text) == ["d", "e"]
        assert listed(ctx, f'logName="{FLOWS}" AND timestamp="2024-05-01T00:00:00Z"') == [
            "a",
            "b",
        ]
        # The Python client's bound comes last.
        assert listed(ctx, 'insertId="f" AND timestamp>="2024-05-03T00:00:00.000000+0000"') == ["f"]
    finally:
        with ctx.db.reading() as conn:
            conn.set_trace_callback(None)
    read = " ".join(s for s in statements if s.startswith("SELECT b.seq"))
    assert "log_entries_20240502" in read and "log_entries_20240501" in read
    assert "log_entries_20240503" in read
    assert "log_entries_20240430" not in read


def test_time_bounds_come_from_top_level_timestamp_comparisons() -> None:
    ns = parse_timestamp
    assert logs.time_bounds(parse('timestamp>="2024-05-01" severity>=ERROR')) == (
        ns("2024-05-01"),
        None,
    )
    both = 'timestamp>"2024-05-01T00:00:00Z" AND timestamp<="2024-05-02" AND timestamp<"2024-06"'
    assert logs.time_bounds(parse(both)) == (ns("2024-05-01T00:00:00Z"), ns("2024-05-02"))
    assert logs.time_bounds(parse('timestamp="2024-05-01T10:00:00Z"')) == (
        ns("2024-05-01T10:00:00Z"),
        ns("2024-05-01T10:00:00Z"),
    )
    for unbounded in (
        'timestamp>="2024-05-01" OR severity=ERROR',
        'NOT timestamp<"2024-05-01"',
        'timestamp!="2024-05-01"',
        'receiveTimestamp>="2024-05-01"',
        'jsonPayload.timestamp>="2024-05-01"',
        "",
    ):
        assert logs.time_bounds(parse(unbounded)) == (None, None), unbounded


def test_prune_drops_whole_days_past_the_retention(ctx: Context) -> None:
    logs.write_entries(ctx, SPREAD)
    # 30 days after 2024-05-02 12:00: the 30th of April and the 1st of May are past.
    now = seconds("2024-06-01T12:00:00Z")
    assert ctx.logs.prune(now) == ["log_entries_20240430", "log_entries_20240501"]
    assert ctx.logs.buckets() == ["log_entries_20240502", "log_entries_20240503"]
    assert listed(ctx) == ["d", "e", "f"]
    with ctx.db.reading() as conn:
        stats = conn.execute("SELECT DISTINCT tbl FROM sqlite_stat1 WHERE tbl GLOB 'log_*'")
        assert sorted(r[0] for r in stats) == ["log_entries_20240502", "log_entries_20240503"]
        assert [r[0] for r in conn.execute("SELECT insert_id FROM log_entries ORDER BY 1")] == [
            "d",
            "e",
            "f",
        ]
    assert ctx.logs.prune(now) == []


def test_retention_is_configurable_and_a_pruned_log_leaves_the_catalog(ctx: Context) -> None:
    logs.write_entries(ctx, SPREAD)
    short = LogStore(ctx.db, retention_days=1)
    assert short.prune(seconds("2024-05-03T23:00:00Z")) == [
        "log_entries_20240430",
        "log_entries_20240501",
    ]
    assert short.prune(seconds("2024-05-04T00:00:00Z")) == ["log_entries_20240502"]
    assert short.catalog().log_names == (FLOWS,)  # "app" had entries on the 2nd only
    with pytest.raises(ValueError, match="at least 1 day"):
        LogStore(ctx.db, retention_days=0)


def test_the_write_path_prunes_at_most_once_an_hour(ctx: Context) -> None:
    now = seconds("2024-06-10T00:00:00Z")
    ctx.clock = lambda: now
    logs.write_entries(ctx, [flow("2024-05-01T00:00:00Z", "old")])
    # Older than the retention, it stays until the next prune (at most an hour).
    assert listed(ctx) == ["old"]
    now += 3599
    logs.write_entries(ctx, [flow("2024-06-09T00:00:00Z", "new")])
    assert listed(ctx) == ["old", "new"]
    now += 1
    logs.write_entries(ctx, [flow("2024-06-09T00:00:01Z", "newer")])
    assert listed(ctx) == ["new", "newer"]
    assert ctx.logs.buckets() == ["log_entries_20240609"]


def test_delete_log_empties_it_on_every_day(client: TestClient, ctx: Context) -> None:
    logs.write_entries(ctx, SPREAD)
    r = client.delete(f"/v2/projects/{PROJECT}/logs/compute.googleapis.com%2Fvpc_flows")
    assert r.status_code == 200
    assert listed(ctx) == ["e"]
    assert ctx.logs.catalog().log_names == (APP,)


def test_a_rolled_back_write_leaves_nothing_behind(ctx: Context) -> None:
    logs.write_entries(ctx, [flow("2024-05-01T00:00:00Z", "a")])
    with pytest.raises(RuntimeError), ctx.db.transaction():
        # A new day's table made inside a transaction that then fails (as the flow-log
        # collector's would).
        logs.write_entries(ctx, [flow("2024-05-07T00:00:00Z", "lost")])
        raise RuntimeError("the caller's own write failed")
    assert ctx.logs.buckets() == ["log_entries_20240501"]
    assert listed(ctx) == ["a"]
    logs.write_entries(ctx, [flow("2024-05-07T00:00:00Z", "b")])
    assert listed(ctx) == ["a", "b"]
    with ctx.db.reading() as conn:
        assert [r[0] for r in conn.execute("SELECT insert_id FROM log_entries ORDER BY seq")] == [
            "a",
            "b",
        ]


def test_two_connections_see_each_others_days_and_never_share_a_seq(
    ctx: Context, settings: Settings
) -> None:
    other = Context.open(settings, TOKEN)
    ctx.clock = other.clock = lambda: seconds("2024-05-03T00:00:00Z")  # within the retention
    try:
        logs.write_entries(ctx, [flow("2024-05-01T00:00:00Z", "a")])
        logs.write_entries(other, [flow("2024-05-02T00:00:00Z", "b")])
        logs.write_entries(ctx, [flow("2024-05-02T00:00:01Z", "c")])
        logs.write_entries(other, [flow("2024-05-01T00:00:01Z", "d")])
        for c in (ctx, other):
            assert listed(c) == ["a", "d", "b", "c"]
            with c.db.reading() as conn:
                rows = conn.execute("SELECT insert_id FROM log_entries ORDER BY seq").fetchall()
            assert [r[0] for r in rows] == ["a", "b", "c", "d"]
    finally:
        other.db.close()


def _legacy_database(path: Path, with_index_columns: bool) -> None:
    """A state database as the single-table store left it."""
    db = Database(path)
    entries = [
        flow("2024-05-01T10:00:00Z", "a"),
        flow("2024-05-01T10:00:01Z", "b", dest="10.52.0.15"),
        flow("2024-05-02T10:00:00Z", "c"),
        {"logName": APP, "resource": {"type": "global"}, "timestamp": "2024-05-02T11:00:00Z"},
    ]
    with db.transaction() as conn:
        if with_index_columns:
            for column, kind in (
                ("src_ip", "TEXT"),
                ("dest_ip", "TEXT"),
                ("src_port", "REAL"),
                ("dest_port", "REAL"),
                ("protocol", "REAL"),
            ):
                conn.execute(f"ALTER TABLE log_entries ADD COLUMN {column} {kind}")
        conn.execute("CREATE TABLE log_catalog_names (log_name TEXT PRIMARY KEY) WITHOUT ROWID")
        for seq, e in zip((3, 5, 8, 9), entries, strict=True):
            e = {**e, "insertId": e.get("insertId", "x"), "receiveTimestamp": e["timestamp"]}
            ns = parse_timestamp(e["timestamp"])
            conn.execute(
                "INSERT INTO log_entries (seq, insert_id, log_name, ts_ns, receive_ns, severity, "
                "resource_type, entry) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                (seq, e["insertId"], e["logName"], ns, ns, e["resource"]["type"], json.dumps(e)),
            )
            conn.execute("INSERT OR IGNORE INTO log_catalog_names VALUES (?)", (e["logName"],))
    db.close()


@pytest.mark.parametrize("with_index_columns", [True, False])
def test_a_single_table_database_is_moved_into_days_on_open(
    settings: Settings, with_index_columns: bool
) -> None:
    from intranode.controllers import serviceusage

    _legacy_database(settings.db_path, with_index_columns)
    for _ in range(2):  # and opening it again changes nothing
        ctx = Context.open(settings, TOKEN)
        try:
            serviceusage.seed_project(ctx, PROJECT)
            assert ctx.logs.buckets() == ["log_entries_20240501", "log_entries_20240502"]
            guide = (
                f'logName="{FLOWS}" AND jsonPayload.connection.src_ip="10.52.0.13" '
                'AND jsonPayload.connection.dest_ip="10.52.0.14"'
            )
            assert listed(ctx, guide) == ["a", "c"]
            assert listed(ctx) == ["a", "b", "c", "x"]
            assert ctx.logs.catalog().log_names == (APP, FLOWS)
            with ctx.db.reading() as conn:
                rows = conn.execute("SELECT seq, insert_id FROM log_entries ORDER BY seq")
                assert rows.fetchall() == [(3, "a"), (5, "b"), (8, "c"), (9, "x")]
                # Dropped once moved; the next open makes it again, empty.
                legacy = conn.execute(
                    "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'log_entries'"
                ).fetchall()
                if legacy:
                    assert conn.execute("SELECT count(*) FROM main.log_entries").fetchone() == (0,)
                old = conn.execute(
                    "SELECT name FROM sqlite_schema WHERE name = 'log_catalog_names'"
                ).fetchall()
                assert old == []
        finally:
            ctx.db.close()
    ctx = Context.open(settings, TOKEN)
    ctx.clock = lambda: seconds("2024-05-03T00:00:00Z")  # the moved days are within retention
    try:
        logs.write_entries(ctx, [flow("2024-05-01T10:00:02Z", "new")])
        with ctx.db.reading() as conn:
            rows = conn.execute("SELECT seq, insert_id FROM log_entries WHERE seq > 9")
            assert [r[1] for r in rows] == ["new"]  # after every moved seq
    finally:
        ctx.db.close()


def test_a_store_that_cannot_prepare_its_tables_says_so(tmp_path: Path) -> None:
    db = Database(tmp_path / "state.db")
    with db.transaction() as conn:
        conn.execute("CREATE TABLE log_state (something_else TEXT)")
    try:
        with pytest.raises(StoreError, match="cannot prepare the log tables"):
            LogStore(db)
    finally:
        db.close()


def test_a_bucket_name_is_its_utc_day() -> None:
    from intranode.store.logs import bucket_table, day_of

    assert bucket_table(day_of(0)) == "log_entries_19700101"
    assert bucket_table(day_of(-1)) == "log_entries_19691231"
    assert bucket_table(day_of(int(seconds("2262-04-11T00:00:00Z") * 1e9))) == (
        "log_entries_22620411"
    )
    with sqlite3.connect(":memory:") as conn:  # a legal table name without quoting
        conn.execute(f"CREATE TABLE {bucket_table(day_of(-(2**62)))} (x)")
