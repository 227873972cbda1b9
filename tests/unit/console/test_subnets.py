"""VPC network → Subnets: flow logs on and off per subnet with the logConfig options, saved as
the Compute API's PATCH; its refusals shown next to the field, the subnet left unchanged."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.conftest import PROJECT
from tests.unit.console.helpers import field_error, form

PAGE = "/console/networking/subnets/us-central1/default"
API = f"/compute/v1/projects/{PROJECT}/regions/us-central1/subnetworks/default"


def _subnet(client: TestClient) -> dict[str, Any]:
    return dict(client.get(API).json())


def _settings(**changes: str) -> dict[str, str]:
    return {
        "enable": "on",
        "interval": "INTERVAL_30_SEC",
        "sampling": "1",
        "metadata": "INCLUDE_ALL_METADATA",
        "metadata_fields": "",
        "filter_expr": "",
        **changes,
    }


def _fingerprint(client: TestClient) -> str:
    return re.findall(r'name=fingerprint value="([^"]+)"', client.get(PAGE).text)[0]


def test_the_list_shows_every_subnet_with_its_flow_log_state(client: TestClient) -> None:
    html = client.get("/console/networking/subnets").text
    rows = re.findall(
        r"<tr><td><a href=\"[^\"]+\">([a-z0-9-]+)</a></td><td>([a-z0-9-]+)</td>", html
    )
    assert len(rows) == 42
    assert ("default", "us-central1") in rows
    assert html.count("<span class='flag off'>Off</span>") == 42


def test_flow_logs_on_with_settings_then_off(client: TestClient) -> None:
    r = form(client, PAGE, {"fingerprint": _fingerprint(client), **_settings(filter_expr="true")})
    assert r.status_code == 303 and r.headers["location"] == PAGE + "?saved=1"
    lc = _subnet(client)["logConfig"]
    assert lc == {
        "aggregationInterval": "INTERVAL_30_SEC",
        "enable": True,
        "filterExpr": "true",
        "flowSampling": 1.0,
        "metadata": "INCLUDE_ALL_METADATA",
    }
    assert "<span class='flag on'>On</span>" in client.get("/console/networking/subnets").text
    page = client.get(PAGE + "?saved=1").text
    assert "Saved." in page and 'id=sampling name=sampling inputmode=decimal value="1"' in page

    r = form(client, PAGE, {"fingerprint": _fingerprint(client), "enable": "off"})
    assert r.status_code == 303
    doc = _subnet(client)
    assert doc["enableFlowLogs"] is False
    assert doc["logConfig"]["enable"] is False
    assert doc["logConfig"]["aggregationInterval"] == "INTERVAL_30_SEC"  # kept for next time


def test_custom_metadata_sends_the_fields(client: TestClient) -> None:
    data = _settings(
        metadata="CUSTOM_METADATA", metadata_fields="src_gke_details, dest_gke_details"
    )
    form(client, PAGE, {"fingerprint": _fingerprint(client), **data})
    lc = _subnet(client)["logConfig"]
    assert lc["metadata"] == "CUSTOM_METADATA"
    assert lc["metadataFields"] == ["src_gke_details", "dest_gke_details"]


BAD = [
    ("sampling above one", {"sampling": "2"}, "sampling", {"flowSampling": "2"}),
    ("sampling not a number", {"sampling": "half"}, "sampling", {"flowSampling": "half"}),
    (
        "bad interval",
        {"interval": "INTERVAL_2_SEC"},
        "interval",
        {"aggregationInterval": "INTERVAL_2_SEC"},
    ),
    (
        "bad metadata field",
        {"metadata": "CUSTOM_METADATA", "metadata_fields": "Src-IP"},
        "metadata_fields",
        {"metadata": "CUSTOM_METADATA", "metadataFields": ["Src-IP"]},
    ),
    ("bad filter", {"filter_expr": "src_ip =="}, "filter_expr", {"filterExpr": "src_ip =="}),
]


@pytest.mark.parametrize(("case", "changes", "field", "log_config"), BAD, ids=[b[0] for b in BAD])
def test_bad_settings_show_the_apis_message_and_change_nothing(
    client: TestClient, case: str, changes: dict[str, str], field: str, log_config: dict[str, Any]
) -> None:
    before = _subnet(client)
    defaults = {
        "enable": True,
        "aggregationInterval": "INTERVAL_30_SEC",
        "flowSampling": "1",
        "metadata": "INCLUDE_ALL_METADATA",
        "filterExpr": "",
    }
    body = {"fingerprint": before["fingerprint"], "logConfig": defaults | log_config}
    r = client.patch(API, json=body)
    assert r.status_code == 400
    expected = r.json()["error"]["message"]
    page = form(client, PAGE, {"fingerprint": before["fingerprint"], **_settings(**changes)})
    assert page.status_code == 400
    assert field_error(page.text, field) == expected
    assert _subnet(client) == before


def test_a_subnet_changed_meanwhile_is_refused_with_the_apis_412(client: TestClient) -> None:
    stale = _fingerprint(client)
    form(client, PAGE, {"fingerprint": stale, **_settings()})
    after = _subnet(client)
    r = form(client, PAGE, {"fingerprint": stale, **_settings(sampling="0.25")})
    assert r.status_code == 412
    assert field_error(r.text, "_form") == "Invalid fingerprint."
    assert _subnet(client) == after
