"""Read and write transactions shared by the SQL stores, with retries of deadlocked writes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cairn import env
from cairn.exceptions import CairnError
from cairn.store.sql import search_time

_RETRIES = 5
T = TypeVar("T")


class SqlTransactions:
    """Base of the SQL stores: `engine` is set by the subclass's constructor."""

    engine: Engine

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def _search_read(self) -> Iterator[Connection]:
        """A read transaction for a search: its statements stop, refused, after
        CAIRN_SEARCH_TIMEOUT_SECONDS (cairn.store.sql.search_time)."""
        with self._read() as conn, search_time.bounded(conn, env.search_timeout_seconds()):
            yield conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(cairn_write=True) as conn, conn.begin():
            yield conn

    def _retrying(self, work: Callable[[Connection], T]) -> T:
        """Run `work(conn)` in a write transaction, again if the database reports a deadlock."""
        for attempt in range(_RETRIES):
            try:
                with self._write() as conn:
                    return work(conn)
            except Exception as error:  # SQLAlchemy's or, on the prepared path, the driver's
                if attempt == _RETRIES - 1 or not _is_transient(error):
                    raise
                time.sleep(0.01 * 2**attempt)  # back off before retrying a deadlocked write
        raise AssertionError("unreachable")


def _is_transient(error: Exception) -> bool:
    """A deadlock or lock timeout, worth one more try (never a constraint or a bad value)."""
    if isinstance(error, CairnError) or isinstance(error, IntegrityError):
        return False
    text = str(getattr(error, "orig", None) or error).lower()
    return "deadlock" in text or "locked" in text or "serializ" in text or "lock wait" in text
