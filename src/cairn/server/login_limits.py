"""Failed logins counted per user name and per client address, so that guessing passwords
through `cairn server --auth` is slow.

Every password check (HTTP Basic, what MLflow's client and the browser send) counts as a
failure until it succeeds, so parallel guesses cannot all slip in before the first one is
counted. After `max_per_user` failures for one user name, or `max_per_address` from one
address, within `window_seconds`, further checks for that name or from that address are
answered 429 REQUEST_LIMIT_EXCEEDED with `Retry-After` (when the oldest failure leaves the
window), without running argon2. Refused checks are not counted, so a client that retries
on 429 (Cairn's and MLflow's do, honouring Retry-After) neither extends the lock nor costs
a hash. Credentials that succeeded before are remembered by the authenticator (by their
hash) and are not counted: a user's running jobs keep working while someone else's guesses
lock the name.

Settings (environment of `cairn server`):

* CAIRN_AUTH_MAX_FAILED_LOGINS: failures per user name in the window (default 10);
* CAIRN_AUTH_MAX_FAILED_LOGINS_PER_ADDRESS: failures per client address (default 50);
* CAIRN_AUTH_FAILED_LOGIN_WINDOW: the window in seconds (default 300).

Counts are kept per server process (`--workers 4` allows four times as many). Behind a
reverse proxy every client has the proxy's address: raise the per-address limit there.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cairn.exceptions import CairnError, InvalidParameterValueError

MAX_PER_USER_ENV = "CAIRN_AUTH_MAX_FAILED_LOGINS"
MAX_PER_ADDRESS_ENV = "CAIRN_AUTH_MAX_FAILED_LOGINS_PER_ADDRESS"
WINDOW_ENV = "CAIRN_AUTH_FAILED_LOGIN_WINDOW"
_MAX_KEYS = 100_000  # names and addresses remembered; past it, expired ones are dropped


class TooManyFailedLoginsError(CairnError):
    error_code = "REQUEST_LIMIT_EXCEEDED"
    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginLimits:
    max_per_user: int = 10
    max_per_address: int = 50
    window_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.max_per_user < 1 or self.max_per_address < 1:
            raise InvalidParameterValueError("Failed-login limits must be 1 or more.")
        if not self.window_seconds > 0 or not math.isfinite(self.window_seconds):
            raise InvalidParameterValueError("The failed-login window must be positive.")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> LoginLimits:
        environ = os.environ if environ is None else environ
        default = cls()
        return cls(
            max_per_user=int(_setting(environ, MAX_PER_USER_ENV, default.max_per_user)),
            max_per_address=int(_setting(environ, MAX_PER_ADDRESS_ENV, default.max_per_address)),
            window_seconds=_setting(environ, WINDOW_ENV, default.window_seconds),
        )


def _setting(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw) if name == WINDOW_ENV else int(raw)
    except ValueError:
        raise InvalidParameterValueError(f"Invalid {name}={raw!r}: expected a number.") from None


@dataclass(frozen=True)
class Attempt:
    """A password check under way, counted as failed unless `FailedLogins.succeeded`."""

    keys: tuple[tuple[str, str], ...]
    at: float


class FailedLogins:
    """The failures of the last window, per user name and per address (thread-safe:
    passwords are checked in worker threads)."""

    def __init__(self, limits: LoginLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def begin(self, username: str, address: str) -> Attempt:
        """Count a check for `username` from `address`, or raise TooManyFailedLoginsError
        when either has failed too often lately."""
        keys = (("user", username), ("address", address))
        with self._lock:
            now = self.clock()
            for key in keys:
                wait = self._wait(key, now)
                if wait is not None:
                    raise TooManyFailedLoginsError(_refusal(key, wait), wait)
            if len(self._failures) >= _MAX_KEYS:
                self._forget_expired(now)
            for key in keys:
                found = self._failures.get(key)
                if found is None:
                    found = self._failures[key] = deque(maxlen=self._limit(key))
                found.append(now)
        return Attempt(keys, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The check passed: it was no failure."""
        with self._lock:
            for key in attempt.keys:
                found = self._failures.get(key)
                if found is not None and attempt.at in found:
                    found.remove(attempt.at)
                    if not found:
                        del self._failures[key]

    def _limit(self, key: tuple[str, str]) -> int:
        return self.limits.max_per_user if key[0] == "user" else self.limits.max_per_address

    def _wait(self, key: tuple[str, str], now: float) -> int | None:
        """Whole seconds until `key` may try again; None when it may now."""
        found = self._failures.get(key)
        if found is None or len(found) < self._limit(key):
            return None
        free_at = found[0] + self.limits.window_seconds  # the oldest of the last `limit`
        if free_at <= now:
            return None
        return max(1, math.ceil(free_at - now))

    def _forget_expired(self, now: float) -> None:
        horizon = now - self.limits.window_seconds
        for key in [k for k, times in self._failures.items() if times[-1] <= horizon]:
            del self._failures[key]
        if len(self._failures) >= _MAX_KEYS:  # a flood of fresh names: start over
            self._failures.clear()


def _refusal(key: tuple[str, str], wait: int) -> str:
    kind, value = key
    who = f"user {value!r}" if kind == "user" else f"address {value}"
    return (
        f"Too many failed logins for {who}: try again in {wait} s "
        "(check the username and password)."
    )
