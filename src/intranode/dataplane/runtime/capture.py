"""What a Packet Mirroring collector receives, written to rotating pcap files: one ``tcpdump``
in each collector backend's namespace, on its ``eth0``, promiscuous (the copies keep the
MAC addresses of the frames they copy), every byte (``-s 0``), flushed per packet (``-U``)
and delivered by the kernel at once (``--immediate-mode``; otherwise libpcap waits up to a
second to fill a block), so ``intranode mirror follow`` sees packets at once; as root
(``-Z root``: the files live in the state dir), with a 64 MiB buffer, in at most 8 files of
16 MB (``capture.pcap0`` ... ``capture.pcap7``; tcpdump reuses the oldest).

The process is recorded (kind ``capture-process``, by PID and start time) right after it
starts, so cleanup after a crash stops exactly it (:func:`~.cleanup.cleanup_recorded`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from intranode.dataplane.runtime import process
from intranode.dataplane.runtime.process import ProcessHandle
from intranode.dataplane.runtime.records import KIND_CAPTURE, RecordSink
from intranode.domain.pcap import CAPTURE_FILE_MB, CAPTURE_FILES, CAPTURE_NAME, capture_dir

__all__ = ["capture_argv", "capture_dir", "start_capture", "stop_capture"]

# 64 MiB of socket buffer per collector: with libpcap's default (2 MiB) a 100,000-packet
# burst lost 11-22% of its copies to "dropped by kernel"; with this, 0.08% (bench/mirroring.py).
BUFFER_KIB = 65536


def capture_argv(netns: str, directory: Path) -> list[str]:
    return [
        "ip",
        "netns",
        "exec",
        netns,
        "tcpdump",
        "-i",
        "eth0",
        "-n",
        "-U",
        "--immediate-mode",
        "-s",
        "0",
        "-Z",
        "root",
        "-B",
        str(BUFFER_KIB),
        "-C",
        str(CAPTURE_FILE_MB),
        "-W",
        str(CAPTURE_FILES),
        "-w",
        str(directory / CAPTURE_NAME),
    ]


def start_capture(sink: RecordSink, netns: str, directory: Path) -> ProcessHandle:
    """Start capturing in ``netns``; tcpdump's own messages go to ``tcpdump.log`` there."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "tcpdump.log", "ab") as log:
        handle = process.spawn(
            capture_argv(netns, directory),
            os.environ,
            str(directory),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    sink.record(KIND_CAPTURE, str(handle.pid), {"start_time": handle.start_time, "netns": netns})
    return handle


async def stop_capture(sink: RecordSink, handle: ProcessHandle) -> None:
    await handle.stop(2.0)
    sink.forget(KIND_CAPTURE, str(handle.pid))
