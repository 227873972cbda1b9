"""``POST /v2/entries:list``: filtering, order, paging, and every refused request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intranode.controllers import logs, serviceusage
from intranode.controllers.context import Context
from tests.unit.conftest import PROJECT
from tests.unit.logquery.test_fuzz import LONG, TOKENS

FLOWS = f"projects/{PROJECT}/logs/compute.googleapis.com%2Fvpc_flows"


def flow(src: str, dest: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {
        "logName": FLOWS,
        "resource": {"type": "gce_subnetwork", "labels": {"project_id": PROJECT}},
        "timestamp": ts,
        "jsonPayload": {
            "connection": {
                "src_ip": src,
                "dest_ip": dest,
                "src_port": 35414,
                "dest_port": 8080,
                "protocol": 6,
            },
            "bytes_sent": "0",
        },
        **extra,
    }


def read(client: TestClient, **body: Any) -> Any:
    body.setdefault("resourceNames", [f"projects/{PROJECT}"])
    # As clients send it: \u escapes keep even a lone surrogate encodable.
    return client.post(
        "/v2/entries:list", content=json.dumps(body), headers={"Content-Type": "application/json"}
    )


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [e["insertId"] for e in response.json()["entries"]]


@pytest.fixture
def flows(ctx: Context) -> None:
    logs.write_entries(
        ctx,
        [
            flow("10.52.0.13", "10.52.0.14", "2024-05-01T10:00:00Z", insertId="a"),
            flow("10.52.0.14", "10.52.0.13", "2024-05-01T10:00:01Z", insertId="b"),
            flow("10.52.0.13", "10.52.0.14", "2024-05-01T10:00:02Z", insertId="c"),
            flow("10.52.0.13", "10.52.0.15", "2024-05-01T10:00:03Z", insertId="d"),
            {
                "logName": f"projects/{PROJECT}/logs/app",
                "resource": {"type": "global"},
                "timestamp": "2024-05-01T10:00:04Z",
                "severity": "ERROR",
                "textPayload": "boom",
                "insertId": "e",
            },
            {
                "logName": "projects/other-proj/logs/app",
                "resource": {"type": "global"},
                "timestamp": "2024-05-01T10:00:05Z",
                "insertId": "f",
            },
        ],
    )


def test_the_guides_filter_returns_the_connection(client: TestClient, flows: None) -> None:
    text = (
        f'logName="{FLOWS}" AND jsonPayload.connection.src_ip="10.52.0.13" '
        'AND jsonPayload.connection.dest_ip="10.52.0.14"'
    )
    r = read(client, filter=text, orderBy="timestamp desc", pageSize=1000)
    assert ids(r) == ["c", "a"]
    entry = r.json()["entries"][0]
    assert entry["jsonPayload"] == {
        "connection": {
            "src_ip": "10.52.0.13",
            "dest_ip": "10.52.0.14",
            "src_port": 35414,
            "dest_port": 8080,
            "protocol": 6,
        },
        "bytes_sent": "0",
    }
    assert "nextPageToken" not in r.json()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["a", "b", "c", "d", "e"]),
        ('log_id("compute.googleapis.com/vpc_flows")', ["a", "b", "c", "d"]),
        ("severity>=ERROR", ["e"]),
        (
            "jsonPayload.connection.dest_port=8080 -jsonPayload.connection.dest_ip=10.52.0.14",
            ["b", "d"],
        ),
        ('ip_in_net(jsonPayload.connection.dest_ip, "10.52.0.14/31")', ["a", "c", "d"]),
        ("boom", ["e"]),
        # The Python client's own time bound, offset without a colon.
        ('severity=ERROR AND timestamp>="2024-05-01T10:00:03.271073+0000"', ["e"]),
    ],
)
def test_filters_select_entries_in_timestamp_order(
    client: TestClient, flows: None, text: str, expected: list[str]
) -> None:
    assert ids(read(client, filter=text)) == expected


def test_order_desc_reverses_and_equal_timestamps_order_by_insert_id(
    client: TestClient, ctx: Context
) -> None:
    same = "2024-05-01T10:00:00Z"
    logs.write_entries(ctx, [flow("1.1.1.1", "2.2.2.2", same, insertId=i) for i in ("m", "k", "z")])
    assert ids(read(client)) == ["k", "m", "z"]
    assert ids(read(client, orderBy="timestamp asc")) == ["k", "m", "z"]
    assert ids(read(client, orderBy="timestamp desc")) == ["z", "m", "k"]
    assert ids(read(client, orderBy="TIMESTAMP  DESC")) == ["z", "m", "k"]


def page_through(client: TestClient, **body: Any) -> tuple[list[list[str]], list[str]]:
    pages: list[list[str]] = []
    tokens: list[str] = []
    token = ""
    while True:
        r = read(client, pageToken=token, **body)
        pages.append(ids(r))
        token = r.json().get("nextPageToken", "")
        if not token:
            return pages, tokens
        tokens.append(token)


def test_pages_default_to_50_and_the_last_page_has_no_token(
    client: TestClient, ctx: Context
) -> None:
    logs.write_entries(
        ctx,
        [
            flow(
                "1.1.1.1",
                "2.2.2.2",
                f"2024-05-01T10:{i // 60:02d}:{i % 60:02d}Z",
                insertId=f"{i:03d}",
            )
            for i in range(120)
        ],
    )
    pages, _ = page_through(client)
    assert [len(p) for p in pages] == [50, 50, 20]
    assert [i for page in pages for i in page] == [f"{i:03d}" for i in range(120)]
    pages, _ = page_through(client, pageSize=40, orderBy="timestamp desc")
    assert [len(p) for p in pages] == [40, 40, 40]
    assert [i for page in pages for i in page] == [f"{i:03d}" for i in reversed(range(120))]


def test_paging_is_stable_while_entries_are_written(client: TestClient, ctx: Context) -> None:
    logs.write_entries(
        ctx,
        [
            flow("1.1.1.1", "2.2.2.2", f"2024-05-01T10:00:{i:02d}Z", insertId=f"{i:02d}")
            for i in range(6)
        ],
    )
    first = read(client, pageSize=3, orderBy="timestamp desc")
    assert ids(first) == ["05", "04", "03"]
    # A newer entry must not shift the next page.
    logs.write_entries(ctx, [flow("1.1.1.1", "2.2.2.2", "2024-05-01T11:00:00Z", insertId="new")])
    token = first.json()["nextPageToken"]
    again = read(client, pageSize=3, orderBy="timestamp desc", pageToken=token)
    assert ids(again) == ["02", "01", "00"]
    assert (
        read(client, pageSize=3, orderBy="timestamp desc", pageToken=token).json() == again.json()
    )


def test_the_entries_of_other_projects_are_not_listed(client: TestClient, flows: None) -> None:
    assert "f" not in ids(read(client))
    r = read(client, resourceNames=["projects/other-proj"])
    assert r.status_code == 403  # logging is not enabled there: it is not this daemon's project


def test_project_ids_views_and_the_project_number_name_the_same_logs(
    client: TestClient, flows: None
) -> None:
    from intranode.domain.resources import project_number

    everything = ids(read(client))
    assert ids(client.post("/v2/entries:list", json={"projectIds": [PROJECT]})) == everything
    view = f"projects/{PROJECT}/locations/global/buckets/_Default/views/_AllLogs"
    assert ids(read(client, resourceNames=[view])) == everything
    assert ids(read(client, resourceNames=[f"projects/{project_number(PROJECT)}"])) == everything


def test_client_query_parameters_are_ignored(client: TestClient, flows: None) -> None:
    body = {"resourceNames": [f"projects/{PROJECT}"], "filter": "severity=ERROR"}
    for query in ("?alt=json", "?prettyPrint=false", "?%24alt=json%3Benum-encoding%3Dint"):
        assert ids(client.post("/v2/entries:list" + query, json=body)) == ["e"]


RESOURCE_NAME_HELP = (
    "expected projects/[PROJECT_ID], organizations/[ORGANIZATION_ID], folders/[FOLDER_ID], "
    "billingAccounts/[BILLING_ACCOUNT_ID] or a log view of one of them."
)
ORDER_HELP = 'use "timestamp asc" or "timestamp desc".'
BAD_REQUESTS = [
    ({"pageSize": -1}, "Invalid pageSize -1: it must be between 0 and 1000."),
    ({"pageSize": 1001}, "Invalid pageSize 1001: it must be between 0 and 1000."),
    ({"orderBy": "insertId"}, f'Invalid orderBy "insertId": {ORDER_HELP}'),
    ({"orderBy": "timestamp sideways"}, f'Invalid orderBy "timestamp sideways": {ORDER_HELP}'),
    (
        {"pageToken": "garbage"},
        'Invalid page token "garbage": use the nextPageToken of the previous response, with '
        "the same resourceNames, filter and orderBy.",
    ),
    (
        {"resourceNames": []},
        "resourceNames is required: name at least one parent such as projects/PROJECT_ID.",
    ),
    (
        {"resourceNames": [f"projects/p{i}" for i in range(101)]},
        "resourceNames names 101 resources; at most 100 are allowed.",
    ),
    ({"resourceNames": ["buckets/x"]}, f'Invalid resource name "buckets/x": {RESOURCE_NAME_HELP}'),
    (
        {"resourceNames": [f"projects/{PROJECT}/logs/x"]},
        f'Invalid resource name "projects/{PROJECT}/logs/x": {RESOURCE_NAME_HELP}',
    ),
    (
        {"resourceNames": ["projects/\ud800"]},
        f'Invalid resource name "projects/\\ud800": {RESOURCE_NAME_HELP}',
    ),
    (
        {"filter": "textPayload:rc="},
        "Unparseable filter: syntax error at line 1, column 15, token '='",
    ),
    (
        {"filter": "x" * 20001},
        "Invalid filter: the filter is 20001 characters long; at most 20000 are allowed",
    ),
    (
        {"filter": 'textPayload="\ud800"'},
        "Invalid filter: the filter is not valid Unicode (a lone surrogate at character 14)",
    ),
    ({"bogus": 1}, 'Invalid JSON payload received. Unknown name "bogus": Cannot find field.'),
]


@pytest.mark.parametrize(("body", "message"), BAD_REQUESTS, ids=[m[:40] for _, m in BAD_REQUESTS])
def test_bad_requests_get_invalid_argument(
    client: TestClient, flows: None, body: dict[str, Any], message: str
) -> None:
    r = read(client, **body)
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert r.json()["error"]["message"] == message


def test_a_page_token_only_continues_its_own_query(client: TestClient, ctx: Context) -> None:
    logs.write_entries(
        ctx, [flow("1.1.1.1", "2.2.2.2", f"2024-05-01T10:00:0{i}Z") for i in range(3)]
    )
    token = read(client, pageSize=1).json()["nextPageToken"]
    assert read(client, pageSize=1, pageToken=token).status_code == 200
    for other in ({"filter": "severity=ERROR"}, {"orderBy": "timestamp desc"}):
        r = read(client, pageSize=1, pageToken=token, **other)
        assert r.status_code == 400
        assert r.json()["error"]["message"].startswith(f'Invalid page token "{token}"')


def test_a_large_page_size_is_allowed(client: TestClient, flows: None) -> None:
    assert len(ids(read(client, pageSize=1000))) == 5


def test_reading_a_project_with_logging_disabled_is_refused(
    client: TestClient, ctx: Context
) -> None:
    serviceusage.disable(
        ctx, PROJECT, "logging.googleapis.com", disable_dependents=False, check_usage=False
    )
    r = read(client)
    assert r.status_code == 403
    assert r.json()["error"]["message"].startswith("Cloud Logging API has not been used in project")


@pytest.mark.parametrize("text", LONG, ids=[f"long-{i}" for i in range(len(LONG))])
def test_long_filters_never_fail_the_server(client: TestClient, flows: None, text: str) -> None:
    assert read(client, filter=text).status_code in (200, 400)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.one_of(st.text(max_size=100), st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
)
def test_any_filter_gets_entries_or_invalid_argument(client: TestClient, text: str) -> None:
    r = read(client, filter=text)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_many_logs_are_scoped_by_name_range(
    client: TestClient, flows: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from intranode.store import logs as log_store

    everything = ids(read(client))
    monkeypatch.setattr(log_store, "MAX_NAMES_LISTED", 1)
    assert ids(read(client)) == everything  # "f", in another project, stays out
    assert ids(read(client, filter="severity=ERROR")) == ["e"]
