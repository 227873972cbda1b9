"""``POST /v2/entries:write`` and ``controllers.logs.write_entries``: what gets stored, and
every refusal (Google's error, nothing stored)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers import logs, serviceusage
from intranode.controllers.context import Context
from intranode.domain.resources import project_number
from intranode.errors import InvalidArgument
from tests.unit.conftest import PROJECT

FLOWS = f"projects/{PROJECT}/logs/compute.googleapis.com%2Fvpc_flows"
SUBNET = {"type": "gce_subnetwork", "labels": {"project_id": PROJECT, "subnetwork_name": "default"}}


def stored(ctx: Context) -> list[dict[str, Any]]:
    with ctx.db.reading() as conn:
        rows = conn.execute("SELECT entry FROM log_entries ORDER BY seq").fetchall()
    return [json.loads(r[0]) for r in rows]


def write(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post("/v2/entries:write", json=body)


def test_write_fills_ids_and_times_and_keeps_the_payload_exactly(
    client: TestClient, ctx: Context
) -> None:
    payload = {
        "connection": {"src_ip": "10.52.0.13", "dest_port": 8080, "protocol": 6},
        "bytes_sent": "0",
        "ratio": 0.5,
        "nested": [{"a": None}],
    }
    r = write(client, {"entries": [{"logName": FLOWS, "resource": SUBNET, "jsonPayload": payload}]})
    assert r.status_code == 200
    assert r.json() == {}
    (entry,) = stored(ctx)
    assert entry["jsonPayload"] == payload
    assert entry["logName"] == FLOWS
    assert entry["resource"] == SUBNET
    assert len(entry["insertId"]) == 16
    assert entry["timestamp"] == entry["receiveTimestamp"]
    assert entry["timestamp"].endswith("Z")
    assert "severity" not in entry  # DEFAULT is not written, as proto3 JSON omits defaults


def test_write_normalises_the_proto_fields(client: TestClient, ctx: Context) -> None:
    r = write(
        client,
        {
            "entries": [
                {
                    "log_name": f"projects/{PROJECT}/logs/compute.googleapis.com/vpc_flows",
                    "resource": {"type": "global"},
                    "timestamp": "2024-05-01T12:00:00.5+02:00",
                    "receiveTimestamp": "1999-01-01T00:00:00Z",
                    "severity": "warning",
                    "insertId": "mine",
                    "httpRequest": {"status": "503", "requestSize": 1024, "latency": "1.5s"},
                    "sourceLocation": {"file": "a.go", "line": 42},
                    "textPayload": "hello",
                    "trace": None,
                }
            ]
        },
    )
    assert r.status_code == 200, r.text
    (entry,) = stored(ctx)
    assert entry["logName"] == FLOWS  # the unencoded '/' of the LOG_ID is encoded
    assert entry["timestamp"] == "2024-05-01T10:00:00.500Z"
    assert entry["receiveTimestamp"] != "1999-01-01T00:00:00Z"  # output only: Logging sets it
    assert entry["severity"] == "WARNING"
    assert entry["insertId"] == "mine"
    assert entry["httpRequest"] == {"status": 503, "requestSize": "1024", "latency": "1.5s"}
    assert entry["sourceLocation"] == {"file": "a.go", "line": "42"}
    assert "trace" not in entry


def test_request_level_log_name_resource_and_labels_are_defaults(
    client: TestClient, ctx: Context
) -> None:
    r = write(
        client,
        {
            "logName": f"projects/{PROJECT}/logs/app",
            "resource": {"type": "global"},
            "labels": {"env": "prod", "tier": "web"},
            "entries": [
                {"textPayload": "a"},
                {
                    "textPayload": "b",
                    "logName": f"projects/{PROJECT}/logs/other",
                    "labels": {"env": "dev"},
                },
            ],
        },
    )
    assert r.status_code == 200, r.text
    a, b = stored(ctx)
    assert (a["logName"], a["resource"], a["labels"]) == (
        f"projects/{PROJECT}/logs/app",
        {"type": "global"},
        {"env": "prod", "tier": "web"},
    )
    assert (b["logName"], b["labels"]) == (
        f"projects/{PROJECT}/logs/other",
        {"env": "dev", "tier": "web"},
    )


def test_a_project_number_in_the_log_name_becomes_the_project_id(
    client: TestClient, ctx: Context
) -> None:
    number = project_number(PROJECT)
    r = write(
        client,
        {"entries": [{"logName": f"projects/{number}/logs/app", "resource": {"type": "global"}}]},
    )
    assert r.status_code == 200, r.text
    assert stored(ctx)[0]["logName"] == f"projects/{PROJECT}/logs/app"


BAD = [
    (
        {"logName": "projects/p/log/app", "resource": {"type": "global"}},
        'Invalid log name "projects/p/log/app": expected projects/[PROJECT_ID]/logs/[LOG_ID] '
        "(or organizations/, folders/, billingAccounts/) where [LOG_ID] is URL-encoded, "
        "shorter than 512 characters, and made of letters, digits, '/', '_', '-' and '.'.",
    ),
    (
        {"logName": f"projects/{PROJECT}/logs/a b", "resource": {"type": "global"}},
        f'Invalid log name "projects/{PROJECT}/logs/a b": expected projects/[PROJECT_ID]/logs/'
        "[LOG_ID] (or organizations/, folders/, billingAccounts/) where [LOG_ID] is URL-encoded, "
        "shorter than 512 characters, and made of letters, digits, '/', '_', '-' and '.'.",
    ),
    (
        {"resource": {"type": "global"}},
        "Log name is missing for entries[1]: set logName on the entry or on the request.",
    ),
    (
        {"logName": f"projects/{PROJECT}/logs/app"},
        "Log entry entries[1] has no resource: set resource on the entry or on the request.",
    ),
    (
        {"logName": f"projects/{PROJECT}/logs/app", "resource": {"type": "global"}, "bogus": 1},
        "Invalid JSON payload received. Unknown name \"bogus\" at 'entries[1]': Cannot find field.",
    ),
    (
        {"logName": f"projects/{PROJECT}/logs/app", "resource": {"type": "global", "zone": "a"}},
        "Invalid JSON payload received. Unknown name \"zone\" at 'entries[1].resource': "
        "Cannot find field.",
    ),
    (
        {
            "logName": f"projects/{PROJECT}/logs/app",
            "resource": {"type": "global"},
            "textPayload": "a",
            "jsonPayload": {},
        },
        "Invalid JSON payload received. entries[1] sets more than one payload (textPayload, "
        "jsonPayload): a LogEntry has exactly one of textPayload, jsonPayload and protoPayload.",
    ),
    (
        {
            "logName": f"projects/{PROJECT}/logs/app",
            "resource": {"type": "global"},
            "severity": "LOUD",
        },
        "Invalid value at 'entries[1].severity' (\"LOUD\"): expected one of DEFAULT, DEBUG, INFO, "
        "NOTICE, WARNING, ERROR, CRITICAL, ALERT, EMERGENCY (type LogSeverity).",
    ),
    (
        {
            "logName": f"projects/{PROJECT}/logs/app",
            "resource": {"type": "global"},
            "timestamp": "now",
        },
        "Invalid value at 'entries[1].timestamp' (\"now\"): expected an RFC 3339 timestamp such as "
        "2024-05-01T10:00:00Z (years 1678-2261).",
    ),
    (
        {
            "logName": f"projects/{PROJECT}/logs/app",
            "resource": {"type": "global"},
            "jsonPayload": [1],
        },
        "Invalid value at 'entries[1].jsonPayload' ([1]): expected a JSON object.",
    ),
    (
        {
            "logName": f"projects/{PROJECT}/logs/app",
            "resource": {"type": "global"},
            "labels": {"a": 1},
        },
        "Invalid value at 'entries[1].labels.a' (1): expected a string.",
    ),
]


@pytest.mark.parametrize(("bad", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_a_bad_entry_refuses_the_whole_write(
    client: TestClient, ctx: Context, bad: dict[str, Any], message: str
) -> None:
    good = {"logName": f"projects/{PROJECT}/logs/app", "resource": {"type": "global"}}
    r = write(client, {"entries": [good, bad]})
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert r.json()["error"]["message"] == message
    assert stored(ctx) == []


def test_partial_success_writes_the_good_entries_and_reports_the_bad(
    client: TestClient, ctx: Context
) -> None:
    good = {"logName": f"projects/{PROJECT}/logs/app", "resource": {"type": "global"}}
    r = write(
        client,
        {"partialSuccess": True, "entries": [good, {**good, "severity": "LOUD"}, good]},
    )
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["details"] == [
        {
            "@type": "type.googleapis.com/google.logging.v2.WriteLogEntriesPartialErrors",
            "logEntryErrors": {
                "1": {
                    "code": 3,
                    "message": "Invalid value at 'entries[1].severity' (\"LOUD\"): expected one of "
                    "DEFAULT, DEBUG, INFO, NOTICE, WARNING, ERROR, CRITICAL, ALERT, EMERGENCY "
                    "(type LogSeverity).",
                }
            },
        }
    ]
    assert len(stored(ctx)) == 2


@pytest.mark.parametrize("flag", ["dryRun", "dry_run"])
def test_dry_run_checks_and_writes_nothing(client: TestClient, ctx: Context, flag: str) -> None:
    entry = {"logName": f"projects/{PROJECT}/logs/app", "resource": {"type": "global"}}
    assert write(client, {flag: True, "entries": [entry]}).status_code == 200
    assert write(client, {flag: True, "entries": [{**entry, "bogus": 1}]}).status_code == 400
    assert stored(ctx) == []


def test_the_same_insert_id_and_timestamp_in_the_same_log_is_stored_once(
    client: TestClient, ctx: Context
) -> None:
    # Logging's rule: same log, same timestamp, same insertId is one entry.
    entry = {
        "logName": f"projects/{PROJECT}/logs/app",
        "resource": {"type": "global"},
        "insertId": "dup",
        "timestamp": "2024-05-01T10:00:00Z",
    }
    assert write(client, {"entries": [entry, entry]}).status_code == 200
    assert write(client, {"entries": [entry]}).status_code == 200
    assert len(stored(ctx)) == 1
    later = {**entry, "timestamp": "2024-05-01T10:00:01Z"}
    other_log = {**entry, "logName": f"projects/{PROJECT}/logs/other"}
    assert write(client, {"entries": [later, other_log]}).status_code == 200
    assert sorted((e["logName"], e["timestamp"]) for e in stored(ctx)) == [
        (f"projects/{PROJECT}/logs/app", "2024-05-01T10:00:00Z"),
        (f"projects/{PROJECT}/logs/app", "2024-05-01T10:00:01Z"),
        (f"projects/{PROJECT}/logs/other", "2024-05-01T10:00:00Z"),
    ]


def test_empty_and_malformed_requests_are_refused(client: TestClient, ctx: Context) -> None:
    r = write(client, {"entries": []})
    assert (r.status_code, r.json()["error"]["message"]) == (
        400,
        "No log entries were given: entries must not be empty.",
    )
    r = write(client, {"entries": [{}], "bogus": 1})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        'Invalid JSON payload received. Unknown name "bogus": Cannot find field.'
    )
    r = client.post("/v2/entries:write", content=b"{not json")
    assert r.status_code == 400
    assert stored(ctx) == []


def test_writing_to_a_project_with_logging_disabled_is_refused(
    client: TestClient, ctx: Context
) -> None:
    serviceusage.disable(
        ctx, PROJECT, "logging.googleapis.com", disable_dependents=False, check_usage=False
    )
    entry = {"logName": f"projects/{PROJECT}/logs/app", "resource": {"type": "global"}}
    r = write(client, {"entries": [entry]})
    assert r.status_code == 403
    assert r.json()["error"]["details"][0]["reason"] == "SERVICE_DISABLED"
    assert stored(ctx) == []


def test_write_entries_is_the_internal_path_and_all_or_nothing(ctx: Context) -> None:
    flow = {
        "logName": f"projects/{PROJECT}/logs/compute.googleapis.com%2Fvpc_flows",
        "resource": SUBNET,
        "timestamp": "2024-05-01T10:00:05.123456789Z",
        "jsonPayload": {"connection": {"src_ip": "10.52.0.13"}},
    }
    logs.write_entries(ctx, [flow, flow])
    a, b = stored(ctx)
    assert a["timestamp"] == "2024-05-01T10:00:05.123456789Z"
    assert a["insertId"] != b["insertId"]
    with pytest.raises(InvalidArgument):
        logs.write_entries(ctx, [flow, {**flow, "severity": 3}])
    assert len(stored(ctx)) == 2


def test_a_lone_surrogate_in_an_entry_is_refused_not_a_crash(
    client: TestClient, ctx: Context
) -> None:
    # JSON can carry one as an escape; it cannot be stored or sent back as UTF-8.
    body = {
        "entries": [
            {
                "logName": f"projects/{PROJECT}/logs/app",
                "resource": {"type": "global"},
                "labels": {"\ud800": 1},
            },
            {
                "logName": f"projects/{PROJECT}/logs/app",
                "resource": {"type": "global"},
                "textPayload": "\udc00",
            },
        ]
    }
    r = client.post(
        "/v2/entries:write", content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert (
        r.json()["error"]["message"]
        == "Invalid value at 'entries[0].labels.\\ud800' (1): expected a string."
    )
    body["entries"] = body["entries"][1:]
    r = client.post(
        "/v2/entries:write", content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith(
        "Invalid value at 'entries[0]': not representable as JSON ("
    )
    assert stored(ctx) == []


def test_payload_integers_beyond_64_bits_are_kept_exactly(client: TestClient, ctx: Context) -> None:
    payload = {"big": 2**70, "neg": -(2**65), "text": "naïve ✓"}
    r = write(client, {"entries": [{"logName": FLOWS, "resource": SUBNET, "jsonPayload": payload}]})
    assert r.status_code == 200
    assert stored(ctx)[0]["jsonPayload"] == payload


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(client: TestClient, ctx: Context, token: str) -> None:
    body = (
        '{"entries": [{"logName": "%s", "resource": {"type": "global"}, "jsonPayload": {"x": %s}}]}'
    )
    r = client.post(
        "/v2/entries:write",
        content=body % (FLOWS, token),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert r.json()["error"]["message"].startswith("Invalid JSON payload received.")
    assert stored(ctx) == []
