"""Idempotency keys: a keyed write is applied at most once, so a replayed batch is a no-op.

A write claims its key in the transaction that writes its data, before writing anything:
the key's row is inserted unless it exists, and a key that existed means the write was
applied already and is skipped. Data and key commit or roll back together, and two
concurrent sends of one key serialise on the key's row (the second waits, then finds it),
so the write happens exactly once whatever the timing.

What is stored is a digest of (scope, key), not the key: the scope is the run a log-batch
writes to, so a key only ever suppresses writes to that same run (under `--auth`, to a run
the caller may already edit; another user's key cannot hide a write), and the digest keeps
the column at 64 characters whatever the run id's length. Multi-run point writes
(log_metric_points, end_run) have the empty scope.

Keys are kept for 7 days (RETENTION_MS): a replay later than that may apply a batch again
(metric points still once, since exact repeats are stored once). Old keys are purged
opportunistically: by each store on its first keyed write and then at most once an hour,
in a transaction of its own, through the index on `created_time`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection

from cairn.store.sql.schema import idempotency_keys

RETENTION_MS = 7 * 24 * 3600 * 1000
PURGE_INTERVAL_SECONDS = 3600.0


def stored_key(scope: str, key: str) -> str:
    """The row's key: `/` never occurs in a key, so (scope, key) pairs cannot collide."""
    return hashlib.sha256(f"{scope}/{key}".encode()).hexdigest()


def claim(conn: Connection, key: str, now_ms: int) -> bool:
    """Insert the stored key; False when it was there already (the write is a repeat)."""
    row = {"key": key, "created_time": now_ms}
    if conn.dialect.name == "mysql":
        return bool(conn.execute(_insert_unless_present(conn), row).rowcount)
    # RETURNING, not rowcount: the PostgreSQL driver reports no count for this statement.
    return conn.execute(_insert_unless_present(conn), row).first() is not None


def purge(conn: Connection, now_ms: int) -> None:
    """Forget keys older than the retention."""
    cutoff = now_ms - RETENTION_MS
    conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_time < cutoff))


def _insert_unless_present(conn: Connection) -> Any:
    name = conn.dialect.name
    if name == "mysql":
        # IGNORE, not a no-op ON DUPLICATE KEY UPDATE: SQLAlchemy connects MySQL with
        # FOUND_ROWS, under which a no-op update also counts one row. Nothing else can be
        # ignored here: the key is a 64-character digest and the time an integer.
        return mysql.insert(idempotency_keys).prefix_with("IGNORE")
    dialect_insert = postgresql.insert if name == "postgresql" else sqlite.insert
    return (
        dialect_insert(idempotency_keys)
        .on_conflict_do_nothing()
        .returning(idempotency_keys.c.created_time)
    )
