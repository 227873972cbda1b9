"""The parser on filters people write: each one and the AST it must give (as ``dump`` prints)."""

from __future__ import annotations

import pytest

from intranode.domain.logquery.ast import dump
from intranode.domain.logquery.parser import parse

GOLDEN = [
    # The guide's filter, and the forms flow-log readers use.
    (
        'logName="projects/P/logs/compute.googleapis.com%2Fvpc_flows" AND '
        'jsonPayload.connection.src_ip="10.52.0.13" AND '
        'jsonPayload.connection.dest_ip="10.52.0.14"',
        '(AND (= logName "projects/P/logs/compute.googleapis.com%2Fvpc_flows") '
        '(= jsonPayload.connection.src_ip "10.52.0.13") '
        '(= jsonPayload.connection.dest_ip "10.52.0.14"))',
    ),
    (
        'resource.type=gce_subnetwork AND log_id("compute.googleapis.com/vpc_flows")',
        '(AND (= resource.type gce_subnetwork) (log_id "compute.googleapis.com/vpc_flows"))',
    ),
    # A dotted bare value on the right-hand side is one literal.
    (
        "logName=projects/p/logs/compute.googleapis.com%2Fvpc_flows",
        "(= logName projects/p/logs/compute.googleapis.com%2Fvpc_flows)",
    ),
    (
        'jsonPayload.connection.src_ip="10.52.0.4" jsonPayload.connection.dest_port=8080',
        '(AND (= jsonPayload.connection.src_ip "10.52.0.4") '
        "(= jsonPayload.connection.dest_port 8080))",
    ),
    ("jsonPayload.connection.src_ip=10.52.0.4", "(= jsonPayload.connection.src_ip 10.52.0.4)"),
    ("-jsonPayload.reporter=DEST", "(NOT (= jsonPayload.reporter DEST))"),
    ("NOT jsonPayload.reporter=DEST", "(NOT (= jsonPayload.reporter DEST))"),
    ("jsonPayload.src_gke_details:*", "(:* jsonPayload.src_gke_details)"),
    (
        'timestamp>="2024-05-01T10:00:00Z" timestamp<"2024-05-01T11:00:00Z"',
        '(AND (>= timestamp "2024-05-01T10:00:00Z") (< timestamp "2024-05-01T11:00:00Z"))',
    ),
    ("severity >= warning", "(>= severity warning)"),
    ("severity>=ERROR", "(>= severity ERROR)"),
    # Global restrictions; lower-case and/or/not are search terms.
    ("unicorn phoenix", "(AND (GLOBAL unicorn) (GLOBAL phoenix))"),
    ('"The cat in the hat"', '(GLOBAL "The cat in the hat")'),
    (
        '("cat" AND ("hat" OR "bat"))',
        '(AND (GLOBAL "cat") (OR (GLOBAL "hat") (GLOBAL "bat")))',
    ),
    ("a and b", "(AND (GLOBAL a) (GLOBAL and) (GLOBAL b))"),
    ("not x", "(AND (GLOBAL not) (GLOBAL x))"),
    ("compute.googleapis.com", "(GLOBAL compute.googleapis.com)"),
    # A parenthesised right-hand side applies the field and operator to each leaf.
    (
        'resource.type = ("gce_instance" OR "aws_ec2_instance")',
        '(OR (= resource.type "gce_instance") (= resource.type "aws_ec2_instance"))',
    ),
    (
        'jsonPayload.animal : ("nice" AND "pet")',
        '(AND (: jsonPayload.animal "nice") (: jsonPayload.animal "pet"))',
    ),
    ("textPayload:(unicorn phoenix)", "(AND (: textPayload unicorn) (: textPayload phoenix))"),
    (
        'labels.env =~ ("^prod.*server" OR "^staging.*server")',
        '(OR (=~ labels.env "^prod.*server") (=~ labels.env "^staging.*server"))',
    ),
    (
        "jsonPayload.reporter=(SRC OR DEST)",
        "(OR (= jsonPayload.reporter SRC) (= jsonPayload.reporter DEST))",
    ),
    ("jsonPayload.x = (NOT a)", "(NOT (= jsonPayload.x a))"),
    ("jsonPayload.x = (-a b)", "(AND (NOT (= jsonPayload.x a)) (= jsonPayload.x b))"),
    (
        'insertId = "ABC-1" OR "ABC-2"',
        '(OR (= insertId "ABC-1") (GLOBAL "ABC-2"))',
    ),
    ('insertId = ("ABC-1" OR "ABC-2")', '(OR (= insertId "ABC-1") (= insertId "ABC-2"))'),
    # NULL_VALUE is a keyword only unquoted.
    ("jsonPayload.f = NULL_VALUE", "(= jsonPayload.f NULL_VALUE)"),
    ('jsonPayload.f = "NULL_VALUE"', '(= jsonPayload.f "NULL_VALUE")'),
    # Negative numbers after a comparator are numbers, not NOT.
    ("jsonPayload.x > -1.5", "(> jsonPayload.x -1.5)"),
    ("jsonPayload.x = (-1 OR 2)", "(OR (= jsonPayload.x -1) (= jsonPayload.x 2))"),
    # Field names: LogEntry fields in any case and spelling; keys exactly; quoted components.
    ("LOG_NAME:vpc", "(: logName vpc)"),
    ("Resource.TYPE=x", "(= resource.type x)"),
    ("protoPayload.methodName=x", "(= protoPayload.methodName x)"),
    ('resource.labels."k8s-pod/app"=web', "(= resource.labels.k8s-pod/app web)"),
    (
        'labels."compute.googleapis.com/resource_id"=1',
        '(= labels."compute.googleapis.com/resource_id" 1)',
    ),
    ('jsonPayload."foo.bar"=1', '(= jsonPayload."foo.bar" 1)'),
    ("jsonPayload.End_Time:2024", "(: jsonPayload.End_Time 2024)"),
    # Comments and line breaks.
    ("-- only a comment", "(ALL)"),
    ("", "(ALL)"),
    ("   \n\t ", "(ALL)"),
    ("jsonPayload.a=1 -- first\njsonPayload.b=2", "(AND (= jsonPayload.a 1) (= jsonPayload.b 2))"),
    # Strings and escapes.
    ('textPayload:"a\\"b\\\\c\\td"', '(: textPayload "a\\"b\\\\c\\td")'),
    ('textPayload=~"\\d+\\b"', '(=~ textPayload "\\\\d+\\\\b")'),
    ('textPayload="\\u00e9"', '(= textPayload "é")'),
    # Functions.
    ("sample(insertId, 0.25)", "(sample insertId 0.25)"),
    ("source(projects/p)", "(source projects/p)"),
    ('SEARCH("hello `big world`")', '(SEARCH "hello `big world`")'),
    ('search(textPayload, "x")', '(SEARCH textPayload "x")'),
    (
        'ip_in_net(jsonPayload.connection.dest_ip, "10.52.0.0/14")',
        "(ip_in_net jsonPayload.connection.dest_ip 10.52.0.0/14)",
    ),
    (
        'cast(timestamp, STRING, TIMEZONE("America/New_York")) =~ "^2023-01-02.*"',
        '(=~ (cast timestamp STRING "America/New_York") "^2023-01-02.*")',
    ),
    (
        'CAST(REGEXP_EXTRACT(textPayload, "took (\\d+)ms"), INT64) > 5',
        '(> (cast (regexp_extract textPayload "took (\\\\d+)ms") INT64) 5)',
    ),
]


@pytest.mark.parametrize(("text", "expected"), GOLDEN, ids=[g[0][:50] for g in GOLDEN])
def test_filter_parses_to_expected_tree(text: str, expected: str) -> None:
    assert dump(parse(text)) == expected


def test_a_comment_ends_at_the_line_end_and_a_newline_is_and() -> None:
    text = '-- flows only\nlog_id("compute.googleapis.com/vpc_flows") -- the log\n-- done'
    assert dump(parse(text)) == '(log_id "compute.googleapis.com/vpc_flows")'
    assert dump(parse('jsonPayload.a="x"\njsonPayload.b="y"')) == (
        '(AND (= jsonPayload.a "x") (= jsonPayload.b "y"))'
    )
