"""The daemon's main HTTP app: Google's APIs on one loopback port, behind the bearer token."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from intranode.api import intranode_api
from intranode.api.console import create_console_app
from intranode.api.console.auth import login_required
from intranode.api.console.connections import ConntrackConnections
from intranode.api.console.session import LOGIN_PATH, PREFIX, bearer_ok, has_session
from intranode.api.google import (
    compute,
    container,
    logging_api,
    network_management,
    serviceusage,
)
from intranode.api.google.errors import google_error_response, install_google_error_handlers
from intranode.controllers.context import Context
from intranode.errors import Unauthenticated


class BearerAuth:
    """Refuses any request without ``Authorization: Bearer <the daemon's token>``.

    Under ``cookie_prefix`` (the console) the session cookie set by its login link counts as
    the token too, and a refusal is the console's sign-in page; everywhere else the refusal is
    Google's 401 error, as the APIs' clients expect."""

    def __init__(
        self,
        app: ASGIApp,
        token: str,
        open_paths: tuple[str, ...] = (),
        *,
        cookie_prefix: str | None = None,
        cookie_refusal: ASGIApp | None = None,
    ) -> None:
        self.app = app
        self.token = token
        self.open_paths = open_paths
        self.cookie_prefix = cookie_prefix
        self.cookie_refusal = cookie_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        console = self._under_cookie_prefix(scope["path"])
        if self.authorized(scope) or (console and has_session(scope, self.token)):
            await self.app(scope, receive, send)
            return
        if console and self.cookie_refusal is not None:
            await self.cookie_refusal(scope, receive, send)
            return
        response: Response = google_error_response(
            Unauthenticated(
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential."
            )
        )
        await response(scope, receive, send)

    def authorized(self, scope: Scope) -> bool:
        return bearer_ok(scope, self.token)

    def _under_cookie_prefix(self, path: str) -> bool:
        prefix = self.cookie_prefix
        return prefix is not None and (path == prefix or path.startswith(prefix + "/"))


class PrefixDispatch:
    """Sends a request to the app serving its path prefix (first match), else to ``default``.

    FastAPI matches routes one by one; one app holding every API made each request try some
    forty routes (a third of a GET's CPU). Each API gets its own app instead."""

    def __init__(self, table: list[tuple[str, ASGIApp]], default: ASGIApp) -> None:
        self.table = table
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        for prefix, app in self.table:
            if path.startswith(prefix):
                await app(scope, receive, send)
                return
        await self.default(scope, receive, send)


def _api_app(ctx: Context, *routers: APIRouter) -> FastAPI:
    app = FastAPI(title="intranode", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    install_google_error_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


def create_app(ctx: Context) -> ASGIApp:
    """Google's APIs, each in its own app behind one prefix dispatcher and the token check."""
    compute_app = _api_app(ctx, compute.router)
    # Service Usage, Container and Network Management share /v1/projects/; together they are
    # still few routes. Network Management's operations (locations/global) come before
    # Container's (locations/<zone or region>), whose pattern would take them too.
    v1_app = _api_app(ctx, serviceusage.router, network_management.router, container.router)
    console_app = create_console_app(ctx, ConntrackConnections() if ctx.data_plane else None)
    dispatch = PrefixDispatch(
        [
            ("/compute/v1/", compute_app),
            ("/batch/", compute_app),
            ("/v1/", v1_app),
            ("/v2/", _api_app(ctx, logging_api.router)),
            ("/intranode/", _api_app(ctx, intranode_api.router)),
            (PREFIX, console_app),
        ],
        default=_api_app(ctx),
    )
    return BearerAuth(
        dispatch,
        token=ctx.token,
        open_paths=(LOGIN_PATH, PREFIX + "/login.css"),
        cookie_prefix=PREFIX,
        cookie_refusal=login_required,
    )
