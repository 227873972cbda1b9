"""Reconcilers: cluster lifecycle, IPAM, scheduling, netd; long-running operations."""
