"""The console's FastAPI app: its pages, its static files, and HTML error pages (an error
anywhere becomes a page that says what went wrong, in the API's words, never a traceback)."""

from __future__ import annotations

import logging
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from intranode.api.console import (
    auth,
    clusters,
    home,
    logs_explorer,
    subnets,
    traffic_map,
    workloads,
)
from intranode.api.console.connections import ConnectionSource
from intranode.api.console.html import h, page
from intranode.api.google.errors import describe_validation_error
from intranode.controllers.context import Context
from intranode.errors import ApiError

log = logging.getLogger(__name__)

_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def _static() -> dict[str, tuple[bytes, str]]:
    files = resources.files("intranode.api.console") / "static"
    out = {}
    for item in files.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if suffix in _STATIC_TYPES:
            out[item.name] = (item.read_bytes(), _STATIC_TYPES[suffix])
    return out


def create_console_app(ctx: Context, connections: ConnectionSource | None = None) -> FastAPI:
    """The console; ``connections`` reads conntrack for the traffic map (``None``: without a
    data plane, the map draws flow-log records only)."""
    app = FastAPI(title="intranode console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    app.state.connections = connections
    static = _static()

    @app.get("/console/static/{name}")
    def static_file(name: str) -> Response:
        if name not in static:
            return _error_page(ctx, 404, f"No such file: {name}")
        body, media = static[name]
        return Response(body, media_type=media, headers={"Cache-Control": "no-cache"})

    @app.get("/console/login.css")
    def login_css() -> Response:
        # The sign-in page is shown without a session, so its style is served without one.
        body, media = static["console.css"]
        return Response(body, media_type=media)

    for module in (auth, home, clusters, workloads, subnets, traffic_map, logs_explorer):
        app.include_router(module.router)

    @app.exception_handler(ApiError)
    async def _api_error(_req: Request, exc: ApiError) -> HTMLResponse:
        return _error_page(ctx, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> HTMLResponse:
        return _error_page(ctx, 400, describe_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(req: Request, exc: StarletteHTTPException) -> HTMLResponse:
        if exc.status_code == 404:
            return _error_page(ctx, 404, f"There is no console page at {req.url.path}.")
        return _error_page(ctx, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(req: Request, exc: Exception) -> HTMLResponse:
        log.exception("console error on %s %s", req.method, req.url.path)
        return _error_page(ctx, 500, f"Internal error: {type(exc).__name__}")

    return app


def _error_page(ctx: Context, code: int, message: str) -> HTMLResponse:
    body = (
        f"<h1>Error {code}</h1><p class=field-error role=alert>{h(message)}</p>"
        "<p><a href='/console'>Back to the console</a></p>"
    )
    return page(f"Error {code}", body, project=ctx.settings.project, status=code)
