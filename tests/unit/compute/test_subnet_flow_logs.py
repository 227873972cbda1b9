"""PATCH of a subnetwork: fingerprints, and the logConfig / enableFlowLogs semantics."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from intranode.controllers.context import Context
from intranode.domain.resources import SUBNETWORK, subnetwork_key
from tests.unit.compute.helpers import SUBNET, error_of, get
from tests.unit.conftest import PROJECT

DEFAULTS = {
    "aggregationInterval": "INTERVAL_5_SEC",
    "enable": True,
    "flowSampling": 0.5,
    "metadata": "INCLUDE_ALL_METADATA",
}


def patch(client: TestClient, body: dict[str, Any]) -> Any:
    """PATCH with the current fingerprint, as gcloud does (GET, then PATCH)."""
    fingerprint = get(client, SUBNET)["fingerprint"]
    return client.patch(SUBNET, json={"fingerprint": fingerprint, **body})


def patched(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    r = patch(client, body)
    assert r.status_code == 200, r.text
    return get(client, SUBNET)


def test_enabling_flow_logs_fills_the_defaults(client: TestClient) -> None:
    sub = patched(client, {"logConfig": {"enable": True}})
    assert sub["enableFlowLogs"] is True
    assert sub["logConfig"] == DEFAULTS
    assert "filterExpr" not in sub["logConfig"]


def test_the_patch_returns_a_done_operation(client: TestClient) -> None:
    r = patch(client, {"logConfig": {"enable": True}})
    op = r.json()
    assert op["kind"] == "compute#operation"
    assert op["status"] == "DONE" and op["progress"] == 100
    assert op["operationType"] == "patch"
    assert op["targetLink"].endswith(f"projects/{PROJECT}/regions/us-central1/subnetworks/default")
    assert op["targetId"] == get(client, SUBNET)["id"]
    assert op["region"].endswith(f"projects/{PROJECT}/regions/us-central1")
    assert op["user"] == "intranode@intranode.local"


def test_partial_patches_merge_into_the_current_settings(client: TestClient) -> None:
    patched(client, {"logConfig": {"enable": True}})
    patched(client, {"logConfig": {"flowSampling": 0.2}})
    sub = patched(client, {"logConfig": {"aggregationInterval": "INTERVAL_30_SEC"}})
    assert sub["logConfig"] == {
        **DEFAULTS,
        "flowSampling": 0.2,
        "aggregationInterval": "INTERVAL_30_SEC",
    }
    sub = patched(
        client,
        {"logConfig": {"metadata": "CUSTOM_METADATA", "metadataFields": ["src_gke_details"]}},
    )
    assert sub["logConfig"]["metadata"] == "CUSTOM_METADATA"
    assert sub["logConfig"]["metadataFields"] == ["src_gke_details"]
    assert sub["logConfig"]["flowSampling"] == 0.2


def test_options_given_with_enable_are_kept(client: TestClient) -> None:
    expr = "connection.dest_port == 8080"
    sub = patched(client, {"logConfig": {"enable": True, "flowSampling": 1.0, "filterExpr": expr}})
    assert sub["logConfig"]["flowSampling"] == 1.0
    assert sub["logConfig"]["filterExpr"] == expr
    assert sub["logConfig"]["aggregationInterval"] == "INTERVAL_5_SEC"


def test_disabling_keeps_the_settings_and_reenabling_restores_them(client: TestClient) -> None:
    patched(client, {"logConfig": {"enable": True, "flowSampling": 0.3}})
    sub = patched(client, {"logConfig": {"enable": False}})
    assert sub["enableFlowLogs"] is False
    assert sub["logConfig"] == {**DEFAULTS, "enable": False, "flowSampling": 0.3}
    sub = patched(client, {"logConfig": {"enable": True}})
    assert sub["logConfig"]["flowSampling"] == 0.3


def test_legacy_enable_flow_logs_turns_log_config_on_and_off(client: TestClient) -> None:
    sub = patched(client, {"enableFlowLogs": True})
    assert sub["logConfig"] == DEFAULTS
    sub = patched(client, {"enableFlowLogs": False})
    assert sub["logConfig"]["enable"] is False and sub["enableFlowLogs"] is False


def test_an_echoed_get_with_one_flag_flipped_means_that_flag(client: TestClient) -> None:
    current = patched(client, {"logConfig": {"enable": True}})
    echo = {**current, "logConfig": {**current["logConfig"], "enable": False}}
    sub = patched(client, echo)
    assert sub["enableFlowLogs"] is False and sub["logConfig"]["enable"] is False


def test_conflicting_flags_on_a_subnet_never_set_are_refused(client: TestClient) -> None:
    before = get(client, SUBNET)
    r = patch(client, {"enableFlowLogs": True, "logConfig": {"enable": False}})
    assert r.status_code == 400
    assert "enableFlowLogs" in error_of(r)["message"]
    assert get(client, SUBNET) == before


def test_the_fingerprint_rotates_and_is_base64_of_8_bytes(client: TestClient) -> None:
    first = get(client, SUBNET)["fingerprint"]
    second = patched(client, {"logConfig": {"enable": True}})["fingerprint"]
    assert second != first
    assert len(base64.b64decode(second)) == 8


def test_gcloud_url_safe_fingerprint_is_accepted(client: TestClient) -> None:
    fingerprint = get(client, SUBNET)["fingerprint"]
    url_safe = fingerprint.replace("+", "-").replace("/", "_")
    r = client.patch(SUBNET, json={"fingerprint": url_safe, "logConfig": {"enable": True}})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("fingerprint", [None, "AAAAAAAAAAA="])
def test_missing_or_stale_fingerprint_is_412_and_changes_nothing(
    client: TestClient, fingerprint: str | None
) -> None:
    before = get(client, SUBNET)
    body: dict[str, Any] = {"logConfig": {"enable": True}}
    if fingerprint is not None:
        body["fingerprint"] = fingerprint
    r = client.patch(SUBNET, json=body)
    assert r.status_code == 412
    err = error_of(r)
    assert err["code"] == 412
    assert err["errors"] == [
        {
            "message": "Invalid fingerprint.",
            "domain": "global",
            "reason": "conditionNotMet",
            "location": "If-Match",
            "locationType": "header",
        }
    ]
    assert get(client, SUBNET) == before


@pytest.mark.parametrize(
    ("log_config", "field", "reason"),
    [
        ({"enable": True, "flowSampling": 1.5}, "flowSampling", "Must be between 0 and 1"),
        ({"enable": True, "flowSampling": -0.1}, "flowSampling", "Must be between 0 and 1"),
        (
            {"enable": True, "aggregationInterval": "INTERVAL_7_SEC"},
            "aggregationInterval",
            "one of",
        ),
        ({"enable": True, "metadata": "SOME_METADATA"}, "metadata", "Must be one of"),
        ({"enable": True, "metadataFields": ["src_gke_details"]}, "metadataFields", "CUSTOM"),
        ({"flowSampling": 0.2}, "flowSampling", "only when flow logs are enabled"),
    ],
)
def test_invalid_settings_are_400_and_change_nothing(
    client: TestClient, log_config: dict[str, Any], field: str, reason: str
) -> None:
    before = get(client, SUBNET)
    r = patch(client, {"logConfig": log_config})
    assert r.status_code == 400
    err = error_of(r)
    assert err["message"].startswith(f"Invalid value for field 'resource.logConfig.{field}'")
    assert reason in err["message"]
    assert err["errors"][0]["reason"] == "invalid"
    assert get(client, SUBNET) == before


def test_invalid_sampling_message(client: TestClient) -> None:
    r = patch(client, {"logConfig": {"enable": True, "flowSampling": 2}})
    assert error_of(r)["message"] == (
        "Invalid value for field 'resource.logConfig.flowSampling': '2.0'. "
        "Must be between 0 and 1, inclusive."
    )


def test_unknown_fields_are_refused_like_google(client: TestClient) -> None:
    before = get(client, SUBNET)
    r = patch(client, {"logConfig": {"enable": True, "samplingRate": 0.5}})
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        'Invalid JSON payload received. Unknown name "samplingRate" at '
        "'resource.log_config': Cannot find field."
    )
    r = patch(client, {"flowLogs": True})
    assert error_of(r)["message"] == (
        "Invalid JSON payload received. Unknown name \"flowLogs\" at 'resource': Cannot find field."
    )
    assert get(client, SUBNET) == before


def test_wrong_types_are_refused(client: TestClient) -> None:
    r = patch(client, {"logConfig": {"enable": "yes"}})
    assert r.status_code == 400
    assert error_of(r)["message"] == (
        "Invalid value at 'resource.log_config.enable' (TYPE_BOOL), \"yes\""
    )


def test_immutable_fields_cannot_be_patched(client: TestClient) -> None:
    r = patch(client, {"ipCidrRange": "10.128.0.0/19"})
    assert r.status_code == 400
    assert "resource.ipCidrRange" in error_of(r)["message"]


def test_secondary_ranges_written_by_others_survive_a_flow_log_patch(
    ctx: Context, client: TestClient
) -> None:
    key = subnetwork_key(PROJECT, "us-central1", "default")
    res = ctx.resources.get(SUBNETWORK, key)
    assert res is not None
    ranges = [{"ipCidrRange": "10.4.0.0/14", "rangeName": "gke-c1-pods-1234abcd"}]
    ctx.resources.update(SUBNETWORK, key, {**res.data, "secondaryIpRanges": ranges})
    sub = patched(client, {"logConfig": {"enable": True}})
    assert sub["secondaryIpRanges"] == ranges


def test_patch_of_a_missing_subnet_is_404(client: TestClient) -> None:
    r = client.patch(SUBNET.replace("/default", "/nope"), json={"fingerprint": "AAAAAAAAAAA="})
    assert r.status_code == 404
    assert error_of(r)["message"] == (
        f"The resource 'projects/{PROJECT}/regions/us-central1/subnetworks/nope' was not found"
    )
    assert error_of(r)["errors"][0]["reason"] == "notFound"


def test_a_filter_expression_that_does_not_parse_is_refused(client: TestClient) -> None:
    before = client.get(SUBNET).json()
    r = client.patch(
        SUBNET,
        json={
            "fingerprint": before["fingerprint"],
            "logConfig": {"enable": True, "filterExpr": "connection.dest_port =="},
        },
    )
    assert r.status_code == 400
    assert "filterExpr" in r.json()["error"]["message"]
    assert client.get(SUBNET).json() == before
