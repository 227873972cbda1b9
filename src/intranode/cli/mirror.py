"""``intranode mirror collector create NAME --region R``: a Packet Mirroring collector whose
backend receives the copies.

Google's collector is an internal passthrough load balancer in front of VMs a user made; the
Compute API here cannot make VMs, so this command asks the daemon to make all of it at once
(``POST /compute/v1/projects/{p}/regions/{r}/intranode/mirroringCollectors``): the instance
``NAME-collector`` (in the region's first zone, an address of the subnet), the unmanaged
instance group, TCP health check, INTERNAL backend service and forwarding rule ``NAME``
(``isMirroringCollector``, all ports). It prints the forwarding rule, ready for
``gcloud compute packet-mirrorings create ... --collector-ilb NAME``.
``intranode mirror collector delete NAME --region R`` removes all of it again.

Reading what a collector received: the node agent runs one ``tcpdump`` per collector backend,
writing rotating files ``capture.pcap0`` ... ``capture.pcap7`` (16 MB each, the oldest reused)
under ``<state dir>/mirror/<NAME>-collector/`` (:mod:`intranode.domain.pcap`). These commands
read those files directly (no daemon needed, so captures stay readable after ``intranode
down``):

- ``intranode mirror list``: each collector's files, sizes, packets, first and last time, and
  the file to open in Wireshark;
- ``intranode mirror read COLLECTOR``: one line per packet across the files, oldest first (the
  files in the order tcpdump last wrote them);
- ``intranode mirror follow COLLECTOR``: ``tail -f`` for packets, across rotations and a
  capture that starts over (tcpdump restarted), until Ctrl-C.

COLLECTOR is the name given to ``collector create`` or its instance's (``NAME-collector``).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import click

from intranode.cli.client import DaemonClient
from intranode.cli.target import Target
from intranode.domain import pcap
from intranode.domain.mirroring import COLLECTOR_SUFFIX
from intranode.domain.pcap import (
    Hosts,
    PacketFilter,
    PacketSummary,
    PcapFormatError,
    PcapReader,
)
from intranode.domain.timefmt import rfc3339_ns

F = TypeVar("F", bound=Callable[..., Any])
POLL_SECONDS = 0.25
READ_CHUNK = 1 << 20


def state_dir_option(fn: F) -> F:
    return click.option(
        "--state-dir",
        envvar="INTRANODE_STATE_DIR",
        default=None,
        help="State directory (default /var/lib/intranode; env INTRANODE_STATE_DIR).",
    )(fn)


def _client(target: Target) -> DaemonClient:
    return DaemonClient(target)


def _path(project: str, region: str) -> str:
    return (
        f"/compute/v1/projects/{quote(project, safe='')}/regions/{quote(region, safe='')}"
        "/intranode/mirroringCollectors"
    )


@click.group()
def mirror() -> None:
    """Packet Mirroring helpers (the policies themselves: gcloud compute packet-mirrorings)."""


@mirror.group()
def collector() -> None:
    """Collectors: internal load balancers that receive mirrored packets."""


@collector.command("create")
@click.argument("name")
@click.option("--region", required=True, help="Region of the collector, e.g. us-central1.")
@click.option("--network", default="default", show_default=True)
@click.option("--subnet", default=None, help="Subnetwork (default: the network's own, auto mode).")
@state_dir_option
def create(name: str, region: str, network: str, subnet: str | None, state_dir: str | None) -> None:
    """Create collector NAME: a backend instance NAME-collector behind the forwarding rule
    NAME, with its instance group, health check and backend service."""
    target = Target.from_option(state_dir)
    project = target.settings().project
    body: dict[str, str] = {"name": name, "network": network}
    if subnet:
        body["subnetwork"] = subnet
    answer = _client(target).post(_path(project, region), body)
    link = answer["forwardingRule"]
    click.echo(link)
    click.echo(
        f"Mirror to it with: gcloud compute packet-mirrorings create POLICY --region={region} "
        f"--network={network} --collector-ilb={name} --mirrored-subnets=SUBNET",
        err=True,
    )


@collector.command("delete")
@click.argument("name")
@click.option("--region", required=True, help="Region of the collector, e.g. us-central1.")
@state_dir_option
def delete(name: str, region: str, state_dir: str | None) -> None:
    """Delete collector NAME and everything `collector create` made for it (refused while a
    packet mirroring sends to it)."""
    target = Target.from_option(state_dir)
    _client(target).delete(_path(target.settings().project, region) + f"/{quote(name)}")
    click.echo(f"Deleted collector {name}.")


# -- the captures on disk ----------------------------------------------------------------------
@dataclass(frozen=True)
class CaptureFile:
    path: Path
    index: int  # tcpdump's file number: capture.pcap<index>
    size: int
    mtime_ns: int
    inode: int


@dataclass(frozen=True)
class Captures:
    """One collector backend's capture directory. ``files`` are oldest first by when tcpdump
    last wrote each: the order of their packets, since each file is written start to end."""

    instance: str
    directory: Path
    files: tuple[CaptureFile, ...]

    @property
    def collector(self) -> str:
        return self.instance.removesuffix(COLLECTOR_SUFFIX) or self.instance

    @property
    def label(self) -> str:
        if self.collector == self.instance:
            return self.instance
        return f"{self.collector} (instance {self.instance})"


def _unreadable(path: Path, exc: OSError) -> click.ClickException:
    return click.ClickException(
        f"cannot read {path}: {exc.strerror} (captures belong to the user who runs the daemon, "
        "root: run this as that user)"
    )


def capture_files(directory: Path) -> tuple[CaptureFile, ...]:
    """The rotating capture files in ``directory``, oldest first (none if it does not exist)."""
    out = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise _unreadable(directory, exc) from exc
    for entry in entries:
        index = pcap.capture_file_index(entry.name)
        if index is None:
            continue
        try:
            st = entry.stat()
        except FileNotFoundError:  # removed since the listing
            continue
        if entry.is_file():
            out.append(CaptureFile(Path(entry.path), index, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(sorted(out, key=lambda f: (f.mtime_ns, f.index)))


def all_captures(state_dir: Path) -> list[Captures]:
    root = state_dir / pcap.CAPTURE_SUBDIR
    try:
        names = sorted(e.name for e in os.scandir(root) if e.is_dir())
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise _unreadable(root, exc) from exc
    return [Captures(name, root / name, capture_files(root / name)) for name in names]


def find_captures(state_dir: Path, name: str) -> Captures:
    """The captures of collector ``name`` (as given to ``collector create``, or its backend
    instance's name); a click error naming the collectors there are otherwise."""
    every = all_captures(state_dir)
    # An instance name first: a directory "x" wins over the collector "x" of "x-collector".
    found = [c for c in every if c.instance == name] or [c for c in every if c.collector == name]
    if found:
        return found[0]
    root = state_dir / pcap.CAPTURE_SUBDIR
    if not every:
        raise click.ClickException(
            f"no collector {name!r}: no collector has captured anything in {root} (a collector "
            "made with `intranode mirror collector create NAME` captures once the daemon's data "
            "plane runs it)"
        )
    known = ", ".join(c.label for c in every)
    raise click.ClickException(f"no collector {name!r} in {root}; collectors: {known}")


@dataclass
class FileRead:
    """What one read of a capture file gave: its link type and records, or why none."""

    linktype: int = pcap.LINKTYPE_ETHERNET
    records: list[pcap.Record] = field(default_factory=list)
    problem: str | None = None


def read_file(path: Path, reader: PcapReader | None = None) -> FileRead:
    """The records of ``path`` from where ``reader`` stopped (a fresh reader: all of them). A
    file just created (no header yet) or removed meanwhile has none."""
    reader = reader or PcapReader()
    records: list[pcap.Record] = []
    try:
        with path.open("rb") as f:
            f.seek(reader.offset + reader.pending)
            while chunk := f.read(READ_CHUNK):
                records += reader.feed(chunk)
    except FileNotFoundError:
        return FileRead()
    except PcapFormatError as exc:
        return FileRead(problem=str(exc))
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    linktype = reader.header.linktype if reader.header else pcap.LINKTYPE_ETHERNET
    problem = f"torn at {reader.torn}; the packets before it are read" if reader.torn else None
    return FileRead(linktype, records, problem)


def _warn(path: Path, problem: str) -> None:
    click.echo(f"WARNING: {path}: {problem}", err=True)


def records(captures: Captures) -> Iterator[tuple[CaptureFile, pcap.Record, int]]:
    """Every record of the capture, oldest first, with its file and that file's link type."""
    for f in captures.files:
        got = read_file(f.path)
        if got.problem:
            _warn(f.path, got.problem)
        for record in got.records:
            yield f, record, got.linktype


# -- following ---------------------------------------------------------------------------------
@dataclass
class _Tail:
    file: CaptureFile
    reader: PcapReader = field(default_factory=PcapReader)
    first: bytes = b""  # the first record's header, to notice the file was started over
    warned: bool = False


class CaptureFollower:
    """The packets tcpdump adds to a capture directory, poll after poll.

    tcpdump writes one file at a time and, when it is full, moves to the next number (8 wraps
    to 0), truncating that file first: so once the file after the one being read was written
    to no earlier than it, the one being read is complete and the next one holds what came
    after. A file whose first record changed, or that shrank, was started over, and so was a
    newer file that is not the next one (a restarted tcpdump begins again at ``capture.pcap0``):
    each is read from its start."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        files = capture_files(directory)
        self.tail: _Tail | None = None
        if files:  # begin at the end of what is there
            self.tail = _Tail(files[-1])
            self._read(self.tail, files[-1])

    def poll(self) -> list[tuple[CaptureFile, PacketSummary]]:
        files = {f.index: f for f in capture_files(self.directory)}
        out: list[tuple[CaptureFile, PacketSummary]] = []
        if self.tail is None:
            if not files:
                return out
            self.tail = _Tail(min(files.values(), key=lambda f: (f.mtime_ns, f.index)))
        newest = max(files.values(), key=lambda f: (f.mtime_ns, f.index), default=None)
        # Each turn reads one file and may move to another; a file is visited at most once.
        for _ in range(pcap.CAPTURE_FILES):
            tail = self.tail
            now = files.get(tail.file.index)
            if now is not None:
                if self._started_over(tail, now):
                    tail = self.tail = _Tail(now)
                out += self._read(tail, now)
            successor = files.get((tail.file.index + 1) % pcap.CAPTURE_FILES)
            if successor is not None and successor.mtime_ns >= tail.file.mtime_ns:
                switch_to = successor
            elif newest is not None and newest.mtime_ns > tail.file.mtime_ns:
                switch_to = newest
            else:
                break
            if switch_to.index == tail.file.index:
                break
            # The file being read is complete now: take what came since the listing.
            final = _restat(tail.file)
            if final is not None and not self._started_over(tail, final):
                out += self._read(tail, final)
            self.tail = _Tail(switch_to)
        return out

    @staticmethod
    def _started_over(tail: _Tail, now: CaptureFile) -> bool:
        if now.inode != tail.file.inode or now.size < tail.reader.offset:
            return True
        return bool(tail.first) and _first_record_header(now.path) != tail.first

    def _read(self, tail: _Tail, now: CaptureFile) -> list[tuple[CaptureFile, PacketSummary]]:
        tail.file = now
        got = read_file(now.path, tail.reader)
        if got.problem and not tail.warned:
            tail.warned = True
            _warn(now.path, got.problem)
        if got.records and not tail.first:
            tail.first = _first_record_header(now.path)
        return [(now, pcap.summarize(r, got.linktype)) for r in got.records]


def _first_record_header(path: Path) -> bytes:
    """The header of a capture's first record (time and lengths: unique enough to tell a file
    tcpdump started over from the one read so far); empty if there is none (yet)."""
    try:
        with path.open("rb") as f:
            f.seek(pcap.HEADER_LEN)
            return f.read(pcap.RECORD_HEADER_LEN)
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise _unreadable(path, exc) from exc


def _restat(f: CaptureFile) -> CaptureFile | None:
    try:
        st = f.path.stat()
    except FileNotFoundError:
        return None
    return CaptureFile(f.path, f.index, st.st_size, st.st_mtime_ns, st.st_ino)


# -- rendering ---------------------------------------------------------------------------------
ICMP_NAMES = {
    (1, 0): "echo reply",
    (1, 3): "unreachable",
    (1, 8): "echo request",
    (1, 11): "time exceeded",
    (58, 1): "unreachable",
    (58, 128): "echo request",
    (58, 129): "echo reply",
    (58, 133): "router solicit",
    (58, 134): "router advert",
    (58, 135): "neighbor solicit",
    (58, 136): "neighbor advert",
    (58, 143): "MLDv2 report",
}
# header, width (negative: right-aligned)
_COLUMNS = (
    ("time (UTC)", 26),
    ("source", 21),
    ("", 1),
    ("destination", 21),
    ("proto", 6),
    ("length", -6),
    ("ttl", -3),
    ("info", 16),
    ("payload", 0),
)


def _line(cells: tuple[str, ...]) -> str:
    parts = []
    for (_, width), cell in zip(_COLUMNS, cells, strict=True):
        parts.append(cell.rjust(-width) if width < 0 else cell.ljust(width))
    return "  ".join(parts).rstrip()


def table_header() -> str:
    return _line(tuple(name for name, _ in _COLUMNS))


def time_text(ns: int) -> str:
    """``2026-11-26 10:00:05.123456`` (UTC), the resolution tcpdump writes by default."""
    when = dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{when}.{ns % 1_000_000_000 // 1000:06d}"


def _endpoint(address: str | None, port: int | None) -> str:
    if address is None:
        return "-"
    if port is None:
        return address
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def info_text(p: PacketSummary) -> str:
    parts = []
    if p.tcp_flags is not None:
        parts.append(f"[{p.flag_letters}]")
    if p.icmp_type is not None and p.protocol is not None:
        code = (p.protocol, p.icmp_type)
        parts.append(ICMP_NAMES.get(code, f"type {p.icmp_type} code {p.icmp_code}"))
    if p.fragment:
        parts.append("fragment")
    if p.truncated:
        parts.append("truncated")
    return " ".join(parts)


def payload_text(payload: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 else "." for b in payload)


def table_row(p: PacketSummary) -> str:
    return _line(
        (
            time_text(p.time_ns),
            _endpoint(p.src, p.sport),
            "→",
            _endpoint(p.dst, p.dport),
            p.protocol_name,
            str(p.length),
            "" if p.ttl is None else str(p.ttl),
            info_text(p),
            payload_text(p.payload),
        )
    )


def packet_json(f: CaptureFile, p: PacketSummary) -> dict[str, Any]:
    return {
        "time": rfc3339_ns(p.time_ns),
        "file": f.path.name,
        "network": p.network,
        "src": p.src,
        "sport": p.sport,
        "dst": p.dst,
        "dport": p.dport,
        "protocol": p.protocol_name,
        "protocol_number": p.protocol,
        "length": p.length,
        "ttl": p.ttl,
        "tcp_flags": list(p.flag_names) if p.tcp_flags is not None else None,
        "icmp_type": p.icmp_type,
        "icmp_code": p.icmp_code,
        "payload_hex": p.payload.hex(),
        "fragment": p.fragment,
        "truncated": p.truncated,
    }


def _size_text(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


# -- the commands ------------------------------------------------------------------------------
def _check_host(ctx: click.Context, param: click.Parameter, value: str | None) -> Hosts | None:
    if value is None:
        return None
    try:
        return PacketFilter.parse(value, None).hosts
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _check_port(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    try:
        return PacketFilter.parse(None, value).port
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def filter_options(fn: F) -> F:
    fn = click.option(
        "--filter-port",
        type=int,
        default=None,
        callback=_check_port,
        help="Only packets with this source or destination port.",
    )(fn)
    return click.option(
        "--filter-host",
        default=None,
        metavar="IP",
        callback=_check_host,
        help="Only packets from or to this address (or CIDR range).",
    )(fn)


format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


@dataclass(frozen=True)
class FileStats:
    file: CaptureFile
    packets: int
    first_ns: int | None
    last_ns: int | None


def file_stats(f: CaptureFile) -> FileStats:
    got = read_file(f.path)
    if got.problem:
        _warn(f.path, got.problem)
    times = [r.time_ns for r in got.records]
    return FileStats(f, len(times), times[0] if times else None, times[-1] if times else None)


def _rfc3339(ns: int | None) -> str | None:
    return None if ns is None else rfc3339_ns(ns)


def _collector_json(c: Captures, stats: list[FileStats]) -> dict[str, Any]:
    firsts = [s.first_ns for s in stats if s.first_ns is not None]
    lasts = [s.last_ns for s in stats if s.last_ns is not None]
    return {
        "collector": c.collector,
        "instance": c.instance,
        "directory": str(c.directory),
        "files": [
            {
                "file": s.file.path.name,
                "path": str(s.file.path),
                "bytes": s.file.size,
                "packets": s.packets,
                "first": _rfc3339(s.first_ns),
                "last": _rfc3339(s.last_ns),
            }
            for s in stats
        ],
        "bytes": sum(s.file.size for s in stats),
        "packets": sum(s.packets for s in stats),
        "first": _rfc3339(min(firsts, default=None)),
        "last": _rfc3339(max(lasts, default=None)),
        "open": str(c.files[-1].path) if c.files else None,
    }


def _span(first: int | None, last: int | None) -> str:
    if first is None or last is None:
        return "-"
    return f"{time_text(first)} to {time_text(last)} UTC"


def _print_collector(c: Captures, stats: list[FileStats]) -> None:
    if not stats:
        click.echo(f"collector {c.label}: no packets captured yet ({c.directory})")
        return
    firsts = [s.first_ns for s in stats if s.first_ns is not None]
    lasts = [s.last_ns for s in stats if s.last_ns is not None]
    total = sum(s.packets for s in stats)
    click.echo(
        f"collector {c.label}: {len(stats)} file{'s' if len(stats) > 1 else ''}, "
        f"{_size_text(sum(s.file.size for s in stats))}, {total:,} packets, "
        f"{_span(min(firsts, default=None), max(lasts, default=None))}"
    )
    for s in stats:
        click.echo(
            f"  {s.file.path.name:<14} {_size_text(s.file.size):>9} {s.packets:>10,} packets  "
            f"{_span(s.first_ns, s.last_ns)}"
        )
    click.echo(f"  open in Wireshark: {c.files[-1].path}")
    if len(stats) > 1:
        paths = " ".join(str(s.file.path) for s in stats)
        click.echo(f"  all files as one:  mergecap -w {c.collector}.pcap {paths}")


@mirror.command("list")
@format_option
@state_dir_option
def list_command(fmt: str, state_dir: str | None) -> None:
    """Each collector's capture: files, sizes, packets, first and last time, and the file to
    open in Wireshark (the newest)."""
    target = Target.from_option(state_dir)
    every = [(c, [file_stats(f) for f in c.files]) for c in all_captures(target.state_dir)]
    if fmt == "json":
        click.echo(json.dumps([_collector_json(c, stats) for c, stats in every], indent=2))
        return
    if not every:
        root = target.state_dir / pcap.CAPTURE_SUBDIR
        click.echo(f"No collector has captured anything in {root}.", err=True)
    for c, stats in every:
        _print_collector(c, stats)


@mirror.command("read")
@click.argument("collector_name", metavar="COLLECTOR")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Show only the newest N packets that match (default: all).",
)
@format_option
@filter_options
@state_dir_option
def read_command(
    collector_name: str,
    limit: int | None,
    fmt: str,
    filter_host: Hosts | None,
    filter_port: int | None,
    state_dir: str | None,
) -> None:
    """The packets collector COLLECTOR received, one per line, oldest first, across its
    rotating capture files: time, source, destination, protocol, length on the wire, TTL,
    TCP flags or ICMP type, and the first bytes of the payload."""
    chosen = PacketFilter(filter_host, filter_port)
    captures = find_captures(Target.from_option(state_dir).state_dir, collector_name)
    every = records(captures)
    if chosen == PacketFilter():  # no filter: only the packets shown need decoding
        every = iter(collections.deque(every, maxlen=limit))
    summaries = ((f, pcap.summarize(r, linktype)) for f, r, linktype in every)
    matched = collections.deque(((f, p) for f, p in summaries if chosen.matches(p)), maxlen=limit)
    if fmt == "json":
        click.echo(json.dumps([packet_json(f, p) for f, p in matched], indent=2))
        return
    if not matched:
        click.echo(f"No packets matched in {captures.directory}.", err=True)
        return
    click.echo(table_header())
    for _, p in matched:
        click.echo(table_row(p))


@mirror.command("follow")
@click.argument("collector_name", metavar="COLLECTOR")
@format_option
@filter_options
@state_dir_option
def follow_command(
    collector_name: str,
    fmt: str,
    filter_host: Hosts | None,
    filter_port: int | None,
    state_dir: str | None,
) -> None:
    """Print the packets collector COLLECTOR receives from now on, as they arrive, across
    file rotations (like tail -f; JSON: one object a line), until Ctrl-C."""
    chosen = PacketFilter(filter_host, filter_port)
    captures = find_captures(Target.from_option(state_dir).state_dir, collector_name)
    follower = CaptureFollower(captures.directory)
    if fmt == "table":
        click.echo(table_header())
    try:
        while True:
            _sleep(POLL_SECONDS)
            for f, p in follower.poll():
                if not chosen.matches(p):
                    continue
                click.echo(json.dumps(packet_json(f, p)) if fmt == "json" else table_row(p))
    except KeyboardInterrupt:
        return
