"""pyroute2, nft -j, conntrack: applies plans to real namespaces."""
