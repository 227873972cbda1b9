"""Google's error body, and the FastAPI handlers that make every failure one.

Shape (both the Compute legacy ``errors[]`` list and the newer ``status`` string, so every
client finds what it reads)::

    {"error": {"code": 404, "message": "...", "status": "NOT_FOUND",
               "errors": [{"message": "...", "domain": "global", "reason": "notFound"}]}}
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from intranode.errors import ApiError, InvalidArgument, NotFound, Unimplemented

log = logging.getLogger(__name__)

_STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}


def _printable(text: str) -> str:
    # A lone surrogate from a JSON escape cannot be encoded as UTF-8; echo it escaped.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def google_error_body(err: ApiError) -> dict[str, Any]:
    message = _printable(err.message)
    item: dict[str, Any] = {"message": message, "domain": "global", "reason": err.reason}
    if err.location:
        item["location"] = err.location
        item["locationType"] = err.location_type or "parameter"
    body: dict[str, Any] = {
        "code": err.code,
        "message": message,
        "status": err.status,
        "errors": [item],
    }
    if err.details:
        body["details"] = err.details
    return {"error": body}


def google_error_response(err: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if err.code == 401 else None
    return JSONResponse(google_error_body(err), status_code=err.code, headers=headers)


def install_google_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_req: Request, exc: ApiError) -> JSONResponse:
        return google_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return google_error_response(InvalidArgument(describe_validation_error(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return google_error_response(unmatched(_req.method, _req.url.path))
        if exc.status_code == 405:
            return google_error_response(
                Unimplemented(f"Method {_req.method} is not supported for {_req.url.path}")
            )
        err = ApiError(str(exc.detail))
        err.code = exc.status_code
        err.status = _STATUS_BY_CODE.get(exc.status_code, "UNKNOWN")
        return google_error_response(err)

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", _req.method, _req.url.path)
        err = ApiError(f"Internal error: {type(exc).__name__}")
        return google_error_response(err)


# Paths of the APIs intranode serves: a method there that no route matches is one Google has
# and intranode does not (501); any other path is simply not found (404).
_SERVED_APIS = ("/compute/v1/", "/v1/projects/", "/v1/operations", "/v2/", "/batch/")


def unmatched(method: str, path: str) -> ApiError:
    if path.startswith(_SERVED_APIS):
        return Unimplemented(
            f"intranode does not implement {method} {path} "
            "(the methods it serves are listed in docs/api-coverage.md)"
        )
    return NotFound(f"The requested URL was not found: {path}")


def describe_validation_error(exc: RequestValidationError) -> str:
    """Google-like text for a body that does not match its message type."""
    parts = []
    for e in exc.errors():
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        where = ".".join(loc)
        kind = e.get("type", "")
        if kind == "extra_forbidden":
            parts.append(
                f'Invalid JSON payload received. Unknown name "{loc[-1] if loc else ""}" '
                f"at '{'.'.join(loc[:-1])}': Cannot find field."
            )
        elif kind == "json_invalid":
            parts.append("Invalid JSON payload received. " + str(e.get("msg", "")))
        else:
            value = e.get("input")
            shown = json.dumps(value) if _jsonable(value) else repr(value)
            parts.append(f"Invalid value at '{where}' ({shown}): {e.get('msg', '')}")
    return "\n".join(parts) or "Invalid JSON payload received."


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True
