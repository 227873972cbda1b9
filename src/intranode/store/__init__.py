"""SQLite (WAL) state: resources with revisions, the log table, the kernel-object ledger."""
