"""The filterExpr CEL subset: what it accepts, how it evaluates, and the errors it gives."""

from __future__ import annotations

from typing import Any

import pytest

from intranode.domain.flowlogs.cel import CelError, compile_filter, parse, validate_filter_expr
from intranode.errors import InvalidArgument

RECORD: dict[str, Any] = {
    "connection": {
        "src_ip": "10.4.0.5",
        "src_port": 43210,
        "dest_ip": "10.4.0.9",
        "dest_port": 8080,
        "protocol": 6,
    },
    "reporter": "SRC",
    "bytes_sent": "1224",
    "packets_sent": "7",
    "src_instance": {"vm_name": "node-a", "zone": "us-central1-a"},
    "src_gke_details": {"pod": {"pod_name": "client"}, "service": []},
}


@pytest.mark.parametrize(
    ("expr", "result"),
    [
        ("true", True),
        ("connection.dest_port == 8080", True),
        ("connection.dest_port != 8080", False),
        ("connection.protocol == 6 && reporter == 'SRC'", True),
        ('reporter == "DEST" || connection.src_port > 40000', True),
        ("!(connection.dest_port < 1024)", True),
        ("bytes_sent >= 1224 && packets_sent < 8", True),
        ("bytes_sent > 1000.5", True),
        ("inIpRange(connection.src_ip, '10.4.0.0/24')", True),
        ("inIpRange(connection.dest_ip, '10.0.0.0/16')", False),
        ("src_instance.vm_name == 'node-a'", True),
        ("dest_instance.vm_name == ''", True),  # unset message: its fields are defaults
        ("has(src_instance)", True),
        ("has(dest_instance.vm_name)", False),
        ("has(src_gke_details.service)", False),  # an empty list is not set
        ("dest_instance == null", True),
        ("connection.dest_port in [80, 8080]", True),
        ("reporter in ['DEST']", False),
        ("connection.src_port == 0xA8CA", True),
        ("-1 < connection.dest_port", True),
        (r"reporter == r'SRC' && 'a\x41' == 'aA'", True),
    ],
)
def test_evaluation(expr: str, result: bool) -> None:
    assert compile_filter(expr)(RECORD) is result


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("connection.nope == 1", "ERROR: <input>:1:12: undefined field 'nope'"),
        ("foo == 1", "ERROR: <input>:1:1: undeclared reference to 'foo' (in container '')"),
        (
            "connection.dest_port == '80'",
            "ERROR: <input>:1:22: found no matching overload for '_==_' applied to '(int, string)'",
        ),
        (
            "reporter < 3",
            "ERROR: <input>:1:10: found no matching overload for '_<_' applied to '(string, int)'",
        ),
        ("connection.dest_port", "expected type 'bool' but found 'int'"),
        ("reporter == 'SRC' &&", "Syntax error: mismatched input '<EOF>'"),
        ("reporter == 'SRC", "token recognition error at: '''"),
        ("inIpRange(connection.src_ip, 'bogus')", "'bogus' is not an IP range"),
        ("inIpRange(connection.src_port, '10.0.0.0/8')", "no matching overload for 'inIpRange'"),
        ("size(reporter) > 1", "undeclared reference to 'size'"),
        ("reporter.startsWith('S')", "the method 'startsWith()' is not supported"),
        ("reporter.size > 1", "type 'string' does not support field selection"),
        ("connection.src_port + 1 > 2", "the operator '+' is not supported"),
        ("true ? true : false", "the conditional operator '? :' is not supported"),
        ("has(1)", "invalid argument to has() macro"),
        ("  ", "the expression is empty"),
        ("'\\q' == 'q'", "invalid escape sequence"),
    ],
)
def test_errors(expr: str, message: str) -> None:
    with pytest.raises(CelError) as err:
        parse(expr)
    assert message in str(err.value)


def test_an_empty_filter_keeps_everything() -> None:
    assert compile_filter("")(RECORD) is True
    assert compile_filter("  ")({}) is True


def test_validate_filter_expr_answers_as_the_compute_api() -> None:
    validate_filter_expr("inIpRange(connection.src_ip, '10.0.0.0/8')")  # the TF-tested form
    validate_filter_expr("")
    with pytest.raises(InvalidArgument) as err:
        validate_filter_expr("connection.srcip == '1'")
    assert err.value.code == 400
    assert err.value.message == (
        "Invalid value for field 'resource.logConfig.filterExpr': 'connection.srcip == '1''. "
        "Invalid filter expression: ERROR: <input>:1:12: undefined field 'srcip'"
    )
