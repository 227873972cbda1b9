"""Bad filters: Google's ``Unparseable filter: syntax error at line L, column C, token 'T'``
(1-based), and ``Invalid filter: ...`` for filters that parse but cannot run."""

from __future__ import annotations

import pytest

from intranode.domain.logquery.errors import FilterSemanticError, FilterSyntaxError
from intranode.domain.logquery.parser import MAX_DEPTH, MAX_FILTER_CHARS, parse
from intranode.errors import InvalidArgument

SYNTAX = [
    # '=' inside bare text (the reference's example).
    ("textPayload:rc=", 1, 15, "="),
    # ':' inside bare text must be quoted.
    ("jsonPayload.x=abc:def", 1, 18, ":"),
    ("insertId = abc:def", 1, 15, ":"),
    ("logName=projects/domain:proj/logs/x", 1, 24, ":"),
    ("timestamp>=2026-06-12T03:23:45Z", 1, 25, ":"),
    # A comparator with nothing after it.
    ("jsonPayload.x=", 1, 15, "<EOF>"),
    ("jsonPayload.x= AND y", 1, 16, "AND"),
    # Unbalanced parentheses and quotes.
    ("(a", 1, 3, "<EOF>"),
    ("a)", 1, 2, ")"),
    ("()", 1, 2, ")"),
    ('textPayload:"abc', 1, 13, '"abc'),
    # Stray operators and keywords.
    ("a OR OR b", 1, 6, "OR"),
    ("AND a", 1, 1, "AND"),
    ("a AND", 1, 6, "<EOF>"),
    ("NOT", 1, 4, "<EOF>"),
    ("a ! b", 1, 3, "!"),
    ("a ~ b", 1, 3, "~"),
    ("jsonPayload.x = a*b", 1, 18, "*"),
    ("jsonPayload.x = *", 1, 17, "*"),
    ("jsonPayload.x = -a", 1, 17, "-"),
    ("jsonPayload.x = .5", 1, 17, "."),
    ("jsonPayload. x=1", 1, 14, "x"),
    ("a,b", 1, 2, ","),
    ("log_id(a b)", 1, 10, "b"),
    # Lines and columns count from 1; the column restarts on each line.
    ("severity>=ERROR\n  AND textPayload:rc=", 2, 21, "="),
    ("x\n\n   y =", 3, 7, "<EOF>"),
]


@pytest.mark.parametrize(("text", "line", "column", "token"), SYNTAX, ids=[s[0] for s in SYNTAX])
def test_syntax_error_names_line_column_and_token(
    text: str, line: int, column: int, token: str
) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse(text)
    err = info.value
    assert (err.line, err.column, err.token) == (line, column, token)
    assert err.message == (
        f"Unparseable filter: syntax error at line {line}, column {column}, token '{token}'"
    )
    assert (err.code, err.status) == (400, "INVALID_ARGUMENT")


SEMANTIC = [
    ("thud=1", "unknown field 'thud' in LogEntry"),
    ("operation.thud=1", "unknown field 'thud' in 'operation'"),
    ("resource.thud=1", "unknown field 'thud' in 'resource'"),
    ("textPayload.thud=1", "field 'textPayload' has no sub-field 'thud' (it is a string)"),
    ("logName.x:*", "field 'logName' has no sub-field 'x' (it is a string)"),
    (
        'textPayload=~"("',
        "invalid regular expression '(': missing ), unterminated subpattern at position 0",
    ),
    ("foo(1)", "unknown function 'foo'"),
    ("log_id(a, b)", "log_id() takes 1 arguments, 2 given"),
    ('log_id("x") = 1', "log_id() cannot be compared with a value"),
    ("cast(timestamp, STRING)", "cast() must be compared with a value"),
    (
        "cast(timestamp, WORDS) = 1",
        "cast() needs a type among STRING, INT64, FLOAT64, BOOL, "
        "TIMESTAMP, DURATION as its 2nd argument",
    ),
    ('cast(timestamp, STRING, TIMEZONE("Mars/Base")) = 1', "unknown time zone 'Mars/Base'"),
    (
        'regexp_extract(textPayload, "a(b)(c)") = x',
        "regexp_extract needs a regular expression with exactly one group, 'a(b)(c)' has 2",
    ),
    ("sample(insertId, 0)", "the fraction of sample() must be a number in (0, 1]"),
    ("sample(insertId, 1.5)", "the fraction of sample() must be a number in (0, 1]"),
    (
        'ip_in_net(jsonPayload.ip, "10.0.0.300/8")',
        "ip_in_net() needs a subnet like 10.0.0.0/8, not '10.0.0.300/8'",
    ),
    (
        "source(bogus/x)",
        "source() takes projects/P, folders/F, organizations/O or billingAccounts/B, not 'bogus/x'",
    ),
]


@pytest.mark.parametrize(("text", "detail"), SEMANTIC, ids=[s[0] for s in SEMANTIC])
def test_semantic_error_says_what_is_wrong(text: str, detail: str) -> None:
    with pytest.raises(FilterSemanticError) as info:
        parse(text)
    assert info.value.message == f"Invalid filter: {detail}"
    assert (info.value.code, info.value.status) == (400, "INVALID_ARGUMENT")


def test_a_syntax_error_anywhere_wins_over_an_earlier_unknown_field() -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse("thud=1 AND textPayload:rc=")
    assert info.value.column == 26


def test_unknown_payload_and_label_keys_are_not_errors() -> None:
    parse("jsonPayload.nearest_store=1 labels.anything:x protoPayload.whatever:*")


def test_filter_longer_than_20000_characters_is_refused() -> None:
    ok = "x" * MAX_FILTER_CHARS
    parse(ok)
    with pytest.raises(InvalidArgument) as info:
        parse(ok + "x")
    assert info.value.message == (
        "Invalid filter: the filter is 20001 characters long; at most 20000 are allowed"
    )


def test_nesting_deeper_than_the_limit_is_refused_not_a_crash() -> None:
    parse("(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH)
    with pytest.raises(InvalidArgument) as info:
        parse("(" * 5000 + "x" + ")" * 5000)
    assert info.value.message == f"Invalid filter: the filter nests deeper than {MAX_DEPTH} levels"
    with pytest.raises(InvalidArgument):
        parse("NOT " * 1000 + "x")
