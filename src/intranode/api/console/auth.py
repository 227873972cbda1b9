"""Signing in and out of the console, and the page a request without credentials gets."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from intranode.api.console.html import SECURITY_HEADERS, h
from intranode.api.console.session import (
    LOGIN_PATH,
    PREFIX,
    clear_cookie_header,
    set_cookie_header,
    valid,
)
from intranode.api.deps import CtxDep

router = APIRouter()


def login_page(message: str = "", *, status: int = 401) -> HTMLResponse:
    """A page of its own (no navigation: nothing else is reachable without signing in)."""
    alert = f"<p class=field-error id=token-error role=alert>{h(message)}</p>" if message else ""
    invalid = " aria-invalid=true aria-describedby=token-error" if message else ""
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<title>Sign in – intranode console</title><link rel=icon href="data:,">'
        '<link rel=stylesheet href="/console/login.css"></head><body class=login>'
        "<main><h1>intranode console</h1>"
        "<p>Open the console with the login link that <code>intranode env</code> prints, "
        "or paste the daemon's API token (the file <code>token</code> in its state "
        "directory).</p>"
        f'<form method=post action="{LOGIN_PATH}"><label for=token>API token</label>'
        f"<input id=token name=token type=password autocomplete=off{invalid}>{alert}"
        "<button type=submit>Sign in</button></form></main></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


async def login_required(scope: Scope, receive: Receive, send: Send) -> None:
    """What a console request without the token or the session cookie gets."""
    await login_page("Sign in to use the console.")(scope, receive, send)


def _signed_in(token: str) -> Response:
    response = RedirectResponse(PREFIX, status_code=303, headers=SECURITY_HEADERS)
    response.headers.append("Set-Cookie", set_cookie_header(token))
    return response


@router.get(LOGIN_PATH)
def login_link(ctx: CtxDep, token: str | None = None) -> Response:
    if token is None:
        return login_page(status=200)
    if valid(token, ctx.token):
        return _signed_in(ctx.token)
    return login_page(
        "This login link is not valid for this daemon. Run intranode env again for a fresh one."
    )


@router.post(LOGIN_PATH)
async def login_form(ctx: CtxDep, request: Request) -> Response:
    fields = dict(parse_qsl((await request.body())[:4096].decode("utf-8", "replace")))
    if valid(fields.get("token", "").strip(), ctx.token):
        return _signed_in(ctx.token)
    return login_page("That is not this daemon's API token.")


@router.post(PREFIX + "/logout")
def logout() -> Response:
    response = RedirectResponse(LOGIN_PATH, status_code=303, headers=SECURITY_HEADERS)
    response.headers.append("Set-Cookie", clear_cookie_header())
    return response
