"""``POST /batch/compute/v1``: several Compute calls in one multipart/mixed request.

gcloud sends one when a command makes more than one call at once (``firewall-rules delete
a b``, waiting on several operations). Each part is an ``application/http`` request; each is
run through the Compute app (the batch request itself passed the token check) and answered
in a part carrying ``Content-ID: <response-ID>``, as Google's batch endpoint does.
"""

from __future__ import annotations

import email.parser
import http
import secrets
from email.message import Message

import httpx
from fastapi import APIRouter, Request, Response

from intranode.errors import InvalidArgument

router = APIRouter()
MAX_PARTS = 1000


@router.post("/batch/compute/v1")
async def batch(request: Request) -> Response:
    content_type = request.headers.get("content-type", "")
    raw = await request.body()
    outer = email.parser.BytesParser().parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    parts = outer.get_payload() if outer.is_multipart() else None
    if not isinstance(parts, list) or not parts:
        raise InvalidArgument("Invalid batch request: expected a multipart/mixed body.")
    if len(parts) > MAX_PARTS:
        raise InvalidArgument(f"Invalid batch request: at most {MAX_PARTS} calls are allowed.")
    calls = [_parse_part(part) for part in parts]
    boundary = "batch_" + secrets.token_hex(12)
    chunks: list[bytes] = []
    transport = httpx.ASGITransport(app=request.app)
    forwarded = {k: v for k, v in request.headers.items() if k.lower() == "authorization"}
    async with httpx.AsyncClient(transport=transport, base_url="http://batch") as client:
        for content_id, method, target, headers, body in calls:
            answer = await client.request(
                method, target, headers={**headers, **forwarded}, content=body
            )
            chunks.append(_response_part(boundary, content_id, answer))
    chunks.append(f"--{boundary}--\r\n".encode())
    return Response(b"".join(chunks), media_type=f"multipart/mixed; boundary={boundary}")


def _parse_part(part: object) -> tuple[str, str, str, dict[str, str], bytes]:
    """(Content-ID, method, path with query, headers, body) of one ``application/http`` part."""
    if not isinstance(part, Message):
        raise InvalidArgument("Invalid batch request: a part is not an HTTP request.")
    payload = part.get_payload()
    if not isinstance(payload, str) or "\n" not in payload:
        raise InvalidArgument("Invalid batch request: a part is not an HTTP request.")
    request_line, rest = payload.split("\n", 1)
    fields = request_line.strip().split(" ")
    if len(fields) != 3 or not fields[1].startswith("/compute/v1/"):
        raise InvalidArgument(f"Invalid batch request line: '{request_line.strip()}'.")
    inner = email.parser.Parser().parsestr(rest)
    headers = {
        k: v
        for k, v in inner.items()
        if k.lower() not in ("host", "content-length", "authorization", "mime-version")
    }
    body = inner.get_payload()
    encoded = body.encode() if isinstance(body, str) else b""
    return str(part.get("Content-ID", "")), fields[0], fields[1], headers, encoded


def _response_part(boundary: str, content_id: str, answer: httpx.Response) -> bytes:
    reason = http.HTTPStatus(answer.status_code).phrase
    inner_id = content_id.strip("<>")
    head = (
        f"--{boundary}\r\n"
        "Content-Type: application/http\r\n"
        f"Content-ID: <response-{inner_id}>\r\n\r\n"
        f"HTTP/1.1 {answer.status_code} {reason}\r\n"
        f"Content-Type: {answer.headers.get('content-type', 'application/json')}\r\n"
        f"Content-Length: {len(answer.content)}\r\n\r\n"
    )
    return head.encode() + answer.content + b"\r\n"
