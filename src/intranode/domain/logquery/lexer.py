"""Tokens of a Logging filter.

Rules (Cloud Logging's, see the module docs of :mod:`.parser`):

* whitespace separates tokens; ``--`` starts a comment to the end of the line (tested before
  ``-``, which alone means NOT);
* ``"..."`` is a string with backslash escapes (``\\"``, ``\\\\``, ``\\t``, ``\\n``, ``\\r``,
  ``\\xHH``, ``\\uXXXX``); any other escape keeps its backslash, so ``"\\d+\\b"`` stays a
  regular expression;
* bare text runs until whitespace or one of ``" ( ) : = < > ! ~ , . *``; the dot is its own
  token so that ``a.b`` is a path and ``compute.googleapis.com`` a dotted value;
* ``AND``, ``OR`` and ``NOT`` are keywords only in upper case (the parser decides that).

A character that can start no token becomes an ``ERROR`` token: the parser reports it when it
reaches it, so the first error in the text is the one reported.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class T(enum.Enum):
    TEXT = "text"
    STRING = "string"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    DOT = "."
    MINUS = "-"
    STAR = "*"
    CMP = "comparator"
    ERROR = "error"
    EOF = "eof"


@dataclass(frozen=True)
class Token:
    kind: T
    text: str  # the source text of the token
    value: str  # decoded string, comparator, or the text again
    start: int
    end: int


_STOP = frozenset(' \t\n\r\f\v"():=<>!~,.*')
_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "'": "'",
    "/": "/",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_HEX = frozenset("0123456789abcdefABCDEF")


def tokenize(text: str) -> list[Token]:
    """Every token of ``text``, ending with ``EOF``."""
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "-" and text.startswith("--", i):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl + 1
            continue
        if c == '"':
            tok = _string(text, i)
            tokens.append(tok)
            i = tok.end
            continue
        single = _SINGLE.get(c)
        if single is not None:
            tokens.append(Token(single, c, c, i, i + 1))
            i += 1
            continue
        two = text[i : i + 2]
        if two in ("<=", ">=", "!=", "=~", "!~"):
            tokens.append(Token(T.CMP, two, two, i, i + 2))
            i += 2
            continue
        if c in "=<>:":
            tokens.append(Token(T.CMP, c, c, i, i + 1))
            i += 1
            continue
        if c in "!~":
            tokens.append(Token(T.ERROR, c, c, i, i + 1))
            i += 1
            continue
        j = i + 1
        while j < n and text[j] not in _STOP and not text[j].isspace():
            if text[j] == "-" and text.startswith("--", j):
                break
            j += 1
        word = text[i:j]
        tokens.append(Token(T.TEXT, word, word, i, j))
        i = j
    tokens.append(Token(T.EOF, "<EOF>", "", n, n))
    return tokens


_SINGLE = {
    "(": T.LPAREN,
    ")": T.RPAREN,
    ",": T.COMMA,
    ".": T.DOT,
    "*": T.STAR,
    "-": T.MINUS,
}


def _string(text: str, start: int) -> Token:
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return Token(T.STRING, text[start : i + 1], "".join(out), start, i + 1)
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            break
        e = text[i + 1]
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
            i += 2
            continue
        width = _HEX_ESCAPES.get(e)
        digits = text[i + 2 : i + 2 + width] if width else ""
        if width and len(digits) == width and all(d in _HEX for d in digits):
            code = int(digits, 16)
            if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                out.append(chr(code))
                i += 2 + width
                continue
        # Unknown escapes keep the backslash: regular expressions are written this way.
        out.append("\\" + e)
        i += 2
    return Token(T.ERROR, text[start:], text[start:], start, n)
