"""Kubernetes ``Status`` errors: every failure of a cluster's API answers with one.

``ApiError`` subclasses raised anywhere become a Status whose ``reason`` and ``code`` follow
kube-apiserver (a ``reason`` set on the error wins, e.g. ``Invalid`` for 422 with causes).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from intranode.errors import (
    Aborted,
    AlreadyExists,
    ApiError,
    ConditionNotMet,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)

log = logging.getLogger(__name__)

CODES = {
    "BadRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "MethodNotAllowed": 405,
    "NotAcceptable": 406,
    "AlreadyExists": 409,
    "Conflict": 409,
    "Gone": 410,
    "Expired": 410,
    "RequestEntityTooLarge": 413,
    "UnsupportedMediaType": 415,
    "Invalid": 422,
    "TooManyRequests": 429,
    "InternalError": 500,
    "ServiceUnavailable": 503,
    "Timeout": 504,
}
_BY_CLASS: tuple[tuple[type[ApiError], str], ...] = (
    (NotFound, "NotFound"),
    (AlreadyExists, "AlreadyExists"),
    (Aborted, "Conflict"),
    (ConditionNotMet, "Conflict"),
    (InvalidArgument, "BadRequest"),
    (FailedPrecondition, "BadRequest"),
    (Unauthenticated, "Unauthorized"),
    (PermissionDenied, "Forbidden"),
    (Unimplemented, "MethodNotAllowed"),
    (Unavailable, "ServiceUnavailable"),
)
JSON = "application/json"


def reason_of(err: ApiError) -> str:
    if err.reason in CODES:
        return err.reason
    for cls, reason in _BY_CLASS:
        if isinstance(err, cls):
            return reason
    return "InternalError"


def status_body(
    message: str, reason: str, *, details: dict[str, Any] | None = None, code: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code if code is not None else CODES.get(reason, 500)
    return body


def error_status(err: ApiError) -> dict[str, Any]:
    reason = reason_of(err)
    details: dict[str, Any] | None = None
    if err.details:
        details = {}
        for d in err.details:
            details.update(d)
    return status_body(err.message, reason, details=details)


def json_response(body: Any, code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=code,
        media_type=JSON,
        headers=headers,
    )


def status_response(err: ApiError) -> Response:
    body = error_status(err)
    return json_response(body, body["code"])


def not_found(resource: str, name: str, group: str = "") -> NotFound:
    """``pods "x" not found`` (``daemonsets.apps "x" not found`` for a named group)."""
    qualified = f"{resource}.{group}" if group else resource
    details: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return NotFound(f'{qualified} "{name}" not found', reason="NotFound", details=[details])


def already_exists(resource: str, name: str, group: str = "") -> AlreadyExists:
    qualified = f"{resource}.{group}" if group else resource
    details: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return AlreadyExists(
        f'{qualified} "{name}" already exists', reason="AlreadyExists", details=[details]
    )


def conflict(resource: str, name: str, group: str = "") -> Aborted:
    qualified = f"{resource}.{group}" if group else resource
    details: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return Aborted(
        f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        reason="Conflict",
        details=[details],
    )


PATH_NOT_FOUND = "the server could not find the requested resource"


def unknown_path() -> NotFound:
    return NotFound(PATH_NOT_FOUND, reason="NotFound", details=[{}])


def method_not_allowed() -> Unimplemented:
    return Unimplemented(
        "the server does not allow this method on the requested resource",
        reason="MethodNotAllowed",
        details=[{}],
    )


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return status_response(exc)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return status_response(unknown_path())
    if exc.status_code == 405:
        return status_response(method_not_allowed())
    reason = next((r for r, c in CODES.items() if c == exc.status_code), "InternalError")
    return json_response(
        status_body(str(exc.detail), reason, code=exc.status_code), exc.status_code
    )


async def internal_error_handler(request: Request, exc: Exception) -> Response:
    """A bug: the caller still gets a Status naming it, never a traceback."""
    log.exception("kubernetes API: %s %s failed", request.method, request.url.path)
    return json_response(
        status_body(f"Internal error occurred: {type(exc).__name__}: {exc}", "InternalError"), 500
    )
