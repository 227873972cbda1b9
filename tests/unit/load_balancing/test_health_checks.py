"""Health checks, global and regional: what gcloud's ``health-checks create tcp|http`` sends,
Google's defaults, refusals (nothing created), lists and the in-use delete guard."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.compute.helpers import BASE, LINK, error_of, get

from .world import CHECKS, REGIONAL, collector, ok

GCLOUD_TCP = {
    "checkIntervalSec": 5,
    "healthyThreshold": 2,
    "name": "hc1",
    "tcpHealthCheck": {"port": 80, "portSpecification": "USE_FIXED_PORT", "proxyHeader": "NONE"},
    "timeoutSec": 5,
    "type": "TCP",
    "unhealthyThreshold": 2,
}


def test_gclouds_tcp_check_is_stored_as_google_serves_it(client: TestClient) -> None:
    op = ok(client.post(CHECKS, json=GCLOUD_TCP))
    assert op["operationType"] == "insert" and "region" not in op and "zone" not in op
    check = get(client, f"{CHECKS}/hc1")
    assert {k: v for k, v in check.items() if k not in ("id", "creationTimestamp")} == {
        "kind": "compute#healthCheck",
        "name": "hc1",
        "selfLink": f"{LINK}/global/healthChecks/hc1",
        "checkIntervalSec": 5,
        "timeoutSec": 5,
        "unhealthyThreshold": 2,
        "healthyThreshold": 2,
        "type": "TCP",
        "tcpHealthCheck": {
            "port": 80,
            "proxyHeader": "NONE",
            "portSpecification": "USE_FIXED_PORT",
        },
    }


def test_defaults_of_a_bare_http_check_in_a_region(client: TestClient) -> None:
    op = ok(client.post(f"{REGIONAL}/healthChecks", json={"name": "web", "type": "HTTP"}))
    assert op["region"] == f"{LINK}/regions/us-central1"
    check = get(client, f"{REGIONAL}/healthChecks/web")
    assert check["region"] == f"{LINK}/regions/us-central1"
    assert check["httpHealthCheck"] == {"port": 80, "proxyHeader": "NONE", "requestPath": "/"}
    assert (check["checkIntervalSec"], check["timeoutSec"]) == (5, 5)
    assert (check["healthyThreshold"], check["unhealthyThreshold"]) == (2, 2)


def test_the_type_follows_the_one_probe_given(client: TestClient) -> None:
    ok(client.post(CHECKS, json={"name": "hc1", "tcpHealthCheck": {"port": 9000}}))
    check = get(client, f"{CHECKS}/hc1")
    assert check["type"] == "TCP" and check["tcpHealthCheck"]["port"] == 9000


BAD: list[tuple[str, dict[str, Any], int, str]] = [
    (
        "timeout-over-interval",
        {"checkIntervalSec": 5, "timeoutSec": 10},
        400,
        "Invalid value for field 'resource.timeoutSec': '10'. Timeout sec must be less than or "
        "equal to check interval sec.",
    ),
    (
        "port-range",
        {"tcpHealthCheck": {"port": 70000}},
        400,
        "Invalid value for field 'resource.tcpHealthCheck.port': '70000'. Must be less than or "
        "equal to 65535",
    ),
    (
        "probe-of-another-type",
        {"httpHealthCheck": {"port": 80}},
        400,
        "Invalid value for field 'resource.httpHealthCheck': ''. The health check type is TCP; "
        "only tcpHealthCheck may be set.",
    ),
    (
        "unknown-type",
        {"type": "FTP"},
        400,
        "Invalid value for field 'resource.type': 'FTP'. Must be one of [TCP, HTTP].",
    ),
    (
        "type-not-served",
        {"type": "GRPC"},
        501,
        "Health checks of type GRPC are not served here; intranode serves TCP and HTTP health "
        "checks (docs/api-coverage.md).",
    ),
    (
        "thresholds",
        {"healthyThreshold": 0},
        400,
        "Invalid value for field 'resource.healthyThreshold': '0'. Must be greater than or "
        "equal to 1",
    ),
    (
        "wrong-json-type",
        {"checkIntervalSec": "often"},
        400,
        "Invalid value at 'resource.check_interval_sec' (TYPE_INT32), \"often\"",
    ),
]


@pytest.mark.parametrize(("case", "fields", "code", "message"), BAD, ids=[b[0] for b in BAD])
def test_refused_checks_are_not_created(
    client: TestClient, case: str, fields: dict[str, Any], code: int, message: str
) -> None:
    r = client.post(CHECKS, json={"name": "hc1", "type": "TCP", **fields})
    assert r.status_code == code
    assert error_of(r)["message"] == message
    assert client.get(f"{CHECKS}/hc1").status_code == 404


def test_lists_show_global_and_regional_checks(client: TestClient) -> None:
    ok(client.post(CHECKS, json=GCLOUD_TCP))
    ok(client.post(f"{REGIONAL}/healthChecks", json={**GCLOUD_TCP, "name": "hc2"}))
    assert [c["name"] for c in ok(client.get(CHECKS))["items"]] == ["hc1"]
    assert [c["name"] for c in ok(client.get(f"{REGIONAL}/healthChecks"))["items"]] == ["hc2"]
    items = ok(client.get(f"{BASE}/aggregated/healthChecks"))["items"]
    assert [c["name"] for c in items["global"]["healthChecks"]] == ["hc1"]
    assert [c["name"] for c in items["regions/us-central1"]["healthChecks"]] == ["hc2"]


def test_a_check_in_use_cannot_be_deleted(client: TestClient) -> None:
    collector(client, "col")
    r = client.delete(f"{CHECKS}/col")
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "The health_check resource 'projects/test-proj/global/healthChecks/col' is already "
        "being used by 'projects/test-proj/regions/us-central1/backendServices/col'"
    )
    ok(client.post(CHECKS, json={**GCLOUD_TCP, "name": "free"}))
    assert ok(client.delete(f"{CHECKS}/free"))["operationType"] == "delete"
    assert client.get(f"{CHECKS}/free").status_code == 404
