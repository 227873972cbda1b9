"""The reference semantics: every operator and type rule on entries shaped like real ones."""

from __future__ import annotations

from typing import Any

import pytest

from intranode.domain.logquery.evaluate import evaluate
from intranode.domain.logquery.parser import parse

FLOW: dict[str, Any] = {
    "insertId": "1x2y3z4abcd",
    "logName": "projects/my-proj/logs/compute.googleapis.com%2Fvpc_flows",
    "resource": {
        "type": "gce_subnetwork",
        "labels": {
            "project_id": "my-proj",
            "subnetwork_id": "1234567890",
            "location": "us-central1-a",
        },
    },
    "timestamp": "2024-05-01T10:00:11Z",
    "receiveTimestamp": "2024-05-01T10:00:12.345678901Z",
    "jsonPayload": {
        "bytes_sent": "1066",
        "packets_sent": "6",
        "connection": {
            "src_ip": "10.52.0.4",
            "dest_ip": "10.52.0.5",
            "src_port": 51020,
            "dest_port": 8080,
            "protocol": 6,
        },
        "reporter": "SRC",
        "start_time": "2024-05-01T10:00:00.123456789Z",
        "src_gke_details": {
            "cluster": {"cluster_name": "flow-log-test"},
            "pod": {"pod_name": "pod-1", "pod_namespace": "default"},
        },
        "shoeSize": [9, 6.5, 11],
        "tags": ["Alpha", "beta"],
        "nothing": None,
        "flag": True,
        "Ünïcode": "Straße",
    },
}
APP: dict[str, Any] = {
    "insertId": "abc",
    "logName": "projects/my-proj/logs/app",
    "resource": {"type": "global", "labels": {}},
    "timestamp": "2024-05-01T11:00:00.5Z",
    "severity": "WARNING",
    "textPayload": "Hello, World! The cat in the hat.",
    "labels": {"env": "prod-eu-server", "Tier": "web"},
    "httpRequest": {"status": 503, "latency": "1.5s", "requestSize": "1024", "cacheHit": True},
    "trace": "projects/my-proj/traces/abc",
    "sourceLocation": {"file": "main.go", "line": "42"},
}


def matches(text: str, entry: dict[str, Any] = FLOW) -> bool:
    return evaluate(parse(text), entry)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Strings: =, != and ordering are case-insensitive (NFKC casefold); ':' is a substring.
        ('jsonPayload.reporter="src"', True),
        ("jsonPayload.reporter=SRC", True),
        ("jsonPayload.reporter!=DEST", True),
        ("jsonPayload.reporter!=src", False),
        ("jsonPayload.reporter:R", True),
        ("jsonPayload.reporter:x", False),
        ('jsonPayload.reporter<"t"', True),
        ('jsonPayload.reporter>="SRC"', True),
        ('jsonPayload.reporter>"SRC"', False),
        ('jsonPayload."Ünïcode"="STRASSE"', True),
        ('jsonPayload."Ünïcode":"ss"', True),
        ("logName:VPC_FLOWS", True),
        ('logName="projects/my-proj/logs/compute.googleapis.com%2fVPC_FLOWS"', True),
        # Regular expressions: case-sensitive, unanchored search, strings only.
        ('jsonPayload.reporter=~"R"', True),
        ('jsonPayload.reporter=~"r"', False),
        ('jsonPayload.reporter=~"(?i)r"', True),
        ('jsonPayload.reporter=~"^S.C$"', True),
        ('jsonPayload.reporter!~"^D"', True),
        ('jsonPayload.reporter!~"S"', False),
        ('jsonPayload.connection.dest_port=~"80"', False),
        # Numbers in jsonPayload are doubles; the literal converts (quoted or not).
        ("jsonPayload.connection.dest_port=8080", True),
        ('jsonPayload.connection.dest_port="8080"', True),
        ("jsonPayload.connection.dest_port=8080.0", True),
        ("jsonPayload.connection.dest_port=8.08e3", True),
        ("jsonPayload.connection.dest_port>1000", True),
        ("jsonPayload.connection.dest_port<=8079.5", False),
        ("jsonPayload.connection.dest_port:8080", True),
        ("jsonPayload.connection.dest_port=abc", False),
        ("jsonPayload.connection.dest_port!=abc", False),
        ("jsonPayload.connection.protocol>-1", True),
        # int64 values are strings: '>' compares text, so "99" > "1000".
        ("jsonPayload.bytes_sent > 1000", True),
        ("jsonPayload.bytes_sent > 2", False),
        ('jsonPayload.packets_sent = "6"', True),
        # Arrays: any element.
        ("jsonPayload.shoeSize < 7", True),
        ("jsonPayload.shoeSize > 12", False),
        ("jsonPayload.shoeSize = 11", True),
        ("jsonPayload.tags = ALPHA", True),
        ("jsonPayload.tags != alpha", True),
        ("jsonPayload.tags:et", True),
        # Booleans.
        ("jsonPayload.flag = true", True),
        ("jsonPayload.flag = TRUE", True),
        ("jsonPayload.flag > false", True),
        ("jsonPayload.flag = yes", False),
        # JSON null.
        ("jsonPayload.nothing = NULL_VALUE", True),
        ("jsonPayload.nothing != NULL_VALUE", False),
        ('jsonPayload.nothing = "NULL_VALUE"', False),
        ("jsonPayload.reporter = NULL_VALUE", False),
        ("jsonPayload.reporter != NULL_VALUE", True),
        ("jsonPayload.nothing:*", True),
        # Objects: ':' looks for the substring in any leaf; presence.
        ("jsonPayload.src_gke_details:pod-1", True),
        ("jsonPayload.src_gke_details:POD", True),
        ("jsonPayload.src_gke_details=pod-1", False),
        ("jsonPayload.src_gke_details:*", True),
        ("jsonPayload.dest_gke_details:*", False),
        ("jsonPayload:flow-log", True),
        ("resource.labels.subnetwork_id=1234567890", True),
        # Timestamps compare as instants in any written form.
        ('timestamp>="2024-05-01T10:00:00Z"', True),
        ('timestamp<"2024-05-01T10:00:00Z"', False),
        ('timestamp="2024-05-01T12:00:11+02:00"', True),
        ('timestamp="2024-05-01T10:00:11.000000000Z"', True),
        ("timestamp>=2024-05-01", True),
        ("timestamp<2024-05-01", False),
        ('timestamp>="2024-05-01T10:00:10.271073+0000"', True),
        ('timestamp>="2024-05-01T10:00:11.000000001Z"', False),
        ('timestamp="yesterday"', False),
        ('timestamp!="yesterday"', False),
        ('timestamp=~"2024"', False),
        ('receiveTimestamp>"2024-05-01T10:00:12.345678900Z"', True),
    ],
)
def test_flow_entry_operator_and_type_rules(text: str, expected: bool) -> None:
    assert matches(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Severity: names in any case, ordered by their numbers.
        ("severity=warning", True),
        ("severity>=WARNING", True),
        ('severity >= "ERROR"', False),
        ("severity<ERROR", True),
        ("severity>INFO", True),
        ("severity=400", True),
        ("severity=loud", False),
        ("severity:*", True),
        # Proto ints (int64 written as a string) and durations.
        ("httpRequest.status>=500", True),
        ("httpRequest.status=503", True),
        ('httpRequest.status="503"', True),
        ("httpRequest.status=503.5", False),
        ("httpRequest.requestSize>1000", True),
        ("httpRequest.requestSize<2000", True),
        ('httpRequest.latency > "1s"', True),
        ('httpRequest.latency > "1500ms"', False),
        ('httpRequest.latency = "1500ms"', True),
        ('httpRequest.latency < "0.1h"', True),
        ("httpRequest.cacheHit=true", True),
        ("sourceLocation.line=42", True),
        # Maps: keys exact, values case-insensitive.
        ("labels.env=PROD-EU-SERVER", True),
        ("labels.Tier=web", True),
        ("labels.tier=web", False),
        ('labels.env =~ ("^prod.*server" OR "^staging.*server")', True),
        # Text payload and global restrictions.
        ("textPayload:world", True),
        ('textPayload:("cat" AND "hat")', True),
        ("textPayload:(unicorn phoenix)", False),
        ('"the cat in the hat"', True),
        ("HELLO", True),
        ("hello unicorn", False),
        ('("cat" AND ("hat" OR "bat"))', True),
        ("503", True),
        ("main.go", True),
        ("WARNING", True),
        # Case-insensitive field names.
        ("SEVERITY=WARNING", True),
        ("text_payload:hello", True),
    ],
)
def test_app_entry_operator_and_type_rules(text: str, expected: bool) -> None:
    assert matches(text, APP) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Missing (absent payload or label key): every comparison is false, != included...
        ("jsonPayload.nearest_store=foo", False),
        ("jsonPayload.nearest_store!=foo", False),
        ("jsonPayload.nearest_store<zzz", False),
        ("jsonPayload.nearest_store:*", False),
        ("jsonPayload.nearest_store=NULL_VALUE", False),
        ("labels.nope!=x", False),
        # ... but NOT of a false comparison is true.
        ("NOT jsonPayload.nearest_store=foo", True),
        ("-jsonPayload.nearest_store=foo", True),
        ('NOT jsonPayload.dest_gke_details.pod.pod_name="x"', True),
        ('jsonPayload.dest_gke_details.pod.pod_name!="x"', False),
        # Defaulted (absent LogEntry field): compares as its default.
        ('trace=""', True),
        ("trace!=abc", True),
        ("trace:*", False),
        ("severity=DEFAULT", True),
        ("severity<INFO", True),
        ("severity:*", False),
        ("httpRequest.status=0", True),
        ("httpRequest.status!=200", True),
        ('httpRequest.remoteIp=""', True),
        ("httpRequest:*", False),
        ('operation.producer=""', True),
        ("operation.first=false", True),
        ("traceSampled=false", True),
        ('textPayload=""', True),
        ('timestamp<"1971-01-01"', False),
    ],
)
def test_missing_and_defaulted_fields(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_entry_without_payload_fields_misses_every_payload_path() -> None:
    bare = {"logName": "projects/p/logs/x", "resource": {"type": "global"}}
    assert not matches("jsonPayload.a=1", bare)
    assert not matches("jsonPayload.a!=1", bare)
    assert matches("NOT jsonPayload.a=1", bare)
    assert not matches("resource.labels.zone!=x", bare)


@pytest.mark.parametrize(
    ("text", "entry", "expected"),
    [
        ('log_id("compute.googleapis.com/vpc_flows")', FLOW, True),
        ('log_id("compute.googleapis.com%2Fvpc_flows")', FLOW, False),
        ('log_id("app")', APP, True),
        ("source(projects/my-proj)", FLOW, True),
        ("source(projects/other)", FLOW, False),
        ('ip_in_net(jsonPayload.connection.dest_ip, "10.52.0.0/14")', FLOW, True),
        ('ip_in_net(jsonPayload.connection.dest_ip, "10.60.0.0/14")', FLOW, False),
        ('ip_in_net(jsonPayload.connection.dest_ip, "::/0")', FLOW, False),
        ('ip_in_net(jsonPayload.reporter, "0.0.0.0/0")', FLOW, False),
        ('ip_in_net(jsonPayload.missing, "0.0.0.0/0")', FLOW, False),
        ('ip_in_net(httpRequest.remoteIp, "0.0.0.0/0")', FLOW, False),
        ("sample(insertId, 1)", FLOW, True),
        ("sample(jsonPayload.missing, 1)", FLOW, False),
        ('SEARCH("hello")', APP, True),
        ('SEARCH("hel")', APP, False),
        ('SEARCH("WORLD cat")', APP, True),
        ('SEARCH("`the cat`")', APP, True),
        ('SEARCH("`cat the`")', APP, False),
        ('SEARCH(textPayload, "hat")', APP, True),
        ('SEARCH(labels, "eu")', APP, True),
        ('SEARCH(trace, "hello")', APP, False),
        ('cast(httpRequest.status, STRING) = "503"', APP, True),
        ('cast(timestamp, STRING) =~ "^2024-05-01T11:00:00.500Z$"', APP, True),
        (
            'cast(timestamp, STRING, TIMEZONE("America/New_York")) =~ '
            '"^2024-05-01T07:00:00.500-04:00$"',
            APP,
            True,
        ),
        ("cast(jsonPayload.bytes_sent, INT64) > 999", FLOW, True),
        ("cast(jsonPayload.bytes_sent, FLOAT64) = 1066", FLOW, True),
        ("cast(jsonPayload.reporter, INT64) > 0", FLOW, False),
        ('regexp_extract(textPayload, "Hello, (\\w+)") = "world"', APP, True),
        ('cast(regexp_extract(trace, "traces/(\\w+)"), STRING) = ABC', APP, True),
        ('regexp_extract(textPayload, "nope (\\w+)") != "x"', APP, False),
    ],
)
def test_functions(text: str, entry: dict[str, Any], expected: bool) -> None:
    assert matches(text, entry) is expected


def test_sample_is_deterministic_and_roughly_the_fraction() -> None:
    entries = [dict(FLOW, insertId=f"id-{i}") for i in range(2000)]
    picked = [e["insertId"] for e in entries if matches("sample(insertId, 0.25)", e)]
    assert picked == [e["insertId"] for e in entries if matches("sample(insertId, 0.25)", e)]
    assert 400 < len(picked) < 600
    smaller = {e["insertId"] for e in entries if matches("sample(insertId, 0.1)", e)}
    assert smaller <= set(picked)


def test_proto_payload_field_names_match_in_any_case_and_spelling() -> None:
    audit = {
        "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity",
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "methodName": "v1.compute.instances.insert",
            "authenticationInfo": {"principalEmail": "a@example.com"},
        },
    }
    assert matches("protoPayload.method_name:insert", audit)
    assert matches("protoPayload.METHODNAME:insert", audit)
    assert matches('protoPayload.authenticationInfo.principalEmail="A@EXAMPLE.COM"', audit)
    assert matches('protoPayload."@type":AuditLog', audit)
    assert not matches("protoPayload.serviceName:*", audit)
