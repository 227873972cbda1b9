"""Errors of the Logging query language, in the words Cloud Logging uses.

Every bad filter becomes :class:`~intranode.errors.InvalidArgument` (400 INVALID_ARGUMENT), so
the API answers it as Google does and callers never see another exception type:

* a filter that does not parse: ``Unparseable filter: syntax error at line L, column C, token
  'T'`` (line and column 1-based, column counted in characters);
* a filter that parses but cannot run (a field not in the LogEntry schema, a malformed
  regular expression or subnet, a wrong function call): ``Invalid filter: <what is wrong>``.
"""

from __future__ import annotations

from typing import Any

from intranode.errors import InvalidArgument

MAX_TOKEN_SHOWN = 200


class FilterSyntaxError(InvalidArgument):
    """The filter text does not follow the grammar."""

    def __init__(self, text: str, pos: int, token: str) -> None:
        line, column = line_column(text, pos)
        shown = token if len(token) <= MAX_TOKEN_SHOWN else token[:MAX_TOKEN_SHOWN] + "..."
        super().__init__(
            f"Unparseable filter: syntax error at line {line}, column {column}, token '{shown}'"
        )
        self.line = line
        self.column = column
        self.token = token


class FilterSemanticError(InvalidArgument):
    """The filter parses but names something that does not exist or cannot be used so."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Invalid filter: {detail}")
        self.detail = detail


def line_column(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of character offset ``pos``."""
    line = text.count("\n", 0, pos) + 1
    start = text.rfind("\n", 0, pos) + 1
    return line, pos - start + 1


def printable(text: str) -> str:
    """``text`` with lone surrogates escaped: an error that echoes a caller's string (decoded
    from a JSON ``\\ud800`` escape) must still encode as UTF-8 on its way back."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def invalid(message: str, **kwargs: Any) -> InvalidArgument:
    """``InvalidArgument`` with a message that always encodes (see :func:`printable`)."""
    return InvalidArgument(printable(message), **kwargs)
