"""The console's HTML: one page shell (header, navigation, main landmark), escaping, and the
pieces forms share (an error next to its field, the CSRF field).

Pages are built from Python strings; every value that comes from a user or the store goes
through :func:`h`. No inline script or style: the Content-Security-Policy allows only the
console's own ``/console/static`` files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape

from fastapi.responses import HTMLResponse

from intranode.api.console.session import CSRF_FIELD
from intranode.errors import ApiError

FORM_ERROR = "_form"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

# (section, [(key, label, path)]): the console's menu, grouped as Google's is.
NAV: Sequence[tuple[str, Sequence[tuple[str, str, str]]]] = (
    (
        "Kubernetes Engine",
        (
            ("clusters", "Kubernetes clusters", "/console/kubernetes/clusters"),
            ("workloads", "Workloads", "/console/kubernetes/workloads"),
        ),
    ),
    ("VPC network", (("subnets", "Subnets", "/console/networking/subnets"),)),
    ("Network topology", (("map", "Traffic map", "/console/networking/traffic-map"),)),
    ("Logging", (("logs", "Logs explorer", "/console/logs/query"),)),
)


def h(value: object) -> str:
    """``value`` as HTML text or attribute content."""
    return escape(str(value), quote=True)


def page(
    title: str,
    body: str,
    *,
    project: str,
    active: str = "",
    status: int = 200,
    scripts: Sequence[str] = ("console.js",),
) -> HTMLResponse:
    nav = []
    for section, items in NAV:
        links = "".join(
            f'<li><a href="{h(path)}"{" aria-current=page" if key == active else ""}>'
            f"{h(label)}</a></li>"
            for key, label, path in items
        )
        nav.append(f"<li><span class=nav-section>{h(section)}</span><ul>{links}</ul></li>")
    js = "".join(f'<script src="/console/static/{h(s)}" defer></script>' for s in scripts)
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{h(title)} – intranode console</title>"
        '<link rel=icon href="data:,">'
        '<link rel=stylesheet href="/console/static/console.css">'
        f"{js}</head><body>"
        '<a class=skip href="#main">Skip to content</a>'
        '<header class=topbar><a class=brand href="/console">intranode console</a>'
        f"<span class=project>Project: <strong>{h(project)}</strong></span>"
        '<form method=post action="/console/logout" class=logout>'
        "<button type=submit class=link>Sign out</button></form></header>"
        '<div class=frame><nav class=sidenav aria-label="Console"><ul>'
        + "".join(nav)
        + f"</ul></nav><main id=main tabindex=-1>{body}</main></div></body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def csrf_input(value: str) -> str:
    return f'<input type=hidden name="{CSRF_FIELD}" value="{h(value)}">'


def invalid_attrs(errors: Mapping[str, str], name: str) -> str:
    """``aria-invalid`` and the link to the field's message, when the field has one."""
    if name not in errors:
        return ""
    return f' aria-invalid=true aria-describedby="{h(name)}-error"'


def field_error(errors: Mapping[str, str], name: str) -> str:
    """The API's message for ``name``, right after the field."""
    if name not in errors:
        return ""
    return f'<p class=field-error id="{h(name)}-error" role=alert>{h(errors[name])}</p>'


def form_error(errors: Mapping[str, str]) -> str:
    """A message that belongs to no single field, above the form."""
    return field_error(errors, FORM_ERROR)


def errors_for(err: ApiError, rules: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Which form field the API's refusal is about: the first rule whose pattern is found in
    the message names it; otherwise the message belongs to the whole form. The message is the
    API's, word for word."""
    for pattern, field in rules:
        if re.search(pattern, err.message):
            return {field: err.message}
    return {FORM_ERROR: err.message}


def options(values: Sequence[tuple[str, str]], selected: str) -> str:
    return "".join(
        f'<option value="{h(v)}"{" selected" if v == selected else ""}>{h(label)}</option>'
        for v, label in values
    )
