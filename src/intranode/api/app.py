"""The daemon's main HTTP app: Google's APIs on one loopback port, behind the bearer token."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, FastAPI, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from intranode.api import intranode_api
from intranode.api.google import compute, container, logging_api, serviceusage
from intranode.api.google.errors import google_error_response, install_google_error_handlers
from intranode.controllers.context import Context
from intranode.errors import Unauthenticated


class BearerAuth:
    """Refuses any request without ``Authorization: Bearer <the daemon's token>``."""

    def __init__(self, app: ASGIApp, token: str, open_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.token = token.encode()
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        if not self.authorized(scope):
            response: Response = google_error_response(
                Unauthenticated(
                    "Request is missing required authentication credential. Expected OAuth 2 "
                    "access token, login cookie or other valid authentication credential."
                )
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, cred = value.partition(b" ")
                if scheme.lower() == b"bearer" and hmac.compare_digest(cred.strip(), self.token):
                    return True
        return False


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
    # Service Usage and Container share /v1/projects/; together they are still few routes.
    v1_app = _api_app(ctx, serviceusage.router, container.router)
    dispatch = PrefixDispatch(
        [
            ("/compute/v1/", compute_app),
            ("/batch/", compute_app),
            ("/v1/", v1_app),
            ("/v2/", _api_app(ctx, logging_api.router)),
            ("/intranode/", _api_app(ctx, intranode_api.router)),
        ],
        default=_api_app(ctx),
    )
    return BearerAuth(dispatch, token=ctx.token)
