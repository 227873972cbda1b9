"""A flow-log collector as its own process, for crash tests: ticks every TICK seconds until
SIGTERM (then drains and exits); SIGKILL is the crash under test.

    python -m tests.kernel.flowlogs.collector_main STATE_DIR ROUTER_NETNS TICK
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from intranode.controllers.flowlogs import FlowCollector
from intranode.dataplane.linux.conntrack import LinuxFlowSource

from .harness import NETWORK, make_context


def main() -> None:
    state_dir, router, tick = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    ctx = make_context(state_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    collector = FlowCollector(
        ctx, LinuxFlowSource(), routers=lambda: {router: NETWORK}, tick_seconds=tick
    )
    collector.tick()
    print("ticking", flush=True)
    while not stop.wait(tick):
        collector.tick()
    collector.close(flush=True)
    ctx.db.close()


if __name__ == "__main__":
    main()
