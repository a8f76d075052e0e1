"""The fluent hot path: metric points buffered in memory, stored by a background writer.

`add` is a list append. The writer takes points off the front of the list in chunks and
stores each chunk in one transaction; `flush` drains the rest in the caller's thread while
holding the writer's lock, so it returns only when every point added before it is stored.
A failed write is kept and raised at the next `check`/`flush`, never swallowed: points the
store refused (their run is gone) are dropped with that error, points that met a database
fault go back to the front of the buffer and are retried.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from cairn.exceptions import CairnError
from cairn.store.base import MetricPoint, TrackingStore

CHUNK = 20_000
HIGH_WATER = 1_000_000


class MetricBatcher:
    def __init__(self, store: TrackingStore, interval: float) -> None:
        self._store = store
        self._interval = interval
        self.buffer: list[MetricPoint] = []
        self.error: BaseException | None = None
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="cairn-metric-writer", daemon=True)
        self._thread.start()

    @property
    def add(self) -> Callable[[MetricPoint], None]:
        """The bound `append` of the buffer: the cheapest call that can queue a point."""
        return self.buffer.append

    def check(self) -> None:
        """Raise (once) the error of a write that failed in the background."""
        error, self.error = self.error, None
        if error is not None:
            raise error

    def backpressure(self) -> None:
        """Called when the buffer is over HIGH_WATER: write in the caller until it is not."""
        with self._write_lock:
            while len(self.buffer) > HIGH_WATER // 2:
                self._write_chunk()
        self.check()

    def flush(self, last: Callable[[list[MetricPoint]], None] | None = None) -> None:
        """Store every point added so far; raise if any write failed.

        With `last`, the final chunk (possibly empty) is handed to it instead of the store,
        so the caller can store it together with other work in one transaction."""
        with self._write_lock:
            while len(self.buffer) > (CHUNK if last else 0) and self._write_chunk():
                pass
            if last is not None and self.error is None:
                chunk = self.buffer[:CHUNK]
                del self.buffer[: len(chunk)]
                try:
                    last(chunk)
                except Exception as error:
                    if _is_database_fault(error):
                        self.buffer[:0] = chunk
                    raise
        self.check()

    def close(self) -> None:
        """Flush, then stop the writer thread."""
        try:
            self.flush()
        finally:
            self._closed = True
            self._wake.set()
            if self._thread is not threading.current_thread():
                self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._closed:
            if not self.buffer:
                self._wake.wait(self._interval)
                self._wake.clear()
                continue
            with self._write_lock:
                progressed = self._write_chunk()
            if not progressed:
                self._wake.wait(self._interval)  # a database fault: wait before retrying

    def _write_chunk(self) -> bool:
        """Store up to CHUNK points from the front; False if the database failed."""
        chunk = self.buffer[:CHUNK]
        del self.buffer[: len(chunk)]
        if not chunk:
            return True
        try:
            self._store.log_metric_points(chunk)
        except Exception as error:
            self.error = error
            if _is_database_fault(error):  # the database may come back: keep the points
                self.buffer[:0] = chunk
                return False
            # Refused by the store, or a bug: retrying cannot help; the error says so.
        return True


def _is_database_fault(error: BaseException) -> bool:
    """A lost connection or an unavailable database (any driver), as opposed to bad input."""
    if isinstance(error, CairnError):
        return False
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & {"OperationalError", "InterfaceError", "DisconnectionError"})
