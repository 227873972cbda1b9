"""Any text up to 20,000 characters parses to a tree or is refused with InvalidArgument; a tree
always evaluates and compiles without raising."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intranode.domain.logquery.compile_sql import Catalog, compile_filter
from intranode.domain.logquery.evaluate import evaluate
from intranode.domain.logquery.parser import MAX_FILTER_CHARS, parse
from intranode.errors import InvalidArgument

ENTRY: dict[str, Any] = {
    "logName": "projects/p/logs/compute.googleapis.com%2Fvpc_flows",
    "resource": {"type": "gce_subnetwork", "labels": {"location": "us-central1-a"}},
    "timestamp": "2024-05-01T10:00:00Z",
    "receiveTimestamp": "2024-05-01T10:00:01Z",
    "severity": "ERROR",
    "insertId": "abc",
    "labels": {"a": "b"},
    "httpRequest": {"status": 200, "latency": "0.5s"},
    "jsonPayload": {
        "connection": {"src_ip": "10.52.0.13", "dest_port": 8080, "protocol": 6},
        "bytes_sent": "0",
        "list": [1, "two", None, {"x": True}],
    },
}
CATALOG = Catalog(("projects/p/logs/compute.googleapis.com%2Fvpc_flows",), ("gce_subnetwork",))

TOKENS = [
    "(", ")", "AND", "OR", "NOT", "and", "-", "--", '"', "\\", "=", "!=", "<", "<=", ">", ">=",
    ":", "=~", "!~", "*", ".", ",", " ", "\n", "\t", "!", "~", "jsonPayload", "logName",
    "severity", "timestamp", "httpRequest.latency", "labels", "resource.type", "insertId",
    "textPayload", "thud", "x", "1", "-1", "1.5e3", "NULL_VALUE", "log_id(", "sample(",
    "ip_in_net(", "SEARCH(", "cast(", "regexp_extract(", "TIMEZONE(", "INT64", "STRING",
    '"a"', '"(\\d+)"', '"10.0.0.0/8"', "10.0.0.0/8", "ERROR", "2024-05-01", '"1s"', "é", "\x00",
    "\ud800", '"\\u00e9"', '"\\x4"', "projects/p", "`",
]  # fmt: skip

token_soup = st.lists(st.sampled_from(TOKENS), max_size=80).map("".join)
filters = st.one_of(st.text(max_size=300), token_soup, token_soup)


def check(text: str) -> None:
    try:
        node = parse(text)
    except InvalidArgument:
        return
    evaluate(node, ENTRY)
    evaluate(node, {})
    compile_filter(node, CATALOG)


@settings(max_examples=300, deadline=None)
@given(filters)
def test_any_text_is_a_tree_or_invalid_argument(text: str) -> None:
    check(text)


def _soup(length: int, seed: int) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < length:
        parts.append(rng.choice(TOKENS))
        size += len(parts[-1])
    return "".join(parts)[:length]


LONG = [
    _soup(MAX_FILTER_CHARS, 1),
    _soup(MAX_FILTER_CHARS, 2),
    "(" * (MAX_FILTER_CHARS // 2) + ")" * (MAX_FILTER_CHARS // 2),
    "NOT " * (MAX_FILTER_CHARS // 4),
    "- " * (MAX_FILTER_CHARS // 2),
    '"' + "x" * (MAX_FILTER_CHARS - 2) + '"',
    '"' + "x" * (MAX_FILTER_CHARS - 1),
    ("severity=1 OR " * 2000)[:MAX_FILTER_CHARS - 10] + " severity=2",
    ("timestamp>1 " * 2000)[:MAX_FILTER_CHARS],
    "jsonPayload.connection.src_ip=("
    + " OR ".join(f'"10.0.{i // 256}.{i % 256}"' for i in range(900))
    + ")",
    "a" * MAX_FILTER_CHARS,
    "x" * (MAX_FILTER_CHARS + 1),
]  # fmt: skip


@pytest.mark.parametrize("text", LONG, ids=[f"long-{i}" for i in range(len(LONG))])
def test_long_filters_are_a_tree_or_invalid_argument(text: str) -> None:
    check(text)
