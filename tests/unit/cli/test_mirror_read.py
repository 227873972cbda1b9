"""``intranode mirror list|read|follow``: what collectors captured, read from the rotating
files tcpdump writes under ``<state dir>/mirror/<NAME>-collector/`` (made here, with the
times tcpdump would give them), without a daemon."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from intranode.cli import mirror as mirror_cli
from intranode.cli.main import cli
from intranode.domain import pcap
from tests.unit.mirroring.test_pcap_reader import ether, ipv4, tcp, udp

T0 = 1_795_696_865 * 10**9  # 2026-11-26 12:41:05 UTC
POD_A, POD_B, POD_C = "10.52.0.2", "10.52.1.2", "10.52.0.3"


def packet(n: int, *, src: str = POD_A, dst: str = POD_B, dport: int = 5353) -> bytes:
    """A UDP datagram whose payload says which it is: ``pkt-<n>``."""
    return ether(ipv4(17, udp(40000 + n, dport, f"pkt-{n}".encode()), src=src, dst=dst))


def record(n: int, data: bytes | None = None) -> bytes:
    """Packet ``n`` at ``T0 + n`` ms."""
    return pcap.record_bytes(T0 + n * 1_000_000, packet(n) if data is None else data)


def write(path: Path, body: bytes, mtime_s: int, *, header: bool = True) -> None:
    """A capture file as tcpdump leaves it: ``mtime_s`` says when it was last written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((pcap.file_header() if header else b"") + body)
    os.utime(path, ns=(T0 + mtime_s * 10**9, T0 + mtime_s * 10**9))


def append(path: Path, body: bytes, mtime_s: int) -> None:
    with path.open("ab") as f:
        f.write(body)
    os.utime(path, ns=(T0 + mtime_s * 10**9, T0 + mtime_s * 10**9))


def run(state: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["mirror", *args, "--state-dir", str(state)])


@pytest.fixture
def col(tmp_path: Path) -> Path:
    """Collector ``col`` after tcpdump wrapped around: capture.pcap6 is the oldest file,
    capture.pcap0 the one being written."""
    d = tmp_path / "mirror" / "col-collector"
    write(d / "capture.pcap6", record(1) + record(2), mtime_s=10)
    write(d / "capture.pcap7", record(3), mtime_s=20)
    write(d / "capture.pcap0", record(4, packet(4, src=POD_C, dport=8080)) + record(5), mtime_s=30)
    (d / "tcpdump.log").write_text("tcpdump: listening on eth0\n")  # not a capture
    return d


def payloads(result: Result) -> list[str]:
    return [bytes.fromhex(p["payload_hex"]).decode() for p in json.loads(result.stdout)]


# -- list ----------------------------------------------------------------------------------------
def test_list_shows_each_collectors_files_in_the_order_they_were_written(
    tmp_path: Path, col: Path
) -> None:
    (tmp_path / "mirror" / "idle-collector").mkdir()
    result = run(tmp_path, "list")
    assert result.exit_code == 0, result.output
    # Each record: 16 bytes of header, 47 of frame (Ethernet 14, IPv4 20, UDP 8, "pkt-n").
    sizes = [(col / f"capture.pcap{i}").stat().st_size for i in (6, 7, 0)]
    assert sizes == [24 + 2 * 63, 24 + 63, 24 + 2 * 63]
    assert result.stdout.splitlines() == [
        "collector col (instance col-collector): 3 files, 387 B, 5 packets, "
        "2026-11-26 12:41:05.001000 to 2026-11-26 12:41:05.005000 UTC",
        "  capture.pcap6      150 B          2 packets  "
        "2026-11-26 12:41:05.001000 to 2026-11-26 12:41:05.002000 UTC",
        "  capture.pcap7       87 B          1 packets  "
        "2026-11-26 12:41:05.003000 to 2026-11-26 12:41:05.003000 UTC",
        "  capture.pcap0      150 B          2 packets  "
        "2026-11-26 12:41:05.004000 to 2026-11-26 12:41:05.005000 UTC",
        f"  open in Wireshark: {col}/capture.pcap0",
        f"  all files as one:  mergecap -w col.pcap {col}/capture.pcap6 {col}/capture.pcap7 "
        f"{col}/capture.pcap0",
        f"collector idle (instance idle-collector): no packets captured yet "
        f"({tmp_path / 'mirror' / 'idle-collector'})",
    ]


def test_list_as_json(tmp_path: Path, col: Path) -> None:
    result = run(tmp_path, "list", "--format", "json")
    assert result.exit_code == 0, result.output
    [doc] = json.loads(result.stdout)
    assert {k: v for k, v in doc.items() if k != "files"} == {
        "collector": "col",
        "instance": "col-collector",
        "directory": str(col),
        "bytes": 387,
        "packets": 5,
        "first": "2026-11-26T12:41:05.001000000Z",
        "last": "2026-11-26T12:41:05.005000000Z",
        "open": str(col / "capture.pcap0"),
    }
    assert [(f["file"], f["bytes"], f["packets"], f["last"]) for f in doc["files"]] == [
        ("capture.pcap6", 150, 2, "2026-11-26T12:41:05.002000000Z"),
        ("capture.pcap7", 87, 1, "2026-11-26T12:41:05.003000000Z"),
        ("capture.pcap0", 150, 2, "2026-11-26T12:41:05.005000000Z"),
    ]
    assert doc["files"][0]["path"] == str(col / "capture.pcap6")


def test_list_without_captures_says_where_it_looked(tmp_path: Path) -> None:
    result = run(tmp_path, "list")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == f"No collector has captured anything in {tmp_path / 'mirror'}.\n"
    assert json.loads(run(tmp_path, "list", "--format", "json").stdout) == []


# -- read ----------------------------------------------------------------------------------------
def test_read_goes_across_the_rotating_files_oldest_first(tmp_path: Path, col: Path) -> None:
    result = run(tmp_path, "read", "col")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "time (UTC)                  source                    destination            proto   "
        "length  ttl  info              payload",
        "2026-11-26 12:41:05.001000  10.52.0.2:40001        →  10.52.1.2:5353         UDP         "
        "47   63                    pkt-1",
        "2026-11-26 12:41:05.002000  10.52.0.2:40002        →  10.52.1.2:5353         UDP         "
        "47   63                    pkt-2",
        "2026-11-26 12:41:05.003000  10.52.0.2:40003        →  10.52.1.2:5353         UDP         "
        "47   63                    pkt-3",
        "2026-11-26 12:41:05.004000  10.52.0.3:40004        →  10.52.1.2:8080         UDP         "
        "47   63                    pkt-4",
        "2026-11-26 12:41:05.005000  10.52.0.2:40005        →  10.52.1.2:5353         UDP         "
        "47   63                    pkt-5",
    ]


def test_read_accepts_the_collector_or_its_instance_name(tmp_path: Path, col: Path) -> None:
    by_collector = run(tmp_path, "read", "col", "--format", "json")
    by_instance = run(tmp_path, "read", "col-collector", "--format", "json")
    assert by_collector.exit_code == by_instance.exit_code == 0
    assert by_collector.stdout == by_instance.stdout
    assert payloads(by_collector) == ["pkt-1", "pkt-2", "pkt-3", "pkt-4", "pkt-5"]


def test_read_as_json_names_every_field(tmp_path: Path, col: Path) -> None:
    first = json.loads(run(tmp_path, "read", "col", "--format", "json").stdout)[0]
    assert first == {
        "time": "2026-11-26T12:41:05.001000000Z",
        "file": "capture.pcap6",
        "network": "IPv4",
        "src": POD_A,
        "sport": 40001,
        "dst": POD_B,
        "dport": 5353,
        "protocol": "UDP",
        "protocol_number": 17,
        "length": 47,
        "ttl": 63,
        "tcp_flags": None,
        "icmp_type": None,
        "icmp_code": None,
        "payload_hex": b"pkt-1".hex(),
        "fragment": False,
        "truncated": False,
    }


def test_read_shows_tcp_flags_and_the_start_of_the_payload(tmp_path: Path) -> None:
    d = tmp_path / "mirror" / "col-collector"
    syn = ether(ipv4(6, tcp(40000, 8080, 0x02)))
    data = ether(ipv4(6, tcp(40000, 8080, 0x18, b"GET / HTTP/1.1\r\nHost: pod-2\r\n")))
    write(d / "capture.pcap0", record(1, syn) + record(2, data), mtime_s=1)
    lines = run(tmp_path, "read", "col").stdout.splitlines()
    # The info column is 16 wide: flags, then the payload's printable start ("." otherwise).
    assert lines[1].endswith("  TCP         54   63  [S]")
    assert lines[2].endswith("  TCP         83   63  [P.]              GET / HTTP/1.1..")
    doc = json.loads(run(tmp_path, "read", "col", "--format", "json").stdout)
    assert [p["tcp_flags"] for p in doc] == [["SYN"], ["PSH", "ACK"]]
    assert doc[1]["payload_hex"] == b"GET / HTTP/1.1\r\n".hex()


def test_read_limit_keeps_the_newest_packets(tmp_path: Path, col: Path) -> None:
    assert payloads(run(tmp_path, "read", "col", "--limit", "2", "--format", "json")) == [
        "pkt-4",
        "pkt-5",
    ]
    matched = run(
        tmp_path, "read", "col", "--limit", "2", "--filter-port", "5353", "--format", "json"
    )
    assert payloads(matched) == ["pkt-3", "pkt-5"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--filter-host", POD_C), ["pkt-4"]),
        (("--filter-host", POD_B), ["pkt-1", "pkt-2", "pkt-3", "pkt-4", "pkt-5"]),
        (("--filter-host", "10.52.0.0/24", "--filter-port", "8080"), ["pkt-4"]),
        (("--filter-port", "40002"), ["pkt-2"]),
        (("--filter-host", "10.99.0.1"), []),
    ],
)
def test_read_filters_by_host_and_port(
    tmp_path: Path, col: Path, options: tuple[str, ...], expected: list[str]
) -> None:
    result = run(tmp_path, "read", "col", *options, "--format", "json")
    assert result.exit_code == 0, result.output
    assert payloads(result) == expected


def test_read_says_when_nothing_matched(tmp_path: Path, col: Path) -> None:
    result = run(tmp_path, "read", "col", "--filter-port", "1")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == f"No packets matched in {col}.\n"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ("--filter-host", "pod-1"),
            "Invalid value for '--filter-host': 'pod-1' is not an IP address or CIDR range",
        ),
        (("--filter-port", "70000"), "Invalid value for '--filter-port': 70000 is not a port"),
        (("--filter-port", "http"), "Invalid value for '--filter-port': 'http' is not a valid"),
        (("--limit", "0"), "Invalid value for '--limit': 0 is not in the range x>=1."),
        (("--format", "yaml"), "Invalid value for '--format': 'yaml' is not one of"),
    ],
)
def test_bad_options_are_refused(
    tmp_path: Path, col: Path, options: tuple[str, ...], message: str
) -> None:
    for command in ("read", "follow"):
        if command == "follow" and options[0] == "--limit":
            continue
        result = run(tmp_path, command, "col", *options)
        assert result.exit_code == 2
        assert message in result.stderr


def test_a_missing_collector_names_the_ones_there_are(tmp_path: Path, col: Path) -> None:
    (tmp_path / "mirror" / "other").mkdir()  # a directory not named by intranode is listed as is
    for command in ("read", "follow"):
        result = run(tmp_path, command, "nope")
        assert result.exit_code == 1
        assert result.stderr == (
            f"Error: no collector 'nope' in {tmp_path / 'mirror'}; collectors: "
            "col (instance col-collector), other\n"
        )
    result = run(tmp_path, "read", "../col-collector")
    assert result.exit_code == 1 and "no collector '../col-collector'" in result.stderr


def test_a_missing_collector_when_none_captured(tmp_path: Path) -> None:
    result = run(tmp_path, "read", "col")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no collector 'col': no collector has captured anything in {tmp_path / 'mirror'} "
        "(a collector made with `intranode mirror collector create NAME` captures once the "
        "daemon's data plane runs it)\n"
    )


def test_files_being_written_or_damaged(tmp_path: Path) -> None:
    d = tmp_path / "mirror" / "col-collector"
    whole = record(2)
    write(d / "capture.pcap0", record(1) + whole[:30], mtime_s=1)  # pkt-2 not yet written
    write(d / "capture.pcap1", b"\x0a\x0d\x0d\x0a junk", mtime_s=2, header=False)
    torn = pcap.record_bytes(T0, b"x" * 10)[:8] + b"\xff\xff\xff\x7f" * 2
    write(d / "capture.pcap2", record(3) + torn + record(4), mtime_s=3)
    write(d / "capture.pcap3", pcap.file_header()[:10], mtime_s=4, header=False)  # just opened
    result = run(tmp_path, "read", "col", "--format", "json")
    assert result.exit_code == 0
    assert payloads(result) == ["pkt-1", "pkt-3"]
    assert result.stderr.splitlines() == [
        f"WARNING: {d / 'capture.pcap1'}: not a pcap capture (it starts with 0a0d0d0a)",
        f"WARNING: {d / 'capture.pcap2'}: torn at a record of 2147483647 bytes at byte 87; "
        "the packets before it are read",
    ]
    listed = json.loads(run(tmp_path, "list", "--format", "json").stdout)[0]
    assert [(f["file"], f["packets"]) for f in listed["files"]] == [
        ("capture.pcap0", 1),
        ("capture.pcap1", 0),
        ("capture.pcap2", 1),
        ("capture.pcap3", 0),
    ]


# -- follow --------------------------------------------------------------------------------------
def follow(
    monkeypatch: pytest.MonkeyPatch, state: Path, steps: list[Callable[[], None]], *args: str
) -> Result:
    """``mirror follow`` with each poll's wait replaced by the next step; Ctrl-C after the last."""
    pending = list(steps)

    def sleep(seconds: float) -> None:
        assert seconds == mirror_cli.POLL_SECONDS
        if not pending:
            raise KeyboardInterrupt
        pending.pop(0)()

    monkeypatch.setattr(mirror_cli, "_sleep", sleep)
    return run(state, "follow", "col", *args)


def test_follow_prints_new_packets_across_rotation_and_restarts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    d = tmp_path / "mirror" / "col-collector"
    pcap0, pcap1 = d / "capture.pcap0", d / "capture.pcap1"
    write(d / "capture.pcap7", record(1), mtime_s=1)  # older: never shown
    write(pcap0, record(2), mtime_s=2)  # there before following: not shown
    half = record(7)
    steps = [
        lambda: append(pcap0, record(3), mtime_s=3),
        # pkt-4 is the last packet of pcap0; tcpdump then opens pcap1 (same coarse time).
        lambda: (append(pcap0, record(4), mtime_s=4), write(pcap1, record(5), mtime_s=4)),
        lambda: append(pcap1, record(6, packet(6, dport=53)), mtime_s=5),  # filtered out
        lambda: append(pcap1, half[:20], mtime_s=6),  # half written: nothing yet
        lambda: append(pcap1, half[20:], mtime_s=7),
        # tcpdump restarted: it begins again at pcap0, which becomes the newest file.
        lambda: write(pcap0, record(8), mtime_s=8),
        # ... and again, by the next poll already longer than what was read of it.
        lambda: write(pcap0, record(9) + record(10), mtime_s=9),
        lambda: None,
    ]
    result = follow(monkeypatch, tmp_path, steps, "--format", "json", "--filter-port", "5353")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    got = [(bytes.fromhex(p["payload_hex"]).decode(), p["file"]) for p in lines]
    assert got == [
        ("pkt-3", "capture.pcap0"),
        ("pkt-4", "capture.pcap0"),
        ("pkt-5", "capture.pcap1"),
        ("pkt-7", "capture.pcap1"),
        ("pkt-8", "capture.pcap0"),
        ("pkt-9", "capture.pcap0"),
        ("pkt-10", "capture.pcap0"),
    ]


def test_follow_wraps_from_the_last_file_to_the_first_and_prints_a_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    d = tmp_path / "mirror" / "col-collector"
    write(d / "capture.pcap0", record(1), mtime_s=1)  # last cycle's: older than pcap7
    write(d / "capture.pcap7", record(2), mtime_s=2)
    steps = [
        lambda: (
            append(d / "capture.pcap7", record(3), mtime_s=3),
            write(d / "capture.pcap0", record(4), mtime_s=3),  # reused: truncated, rewritten
        ),
    ]
    result = follow(monkeypatch, tmp_path, steps)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == mirror_cli.table_header()
    assert [line.rsplit(" ", 1)[-1] for line in lines[1:]] == ["pkt-3", "pkt-4"]


def test_follow_waits_for_a_capture_that_has_not_started(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    d = tmp_path / "mirror" / "col-collector"
    d.mkdir(parents=True)
    steps = [
        lambda: None,
        lambda: write(d / "capture.pcap0", b"", mtime_s=1),  # opened, header not flushed yet
        lambda: append(d / "capture.pcap0", record(1), mtime_s=2),
    ]
    result = follow(monkeypatch, tmp_path, steps, "--format", "json")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["sport"] for line in result.stdout.splitlines()] == [40001]
