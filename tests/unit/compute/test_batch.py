"""``/batch/compute/v1``: gcloud's multipart/mixed batch of Compute calls."""

from __future__ import annotations

import email.parser

from fastapi.testclient import TestClient

from tests.unit.compute.helpers import FIREWALLS, error_of
from tests.unit.conftest import PROJECT

BOUNDARY = "===============1234=="


def batch_body(*calls: tuple[str, str, str]) -> str:
    """A batch as apitools writes it: one application/http part per call."""
    parts = []
    for i, (method, path, body) in enumerate(calls, start=1):
        parts.append(
            f"--{BOUNDARY}\nContent-Type: application/http\nMIME-Version: 1.0\n"
            f"Content-Transfer-Encoding: binary\nContent-ID: <abc-uuid+{i}>\n\n"
            f"{method} {path}?alt=json HTTP/1.1\nContent-Type: application/json\n"
            f"MIME-Version: 1.0\nHost: 127.0.0.1\n\n{body}"
        )
    return "\n".join(parts) + f"\n--{BOUNDARY}--"


def parse(response_text: str, content_type: str) -> dict[str, tuple[int, str]]:
    msg = email.parser.Parser().parsestr(f"Content-Type: {content_type}\n\n{response_text}")
    out = {}
    for part in msg.get_payload():
        status_line, rest = part.get_payload().split("\n", 1)
        inner = email.parser.Parser().parsestr(rest)
        out[part["Content-ID"]] = (int(status_line.split(" ")[1]), inner.get_payload())
    return out


def test_two_deletes_in_one_batch(client: TestClient) -> None:
    path = f"/compute/v1/projects/{PROJECT}/global/firewalls"
    body = batch_body(
        ("DELETE", f"{path}/default-allow-rdp", ""), ("DELETE", f"{path}/nothere", "")
    )
    r = client.post(
        "/batch/compute/v1",
        content=body,
        headers={"Content-Type": f'multipart/mixed; boundary="{BOUNDARY}"'},
    )
    assert r.status_code == 200
    answers = parse(r.text, r.headers["content-type"])
    assert set(answers) == {"<response-abc-uuid+1>", "<response-abc-uuid+2>"}
    status, payload = answers["<response-abc-uuid+1>"]
    assert status == 200 and '"operationType":"delete"' in payload
    status, payload = answers["<response-abc-uuid+2>"]
    assert status == 404 and "firewalls/nothere' was not found" in payload
    assert client.get(f"{FIREWALLS}/default-allow-rdp").status_code == 404


def test_only_compute_calls_can_be_batched(client: TestClient) -> None:
    body = batch_body(("GET", "/intranode/v1/status", ""))
    r = client.post(
        "/batch/compute/v1",
        content=body,
        headers={"Content-Type": f'multipart/mixed; boundary="{BOUNDARY}"'},
    )
    assert r.status_code == 400
    assert "Invalid batch request line" in error_of(r)["message"]


def test_a_body_that_is_not_multipart_is_400(client: TestClient) -> None:
    r = client.post("/batch/compute/v1", json={"x": 1})
    assert r.status_code == 400
