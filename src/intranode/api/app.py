"""The daemon's main HTTP app: Google's APIs on one loopback port, behind the bearer token."""

from __future__ import annotations

import hmac

from fastapi import FastAPI, Response
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


def create_app(ctx: Context) -> FastAPI:
    app = FastAPI(title="intranode", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    install_google_error_handlers(app)
    app.include_router(serviceusage.router)
    app.include_router(compute.router)
    app.include_router(container.router)
    app.include_router(logging_api.router)
    app.include_router(intranode_api.router)

    app.add_middleware(BearerAuth, token=ctx.token)
    return app
