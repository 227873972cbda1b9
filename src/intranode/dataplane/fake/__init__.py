"""In-memory twin of the Linux data plane for unit tests: same protocol, same errors.

Public API: :class:`FakeDataplane` ``(ledger, sysctl_defaults=None)`` and :class:`MemoryLedger`.
"""

from intranode.dataplane.fake.dataplane import FakeDataplane
from intranode.dataplane.fake.ledger import MemoryLedger

__all__ = ["FakeDataplane", "MemoryLedger"]
