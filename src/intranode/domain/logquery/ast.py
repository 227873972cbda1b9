"""The parsed form of a Logging filter.

The parser resolves field paths against the schema, distributes a parenthesised right-hand
side over its leaves (``f = (a OR b)`` becomes ``f = a OR f = b``), and checks function
arguments, so every node here is ready to evaluate. :func:`dump` prints a node as a compact
S-expression; the parser's golden tests are written in it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from dataclasses import field as _field

from intranode.domain.logquery.schema import FieldRef

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

COMPARATORS = ("=", "!=", "<", "<=", ">", ">=", ":", "=~", "!~")
CAST_TYPES = ("STRING", "INT64", "FLOAT64", "BOOL", "TIMESTAMP", "DURATION")


@dataclass(frozen=True)
class Literal:
    """A right-hand-side value as written; ``quoted`` tells ``"NULL_VALUE"`` from the keyword."""

    text: str
    quoted: bool = False

    @property
    def is_null(self) -> bool:
        return not self.quoted and self.text == "NULL_VALUE"


@dataclass(frozen=True)
class Cast:
    """``cast(arg, TYPE[, TIMEZONE("tz")])``: a value, compared like a field of that type."""

    arg: ValueExpr
    type_name: str
    timezone: str | None = None


@dataclass(frozen=True)
class RegexpExtract:
    """``regexp_extract(arg, "re(group)re")``: the group's first match, a string."""

    arg: ValueExpr
    pattern_text: str
    pattern: re.Pattern[str] = _field(compare=False, repr=False, hash=False)


ValueExpr = FieldRef | Cast | RegexpExtract


@dataclass(frozen=True)
class MatchAll:
    """The empty filter."""


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Compare:
    lhs: ValueExpr
    op: str
    rhs: Literal
    # For =~ and !~ only: the right-hand side compiled once.
    pattern: re.Pattern[str] | None = _field(default=None, compare=False, repr=False, hash=False)


@dataclass(frozen=True)
class Present:
    """``field:*``: the field is explicitly present in the entry."""

    lhs: ValueExpr


@dataclass(frozen=True)
class Global:
    """A bare value: some field of the entry has it (case-insensitive substring)."""

    value: Literal


@dataclass(frozen=True)
class LogId:
    """``log_id("compute.googleapis.com/vpc_flows")``: the LOG_ID of ``logName``, decoded."""

    log_id: str


@dataclass(frozen=True)
class Source:
    """``source(projects/P)``: entries written to exactly that resource."""

    resource: str


@dataclass(frozen=True)
class Sample:
    """``sample(field, fraction)``: a stable hash of the field's value selects the entry."""

    field: FieldRef
    fraction: float


@dataclass(frozen=True)
class IpInNet:
    """``ip_in_net(field, "10.0.0.0/8")``: the field holds an address (or range) inside it."""

    field: ValueExpr
    network_text: str
    network: Network = _field(compare=False, repr=False, hash=False)


@dataclass(frozen=True)
class Search:
    """``SEARCH("q")`` or ``SEARCH(field, "q")``: every token (or backticked phrase) of ``q``
    appears as whole tokens; ``phrases`` holds them, each a tuple of lower-case tokens."""

    field: FieldRef | None
    query: str
    phrases: tuple[tuple[str, ...], ...] = _field(compare=False, repr=False, hash=False)


Node = (
    MatchAll
    | And
    | Or
    | Not
    | Compare
    | Present
    | Global
    | LogId
    | Source
    | Sample
    | IpInNet
    | Search
)


def dump(node: Node) -> str:
    """``(AND (= jsonPayload.a "x") (NOT (GLOBAL foo)))``: one line, stable, for tests."""
    if isinstance(node, MatchAll):
        return "(ALL)"
    if isinstance(node, And):
        return "(AND " + " ".join(dump(n) for n in node.items) + ")"
    if isinstance(node, Or):
        return "(OR " + " ".join(dump(n) for n in node.items) + ")"
    if isinstance(node, Not):
        return f"(NOT {dump(node.item)})"
    if isinstance(node, Compare):
        return f"({node.op} {dump_value(node.lhs)} {_lit(node.rhs)})"
    if isinstance(node, Present):
        return f"(:* {dump_value(node.lhs)})"
    if isinstance(node, Global):
        return f"(GLOBAL {_lit(node.value)})"
    if isinstance(node, LogId):
        return f"(log_id {json.dumps(node.log_id)})"
    if isinstance(node, Source):
        return f"(source {node.resource})"
    if isinstance(node, Sample):
        return f"(sample {node.field.dotted} {node.fraction!r})"
    if isinstance(node, IpInNet):
        return f"(ip_in_net {dump_value(node.field)} {node.network_text})"
    where = f"{node.field.dotted} " if node.field is not None else ""
    return f"(SEARCH {where}{json.dumps(node.query)})"


def dump_value(value: ValueExpr) -> str:
    if isinstance(value, FieldRef):
        return value.dotted
    if isinstance(value, Cast):
        tz = f" {json.dumps(value.timezone)}" if value.timezone else ""
        return f"(cast {dump_value(value.arg)} {value.type_name}{tz})"
    return f"(regexp_extract {dump_value(value.arg)} {json.dumps(value.pattern_text)})"


def _lit(lit: Literal) -> str:
    return json.dumps(lit.text, ensure_ascii=False) if lit.quoted else lit.text
