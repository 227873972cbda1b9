"""The reference semantics: does a filter (its AST) accept a LogEntry (its JSON)?

Everything else (the SQL narrowing in :mod:`.compile_sql`) must agree with this module.

Values are typed before they are compared. A LogEntry field has its proto type; inside
``jsonPayload`` (and other structs and maps) the JSON value decides: a number is a double,
``true``/``false`` a bool, anything quoted a string, and an array compares element by element
(any element will do). The right-hand side is converted to the value's type; when it does not
convert, the comparison is false.

Missing and defaulted fields differ:

* a LogEntry field absent from the entry is *defaulted*: it compares as its proto default
  (``""``, ``0``, ``false``, ``DEFAULT``, the epoch);
* a key absent under ``jsonPayload``, ``protoPayload`` or a map is *missing*: every comparison
  on it is false, ``!=`` included. So ``NOT missing=foo`` is true while ``missing!=foo`` is
  false.

``field:*`` is true only when the field is explicitly in the entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import urllib.parse
import zoneinfo
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from intranode.domain.logquery import ast
from intranode.domain.logquery.parser import search_tokens
from intranode.domain.logquery.schema import FieldRef, Kind, proto_key, spec_of
from intranode.domain.logquery.values import (
    NS,
    SEVERITY_NAMES,
    as_double,
    fold,
    format_timestamp,
    fraction_text,
    json_number_text,
    to_bool,
    to_duration,
    to_int,
    to_number,
    to_severity,
    to_timestamp,
)

# A typed value: (type, python value). Types: str num int bool null ts dur sev obj.
Typed = tuple[str, Any]

_DEFAULTS: dict[Kind, Typed] = {
    Kind.STRING: ("str", ""),
    Kind.INT: ("int", 0),
    Kind.BOOL: ("bool", False),
    Kind.TIMESTAMP: ("ts", 0),
    Kind.DURATION: ("dur", 0),
    Kind.SEVERITY: ("sev", 0),
    Kind.MESSAGE: ("obj", {}),
    Kind.MAP: ("obj", {}),
    Kind.STRUCT: ("obj", {}),
    Kind.ANY: ("obj", {}),
}
_ORDER_OPS = {
    "=": lambda a, b: a == b,
    ":": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def evaluate(node: ast.Node, entry: Mapping[str, Any]) -> bool:
    """True when ``entry`` matches ``node``. AND and OR short-circuit."""
    if isinstance(node, ast.Compare):
        values, _present = resolve_value(node.lhs, entry)
        return any(compare(v, node.op, node.rhs, node) for v in values)
    if isinstance(node, ast.And):
        return all(evaluate(n, entry) for n in node.items)
    if isinstance(node, ast.Or):
        return any(evaluate(n, entry) for n in node.items)
    if isinstance(node, ast.Not):
        return not evaluate(node.item, entry)
    if isinstance(node, ast.MatchAll):
        return True
    if isinstance(node, ast.Present):
        return resolve_value(node.lhs, entry)[1]
    if isinstance(node, ast.Global):
        needle = fold(node.value.text)
        return any(needle in fold(text) for text in leaf_texts(entry))
    if isinstance(node, ast.LogId):
        return fold(log_id_of(_log_name(entry))) == fold(node.log_id)
    if isinstance(node, ast.Source):
        return fold(_log_name(entry).partition("/logs/")[0]) == fold(node.resource)
    if isinstance(node, ast.Sample):
        return _sample(node, entry)
    if isinstance(node, ast.IpInNet):
        values, present = resolve_value(node.field, entry)
        return present and any(_in_net(v, node.network) for v in values)
    return _search(node, entry)


# -- field values --------------------------------------------------------------------------
def resolve_value(value: ast.ValueExpr, entry: Mapping[str, Any]) -> tuple[list[Typed], bool]:
    """The typed values of a field (or value function) in ``entry``, and whether the field is
    explicitly present. A missing field has no values; a defaulted one its default."""
    if isinstance(value, FieldRef):
        return resolve_field(value, entry)
    values, present = resolve_value(value.arg, entry)
    if isinstance(value, ast.RegexpExtract):
        out: list[Typed] = []
        for kind, v in values:
            if kind != "str":
                continue
            m = value.pattern.search(v)
            if m is not None and m.group(1) is not None:
                out.append(("str", m.group(1)))
        return out, bool(out)
    cast = [c for c in (cast_value(v, value.type_name, value.timezone) for v in values) if c]
    return cast, present and bool(cast)


def resolve_field(ref: FieldRef, entry: Mapping[str, Any]) -> tuple[list[Typed], bool]:
    cur: Any = entry
    for name in ref.schema:
        if not isinstance(cur, Mapping) or name not in cur:
            if ref.keys:
                return [], False
            return [_DEFAULTS[spec_of(ref.schema).kind]], False
        cur = cur[name]
    if not ref.keys:
        return [_schema_typed(spec_of(ref.schema).kind, cur)], True
    found: list[Any] = []
    _walk(cur, ref.keys, ref.fold_keys, found)
    out: list[Typed] = []
    for raw in found:
        out.extend(json_typed(raw))
    return out, bool(found)


def _walk(cur: Any, keys: tuple[str, ...], fold_keys: bool, found: list[Any]) -> None:
    if not keys:
        found.append(cur)
        return
    if isinstance(cur, list):
        for item in cur:
            _walk(item, keys, fold_keys, found)
        return
    if not isinstance(cur, Mapping):
        return
    key = keys[0]
    if key in cur:
        _walk(cur[key], keys[1:], fold_keys, found)
    elif fold_keys:
        wanted = proto_key(key)
        for k, v in cur.items():
            if proto_key(k) == wanted:
                _walk(v, keys[1:], fold_keys, found)
                break


def json_typed(raw: Any) -> Iterator[Typed]:
    """A JSON value as typed values; an array gives its elements (flattened)."""
    if isinstance(raw, str):
        yield ("str", raw)
    elif isinstance(raw, bool):
        yield ("bool", raw)
    elif isinstance(raw, int | float):
        yield ("num", as_double(raw))
    elif raw is None:
        yield ("null", None)
    elif isinstance(raw, list):
        for item in raw:
            yield from json_typed(item)
    else:
        yield ("obj", raw)


def _schema_typed(kind: Kind, raw: Any) -> Typed:
    """A LogEntry field's JSON value as its proto type (falling back to the JSON type)."""
    converted: Any = None
    tag = ""
    if kind is Kind.STRING and isinstance(raw, str):
        return ("str", raw)
    if kind is Kind.INT and not isinstance(raw, bool):
        tag = "int"
        if isinstance(raw, int):
            converted = raw
        elif isinstance(raw, str):
            converted = to_int(raw)
    elif kind is Kind.BOOL and isinstance(raw, bool):
        tag, converted = "bool", raw
    elif kind is Kind.TIMESTAMP and isinstance(raw, str):
        tag, converted = "ts", to_timestamp(raw)
    elif kind is Kind.DURATION and isinstance(raw, str):
        tag, converted = "dur", to_duration(raw)
    elif kind is Kind.SEVERITY:
        tag, converted = "sev", severity_of(raw)
    if converted is not None:
        return (tag, converted)
    return next(json_typed(raw), ("null", None))


def severity_of(raw: Any) -> int | None:
    if isinstance(raw, str):
        return to_severity(raw)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    return None


def cast_value(value: Typed, type_name: str, tz: str | None) -> Typed | None:
    kind, v = value
    if type_name == "STRING":
        text = _as_text(value, tz)
        return None if text is None else ("str", text)
    if type_name == "INT64":
        if kind == "str":
            i = to_int(v)
        elif kind in ("int", "sev"):
            i = v
        elif kind == "bool" or (kind == "num" and v.is_integer()):
            i = int(v)
        else:
            i = None
        return None if i is None else ("int", i)
    if type_name == "FLOAT64":
        if kind == "str":
            f = to_number(v)
        elif kind in ("num", "int", "sev"):
            f = as_double(v)
        else:
            f = None
        return None if f is None else ("num", f)
    if type_name == "BOOL":
        if kind == "str":
            b = to_bool(v)
        elif kind == "bool":
            b = v
        elif kind in ("num", "int"):
            b = v != 0
        else:
            b = None
        return None if b is None else ("bool", b)
    if type_name == "TIMESTAMP":
        ts = to_timestamp(v) if kind == "str" else (v if kind == "ts" else None)
        return None if ts is None else ("ts", ts)
    d = to_duration(v) if kind == "str" else (v if kind == "dur" else None)
    return None if d is None else ("dur", d)


def _as_text(value: Typed, tz: str | None) -> str | None:
    kind, v = value
    if kind == "str":
        return str(v)
    if kind in ("num", "int"):
        return json_number_text(v)
    if kind == "bool":
        return "true" if v else "false"
    if kind == "sev":
        return SEVERITY_NAMES.get(v, str(v))
    if kind == "dur":
        return _duration_text(v)
    if kind == "ts":
        if tz is None:
            return format_timestamp(v)
        seconds, nanos = divmod(v, NS)
        local = dt.datetime.fromtimestamp(seconds, zoneinfo.ZoneInfo(tz))
        base = local.isoformat(timespec="seconds")  # 2023-01-02T05:00:00-05:00
        return base[:19] + fraction_text(nanos) + base[19:]
    return None


def _duration_text(ns: int) -> str:
    seconds, nanos = divmod(abs(ns), NS)
    sign = "-" if ns < 0 else ""
    return f"{sign}{seconds}" + (f".{nanos:09d}".rstrip("0") if nanos else "") + "s"


# -- comparing -----------------------------------------------------------------------------
def compare(value: Typed, op: str, rhs: ast.Literal, node: ast.Compare) -> bool:
    """One typed value against the literal. Regexes match strings only (case-sensitive)."""
    kind, v = value
    if op in ("=~", "!~"):
        if kind != "str" or node.pattern is None:
            return False
        hit = node.pattern.search(v) is not None
        return hit if op == "=~" else not hit
    if rhs.is_null:
        if kind == "null":
            return op in ("=", ":")
        return op == "!=" and kind != "obj"
    if kind == "str":
        a, b = fold(v), fold(rhs.text)
        return b in a if op == ":" else bool(_ORDER_OPS[op](a, b))
    if kind == "obj":
        return op == ":" and _has_leaf(v, fold(rhs.text))
    if kind == "null":
        return op == "!="
    other = convert_literal(kind, rhs.text)
    if other is None:
        return False
    return bool(_ORDER_OPS[op](v, other))


def convert_literal(kind: str, text: str) -> Any:
    """The literal as a value of ``kind`` (not ``str``/``obj``/``null``), or ``None``."""
    if kind == "num":
        return to_number(text)
    if kind == "int":
        return to_int(text)
    if kind == "bool":
        return to_bool(text)
    if kind == "ts":
        return to_timestamp(text)
    if kind == "dur":
        return to_duration(text)
    if kind == "sev":
        return to_severity(text)
    return None


def _has_leaf(obj: Any, needle: str) -> bool:
    return any(needle in fold(text) for text in leaf_texts(obj))


def leaf_texts(obj: Any) -> Iterator[str]:
    """The text of every scalar under ``obj`` (what a global restriction searches)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, bool):
        yield "true" if obj else "false"
    elif isinstance(obj, int | float):
        yield json_number_text(obj)
    elif isinstance(obj, Mapping):
        for v in obj.values():
            yield from leaf_texts(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from leaf_texts(v)


# -- functions -----------------------------------------------------------------------------
def _log_name(entry: Mapping[str, Any]) -> str:
    name = entry.get("logName", "")
    return name if isinstance(name, str) else ""


def log_id_of(log_name: str) -> str:
    """``projects/p/logs/a.com%2Fb`` → ``a.com/b`` (empty when it is not a log name)."""
    _, sep, encoded = log_name.partition("/logs/")
    return urllib.parse.unquote(encoded) if sep else ""


def _sample(node: ast.Sample, entry: Mapping[str, Any]) -> bool:
    values, _present = resolve_field(node.field, entry)
    if not values:
        return False
    text = _as_text(values[0], None)
    if text is None:
        return False
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") < node.fraction * 2**64


def _in_net(value: Typed, network: ast.Network) -> bool:
    kind, v = value
    if kind != "str":
        return False
    parsed = _ip_or_net(v.strip())
    if parsed is None or parsed.version != network.version:
        return False
    if isinstance(parsed, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return parsed.subnet_of(network)  # type: ignore[arg-type]
    return parsed in network


@lru_cache(maxsize=4096)
def _ip_or_net(
    text: str,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | ast.Network | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _search(node: ast.Search, entry: Mapping[str, Any]) -> bool:
    if node.field is None:
        roots: list[Any] = [entry]
    else:
        values, _present = resolve_field(node.field, entry)
        roots = [v for kind, v in values if kind in ("str", "obj", "num")]
    token_lists = [search_tokens(text) for root in roots for text in leaf_texts(root)]
    if not node.phrases:
        return True
    words = {t for tokens in token_lists for t in tokens}
    return all(
        (phrase[0] in words)
        if len(phrase) == 1
        else any(_contains_run(tokens, phrase) for tokens in token_lists)
        for phrase in node.phrases
    )


def _contains_run(tokens: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tokens[i : i + n] == phrase for i in range(len(tokens) - n + 1))
