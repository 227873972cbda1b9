"""Who may use the console: the daemon's API token, shown either as an ``Authorization:
Bearer`` header or as the session cookie the login link sets.

The login link (``intranode env`` prints it) carries the token once; ``/console/login`` checks
it and answers with a cookie holding a value derived from the token (HMAC), never the token
itself, then redirects to ``/console`` so the token leaves the address bar. The cookie is
``HttpOnly``, ``SameSite=Strict`` and scoped to ``/console``: the Google APIs keep accepting the
bearer token only.

Forms a browser submits carry a CSRF value derived the same way: SameSite does not separate
two servers on different ports of 127.0.0.1, so another local page could otherwise post to the
console with the user's cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from http.cookies import CookieError, SimpleCookie

from starlette.types import Scope

PREFIX = "/console"
LOGIN_PATH = PREFIX + "/login"
COOKIE = "intranode_console"
CSRF_FIELD = "csrf"


def _derive(token: str, purpose: bytes) -> str:
    return hmac.new(token.encode(), purpose, hashlib.sha256).hexdigest()


def session_value(token: str) -> str:
    """The cookie value for ``token``: it proves the token was shown, and cannot be turned
    back into it."""
    return _derive(token, b"intranode console session")


def csrf_value(token: str) -> str:
    return _derive(token, b"intranode console form")


def valid(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def cookie_of(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name != b"cookie":
            continue
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(value.decode("latin-1"))
        except CookieError:
            continue
        if COOKIE in jar:
            return jar[COOKIE].value
    return ""


def has_session(scope: Scope, token: str) -> bool:
    value = cookie_of(scope)
    return bool(value) and valid(value, session_value(token))


def set_cookie_header(token: str) -> str:
    return f"{COOKIE}={session_value(token)}; Path={PREFIX}; HttpOnly; SameSite=Strict"


def clear_cookie_header() -> str:
    return f"{COOKIE}=; Path={PREFIX}; HttpOnly; SameSite=Strict; Max-Age=0"


def bearer_ok(scope: Scope, token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>``."""
    expected = token.encode()
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, cred = value.partition(b" ")
            if scheme.lower() == b"bearer" and hmac.compare_digest(cred.strip(), expected):
                return True
    return False
