"""A copy of a SQLite database taken before a migration rewrites it.

A migration that fails halfway, or a newer Cairn that turns out to be the wrong one, can
leave a database that this Cairn no longer opens; the copy beside it is the way back. It is
taken with SQLite's online backup API, so writers using the database meanwhile neither
block it nor tear it, and it is written under a temporary name first, so a copy cut short
(a full disk) never passes for a whole one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time

from cairn.exceptions import InvalidStateError


def backup_path(database: str, revision: str, now: float | None = None) -> str:
    """`<database>.backup-<revision>-<UTC time>`, beside the database."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return f"{database}.backup-{revision}-{stamp}"


def backup_sqlite(database: str, revision: str) -> str:
    """Copy the SQLite file `database` (at schema `revision`) to a new file beside it, as
    one file in rollback-journal mode that opens on its own; returns the copy's path."""
    target = backup_path(database, revision)
    partial = f"{target}.partial"
    try:
        source = sqlite3.connect(database)
        try:
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")
            finally:
                copy.close()
        finally:
            source.close()
        os.replace(partial, target)
    except (OSError, sqlite3.Error) as error:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise InvalidStateError(
            f"Cannot back up {database} before migrating it ({error}); nothing was migrated. "
            "Free some space next to the database, or run `cairn db upgrade --no-backup`."
        ) from error
    return target
