"""The fluent hot path: metric points buffered in memory, stored by a background writer.

`log` is a list append and one cheap check: past `WAKE_AT` points the writer is woken (so
a burst is stored while the loop runs, and `end_run` has little left to store), past
`HIGH_WATER` the caller writes until the buffer is half empty (back-pressure, so a store
slower than the training loop bounds memory), and a background write error is raised into
the caller. The writer takes points off the front of the list in chunks and stores each
chunk in one transaction;
`flush` drains the rest in the caller's thread while holding the writer's lock, so it
returns only when every point added before it is stored.
A failed write is kept and raised at the next `check`/`flush`, never swallowed: points the
store refused (their run is gone) are dropped with that error, points that met a database
fault go back to the front of the buffer and are retried.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from cairn.store.base import MetricPoint
from cairn.tracking import metric_values
from cairn.tracking.faults import is_transient

Write = Callable[[list[MetricPoint]], None]

CHUNK = 20_000
# Enough points to make a transaction's fixed cost small beside them; fewer wait for the
# writer's interval (CAIRN_METRIC_FLUSH_SECONDS).
WAKE_AT = 10_000
HIGH_WATER = 1_000_000


class MetricBatcher:
    def __init__(self, write: Write, interval: float) -> None:
        self._write = write  # stores one chunk in one transaction
        self._interval = interval
        self.buffer: list[MetricPoint] = []
        self._error: BaseException | None = None
        self._limit = min(WAKE_AT, HIGH_WATER)
        # Set once a value read later (a tensor on a GPU) is queued: chunks are then resolved
        # to floats before they are stored.
        self.deferred = False
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="cairn-metric-writer", daemon=True)
        self._thread.start()

    def log(self, point: MetricPoint) -> None:
        """Queue a point; write in the caller when the writer cannot keep up, and raise a
        background write's error."""
        buffer = self.buffer
        buffer.append(point)
        if len(buffer) > self._limit:  # past WAKE_AT or HIGH_WATER, or -1 after a failure
            self._over_limit()

    def log_many(self, points: list[MetricPoint]) -> None:
        """`log` for several points (a `log_metrics` dict)."""
        buffer = self.buffer
        buffer += points
        if len(buffer) > self._limit:
            self._over_limit()

    def _over_limit(self) -> None:
        if self._error is not None or len(self.buffer) > HIGH_WATER:
            self.backpressure()
        else:  # wake the writer, once: it lowers the limit again when it takes a chunk
            self._limit = HIGH_WATER
            self._wake.set()

    @property
    def error(self) -> BaseException | None:
        """The error of the last failed write, not yet raised."""
        return self._error

    @error.setter
    def error(self, error: BaseException | None) -> None:
        self._error = error
        self._limit = min(WAKE_AT, HIGH_WATER) if error is None else -1  # `log` raises it

    def check(self) -> None:
        """Raise (once) the error of a write that failed in the background."""
        error, self.error = self.error, None
        if error is not None:
            raise error

    def backpressure(self) -> None:
        """Write in the caller until the buffer is half empty, then raise any write error."""
        with self._write_lock:
            while len(self.buffer) > HIGH_WATER // 2 and self._write_chunk():
                pass
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
                    last(self._resolved(chunk))
                except Exception as error:
                    if is_transient(error):
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

    def _resolved(self, chunk: list[MetricPoint]) -> list[MetricPoint]:
        return metric_values.resolve(chunk) if self.deferred else chunk

    def _run(self) -> None:
        """Every `interval`, write until the buffer is empty; woken by a full buffer, write
        whole chunks only, so a steady training loop is stored in few, large transactions.
        After a database fault, wait an interval before retrying."""
        while not self._closed:
            woken = self._wake.wait(self._interval)
            self._wake.clear()
            keep = WAKE_AT // 2 if woken else 0
            while len(self.buffer) > keep and not self._closed:
                with self._write_lock:
                    if not self._write_chunk():
                        break

    def _write_chunk(self) -> bool:
        """Store up to CHUNK points from the front; False if the database failed."""
        chunk = self.buffer[:CHUNK]
        del self.buffer[: len(chunk)]
        if self._error is None:
            self._limit = min(WAKE_AT, HIGH_WATER)
        if not chunk:
            return True
        try:
            self._write(self._resolved(chunk))
        except Exception as error:
            self.error = error
            if is_transient(error):  # the database may come back: keep the points
                self.buffer[:0] = chunk
                return False
            # Refused by the store, or a bug: retrying cannot help; the error says so.
        return True
