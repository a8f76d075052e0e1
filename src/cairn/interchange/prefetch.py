"""Reading ahead on a thread: the next chunk of a history is read from the source while the
target writes the last one. Both sides spend their time in database drivers and file I/O,
which release the GIL, so on two cores an import runs close to the slower side's speed
rather than the sum of both. The queue is short: memory stays a few chunks."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()
_WAIT_SECONDS = 0.1


def prefetched(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """`items`, produced on a thread at most `depth` ahead; an error there is raised here.
    Stopping early (an error while writing) stops the thread at its next item."""
    ahead: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=_WAIT_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            offer(error)

    thread = threading.Thread(target=produce, name="cairn-import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = ahead.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
