"""NOT binds tightest, then OR, then AND (written or implicit): the reference's examples."""

from __future__ import annotations

import pytest

from intranode.domain.logquery.ast import dump
from intranode.domain.logquery.parser import parse


def same_tree(a: str, b: str) -> None:
    assert dump(parse(a)) == dump(parse(b))


def test_documented_example_reads_with_or_inside_and() -> None:
    # Cloud Logging's own example, verbatim.
    same_tree(
        '"a" OR NOT "b" AND NOT "c" OR "d"',
        '("a" OR (NOT "b")) AND ((NOT "c") OR "d")',
    )
    assert dump(parse('"a" OR NOT "b" AND NOT "c" OR "d"')) == (
        '(AND (OR (GLOBAL "a") (NOT (GLOBAL "b"))) (OR (NOT (GLOBAL "c")) (GLOBAL "d")))'
    )


def test_or_binds_tighter_than_written_and() -> None:
    same_tree(
        "jsonPayload.a=1 OR jsonPayload.b=2 AND jsonPayload.c=3",
        "(jsonPayload.a=1 OR jsonPayload.b=2) AND jsonPayload.c=3",
    )


def test_or_binds_tighter_than_juxtaposition() -> None:
    same_tree("x y OR z", "x AND (y OR z)")
    same_tree("x OR y z", "(x OR y) AND z")


def test_not_binds_tighter_than_or() -> None:
    same_tree("NOT x OR y", "(NOT x) OR y")
    same_tree("-x OR y", "(NOT x) OR y")


def test_parentheses_override_precedence() -> None:
    assert dump(parse("x OR (y AND z)")) == "(OR (GLOBAL x) (AND (GLOBAL y) (GLOBAL z)))"
    assert dump(parse("NOT (x OR y)")) == "(NOT (OR (GLOBAL x) (GLOBAL y)))"


def test_gcloud_joins_freshness_without_parentheses_and_it_still_means_and() -> None:
    # gcloud sends 'timestamp>="..." AND <user filter>'; OR inside the user filter binds first.
    tree = dump(parse('timestamp>="2024-05-01T00:00:00.000000Z" AND x OR y'))
    assert tree == '(AND (>= timestamp "2024-05-01T00:00:00.000000Z") (OR (GLOBAL x) (GLOBAL y)))'


@pytest.mark.parametrize("word", ["and", "And", "or", "Or", "not", "nOT"])
def test_keywords_are_upper_case_only(word: str) -> None:
    assert dump(parse(f"x {word} y")) == f"(AND (GLOBAL x) (GLOBAL {word}) (GLOBAL y))"
