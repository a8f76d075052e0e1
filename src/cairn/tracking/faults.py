"""Which errors mean "try again later" rather than "this was refused".

A lost connection, a server that stays down past its retries, a database that is locked
or gone: the data is fine and the store may come back, so buffered work is kept. An error
that is a `CairnError` (a deleted run, a changed param, a bad key) is the store's answer:
retrying cannot change it, so it is reported to the caller.
"""

from __future__ import annotations

from cairn.exceptions import CairnError

_DRIVER_FAULTS = frozenset({"OperationalError", "InterfaceError", "DisconnectionError"})


def is_transient(error: BaseException) -> bool:
    """A lost connection or an unavailable store (any driver), as opposed to bad input."""
    if isinstance(error, CairnError):
        return False
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    return bool({cls.__name__ for cls in type(error).__mro__} & _DRIVER_FAULTS)
