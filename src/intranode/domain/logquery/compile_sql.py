"""Narrowing a filter to SQL over the indexed columns of the log table.

The SQL never decides alone: it selects *candidates*, and :func:`.evaluate.evaluate` (the
reference semantics) decides on each. So the SQL must never drop a row the evaluator would
accept. Each sub-filter compiles to two conditions:

* ``may``: every row the sub-filter accepts satisfies it (a superset);
* ``must``: only rows the sub-filter accepts satisfy it (a subset).

``NOT x`` swaps them (``may = NOT x.must``), AND and OR combine them pointwise, and a part SQL
cannot express is ``may = TRUE, must = FALSE``. Every condition is two-valued (never SQL NULL),
so NOT is exact. When ``may`` and ``must`` come out equal the SQL is exact and the evaluator
need not run.

What compiles:

* ``logName``, ``log_id()`` and ``source()``, and anything else about ``resource.type`` or
  ``severity`` alone: evaluated on each distinct value the table holds (the catalog, or the
  nine severities), giving ``column IN (...)``;
* ``timestamp`` and ``receiveTimestamp`` comparisons: ranges on nanosecond columns;
* the VPC flow-log 5-tuple (``jsonPayload.connection.*``): columns filled at write time by
  :func:`index_values` with the folded string or the double, NULL when the key is missing, and
  :data:`UNSURE` when it holds something else (such rows are always candidates).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from intranode.domain.logquery import ast
from intranode.domain.logquery.evaluate import evaluate
from intranode.domain.logquery.schema import FieldRef
from intranode.domain.logquery.values import (
    SEVERITIES,
    as_double,
    fold,
    to_number,
    to_timestamp,
)

COL_LOG_NAME = "log_name"
COL_RESOURCE_TYPE = "resource_type"
COL_SEVERITY = "severity"
COL_TIMESTAMP = "ts_ns"
COL_RECEIVE_TIMESTAMP = "receive_ns"

# Stored in an indexed column when the key is there but its value is not of the column's type
# (an array, an object, a number where a string is expected...).
UNSURE = "\x00?"

# A catalog longer than this is not turned into an IN list.
MAX_CATALOG = 1000
# Beyond these, further parts of a filter are left to the evaluator. They keep the SQL within
# SQLite's limits (expression depth 1000, 32766 parameters) whatever the filter.
MAX_ITEMS = 100
MAX_LEAVES = 200
MAX_PARAMS = 5000


@dataclass(frozen=True)
class IndexedField:
    """A ``jsonPayload`` path with its own column (``numeric``: a double, else folded text)."""

    keys: tuple[str, ...]
    column: str
    numeric: bool


INDEXED_FIELDS = (
    IndexedField(("connection", "src_ip"), "src_ip", numeric=False),
    IndexedField(("connection", "dest_ip"), "dest_ip", numeric=False),
    IndexedField(("connection", "src_port"), "src_port", numeric=True),
    IndexedField(("connection", "dest_port"), "dest_port", numeric=True),
    IndexedField(("connection", "protocol"), "protocol", numeric=True),
)
_BY_KEYS = {f.keys: f for f in INDEXED_FIELDS}


# The indexed fields share their parent object (the connection), so it is looked up once.
_PARENT = INDEXED_FIELDS[0].keys[:-1]
assert all(f.keys[:-1] == _PARENT for f in INDEXED_FIELDS)
_NO_VALUES: tuple[None, ...] = (None,) * len(INDEXED_FIELDS)
_UNSURE_VALUES = (UNSURE,) * len(INDEXED_FIELDS)


def index_values(entry: Mapping[str, Any]) -> tuple[str | float | None, ...]:
    """The indexed columns of an entry, in :data:`INDEXED_FIELDS` order: what the evaluator
    would see at each path when it is a plain string (folded) or number, ``None`` when the
    path is missing, :data:`UNSURE` otherwise."""
    parent: Any = entry.get("jsonPayload")
    for key in _PARENT:
        if isinstance(parent, list):
            return _UNSURE_VALUES
        if not isinstance(parent, dict):
            return _NO_VALUES
        parent = parent.get(key)
    if isinstance(parent, list):
        return _UNSURE_VALUES
    if not isinstance(parent, dict):
        return _NO_VALUES
    out: list[str | float | None] = []
    for spec in INDEXED_FIELDS:
        value = parent.get(spec.keys[-1], _ABSENT)
        if value is _ABSENT:
            out.append(None)
        elif spec.numeric:
            kind = type(value)
            out.append(as_double(value) if kind is int or kind is float else UNSURE)
        else:
            out.append(fold(value) if type(value) is str else UNSURE)
    return tuple(out)


_ABSENT = object()


@dataclass(frozen=True)
class Sql:
    text: str
    params: tuple[Any, ...] = ()


TRUE = Sql("1")
FALSE = Sql("0")


@dataclass(frozen=True)
class Catalog:
    """Every distinct ``logName`` and ``resource.type`` in the table."""

    log_names: tuple[str, ...] = ()
    resource_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Compiled:
    where: Sql  # selects every matching row (and maybe more)
    exact: bool  # ... and no more: the evaluator need not run


def compile_filter(node: ast.Node, catalog: Catalog) -> Compiled:
    may, must = _Compiler(catalog).node(node)
    return Compiled(may, may == must)


# A low-cardinality column: its name, every value it can hold, and an entry with that value.
_Column = tuple[str, Sequence[Any], Callable[[Any], dict[str, Any]]]


@dataclass
class _Compiler:
    """One compilation: the catalog, and the budget of leaves and parameters spent so far."""

    catalog: Catalog
    params: int = 0
    leaves: int = 0
    _columns: dict[tuple[str, ...], _Column] = field(init=False)

    def __post_init__(self) -> None:
        self._columns = {
            ("logName",): (COL_LOG_NAME, self.catalog.log_names, lambda v: {"logName": v}),
            ("resource", "type"): (
                COL_RESOURCE_TYPE,
                self.catalog.resource_types,
                lambda v: {"resource": {"type": v}},
            ),
            ("severity",): (
                COL_SEVERITY,
                tuple(SEVERITIES.values()),
                lambda v: {} if v == 0 else {"severity": _SEVERITY_NAME[v]},
            ),
        }

    def node(self, node: ast.Node) -> tuple[Sql, Sql]:
        if isinstance(node, ast.And):
            parts = [self.node(n) for n in node.items[:MAX_ITEMS]]
            complete = len(node.items) <= MAX_ITEMS
            return _and([p[0] for p in parts]), (_and([p[1] for p in parts]) if complete else FALSE)
        if isinstance(node, ast.Or):
            parts = [self.node(n) for n in node.items[:MAX_ITEMS]]
            complete = len(node.items) <= MAX_ITEMS
            return (_or([p[0] for p in parts]) if complete else TRUE), _or([p[1] for p in parts])
        if isinstance(node, ast.Not):
            may, must = self.node(node.item)
            return _not(must), _not(may)
        if isinstance(node, ast.MatchAll):
            return TRUE, TRUE
        if self.params > MAX_PARAMS or self.leaves >= MAX_LEAVES:
            return TRUE, FALSE
        compiled = self.catalog_leaf(node) or self.time_leaf(node) or self.indexed_leaf(node)
        if compiled is None:
            return TRUE, FALSE
        self.leaves += 1
        self.params += len(compiled[0].params) + len(compiled[1].params)
        return compiled

    # -- leaves decided by one low-cardinality column ------------------------------------
    def catalog_leaf(self, node: ast.Node) -> tuple[Sql, Sql] | None:
        refs = _field_refs(node)
        if isinstance(node, ast.LogId | ast.Source):
            refs = {("logName",)}
        if len(refs) != 1:
            return None
        column = self._columns.get(next(iter(refs)))
        if column is None:
            return None
        name, domain, synthetic = column
        if len(domain) > MAX_CATALOG:
            return None
        hits = [v for v in domain if evaluate(node, synthetic(v))]
        if not hits:
            return FALSE, FALSE
        if len(hits) == len(domain):
            return TRUE, TRUE
        sql = Sql(f"{name} IN ({', '.join('?' * len(hits))})", tuple(hits))
        return sql, sql

    # -- timestamps: always present, compared as instants --------------------------------
    def time_leaf(self, node: ast.Node) -> tuple[Sql, Sql] | None:
        lhs = node.lhs if isinstance(node, ast.Compare | ast.Present) else None
        if not (isinstance(lhs, FieldRef) and not lhs.keys):
            return None
        name = _TIME_COLUMNS.get(lhs.schema)
        if name is None:
            return None
        if isinstance(node, ast.Present):
            return TRUE, TRUE
        assert isinstance(node, ast.Compare)
        if node.op in ("=~", "!~"):
            return FALSE, FALSE
        if node.rhs.is_null:
            return (TRUE, TRUE) if node.op == "!=" else (FALSE, FALSE)
        instant = to_timestamp(node.rhs.text)
        if instant is None:
            return FALSE, FALSE
        sql = Sql(f"{name} {_sql_op(node.op)} ?", (instant,))
        return sql, sql

    # -- jsonPayload fields with a column of their own ------------------------------------
    def indexed_leaf(self, node: ast.Node) -> tuple[Sql, Sql] | None:
        lhs = node.lhs if isinstance(node, ast.Compare | ast.Present) else None
        if not (isinstance(lhs, FieldRef) and lhs.schema == ("jsonPayload",)):
            return None
        spec = _BY_KEYS.get(lhs.keys)
        if spec is None:
            return None
        col = spec.column
        present = Sql(f"{col} IS NOT NULL")
        sure = Sql(f"{col} IS NOT ?", (UNSURE,))
        unsure = Sql(f"{col} IS ?", (UNSURE,))
        if isinstance(node, ast.Present):
            return present, _and([present, sure])
        assert isinstance(node, ast.Compare)
        pred = self.indexed_predicate(spec, node)
        if pred is None:  # no value of the column's type satisfies it
            return (present if not spec.numeric and _is_regex(node) else unsure), FALSE
        must = _and([present, sure, pred])
        equality = node.op == "=" or (node.op == ":" and spec.numeric)
        if equality and pred != TRUE:  # an IN list the column's index can use
            return _and([present, Sql(f"{col} IN (?, ?)", (*pred.params, UNSURE))]), must
        return _and([present, _or([unsure, pred])]), must

    def indexed_predicate(self, spec: IndexedField, node: ast.Compare) -> Sql | None:
        """The comparison on a proper (non-UNSURE, non-NULL) column value, or ``None`` when no
        such value satisfies it (for strings: when only the evaluator can tell)."""
        col = spec.column
        if _is_regex(node):
            return None
        if node.rhs.is_null:
            return TRUE if node.op == "!=" else None
        if spec.numeric:
            number = to_number(node.rhs.text)
            if number is None:
                return None
            return Sql(f"{col} {_sql_op(node.op)} ?", (number,))
        text = fold(node.rhs.text)
        if node.op == ":":
            return Sql(f"instr({col}, ?) > 0", (text,))
        return Sql(f"{col} {_sql_op(node.op)} ?", (text,))


_SEVERITY_NAME = {v: k for k, v in SEVERITIES.items()}
_TIME_COLUMNS: dict[tuple[str, ...], str] = {
    ("timestamp",): COL_TIMESTAMP,
    ("receiveTimestamp",): COL_RECEIVE_TIMESTAMP,
}


def _is_regex(node: ast.Compare) -> bool:
    return node.op in ("=~", "!~")


def _sql_op(op: str) -> str:
    return "=" if op == ":" else op


def _field_refs(node: ast.Node) -> set[tuple[str, ...]]:
    """The schema paths a leaf reads, or a marker when it reads anything else."""
    values: list[ast.ValueExpr] = []
    if isinstance(node, ast.Compare | ast.Present):
        values.append(node.lhs)
    elif isinstance(node, ast.IpInNet | ast.Sample):
        values.append(node.field)
    else:
        return {("*",)}
    refs: set[tuple[str, ...]] = set()
    while values:
        value = values.pop()
        if isinstance(value, FieldRef):
            refs.add(value.schema if not value.keys else ("*",))
        else:
            values.append(value.arg)
    return refs


def _and(parts: list[Sql]) -> Sql:
    if any(p == FALSE for p in parts):
        return FALSE
    kept = [p for p in parts if p != TRUE]
    if not kept:
        return TRUE
    if len(kept) == 1:
        return kept[0]
    return Sql(
        "(" + " AND ".join(p.text for p in kept) + ")", tuple(x for p in kept for x in p.params)
    )


def _or(parts: list[Sql]) -> Sql:
    if any(p == TRUE for p in parts):
        return TRUE
    kept = [p for p in parts if p != FALSE]
    if not kept:
        return FALSE
    if len(kept) == 1:
        return kept[0]
    return Sql(
        "(" + " OR ".join(p.text for p in kept) + ")", tuple(x for p in kept for x in p.params)
    )


def _not(part: Sql) -> Sql:
    if part == TRUE:
        return FALSE
    if part == FALSE:
        return TRUE
    return Sql(
        f"NOT {part.text}" if part.text.startswith("(") else f"NOT ({part.text})", part.params
    )
