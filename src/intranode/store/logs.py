"""Log entries: indexed columns for what filters use, the whole entry as JSON."""

from __future__ import annotations

import json
from typing import Any

from intranode.store.db import Database


class LogStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def write(self, rows: list[tuple[str, str, int, int, int, str, dict[str, Any]]]) -> None:
        """Rows of (insert_id, log_name, ts_ns, receive_ns, severity, resource_type, entry)."""
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO log_entries "
                "(insert_id, log_name, ts_ns, receive_ns, severity, resource_type, entry) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(r[0], r[1], r[2], r[3], r[4], r[5], json.dumps(r[6])) for r in rows],
            )
