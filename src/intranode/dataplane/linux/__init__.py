"""The Linux data plane: pyroute2 for links, addresses, routes and rules (one socket per
namespace), a setns worker thread for namespaces and sysctls, ``nft -j`` for nftables.

Public API: :class:`LinuxDataplane` ``(ledger)``, an implementation of
:class:`intranode.dataplane.protocol.Dataplane`. Needs root; never touches the namespace the
daemon runs in.
"""

from intranode.dataplane.linux.dataplane import LinuxDataplane

__all__ = ["LinuxDataplane"]
