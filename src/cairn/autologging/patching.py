"""Library methods wrapped for autologging, safely.

A patch receives a `PatchedCall`, calls `call.original(...)` once to train, and logs around
it. If the original raises, that error reaches the user unchanged (and a run the call started
ends FAILED). If the logging raises, before or after training, a warning names it and the
user gets what the original returned, as if autologging were off: logging must never break
training. While a patched call runs, patched calls it makes (a pipeline fitting its steps, a
search fitting candidates, a booster's scikit-learn wrapper calling `train`) go straight to
their originals. Patches stay installed and read their integration's settings at each call;
`revert` puts the originals back.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cairn.autologging import runs, settings
from cairn.autologging.settings import AutologSettings

log = logging.getLogger("cairn.autolog")

Patch = Callable[..., Any]  # patch(call: PatchedCall, *args, **kwargs)


class PatchedCall:
    """One call of a patched method: its original, and the run it logs into."""

    def __init__(self, integration: str, settings: AutologSettings, original: Callable[..., Any]):
        self.integration = integration
        self.settings = settings
        self._original = original
        self.called = False
        self.result: Any = None
        self.error: BaseException | None = None

    def original(self, *args: Any, **kwargs: Any) -> Any:
        """Run the library's own method (once); its errors pass through unchanged."""
        self.called = True
        try:
            self.result = self._original(*args, **kwargs)
        except BaseException as error:
            self.error = error
            raise
        return self.result

    @contextlib.contextmanager
    def run(self, run_name: str | None = None) -> Iterator[str | None]:
        """The run to log into (None under `exclusive` with a run of the user's active). A run
        started here ends when the block does: FAILED if training raised, else FINISHED."""
        with runs.autolog_run(
            self.integration, self.settings, run_name, failed=lambda: self.error is not None
        ) as run_id:
            yield run_id


@dataclass
class _Installed:
    owner: Any
    name: str
    raw: Any  # the attribute as the owner's __dict__ held it (a staticmethod stays one)


_lock = threading.Lock()
_installed: dict[str, list[_Installed]] = {}
_inside = threading.local()


def patch(integration: str, owner: Any, name: str, logic: Patch) -> None:
    """Wrap `owner.name` (a class's method or a module's function) with `logic`, once."""
    with _lock:
        done = _installed.setdefault(integration, [])
        if any(p.owner is owner and p.name == name for p in done):
            return
        raw = vars(owner).get(name, None)
        original = getattr(owner, name)
        wrapped = _wrap(integration, original, logic)
        if isinstance(raw, staticmethod):
            wrapped = staticmethod(wrapped)
        elif isinstance(raw, classmethod):
            raise TypeError(f"cannot patch the classmethod {owner!r}.{name}")
        setattr(owner, name, wrapped)
        done.append(_Installed(owner, name, raw))


def revert(integration: str) -> None:
    """Put back every original an integration patched."""
    with _lock:
        for installed in reversed(_installed.pop(integration, [])):
            if installed.raw is None:
                with contextlib.suppress(AttributeError):
                    delattr(installed.owner, installed.name)
            else:
                setattr(installed.owner, installed.name, installed.raw)


def in_patched_call() -> bool:
    """True inside a patched call of any integration, in this thread."""
    return bool(getattr(_inside, "depth", 0))


@contextlib.contextmanager
def _depth() -> Iterator[None]:
    _inside.depth = getattr(_inside, "depth", 0) + 1
    try:
        yield
    finally:
        _inside.depth -= 1


def _wrap(integration: str, original: Callable[..., Any], logic: Patch) -> Callable[..., Any]:
    @functools.wraps(original)
    def patched(*args: Any, **kwargs: Any) -> Any:
        current = settings.get(integration)
        if current is None or in_patched_call():
            return original(*args, **kwargs)
        call = PatchedCall(integration, current, original)
        with _depth(), quiet(current):
            try:
                return logic(call, *args, **kwargs)
            except Exception as error:
                if call.error is error:
                    raise
                if call.error is not None:  # the patch raised its own error over training's
                    raise call.error from None
                warn(integration, current, error)
        return call.result if call.called else original(*args, **kwargs)

    patched.__cairn_original__ = original  # type: ignore[attr-defined]
    return patched


def warn(integration: str, current: AutologSettings | None, error: BaseException) -> None:
    """Name a failure of the logging itself (training went on), unless `silent`."""
    if current is None or not current.silent:
        log.warning(
            "Cairn autologging for %s failed; training went on without it: %s: %s",
            integration,
            type(error).__name__,
            error,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )


@contextlib.contextmanager
def quiet(current: AutologSettings) -> Iterator[None]:
    """With `silent`, Cairn's own warnings and log lines are held back."""
    if not current.silent:
        yield
        return
    cairn_log = logging.getLogger("cairn")
    was = cairn_log.disabled
    cairn_log.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"cairn(\.|$)")
            yield
    finally:
        cairn_log.disabled = was
