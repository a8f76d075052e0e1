"""Whether a store call may retry on its own, or must fail at its first transient error.

The fluent API's journal keeps work it could not deliver and tries again itself, so its
calls fail fast: a server that is down is noticed at the first refused connection, not after
a minute of backoff that would stall the training loop waiting behind it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_fail_fast: ContextVar[bool] = ContextVar("cairn_store_fail_fast", default=False)


@contextmanager
def failing_fast() -> Iterator[None]:
    """Store calls made inside this block (in this thread) are not retried."""
    token = _fail_fast.set(True)
    try:
        yield
    finally:
        _fail_fast.reset(token)


def allowed() -> bool:
    """Whether the current call may be retried."""
    return not _fail_fast.get()
