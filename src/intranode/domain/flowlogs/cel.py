"""``logConfig.filterExpr``: the CEL subset VPC Flow Logs document, parsed, type-checked against
the flow-log record and compiled to a Python predicate.

Supported (``gcp_vpc_specs.md`` §A6):

* field paths without the ``jsonPayload.`` prefix: ``connection.dest_port``,
  ``src_instance.vm_name``, ``dest_gke_details.pod.pod_workload.workload_type``, ``reporter``;
* literals: integers (decimal, ``0x`` hex, ``u`` suffix), doubles, strings in single or double
  quotes (with ``r`` raw prefix and the usual escapes), ``true``, ``false``, ``null``, lists;
* ``==`` ``!=`` ``<`` ``<=`` ``>`` ``>=`` (numbers with numbers, strings with strings, bools
  with bools), ``in`` (a value in a list), ``!``, unary ``-``, ``&&``, ``||``, parentheses;
* ``has(path)`` (whether a metadata field is present; a bare top-level name is accepted too)
  and ``inIpRange(ip, 'cidr')``.

Anything else (arithmetic, macros, the ternary operator, methods) is refused with a clear
error. Types follow the record's proto: ``bytes_sent``, ``packets_sent`` and ``rtt_msec`` are
int64 (they are JSON strings only on the wire), ports and protocol are ints. As for a proto
message, reading a field that is not set gives its default (``""``, ``0``, ``false``), so
``src_instance.vm_name != 'a'`` holds for a record without ``src_instance``; ``has()`` tells
the two apart. Evaluation never fails: an IP that is not an address is in no range.

Public API: :func:`compile_filter(text) -> Predicate <compile_filter>` (cached),
:func:`validate_filter_expr(text)` (raises ``InvalidArgument`` as the Compute API answers),
:class:`CelError` (message with the column, ``ERROR: <input>:1:COL: ...`` like cel-go).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from intranode.errors import InvalidArgument

Predicate = Callable[[Mapping[str, Any]], bool]
MAX_LENGTH = 2048


# -- the record's types -------------------------------------------------------------------------
@dataclass(frozen=True)
class Type:
    name: str  # int, double, string, bool, null, list, or a message name
    fields: Mapping[str, Type] | None = None  # for messages
    elem: Type | None = None  # for lists

    def __str__(self) -> str:
        if self.name == "list":
            return f"list({self.elem})"
        return self.name


INT, DOUBLE, STRING, BOOL, NULL = (
    Type("int"),
    Type("double"),
    Type("string"),
    Type("bool"),
    Type("null_type"),
)
DYN = Type("dyn")  # the element type of an empty list literal


def _msg(type_name: str, /, **fields: Type) -> Type:
    return Type(type_name, fields)


_INSTANCE = _msg(
    "InstanceDetails",
    project_id=STRING,
    region=STRING,
    zone=STRING,
    vm_name=STRING,
    managed_instance_group=_msg("InstanceGroupDetails", name=STRING, region=STRING, zone=STRING),
)
_VPC = _msg(
    "VpcDetails",
    project_id=STRING,
    vpc_name=STRING,
    subnetwork_name=STRING,
    subnetwork_region=STRING,
)
_GKE = _msg(
    "GkeDetails",
    cluster=_msg("ClusterDetails", cluster_name=STRING, cluster_location=STRING),
    pod=_msg(
        "PodDetails",
        pod_name=STRING,
        pod_namespace=STRING,
        pod_workload=_msg("WorkloadDetails", workload_name=STRING, workload_type=STRING),
    ),
    service=Type(
        "list", elem=_msg("ServiceDetails", service_name=STRING, service_namespace=STRING)
    ),
)
_LOCATION = _msg(
    "GeographicDetails", continent=STRING, country=STRING, region=STRING, city=STRING, asn=INT
)
_GOOGLE_SERVICE = _msg("GoogleServiceDetails", type=STRING)
_GATEWAY = _msg(
    "GatewayDetails",
    project_id=STRING,
    location=STRING,
    name=STRING,
    type=STRING,
    vpc=_VPC,
)
RECORD = _msg(
    "VpcFlowLogRecord",
    connection=_msg(
        "IpConnection",
        src_ip=STRING,
        src_port=INT,
        dest_ip=STRING,
        dest_port=INT,
        protocol=INT,
    ),
    reporter=STRING,
    bytes_sent=INT,
    packets_sent=INT,
    rtt_msec=INT,
    start_time=STRING,
    end_time=STRING,
    src_instance=_INSTANCE,
    dest_instance=_INSTANCE,
    src_vpc=_VPC,
    dest_vpc=_VPC,
    src_gke_details=_GKE,
    dest_gke_details=_GKE,
    src_location=_LOCATION,
    dest_location=_LOCATION,
    src_google_service=_GOOGLE_SERVICE,
    dest_google_service=_GOOGLE_SERVICE,
    src_gateway=_GATEWAY,
    dest_gateway=_GATEWAY,
)
_DEFAULTS: dict[str, Any] = {"int": 0, "double": 0.0, "string": "", "bool": False}


class CelError(ValueError):
    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"ERROR: <input>:1:{column}: {message}")
        self.reason = message
        self.column = column


# -- lexer --------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<double>(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
  | (?P<int>0[xX][0-9a-fA-F]+[uU]?|\d+[uU]?)
  | (?P<string>[rR]?(?:'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\].,\-+*/%?:{}])
    """,
    re.VERBOSE,
)
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "`": "`",
    "?": "?",
}
_RESERVED = frozenset(
    {
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "namespace",
        "package",
        "return",
        "var",
        "void",
        "while",
    }
)


@dataclass(frozen=True)
class Tok:
    kind: str  # int, double, string, ident, op, end
    text: str
    col: int  # 1-based
    value: Any = None


def _unescape(body: str, col: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xX" and re.fullmatch(r"[0-9a-fA-F]{2}", body[i + 2 : i + 4]):
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif re.fullmatch(r"[0-3][0-7]{2}", body[i + 1 : i + 4]):
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        else:
            raise CelError(f"invalid escape sequence '\\{nxt}' in string literal", col)
    return "".join(out)


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise CelError(f"Syntax error: token recognition error at: '{text[pos]}'", pos + 1)
        kind = m.lastgroup or ""
        raw = m.group()
        col = pos + 1
        pos = m.end()
        if kind == "ws":
            continue
        if kind == "int":
            digits = raw.rstrip("uU")
            value = int(digits, 16) if digits[:2] in ("0x", "0X") else int(digits)
            if value > 2**63 - 1 + (1 if raw[-1] in "uU" else 0) * 2**63:
                raise CelError(f"integer literal out of range: {raw}", col)
            toks.append(Tok("int", raw, col, value))
        elif kind == "double":
            toks.append(Tok("double", raw, col, float(raw)))
        elif kind == "string":
            is_raw = raw[0] in "rR"
            body = raw[2:-1] if is_raw else raw[1:-1]
            toks.append(Tok("string", raw, col, body if is_raw else _unescape(body, col)))
        else:
            toks.append(Tok(kind, raw, col))
    toks.append(Tok("end", "", len(text) + 1))
    return toks


# -- parser: a checked AST ------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    op: str  # lit, list, field, has, not, neg, and, or, cmp, in, iniprange
    type: Type
    col: int
    args: tuple[Any, ...] = ()


_CMP = {"==": "_==_", "!=": "_!=_", "<": "_<_", "<=": "_<=_", ">": "_>_", ">=": "_>=_"}
_NUMERIC = ("int", "double")


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, text: str) -> Tok:
        if self.tok.text != text or self.tok.kind not in ("op", "ident"):
            raise self.unexpected(f"expecting '{text}'")
        return self.take()

    def unexpected(self, wanted: str = "") -> CelError:
        t = self.tok
        shown = "<EOF>" if t.kind == "end" else t.text
        extra = f", {wanted}" if wanted else ""
        return CelError(f"Syntax error: mismatched input '{shown}'{extra}", t.col)

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise CelError("Syntax error: the expression is empty", 1)
        node = self.or_()
        if self.tok.kind != "end":
            if self.tok.text == "?":
                raise CelError("the conditional operator '? :' is not supported", self.tok.col)
            raise self.unexpected("expecting <EOF>")
        if node.type != BOOL:
            raise CelError(
                f"expected type 'bool' but found '{node.type}': a filter must be true or false",
                node.col,
            )
        return node

    def or_(self) -> Node:
        left = self.and_()
        while self.tok.text == "||" and self.tok.kind == "op":
            col = self.take().col
            right = self.and_()
            left = Node("or", BOOL, col, (_bool(left, "_||_"), _bool(right, "_||_")))
        return left

    def and_(self) -> Node:
        left = self.relation()
        while self.tok.text == "&&" and self.tok.kind == "op":
            col = self.take().col
            right = self.relation()
            left = Node("and", BOOL, col, (_bool(left, "_&&_"), _bool(right, "_&&_")))
        return left

    def relation(self) -> Node:
        left = self.unary()
        while (self.tok.kind == "op" and self.tok.text in _CMP) or (
            self.tok.kind == "ident" and self.tok.text == "in"
        ):
            op = self.take()
            right = self.unary()
            left = _compare(op.text, left, right, op.col)
        if self.tok.kind == "op" and self.tok.text in "+-*/%":
            raise CelError(f"the operator '{self.tok.text}' is not supported", self.tok.col)
        return left

    def unary(self) -> Node:
        t = self.tok
        if t.kind == "op" and t.text == "!":
            self.take()
            return Node("not", BOOL, t.col, (_bool(self.unary(), "!_"),))
        if t.kind == "op" and t.text == "-":
            self.take()
            inner = self.unary()
            if inner.type.name not in _NUMERIC:
                raise CelError(
                    f"found no matching overload for '-_' applied to '({inner.type})'", t.col
                )
            if inner.op == "lit":
                return Node("lit", inner.type, t.col, (-inner.args[0],))
            return Node("neg", inner.type, t.col, (inner,))
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while self.tok.kind == "op" and self.tok.text in (".", "["):
            t = self.take()
            if t.text == "[":
                raise CelError("indexing with '[...]' is not supported", t.col)
            name = self.take()
            if name.kind != "ident":
                raise CelError("Syntax error: expected a field name after '.'", name.col)
            if self.tok.text == "(" and self.tok.kind == "op":
                raise CelError(f"the method '{name.text}()' is not supported", name.col)
            node = _select(node, name.text, name.col)
        return node

    def primary(self) -> Node:
        t = self.take()
        if t.kind in ("int", "double", "string"):
            typ = {"int": INT, "double": DOUBLE, "string": STRING}[t.kind]
            return Node("lit", typ, t.col, (t.value,))
        if t.kind == "op" and t.text == "(":
            inner = self.or_()
            self.expect(")")
            return inner
        if t.kind == "op" and t.text == "[":
            return self.list_literal(t)
        if t.kind != "ident":
            self.i -= 1
            raise self.unexpected()
        if t.text in ("true", "false"):
            return Node("lit", BOOL, t.col, (t.text == "true",))
        if t.text == "null":
            return Node("lit", NULL, t.col, (None,))
        if t.text in _RESERVED or t.text == "in":
            raise CelError(f"reserved identifier: {t.text}", t.col)
        if self.tok.text == "(" and self.tok.kind == "op":
            return self.call(t)
        field_type = RECORD.fields.get(t.text) if RECORD.fields else None
        if field_type is None:
            raise CelError(f"undeclared reference to '{t.text}' (in container '')", t.col)
        return Node("field", field_type, t.col, ((t.text,),))

    def list_literal(self, open_tok: Tok) -> Node:
        items: list[Node] = []
        while not (self.tok.kind == "op" and self.tok.text == "]"):
            items.append(self.or_())
            if self.tok.kind == "op" and self.tok.text == ",":
                self.take()
            elif not (self.tok.kind == "op" and self.tok.text == "]"):
                raise self.unexpected("expecting ',' or ']'")
        self.take()
        types = {n.type.name for n in items}
        if len(types) > 1 and not types <= set(_NUMERIC):
            raise CelError(
                "type mismatch: a list literal mixes "
                + " and ".join(sorted(str(t) for t in types)),
                open_tok.col,
            )
        if any(n.op != "lit" for n in items):
            raise CelError("list elements must be literals", open_tok.col)
        elem = items[0].type if items else DYN
        return Node(
            "list", Type("list", elem=elem), open_tok.col, (tuple(n.args[0] for n in items),)
        )

    def call(self, name: Tok) -> Node:
        self.expect("(")
        args: list[Node] = []
        has_arg: Node | None = None
        if name.text == "has":
            has_arg = self.has_argument()
        else:
            while not (self.tok.kind == "op" and self.tok.text == ")"):
                args.append(self.or_())
                if self.tok.kind == "op" and self.tok.text == ",":
                    self.take()
                elif not (self.tok.kind == "op" and self.tok.text == ")"):
                    raise self.unexpected("expecting ',' or ')'")
        self.expect(")")
        if name.text == "has":
            assert has_arg is not None
            return Node("has", BOOL, name.col, (has_arg.args[0], has_arg.type))
        if name.text == "inIpRange":
            sig = ", ".join(str(a.type) for a in args)
            if len(args) != 2 or any(a.type != STRING for a in args):
                raise CelError(
                    f"found no matching overload for 'inIpRange' applied to '({sig})'", name.col
                )
            cidr = args[1]
            net: Any = None
            if cidr.op == "lit":
                try:
                    net = ipaddress.ip_network(cidr.args[0], strict=False)
                except ValueError as exc:
                    raise CelError(
                        f"inIpRange: '{cidr.args[0]}' is not an IP range such as 10.0.0.0/8",
                        cidr.col,
                    ) from exc
            return Node("iniprange", BOOL, name.col, (args[0], cidr, net))
        raise CelError(
            f"undeclared reference to '{name.text}' (in container ''): only has() and "
            "inIpRange() are supported",
            name.col,
        )

    def has_argument(self) -> Node:
        node = self.member()
        if node.op != "field":
            raise CelError("invalid argument to has() macro: expected a field path", node.col)
        return node


def _bool(node: Node, op: str) -> Node:
    if node.type != BOOL:
        raise CelError(
            f"found no matching overload for '{op}' applied to '({node.type})'", node.col
        )
    return node


def _select(node: Node, name: str, col: int) -> Node:
    if node.op != "field" or node.type.fields is None:
        raise CelError(f"type '{node.type}' does not support field selection", col)
    typ = node.type.fields.get(name)
    if typ is None:
        raise CelError(f"undefined field '{name}'", col)
    return Node("field", typ, node.col, (node.args[0] + (name,),))


def _compare(op: str, left: Node, right: Node, col: int) -> Node:
    lt, rt = left.type, right.type
    if op == "in":
        if rt.name != "list" or rt.elem is None:
            raise CelError(f"found no matching overload for '@in' applied to '({lt}, {rt})'", col)
        elem = rt.elem
        if not (elem in (DYN, lt) or {lt.name, elem.name} <= set(_NUMERIC)):
            raise CelError(f"found no matching overload for '@in' applied to '({lt}, {rt})'", col)
        return Node("in", BOOL, col, (left, frozenset(right.args[0])))
    fn = _CMP[op]
    same = lt == rt and lt.fields is None and lt.name != "list"
    numeric = lt.name in _NUMERIC and rt.name in _NUMERIC
    if op in ("==", "!=") and (NULL in (lt, rt)):
        ok = True  # null compares with anything (and equals only null)
    elif op in ("==", "!="):
        ok = same or numeric
    else:
        ok = numeric or (same and lt.name in ("string", "bool"))
    if not ok:
        raise CelError(f"found no matching overload for '{fn}' applied to '({lt}, {rt})'", col)
    return Node("cmp", BOOL, col, (op, left, right))


# -- compiling to closures ------------------------------------------------------------------
_MISSING = object()


def _getter(path: tuple[str, ...], typ: Type) -> Callable[[Mapping[str, Any]], Any]:
    default: Any = _DEFAULTS.get(typ.name, [] if typ.name == "list" else None)
    convert = int if typ == INT else None

    def get(record: Mapping[str, Any]) -> Any:
        cur: Any = record
        for key in path:
            if not isinstance(cur, Mapping):
                return default
            cur = cur.get(key, _MISSING)
            if cur is _MISSING or cur is None:
                return default
        if convert is not None and isinstance(cur, str):
            try:
                return convert(cur)
            except ValueError:
                return default
        return cur

    return get


def _has(path: tuple[str, ...], typ: Type) -> Callable[[Mapping[str, Any]], bool]:
    """Proto3 presence: a message or list is present when set and non-empty, a scalar when it
    is not its default."""

    def has(record: Mapping[str, Any]) -> bool:
        cur: Any = record
        for key in path:
            if not isinstance(cur, Mapping) or cur.get(key) is None:
                return False
            cur = cur[key]
        if typ == INT and isinstance(cur, str):
            return cur.lstrip("-0") != ""
        if isinstance(cur, Mapping | list | str):
            return len(cur) > 0
        return bool(cur)

    return has


def _in_range(ip: str, net: Any) -> bool:
    try:
        return ipaddress.ip_address(ip) in net
    except (ValueError, TypeError):
        return False


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _compile(node: Node) -> Callable[[Mapping[str, Any]], Any]:
    op, args = node.op, node.args
    if op == "lit":
        value = args[0]
        return lambda r: value
    if op == "field":
        return _getter(args[0], node.type)
    if op == "has":
        return _has(args[0], args[1])
    if op == "not":
        inner = _compile(args[0])
        return lambda r: not inner(r)
    if op == "neg":
        inner = _compile(args[0])
        return lambda r: -inner(r)
    if op == "and":
        a, b = _compile(args[0]), _compile(args[1])
        return lambda r: a(r) and b(r)
    if op == "or":
        a, b = _compile(args[0]), _compile(args[1])
        return lambda r: a(r) or b(r)
    if op == "cmp":
        fn = _OPS[args[0]]
        a, b = _compile(args[1]), _compile(args[2])
        return lambda r: fn(a(r), b(r))
    if op == "in":
        a = _compile(args[0])
        members: frozenset[Any] = args[1]
        return lambda r: a(r) in members
    if op == "iniprange":
        ip = _compile(args[0])
        net = args[2]
        if net is not None:
            return lambda r: _in_range(ip(r), net)
        cidr = _compile(args[1])

        def dynamic(r: Mapping[str, Any]) -> bool:
            try:
                return _in_range(ip(r), ipaddress.ip_network(cidr(r), strict=False))
            except ValueError:
                return False

        return dynamic
    raise AssertionError(op)


def parse(text: str) -> Node:
    """The checked AST of a filter (raises :class:`CelError`)."""
    if len(text) > MAX_LENGTH:
        raise CelError(f"the expression is longer than {MAX_LENGTH} characters", 1)
    return _Parser(text).parse()


@lru_cache(maxsize=256)
def compile_filter(text: str) -> Predicate:
    """A predicate over a flow-log jsonPayload (metadata included); an empty or blank filter
    keeps every record."""
    if not text.strip():
        return lambda r: True
    fn = _compile(parse(text))
    return lambda r: bool(fn(r))


def validate_filter_expr(text: str) -> None:
    """Refuse a ``logConfig.filterExpr`` that is not a valid filter, as the Compute API does."""
    try:
        if text.strip():
            parse(text)
    except CelError as err:
        shown = text if len(text) <= 200 else text[:200] + "..."
        raise InvalidArgument(
            f"Invalid value for field 'resource.logConfig.filterExpr': '{shown}'. "
            f"Invalid filter expression: {err}"
        ) from err
