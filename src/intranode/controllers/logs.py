"""Writing and reading log entries (Logging v2 ``entries:write`` / ``entries:list``).

``write_entries(ctx, entries)`` is how everything inside intranode writes logs (the flow-log
collector above all): it checks and completes each entry (:mod:`intranode.domain.logquery.
entry`) and stores the batch with one ``executemany`` in one transaction.

Writing also drops the days past the retention, at most once an hour
(:meth:`~intranode.store.logs.LogStore.prune_if_due`).

Reading parses the filter, compiles it to SQL that selects candidates over indexed columns
(:mod:`intranode.domain.logquery.compile_sql`), reads only the days the filter's top-level
``timestamp`` comparisons allow (:func:`time_bounds`), and runs the exact semantics
(:func:`~intranode.domain.logquery.evaluate.evaluate`) on each candidate unless the SQL was
exact. Pages continue after a row key carried in an opaque page token; a page that has
examined :data:`SCAN_BUDGET` candidates without filling up ends early with a token, so a
request never scans the whole table at once (callers keep paging, as with Google).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from intranode.controllers import serviceusage
from intranode.controllers.context import Context
from intranode.domain.logquery import ast
from intranode.domain.logquery.compile_sql import compile_filter
from intranode.domain.logquery.entry import (
    StoredEntry,
    WriteContext,
    canonical_log_name,
    is_parent,
    parent_of,
    prepare,
)
from intranode.domain.logquery.errors import invalid
from intranode.domain.logquery.evaluate import evaluate
from intranode.domain.logquery.parser import parse
from intranode.domain.logquery.schema import FieldRef
from intranode.domain.logquery.values import NS, to_timestamp
from intranode.domain.resources import project_number
from intranode.errors import InvalidArgument, NotFound
from intranode.store.logs import Order, RowKey

LOGGING = "logging.googleapis.com"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_RESOURCE_NAMES = 100
SCAN_BUDGET = 20_000
_FIRST_CHUNK = 256
_MAX_CHUNK = 4096

# insertIds: a random prefix per daemon process and a counter, so they are unique and cheap.
_ALPHABET = string.ascii_lowercase + string.digits
_PREFIX = "".join(secrets.choice(_ALPHABET) for _ in range(6))
_COUNTER = itertools.count(int.from_bytes(secrets.token_bytes(3), "big"))


def new_insert_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):010x}"


# -- writing ---------------------------------------------------------------------------------
def write_entries(ctx: Context, entries: list[dict[str, Any]]) -> None:
    """Store complete LogEntry documents (``logName`` and ``resource`` set on each); fills
    ``insertId``, ``timestamp`` and ``receiveTimestamp``. Any bad entry refuses the batch
    with ``InvalidArgument`` and stores nothing."""
    wctx = _write_context(ctx)
    stored = [prepare(e, f"entries[{i}]", wctx) for i, e in enumerate(entries)]
    _store(ctx, stored, wctx)


@dataclass(frozen=True)
class WriteRequest:
    entries: list[Any]
    log_name: str | None = None
    resource: dict[str, Any] | None = None
    labels: dict[str, str] | None = None
    partial_success: bool = False
    dry_run: bool = False


def write_request(ctx: Context, req: WriteRequest) -> None:
    """``entries:write``: request-level ``logName``, ``resource`` and ``labels`` are defaults
    for each entry. Without ``partialSuccess`` one bad entry refuses all; with it the good
    ones are written and the bad ones reported (400 with ``WriteLogEntriesPartialErrors``).
    ``dryRun`` checks everything and writes nothing."""
    if not req.entries:
        raise invalid("No log entries were given: entries must not be empty.")
    wctx = _write_context(ctx)
    stored: list[StoredEntry] = []
    errors: dict[str, dict[str, Any]] = {}
    for i, raw in enumerate(req.entries):
        try:
            stored.append(prepare(_with_defaults(raw, req), f"entries[{i}]", wctx))
        except InvalidArgument as err:
            if not req.partial_success:
                raise
            errors[str(i)] = {"code": 3, "message": err.message}
    projects = {_project_of(e.log_name) for e in stored}
    for project in sorted(p for p in projects if p is not None):
        serviceusage.require_enabled(ctx, project, LOGGING)
    if not req.dry_run:
        _store(ctx, stored, wctx)
    if errors:
        first = min(errors, key=int)
        raise invalid(
            f"Log entry with index {first} is invalid: {errors[first]['message']}",
            details=[
                {
                    "@type": "type.googleapis.com/google.logging.v2.WriteLogEntriesPartialErrors",
                    "logEntryErrors": errors,
                }
            ],
        )


def _store(ctx: Context, stored: list[StoredEntry], wctx: WriteContext) -> None:
    # Retention runs on the write path, so a daemon that writes nothing does no work for it.
    ctx.logs.prune_if_due(wctx.receive_ns / NS)
    ctx.logs.insert(stored)


def _with_defaults(raw: Any, req: WriteRequest) -> Any:
    if not isinstance(raw, Mapping):
        return raw
    entry = dict(raw)
    if req.log_name and not entry.get("logName") and not entry.get("log_name"):
        entry["logName"] = req.log_name
    if req.resource is not None and not entry.get("resource"):
        entry["resource"] = req.resource
    if req.labels:
        own = entry.get("labels")
        entry["labels"] = {**req.labels, **(own if isinstance(own, Mapping) else {})}
    return entry


def _write_context(ctx: Context) -> WriteContext:
    project = ctx.settings.project
    return WriteContext(
        receive_ns=int(ctx.clock() * NS),
        new_insert_id=new_insert_id,
        project_ids={project_number(project): project},
    )


def _project_of(log_name: str) -> str | None:
    kind, _, ident = parent_of(log_name).partition("/")
    return ident if kind == "projects" else None


# -- reading ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ListRequest:
    resource_names: Sequence[str]
    filter: str = ""
    order_by: str = ""
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class Page:
    entries: list[str]  # each entry's JSON text, as stored
    next_page_token: str | None


def list_entries(ctx: Context, req: ListRequest) -> Page:
    parents = _parents(ctx, req.resource_names)
    order = _order(req.order_by)
    size = _page_size(req.page_size)
    node = parse(req.filter)
    for parent in parents:
        kind, _, ident = parent.partition("/")
        if kind == "projects":
            serviceusage.require_enabled(ctx, ident, LOGGING)
    fingerprint = _fingerprint(parents, req.filter, order)
    after = _decode_token(req.page_token, fingerprint) if req.page_token else None

    catalog = ctx.logs.catalog()
    scope = [name for name in catalog.log_names if parent_of(name) in parents]
    compiled = compile_filter(node, catalog)
    since, until = time_bounds(node)
    matches: list[str] = []
    last_key: RowKey | None = None
    cursor = after
    examined = 0
    chunk = size + 1 if compiled.exact else max(size + 1, _FIRST_CHUNK)
    while True:
        rows = ctx.logs.scan(
            parents, scope, compiled.where, order, cursor, chunk, since_ns=since, until_ns=until
        )
        for row in rows:
            examined += 1
            cursor = row.key
            if compiled.exact or evaluate(node, json.loads(row.entry_json)):
                if len(matches) == size:  # one more match exists: this page is not the last
                    return Page(matches, _encode_token(last_key, fingerprint))
                matches.append(row.entry_json)
                last_key = row.key
        if len(rows) < chunk:
            return Page(matches, None)
        if examined >= SCAN_BUDGET:
            assert cursor is not None
            return Page(matches, _encode_token(cursor, fingerprint))
        chunk = min(chunk * 2, _MAX_CHUNK)


def time_bounds(node: ast.Node) -> tuple[int | None, int | None]:
    """The ``timestamp`` range (ns, inclusive) every entry matching ``node`` lies in, from
    its top-level ``timestamp`` comparisons (``None``: unbounded). The clients always send
    one (``timestamp>="..."``), so a read visits only the days it names."""
    since: int | None = None
    until: int | None = None
    for item in node.items if isinstance(node, ast.And) else (node,):
        if not (
            isinstance(item, ast.Compare)
            and isinstance(item.lhs, FieldRef)
            and item.lhs.schema == ("timestamp",)
            and not item.lhs.keys
            and not item.rhs.is_null
        ):
            continue
        instant = to_timestamp(item.rhs.text)
        if instant is None:
            continue
        if item.op in (">", ">=", "=", ":"):
            since = instant if since is None else max(since, instant)
        if item.op in ("<", "<=", "=", ":"):
            until = instant if until is None else min(until, instant)
    return since, until


def _parents(ctx: Context, names: Sequence[str]) -> list[str]:
    """The parents (``projects/P``...) of the requested resource names, P as its id."""
    if not names:
        raise invalid(
            "resourceNames is required: name at least one parent such as projects/PROJECT_ID."
        )
    if len(names) > MAX_RESOURCE_NAMES:
        raise invalid(
            f"resourceNames names {len(names)} resources; at most {MAX_RESOURCE_NAMES} are allowed."
        )
    parents: list[str] = []
    for name in names:
        # A log view (projects/P/locations/L/buckets/B/views/V) reads its project's logs.
        parent = "/".join(name.split("/")[:2])
        rest = name.split("/")[2:]
        view = len(rest) == 6 and rest[0::2] == ["locations", "buckets", "views"] and all(rest)
        if not is_parent(parent) or (rest and not view):
            raise invalid(
                f'Invalid resource name "{name}": expected projects/[PROJECT_ID], '
                "organizations/[ORGANIZATION_ID], folders/[FOLDER_ID], "
                "billingAccounts/[BILLING_ACCOUNT_ID] or a log view of one of them."
            )
        kind, _, ident = parent.partition("/")
        if kind == "projects":
            parent = f"projects/{serviceusage.resolve_project(ctx, ident)}"
        if parent not in parents:
            parents.append(parent)
    return parents


def _order(order_by: str) -> Order:
    words = order_by.split()
    if not words or [w.lower() for w in words] == ["timestamp"]:
        return "asc"
    if len(words) == 2 and words[0].lower() == "timestamp" and words[1].lower() in ("asc", "desc"):
        return "asc" if words[1].lower() == "asc" else "desc"
    raise invalid(f'Invalid orderBy "{order_by}": use "timestamp asc" or "timestamp desc".')


def _page_size(page_size: int) -> int:
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        raise invalid(f"Invalid pageSize {page_size}: it must be between 0 and {MAX_PAGE_SIZE}.")
    return page_size or DEFAULT_PAGE_SIZE


def _fingerprint(parents: Sequence[str], filter_: str, order: Order) -> str:
    digest = hashlib.sha256(json.dumps([sorted(parents), filter_, order]).encode())
    return digest.hexdigest()[:16]


def _encode_token(key: RowKey | None, fingerprint: str) -> str:
    assert key is not None
    raw = json.dumps([*key, fingerprint], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, fingerprint: str) -> RowKey:
    bad = invalid(
        f'Invalid page token "{token}": use the nextPageToken of the previous response, with '
        "the same resourceNames, filter and orderBy."
    )
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
        ts, insert_id, seq, fp = json.loads(raw)
    except (ValueError, TypeError, UnicodeError, binascii.Error) as exc:
        raise bad from exc
    if fp != fingerprint or not (
        isinstance(ts, int) and isinstance(insert_id, str) and isinstance(seq, int)
    ):
        raise bad
    return (ts, insert_id, seq)


# -- logs ------------------------------------------------------------------------------------
def list_logs(
    ctx: Context, parent: str, page_size: int, page_token: str
) -> tuple[list[str], str | None]:
    """The names of the logs that have entries under ``parent`` (``projects/P``)."""
    (resolved,) = _parents(ctx, [parent])
    size = _page_size(page_size)
    names = [n for n in ctx.logs.catalog().log_names if parent_of(n) == resolved]
    start = 0
    if page_token:
        try:
            start = int(base64.urlsafe_b64decode(page_token + "=" * (-len(page_token) % 4)))
        except (ValueError, binascii.Error) as exc:
            raise invalid(f'Invalid page token "{page_token}".') from exc
    page = names[start : start + size]
    more = start + size < len(names)
    token = base64.urlsafe_b64encode(str(start + size).encode()).decode().rstrip("=")
    return page, token if more else None


def delete_log(ctx: Context, log_name: str) -> None:
    name = canonical_log_name(
        log_name, {project_number(ctx.settings.project): ctx.settings.project}
    )
    project = _project_of(name)
    if project is not None:
        serviceusage.require_enabled(ctx, project, LOGGING)
    if ctx.logs.delete_log(name) == 0:
        raise NotFound(f"Log {name} does not exist.")
