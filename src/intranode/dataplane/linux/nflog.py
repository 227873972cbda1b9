"""What the VPC router's firewall logs to nflog, read with ``tcpdump`` inside its namespace.

The compiled table (:mod:`intranode.domain.firewall.compile_nft`) logs every packet it denies
to nflog group :data:`DENIED_LOG_GROUP` (5) and the first packets of connections that logging
rules allow to group :data:`ALLOWED_LOG_GROUP` (6), with the deciding rule's key
(``I:fw:<id>``...) as prefix. A group has one listener per namespace (the kernel refuses a
second), so ONE :class:`LinuxNflogSource` serves both consumers: the flow-log collector
(:meth:`~LinuxNflogSource.denied`, the ``DeniedSource`` protocol) and the Firewall Rules
Logging writer (:meth:`~LinuxNflogSource.denied_for_logging`, :meth:`~LinuxNflogSource.
allowed`). Every denied packet goes to both of its queues; each consumer drains its own.

Per namespace one long-running ``ip netns exec NS tcpdump -i nflog:5,6 -U -w -`` (measured
with tcpdump 4.99.3 / libpcap 1.10.3: one ``nflog:`` device binds several groups; the nflog
header's resource id says which group a packet came from) writes a pcap stream to a pipe.
A thread parses it as it comes (tens of microseconds a packet, few packets: first packets and
denied ones only) into bounded in-memory queues (:class:`Feed`); when a queue is full its
oldest packets go (counted in :attr:`Feed.dropped`). Records it cannot read (short, torn, not
IPv4, a prefix that is not a rule key) are counted in :attr:`Feed.bad_records` and skipped;
nothing a record holds can end the thread.

The stream is LINKTYPE_NFLOG (239): per packet ``family u8, version u8, resource id u16 (big
endian: the group)``, then TLVs ``length u16, type u16`` in the writer's byte order (the pcap
magic tells it) padded to 4 bytes; ``NFULA_PREFIX`` (10) holds the prefix with its NUL,
``NFULA_PAYLOAD`` (9) the IP packet, ``NFULA_TIMESTAMP`` (3) the kernel's time (big-endian
seconds and microseconds; the forward hook always has it, else the pcap record's time counts).
A packet's length is its IP header's total length, as conntrack counts bytes. IPv4 only (the
VPC is IPv4); ports for TCP, UDP and SCTP, none for other protocols, as flow logs key them.

Measured, and why the options are what they are: tcpdump keeps its default snapshot length,
because libpcap reads nflog into a buffer of the snapshot length plus 128 bytes while the
kernel hands several log messages over in one netlink message (up to a page, or one big
packet): with ``-s 256`` a batch of four denied packets was cut and the record after the cut
came back as garbage. The kernel holds messages back up to a second before it sends a batch
(nfnetlink_log's flush timeout; an nftables ``log`` statement's ``queue-threshold`` would
shorten it), so a drain sees a packet up to a second late, with the kernel's time all the same.

Readers are supervised: each drain (or :meth:`~LinuxNflogSource.watch`) restarts a reader that
ended, keeping what its queues hold (the death is logged with its exit code and stderr). Their
PIDs and start times (:meth:`~LinuxNflogSource.readers`) let a later run stop one a crash left
behind (:meth:`~LinuxNflogSource.stop_stale`, by exact PID and start time, never by name):
a stale reader keeps the groups bound, and a new one could not bind them.

Public API::

    LinuxNflogSource(queue_limit=QUEUE_LIMIT, ready_timeout=2.0)
        .watch(netns)                       start reading (idempotent; DataplaneError, errno
                                            ENOENT when the namespace does not exist)
        .denied(netns) -> [DeniedPacket]    group 5, for the flow-log collector
        .denied_for_logging(netns) -> [LoggedPacket]   group 5 again (not implied), for logging
        .allowed(netns) -> [LoggedPacket]   group 6
        .readers() -> {netns: ReaderProcess};  .stop_stale(process) -> bool
        .stop_watching(netns);  .close()
    PcapStream, parse_nflog(record, little) -> NflogRecord | None, parse_ipv4(payload)
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import signal
import struct
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Generic, TypeVar

from intranode.dataplane.linux.conntrack import proc_start_time, stop_reader
from intranode.domain.firewall.compile_nft import ALLOWED_LOG_GROUP, DENIED_LOG_GROUP
from intranode.domain.firewall.logging import LoggedPacket
from intranode.domain.firewall.model import parse_ref
from intranode.domain.flowlogs.observations import (
    PORT_PROTOCOLS,
    DeniedPacket,
    FiveTuple,
    ReaderProcess,
)
from intranode.domain.pcap import PcapFormatError, PcapReader
from intranode.errors import DataplaneError

log = logging.getLogger(__name__)

LINKTYPE_NFLOG = 239
NFULA_TIMESTAMP, NFULA_PAYLOAD, NFULA_PREFIX = 3, 9, 10
AF_INET = 2
NS = 1_000_000_000
QUEUE_LIMIT = 100_000  # packets per queue and namespace
SOCKET_BUFFER_KIB = 4096  # the nflog netlink socket's (-B), for bursts of denied packets
PROGRAM = "tcpdump"
_NO_NETNS = "Cannot open network namespace"


class StreamError(ValueError):
    """The pcap stream cannot be read on (bad header, torn record)."""


# -- parsing ---------------------------------------------------------------------------------------
class PcapStream:
    """The pcap stream of ``tcpdump -w -`` read piecewise: :class:`~intranode.domain.pcap.
    PcapReader` with the link type checked; :meth:`feed` returns the records the bytes
    completed as ``(time, data)``."""

    def __init__(self) -> None:
        self._reader = PcapReader()
        self.little = True  # the writer's byte order (the nflog TLVs use it too)

    def feed(self, data: bytes) -> list[tuple[float, bytes]]:
        try:
            records = self._reader.feed(data)
        except PcapFormatError as exc:
            raise StreamError(f"not a pcap stream: {exc}") from exc
        header = self._reader.header
        if header is not None:
            self.little = header.little_endian
            if header.linktype != LINKTYPE_NFLOG:
                raise StreamError(f"link type {header.linktype}, not NFLOG ({LINKTYPE_NFLOG})")
        if self._reader.torn is not None:
            raise StreamError(f"{self._reader.torn}: the stream is torn")
        # Whole seconds apart from the fraction: one float of ns since the epoch is off.
        return [(r.time_ns // NS + r.time_ns % NS / NS, r.data) for r in records]


@dataclass(frozen=True, slots=True)
class NflogRecord:
    group: int
    family: int
    prefix: str
    payload: bytes
    time: float | None  # the kernel's (NFULA_TIMESTAMP), when the record has it


def parse_nflog(record: bytes, little: bool = True) -> NflogRecord | None:
    """One LINKTYPE_NFLOG record; ``None`` when it is too short or torn before its payload."""
    if len(record) < 4:
        return None
    family = record[0]
    group = struct.unpack_from(">H", record, 2)[0]
    tlv = struct.Struct("<HH" if little else ">HH")
    prefix = ""
    payload: bytes | None = None
    kernel_time: float | None = None
    pos = 4
    while pos + 4 <= len(record):
        length, kind = tlv.unpack_from(record, pos)
        if length < 4:
            return None
        value = record[pos + 4 : pos + length]  # a record cut short gives a shorter value
        if kind == NFULA_PREFIX:
            prefix = value.split(b"\0", 1)[0].decode("ascii", "replace")
        elif kind == NFULA_PAYLOAD:
            payload = value
        elif kind == NFULA_TIMESTAMP and len(value) >= 16:
            sec, usec = struct.unpack_from(">QQ", value)
            kernel_time = sec + usec / 1e6 if sec else None
        pos += (length + 3) & ~3
    if payload is None:
        return None
    return NflogRecord(group, family, prefix, payload, kernel_time)


def parse_ipv4(payload: bytes) -> tuple[FiveTuple, int] | None:
    """The 5-tuple and total length of an IPv4 packet (ports for TCP, UDP and SCTP, which
    carry them first in their header); ``None`` when it is not IPv4 or too short."""
    if len(payload) < 20 or payload[0] >> 4 != 4:
        return None
    ihl = (payload[0] & 0x0F) * 4
    if ihl < 20:
        return None
    total = struct.unpack_from(">H", payload, 2)[0]
    first_fragment = struct.unpack_from(">H", payload, 6)[0] & 0x1FFF == 0
    proto = payload[9]
    src = ".".join(map(str, payload[12:16]))
    dst = ".".join(map(str, payload[16:20]))
    if proto in PORT_PROTOCOLS and first_fragment:
        if len(payload) < ihl + 4:
            return None
        sport, dport = struct.unpack_from(">HH", payload, ihl)
        return FiveTuple(proto, src, dst, sport, dport), total
    return FiveTuple(proto, src, dst), total


# -- queues ----------------------------------------------------------------------------------------
T = TypeVar("T")


class _Queue(Generic[T]):
    """A bounded queue filled by a reader thread, drained by one consumer."""

    def __init__(self, limit: int) -> None:
        self._items: collections.deque[T] = collections.deque(maxlen=limit)
        self._lock = threading.Lock()
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._lock:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(item)

    def drain(self) -> list[T]:
        with self._lock:
            out = list(self._items)
            self._items.clear()
        return out


class Feed:
    """The queues of one namespace; they outlive the readers that fill them."""

    def __init__(self, limit: int) -> None:
        self.denied: _Queue[DeniedPacket] = _Queue(limit)
        self.denied_for_logging: _Queue[LoggedPacket] = _Queue(limit)
        self.allowed: _Queue[LoggedPacket] = _Queue(limit)
        self.bad_records = 0

    @property
    def dropped(self) -> int:
        return self.denied.dropped + self.denied_for_logging.dropped + self.allowed.dropped

    def add(self, record: NflogRecord, pcap_time: float) -> None:
        """Queue one record's packet; a record that says nothing readable is counted."""
        if record.family != AF_INET or record.group not in (DENIED_LOG_GROUP, ALLOWED_LOG_GROUP):
            self.bad_records += 1
            return
        parsed = parse_ipv4(record.payload)
        try:
            ref = parse_ref(record.prefix)
        except ValueError:
            ref = None
        if parsed is None or ref is None:
            self.bad_records += 1
            return
        five, length = parsed
        when = record.time if record.time is not None else pcap_time
        if record.group == ALLOWED_LOG_GROUP:
            self.allowed.put(LoggedPacket(when, five, length, record.prefix, ref.direction))
            return
        self.denied.put(DeniedPacket(when, five, length, record.prefix, ref.direction))
        if ref.kind != "implied":  # implied rules never log
            self.denied_for_logging.put(
                LoggedPacket(when, five, length, record.prefix, ref.direction, "DENIED")
            )


# -- the reader process ----------------------------------------------------------------------------
def reader_argv(netns: str) -> list[str]:
    device = f"nflog:{DENIED_LOG_GROUP},{ALLOWED_LOG_GROUP}"
    options = ["-U", "-w", "-", "-B", str(SOCKET_BUFFER_KIB)]
    return ["ip", "netns", "exec", netns, PROGRAM, "-i", device, *options]


def netns_inode(netns: str) -> int | None:
    """The identity of the namespace ``ip netns`` names ``netns`` now (None: there is none)."""
    try:
        return os.stat(f"/run/netns/{netns}").st_ino
    except OSError:
        return None


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


class NflogReader:
    """``tcpdump`` on the nflog groups of one namespace, parsed by a thread into a
    :class:`Feed`. Starting waits until tcpdump says it listens (so no packet sent after
    :meth:`LinuxNflogSource.watch` returns is missed)."""

    def __init__(self, netns: str, feed: Feed, *, ready_timeout: float = 2.0) -> None:
        self.netns = netns
        self.feed = feed
        self.inode = netns_inode(netns)
        try:
            self._proc = subprocess.Popen(
                reader_argv(netns),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
            )
        except OSError as exc:
            raise DataplaneError(
                f"cannot start {PROGRAM} in {netns}: {exc}", errno=exc.errno
            ) from exc
        self.pid = self._proc.pid
        self.start_time = proc_start_time(self.pid) or 0
        self.stream_error = ""
        self._ready = threading.Event()
        self._listening = False
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read, args=(self._proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self._proc.stderr,), daemon=True),
        ]
        for t in self._threads:
            t.start()
        if not self._ready.wait(ready_timeout) or not self._listening:
            self.stop()  # gone, or never said it listens: either way it is of no use
            code = self._proc.returncode
            raise _failure(f"{PROGRAM} on nflog in {netns} did not start", code, self.stderr)

    def _read(self, stream: IO[bytes]) -> None:
        fd = stream.fileno()
        pcap = PcapStream()
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            try:
                records = pcap.feed(chunk)
            except StreamError as exc:
                # Nothing after a torn record can be trusted: end this reader (the next
                # drain starts a fresh one).
                self.stream_error = str(exc)
                with contextlib.suppress(OSError):
                    self._proc.terminate()
                return
            for when, data in records:
                try:
                    record = parse_nflog(data, pcap.little)
                    if record is None:
                        self.feed.bad_records += 1
                    else:
                        self.feed.add(record, when)
                except (ValueError, struct.error, IndexError):
                    self.feed.bad_records += 1

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if "listening on" in line:
                self._listening = True
                self._ready.set()
            self._stderr.append(line)
        self._ready.set()  # it ended before it listened (or after: nobody waits then)

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    @property
    def stderr(self) -> str:
        lines = list(self._stderr)
        if self.stream_error:
            lines.append(self.stream_error)
        return "\n".join(lines)

    def stop(self, grace: float = 2.0) -> None:
        stop_reader(self._proc, self._threads, grace)


def _last_word(stderr: str) -> str:
    """What tcpdump said last, its exit statistics ("N packets captured"...) aside."""
    lines = [line for line in stderr.splitlines() if line and " packets " not in f" {line}"]
    return lines[-1] if lines else ""


def _failure(what: str, code: int | None, stderr: str) -> DataplaneError:
    err = errno.ENOENT if _NO_NETNS in stderr else code
    detail = _last_word(stderr) or ("no answer" if code is None else f"exit code {code}")
    return DataplaneError(f"{what}: {detail}", errno=err, stderr=stderr)


# -- the source ------------------------------------------------------------------------------------
class LinuxNflogSource:
    """The firewall's nflog groups of every router namespace watched (root). Thread-safe:
    the flow-log collector and the firewall log writer call it from their own threads."""

    def __init__(self, *, queue_limit: int = QUEUE_LIMIT, ready_timeout: float = 2.0) -> None:
        self._limit = queue_limit
        self._ready_timeout = ready_timeout
        self._lock = threading.Lock()
        self._feeds: dict[str, Feed] = {}
        self._readers: dict[str, NflogReader] = {}
        self.restarts = 0

    def watch(self, netns: str) -> None:
        with self._lock:
            self._watch(netns)

    def _watch(self, netns: str) -> Feed:
        feed = self._feeds.get(netns)
        if feed is None:
            feed = self._feeds[netns] = Feed(self._limit)
        reader = self._readers.get(netns)
        if reader is not None and reader.alive and reader.inode == netns_inode(netns):
            return feed
        if reader is not None and reader.alive:
            # The namespace of that name was deleted and made again (a router removed with
            # its last cluster and a new one made): the reader still sits in the old one.
            del self._readers[netns]
            reader.stop()
            reader = None
        if reader is not None:
            # It ended; what it queued stays in the feed. Say why once, then start anew.
            del self._readers[netns]
            reader.stop()
            self.restarts += 1
            log.warning(
                "nflog reader in %s ended (exit code %s): %s",
                netns,
                reader.returncode,
                _last_word(reader.stderr),
            )
        self._readers[netns] = NflogReader(netns, feed, ready_timeout=self._ready_timeout)
        return feed

    def _drain(self, netns: str, pick: Callable[[Feed], _Queue[T]]) -> list[T]:
        with self._lock:
            try:
                feed = self._watch(netns)
            except DataplaneError:
                # Packets a reader read before it ended are handed out first; the failure
                # shows on a call that has nothing else to give.
                feed = self._feeds[netns]
                out = pick(feed).drain()
                if not out:
                    raise
                return out
            return pick(feed).drain()

    def denied(self, netns: str) -> list[DeniedPacket]:
        """Packets denied in ``netns`` since the last call (the flow-log collector's)."""
        return self._drain(netns, lambda f: f.denied)

    def denied_for_logging(self, netns: str) -> list[LoggedPacket]:
        """The same denied packets, but implied rules', for Firewall Rules Logging."""
        return self._drain(netns, lambda f: f.denied_for_logging)

    def allowed(self, netns: str) -> list[LoggedPacket]:
        """First packets of connections that logging rules allowed in ``netns``."""
        return self._drain(netns, lambda f: f.allowed)

    def feed(self, netns: str) -> Feed | None:
        """The queues of ``netns`` (their counters), if it is watched."""
        return self._feeds.get(netns)

    def readers(self) -> Mapping[str, ReaderProcess]:
        with self._lock:
            return {
                ns: ReaderProcess(ns, r.pid, r.start_time)
                for ns, r in self._readers.items()
                if r.alive
            }

    def stop_stale(self, process: ReaderProcess) -> bool:
        """Stop a reader an earlier run left behind, if that exact process still runs."""
        with self._lock:
            if any(r.pid == process.pid for r in self._readers.values()):
                return False  # ours
        if proc_start_time(process.pid) != process.start_time or _comm(process.pid) != PROGRAM:
            return False
        try:
            os.kill(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True

    def stop_watching(self, netns: str) -> None:
        with self._lock:
            self._feeds.pop(netns, None)
            reader = self._readers.pop(netns, None)
        if reader is not None:
            reader.stop()

    def close(self) -> None:
        for netns in list(self._feeds):
            self.stop_watching(netns)
