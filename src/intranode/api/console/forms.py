"""Reading the console's forms: URL-encoded bodies (the only kind its pages send), checked
against the CSRF value when the request came with the session cookie."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from intranode.api.console.session import CSRF_FIELD, bearer_ok, csrf_value, valid
from intranode.api.deps import get_ctx
from intranode.errors import InvalidArgument, PermissionDenied

MAX_FORM_BYTES = 256 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """The submitted fields (the last value of a repeated name wins)."""
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise InvalidArgument(f"The form is larger than {MAX_FORM_BYTES} bytes.")
    fields = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    token = get_ctx(request).token
    # A bearer header cannot be sent by another site's form; a cookie can.
    if not bearer_ok(request.scope, token) and not valid(
        fields.get(CSRF_FIELD, ""), csrf_value(token)
    ):
        raise PermissionDenied(
            "This form was not sent from a page of this console (or the page is too old). "
            "Reload the page and submit it again."
        )
    return fields
