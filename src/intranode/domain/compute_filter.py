"""The ``filter`` of Compute list calls, in both forms clients send.

* Compute's own form, which gcloud writes after rewriting ``--filter`` (see gcloud's
  ``api_lib/compute/filter_rewrite.py``): ``field eq "regex"`` / ``field ne "regex"``; the
  pattern must match the whole value (``region eq ".*\\bus\\-central1\\b.*"``), and several
  terms in parentheses are ANDed: ``(name eq "a")(network eq ".*b")``.
* The AIP-160-like form the client libraries document: ``name = "fw-1"``, ``name != x``,
  ``name = "fw-*"`` (``*`` is a wildcard), ``field:value`` (has), ``field:*`` (present), and
  ``AND`` / ``OR`` between terms. Numbers also compare with ``<``, ``<=``, ``>``, ``>=``.

Fields are dotted paths into the resource as served (``logConfig.enable``); on a list the
term holds when any element matches. gcloud applies its own filter again client-side, so a
term this parser keeps is never wrong, only unnecessary.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from intranode.domain.compute import invalid_field

Predicate = Callable[[dict[str, Any]], bool]

_OPS = ("!=", "<=", ">=", "=", "<", ">", ":")
_WORD_OPS = ("eq", "ne")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class _Tok:
    kind: str  # "(" ")" "word" "str" "op"
    text: str


def compile_filter(text: str | None) -> Predicate:
    """A predicate over resource documents; 400 for a filter that cannot be read."""
    if text is None or not text.strip():
        return lambda _doc: True
    try:
        toks = _tokenize(text)
        parser = _Parser(toks)
        pred = parser.expression()
        if parser.pos != len(toks):
            raise ValueError("trailing input")
    except (ValueError, re.error) as exc:
        raise invalid_field("filter", text, "Invalid list filter expression.") from exc
    return pred


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            toks.append(_Tok(c, c))
            i += 1
        elif c in "\"'":
            j, buf = i + 1, []
            while j < len(text) and text[j] != c:
                # Keep regex escapes; only the quote itself is unescaped.
                if text[j] == "\\" and j + 1 < len(text) and text[j + 1] == c:
                    buf.append(c)
                    j += 2
                    continue
                buf.append(text[j])
                j += 1
            if j >= len(text):
                raise ValueError("unterminated string")
            toks.append(_Tok("str", "".join(buf)))
            i = j + 1
        else:
            op = next((o for o in _OPS if text.startswith(o, i)), None)
            if op is not None:
                toks.append(_Tok("op", op))
                i += len(op)
                continue
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in "()\"'":
                if any(text.startswith(o, j) for o in _OPS):
                    break
                j += 1
            toks.append(_Tok("word", text[i:j]))
            i = j
    return toks


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.pos = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise ValueError("unexpected end")
        self.pos += 1
        return tok

    def expression(self) -> Predicate:
        pred = self.term()
        while (tok := self.peek()) is not None and tok.kind != ")":
            if tok.kind == "word" and tok.text.upper() in ("AND", "OR"):
                self.pos += 1
                right = self.term()
                left = pred
                pred = _and(left, right) if tok.text.upper() == "AND" else _or(left, right)
            else:
                pred = _and(pred, self.term())
        return pred

    def term(self) -> Predicate:
        tok = self.take()
        if tok.kind == "(":
            inner = self.expression()
            if self.take().kind != ")":
                raise ValueError("missing )")
            return inner
        if tok.kind == "word" and tok.text.upper() == "NOT":
            inner = self.term()
            return lambda doc: not inner(doc)
        if tok.kind != "word":
            raise ValueError("expected a field")
        negate = tok.text.startswith("-")
        path = tok.text.lstrip("-").split(".")
        op_tok = self.take()
        if op_tok.kind == "op":
            op = op_tok.text
        elif op_tok.kind == "word" and op_tok.text.lower() in _WORD_OPS:
            op = op_tok.text.lower()
        else:
            raise ValueError("expected an operator")
        value_tok = self.take()
        if value_tok.kind not in ("word", "str"):
            raise ValueError("expected a value")
        pred = _term(path, op, value_tok.text, quoted=value_tok.kind == "str")
        return (lambda doc: not pred(doc)) if negate else pred


def _and(a: Predicate, b: Predicate) -> Predicate:
    return lambda doc: a(doc) and b(doc)


def _or(a: Predicate, b: Predicate) -> Predicate:
    return lambda doc: a(doc) or b(doc)


def _term(path: list[str], op: str, value: str, *, quoted: bool) -> Predicate:
    if op in ("eq", "ne"):
        rx = re.compile(value)
        return _over(path, lambda s: rx.fullmatch(s) is not None, negate=op == "ne")
    if op in _COMPARE:
        bound, compare = float(value), _COMPARE[op]

        def in_bound(s: str) -> bool:
            number = _number(s)
            return number is not None and compare(number, bound)

        return _over(path, in_bound)
    if op == ":" and value == "*" and not quoted:
        return lambda doc: _values(doc, path) != []
    literal = value.replace("\\", "") if quoted else value
    wild = re.compile(".*".join(re.escape(p) for p in literal.split("*")))
    return _over(path, lambda s: wild.fullmatch(s) is not None, negate=op == "!=")


def _over(path: list[str], hit: Callable[[str], bool], *, negate: bool = False) -> Predicate:
    def pred(doc: dict[str, Any]) -> bool:
        values = _values(doc, path) or [""]
        found = any(hit(v) for v in values)
        return not found if negate else found

    return pred


def _values(doc: Any, path: list[str]) -> list[str]:
    """String forms of the leaves at ``path`` (``true``/``false`` for booleans)."""
    current: list[Any] = [doc]
    for part in path:
        nxt: list[Any] = []
        for item in current:
            if isinstance(item, dict) and part in item:
                child = item[part]
                nxt.extend(child if isinstance(child, list) else [child])
        current = nxt
    out = []
    for leaf in current:
        if isinstance(leaf, bool):
            out.append("true" if leaf else "false")
        elif isinstance(leaf, (str, int, float)):
            out.append(str(leaf))
    return out


def _number(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None
