"""A hand-written recursive-descent parser for the Cloud Logging query language.

Grammar (AIP-160 with Cloud Logging's extensions; ``WS`` is whitespace or a comment)::

    filter      = [ expression ] ;                  empty: every entry
    expression  = sequence { "AND" sequence } ;     lowest precedence
    sequence    = factor { factor } ;               juxtaposition (a newline too) is AND
    factor      = term { "OR" term } ;              OR binds tighter than AND
    term        = ( "NOT" | "-" ) term | simple ;   NOT binds tightest
    simple      = "(" expression ")" | restriction ;
    restriction = atom [ comparator rhs ]           no comparator: a global restriction
                | call [ comparator rhs ] ;         log_id(), sample()... or cast() = ...
    atom        = name { "." name } ;               names adjacent to their dots
    name        = TEXT | STRING ;
    rhs         = "*"                               only after ":" (presence)
                | "(" rhs_expr ")"                  field and operator apply to each leaf
                | value ;
    rhs_expr    = the shape of expression, with values as terms ;
    value       = atom | "-" NUMBER ;               ``x > -1`` is a number, not NOT
    call        = TEXT "(" [ arg { "," arg } ] ")" ;

Keywords are upper case only: ``and``, ``or`` and ``not`` are search terms. So
``"a" OR NOT "b" AND NOT "c" OR "d"`` reads ``("a" OR (NOT "b")) AND ((NOT "c") OR "d")``.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

from intranode.domain.logquery import ast
from intranode.domain.logquery.errors import FilterSemanticError, FilterSyntaxError
from intranode.domain.logquery.lexer import T, Token, tokenize
from intranode.domain.logquery.schema import FieldRef, Kind, resolve
from intranode.domain.logquery.values import to_number

MAX_FILTER_CHARS = 20_000
# Nesting (parentheses, NOT, function calls) beyond this is refused: evaluating it would
# exhaust the stack long before it could mean anything.
MAX_DEPTH = 64

KEYWORDS = frozenset({"AND", "OR", "NOT"})
_VALUE_FUNCTIONS = frozenset({"cast", "regexp_extract"})
_SEARCH_SPLIT = re.compile(r"[\W_]+")


def parse(text: str) -> ast.Node:
    """The AST of ``text``; ``InvalidArgument`` (a subclass of it) for any bad filter."""
    if len(text) > MAX_FILTER_CHARS:
        raise FilterSemanticError(
            f"the filter is {len(text)} characters long; at most {MAX_FILTER_CHARS} are allowed"
        )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise FilterSemanticError(
                f"the filter is not valid Unicode (a lone surrogate at character {exc.start + 1})"
            ) from exc
    return _Parser(text).parse()


@dataclass(frozen=True)
class _Atom:
    parts: tuple[str, ...]
    quoted: tuple[bool, ...]
    token: Token

    @property
    def text(self) -> str:
        return ".".join(self.parts)

    def literal(self) -> ast.Literal:
        return ast.Literal(self.text, quoted=len(self.parts) == 1 and self.quoted[0])


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[_Atom | _Call, ...]
    token: Token


_Arg = _Atom | _Call
_PLACEHOLDER = FieldRef(("textPayload",), (), Kind.STRING)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0
        # Semantic errors wait until the whole filter has parsed: a syntax error anywhere
        # is reported first, as Cloud Logging does.
        self.semantic: FilterSemanticError | None = None

    # -- token helpers --------------------------------------------------------------------
    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind is not T.EOF:
            self.i += 1
        return tok

    def fail(self, tok: Token) -> NoReturn:
        raise FilterSyntaxError(self.text, tok.start, tok.text)

    def expect(self, kind: T) -> Token:
        tok = self.peek()
        if tok.kind is not kind:
            self.fail(tok)
        return self.take()

    def is_kw(self, tok: Token, word: str) -> bool:
        return tok.kind is T.TEXT and tok.text == word

    def note(self, err: FilterSemanticError) -> None:
        if self.semantic is None:
            self.semantic = err

    @contextmanager
    def nested(self) -> Iterator[None]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterSemanticError(f"the filter nests deeper than {MAX_DEPTH} levels")
        try:
            yield
        finally:
            self.depth -= 1

    # -- the filter -----------------------------------------------------------------------
    def parse(self) -> ast.Node:
        if self.peek().kind is T.EOF:
            return ast.MatchAll()
        node = self.expression(self.term)
        if self.peek().kind is not T.EOF:
            self.fail(self.peek())
        if self.semantic is not None:
            raise self.semantic
        return node

    def expression(self, term: Callable[[], ast.Node]) -> ast.Node:
        items = [self.sequence(term)]
        while self.is_kw(self.peek(), "AND"):
            self.take()
            items.append(self.sequence(term))
        return _and(items)

    def sequence(self, term: Callable[[], ast.Node]) -> ast.Node:
        items = [self.factor(term)]
        while self.starts_term(self.peek()):
            items.append(self.factor(term))
        return _and(items)

    def factor(self, term: Callable[[], ast.Node]) -> ast.Node:
        items = [term()]
        while self.is_kw(self.peek(), "OR"):
            self.take()
            items.append(term())
        return _or(items)

    def starts_term(self, tok: Token) -> bool:
        if tok.kind is T.TEXT:
            return tok.text not in ("AND", "OR")
        return tok.kind in (T.STRING, T.LPAREN, T.MINUS)

    def term(self) -> ast.Node:
        tok = self.peek()
        if self.is_kw(tok, "NOT") or tok.kind is T.MINUS:
            self.take()
            with self.nested():
                return ast.Not(self.term())
        if tok.kind is T.LPAREN:
            self.take()
            with self.nested():
                node = self.expression(self.term)
            self.expect(T.RPAREN)
            return node
        if tok.kind is T.STRING or (tok.kind is T.TEXT and tok.text not in KEYWORDS):
            return self.restriction()
        self.fail(tok)

    def restriction(self) -> ast.Node:
        if self.at_call():
            call = self.call()
            if self.peek().kind is T.CMP:
                lhs = self.value_expr(call)
                return self.comparison(lhs)
            return self.bool_function(call)
        atom = self.atom()
        if self.peek().kind is not T.CMP:
            return ast.Global(atom.literal())
        return self.comparison(self.field(atom))

    def comparison(self, lhs: ast.ValueExpr) -> ast.Node:
        op = self.take().value
        tok = self.peek()
        if op == ":" and tok.kind is T.STAR:
            self.take()
            return ast.Present(lhs)
        if tok.kind is T.LPAREN:
            self.take()
            with self.nested():
                node = self.expression(lambda: self.rhs_term(lhs, op))
            self.expect(T.RPAREN)
            return node
        return self.leaf(lhs, op, self.value())

    def rhs_term(self, lhs: ast.ValueExpr, op: str) -> ast.Node:
        tok = self.peek()
        if self.is_kw(tok, "NOT") or (tok.kind is T.MINUS and not self.at_negative_number()):
            self.take()
            with self.nested():
                return ast.Not(self.rhs_term(lhs, op))
        if tok.kind is T.LPAREN:
            self.take()
            with self.nested():
                node = self.expression(lambda: self.rhs_term(lhs, op))
            self.expect(T.RPAREN)
            return node
        return self.leaf(lhs, op, self.value())

    def leaf(self, lhs: ast.ValueExpr, op: str, value: ast.Literal) -> ast.Node:
        if op not in ("=~", "!~"):
            return ast.Compare(lhs, op, value)
        pattern = self.regex(value.text)
        return ast.Compare(lhs, op, value, pattern)

    def regex(self, text: str, groups: int | None = None) -> re.Pattern[str]:
        try:
            pattern = re.compile(text)
        except (re.error, OverflowError, RecursionError, ValueError) as exc:
            self.note(FilterSemanticError(f"invalid regular expression {text!r}: {exc}"))
            return re.compile("")
        if groups is not None and pattern.groups != groups:
            self.note(
                FilterSemanticError(
                    f"regexp_extract needs a regular expression with exactly one group, "
                    f"{text!r} has {pattern.groups}"
                )
            )
        return pattern

    # -- values and paths -----------------------------------------------------------------
    def at_negative_number(self) -> bool:
        minus, nxt = self.peek(), self.peek(1)
        return (
            minus.kind is T.MINUS
            and nxt.kind is T.TEXT
            and nxt.start == minus.end
            and nxt.text[:1].isdigit()
        )

    def value(self) -> ast.Literal:
        tok = self.peek()
        if self.at_negative_number():
            self.take()
            return ast.Literal("-" + self.atom().text)
        if tok.kind is T.STRING or (tok.kind is T.TEXT and tok.text not in KEYWORDS):
            return self.atom().literal()
        self.fail(tok)

    def atom(self) -> _Atom:
        first = self.take()
        if first.kind not in (T.TEXT, T.STRING):
            self.fail(first)
        parts, quoted = [first.value], [first.kind is T.STRING]
        last = first
        while self.peek().kind is T.DOT and self.peek().start == last.end:
            dot = self.take()
            nxt = self.peek()
            if nxt.kind not in (T.TEXT, T.STRING) or nxt.start != dot.end:
                self.fail(nxt)
            last = self.take()
            parts.append(last.value)
            quoted.append(last.kind is T.STRING)
        return _Atom(tuple(parts), tuple(quoted), first)

    def field(self, atom: _Atom) -> FieldRef:
        try:
            return resolve(atom.parts)
        except FilterSemanticError as err:
            self.note(err)
            return _PLACEHOLDER

    # -- functions ------------------------------------------------------------------------
    def at_call(self) -> bool:
        name, paren = self.peek(), self.peek(1)
        return (
            name.kind is T.TEXT
            and name.text not in KEYWORDS
            and paren.kind is T.LPAREN
            and paren.start == name.end
        )

    def call(self) -> _Call:
        name = self.take()
        self.take()  # "("
        args: list[_Arg] = []
        with self.nested():
            if self.peek().kind is T.RPAREN:
                self.take()
                return _Call(name.text.lower(), (), name)
            while True:
                args.append(self.arg())
                tok = self.take()
                if tok.kind is T.RPAREN:
                    break
                if tok.kind is not T.COMMA:
                    self.fail(tok)
        return _Call(name.text.lower(), tuple(args), name)

    def arg(self) -> _Arg:
        if self.at_call():
            return self.call()
        if self.at_negative_number():
            minus = self.take()
            atom = self.atom()
            return _Atom(("-" + atom.parts[0], *atom.parts[1:]), atom.quoted, minus)
        return self.atom()

    def bool_function(self, call: _Call) -> ast.Node:
        handler = _BOOL_FUNCTIONS.get(call.name)
        if handler is None:
            if call.name in _VALUE_FUNCTIONS:
                self.note(FilterSemanticError(f"{call.name}() must be compared with a value"))
            else:
                self.note(FilterSemanticError(f"unknown function '{call.token.text}'"))
            return ast.MatchAll()
        try:
            return handler(self, call)
        except FilterSemanticError as err:
            self.note(err)
            return ast.MatchAll()

    def value_expr(self, arg: _Arg) -> ast.ValueExpr:
        if isinstance(arg, _Atom):
            return self.field(arg)
        try:
            if arg.name == "cast":
                return self.cast(arg)
            if arg.name == "regexp_extract":
                return self.regexp_extract(arg)
        except FilterSemanticError as err:
            self.note(err)
            return _PLACEHOLDER
        if arg.name in _BOOL_FUNCTIONS:
            self.note(FilterSemanticError(f"{arg.name}() cannot be compared with a value"))
        else:
            self.note(FilterSemanticError(f"unknown function '{arg.token.text}'"))
        return _PLACEHOLDER

    def cast(self, call: _Call) -> ast.Cast:
        _arity(call, 2, 3)
        type_arg = call.args[1]
        if not isinstance(type_arg, _Atom) or type_arg.text.upper() not in ast.CAST_TYPES:
            raise FilterSemanticError(
                "cast() needs a type among " + ", ".join(ast.CAST_TYPES) + " as its 2nd argument"
            )
        tz: str | None = None
        if len(call.args) == 3:
            tz_call = call.args[2]
            if not (
                isinstance(tz_call, _Call)
                and tz_call.name == "timezone"
                and len(tz_call.args) == 1
                and isinstance(tz_call.args[0], _Atom)
            ):
                raise FilterSemanticError('cast() takes TIMEZONE("Area/City") as 3rd argument')
            tz = tz_call.args[0].text
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise FilterSemanticError(f"unknown time zone {tz!r}") from exc
        return ast.Cast(self.value_expr(call.args[0]), type_arg.text.upper(), tz)

    def regexp_extract(self, call: _Call) -> ast.RegexpExtract:
        _arity(call, 2, 2)
        pattern_arg = call.args[1]
        if not isinstance(pattern_arg, _Atom):
            raise FilterSemanticError("regexp_extract() takes a quoted regular expression")
        text = pattern_arg.text
        return ast.RegexpExtract(self.value_expr(call.args[0]), text, self.regex(text, 1))


def _arity(call: _Call, least: int, most: int) -> None:
    n = len(call.args)
    if not least <= n <= most:
        wanted = str(least) if least == most else f"{least} to {most}"
        raise FilterSemanticError(f"{call.name}() takes {wanted} arguments, {n} given")


def _literal_arg(call: _Call, index: int) -> str:
    arg = call.args[index]
    if not isinstance(arg, _Atom):
        raise FilterSemanticError(f"argument {index + 1} of {call.name}() must be a value")
    return arg.text


def _field_arg(p: _Parser, call: _Call, index: int) -> FieldRef:
    arg = call.args[index]
    if not isinstance(arg, _Atom):
        raise FilterSemanticError(f"argument {index + 1} of {call.name}() must be a field")
    return resolve(arg.parts)


def _log_id(p: _Parser, call: _Call) -> ast.Node:
    _arity(call, 1, 1)
    return ast.LogId(_literal_arg(call, 0))


def _source(p: _Parser, call: _Call) -> ast.Node:
    _arity(call, 1, 1)
    resource = _literal_arg(call, 0)
    kind, _, ident = resource.partition("/")
    if kind not in ("projects", "folders", "organizations", "billingAccounts") or not ident:
        raise FilterSemanticError(
            f"source() takes projects/P, folders/F, organizations/O or billingAccounts/B, "
            f"not {resource!r}"
        )
    return ast.Source(resource)


def _sample(p: _Parser, call: _Call) -> ast.Node:
    _arity(call, 2, 2)
    field = _field_arg(p, call, 0)
    fraction = to_number(_literal_arg(call, 1))
    if fraction is None or not 0 < fraction <= 1:
        raise FilterSemanticError("the fraction of sample() must be a number in (0, 1]")
    return ast.Sample(field, fraction)


def _ip_in_net(p: _Parser, call: _Call) -> ast.Node:
    _arity(call, 2, 2)
    field = p.value_expr(call.args[0])
    text = _literal_arg(call, 1)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise FilterSemanticError(
            f"ip_in_net() needs a subnet like 10.0.0.0/8, not {text!r}"
        ) from exc
    return ast.IpInNet(field, text, network)


def _search(p: _Parser, call: _Call) -> ast.Node:
    _arity(call, 1, 2)
    field = _field_arg(p, call, 0) if len(call.args) == 2 else None
    query = _literal_arg(call, len(call.args) - 1)
    return ast.Search(field, query, search_phrases(query))


def search_phrases(query: str) -> tuple[tuple[str, ...], ...]:
    """``hello `big world``` → ``(("hello",), ("big", "world"))``: backticks hold a phrase."""
    phrases: list[tuple[str, ...]] = []
    for i, chunk in enumerate(query.split("`")):
        tokens = search_tokens(chunk)
        if i % 2:
            if tokens:
                phrases.append(tokens)
        else:
            phrases.extend((t,) for t in tokens)
    return tuple(phrases)


def search_tokens(text: str) -> tuple[str, ...]:
    """Lower-case tokens split at every non-word character (BigQuery's default analyzer)."""
    return tuple(t for t in _SEARCH_SPLIT.split(text.lower()) if t)


_BOOL_FUNCTIONS: dict[str, Callable[[_Parser, _Call], ast.Node]] = {
    "log_id": _log_id,
    "source": _source,
    "sample": _sample,
    "ip_in_net": _ip_in_net,
    "search": _search,
}


def _and(items: list[ast.Node]) -> ast.Node:
    flat: list[ast.Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, ast.And) else (item,))
    return flat[0] if len(flat) == 1 else ast.And(tuple(flat))


def _or(items: list[ast.Node]) -> ast.Node:
    flat: list[ast.Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, ast.Or) else (item,))
    return flat[0] if len(flat) == 1 else ast.Or(tuple(flat))
