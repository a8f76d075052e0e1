"""Which errors mean "try again later" rather than "this was refused".

A lost connection, a server that stays down or answers 5xx/429 past its retries, a
database that is locked or gone: the data is fine and the store may come back, so buffered
work is kept. Any other `CairnError` (a deleted run, a changed param, a bad key) is the
store's answer: retrying cannot change it, so it is reported to the caller.
"""

from __future__ import annotations

from cairn.exceptions import CairnError, TemporarilyUnavailableError

_DRIVER_FAULTS = frozenset({"OperationalError", "InterfaceError", "DisconnectionError"})
# What a server answers when it is overloaded or broken, not when the request is wrong.
_SERVER_FAULTS = frozenset({"INTERNAL_ERROR", "REQUEST_LIMIT_EXCEEDED", "TEMPORARILY_UNAVAILABLE"})


def is_transient(error: BaseException) -> bool:
    """A lost connection or an unavailable store (any driver), as opposed to bad input."""
    if isinstance(error, TemporarilyUnavailableError):
        return True
    if isinstance(error, CairnError):
        return type(error) is CairnError and error.error_code in _SERVER_FAULTS
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    return bool({cls.__name__ for cls in type(error).__mro__} & _DRIVER_FAULTS)
