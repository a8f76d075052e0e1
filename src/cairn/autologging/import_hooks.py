"""Run a function when a library is imported: now if it already is, else right after its
first import. `cairn.autolog()` patches the libraries a script uses without importing the
ones it does not (torch and transformers take seconds to import)."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

log = logging.getLogger("cairn.autolog")

Hook = Callable[[ModuleType], None]

_lock = threading.RLock()
_waiting: dict[str, list[Hook]] = {}


def when_imported(module_name: str, hook: Hook) -> None:
    """Call `hook(module)` once `module_name` (a top-level package) is imported."""
    with _lock:
        module = sys.modules.get(module_name)
        if module is None:
            _waiting.setdefault(module_name, []).append(hook)
            if not any(isinstance(f, _Finder) for f in sys.meta_path):
                sys.meta_path.insert(0, _Finder())
            return
    _call(hook, module)


def _call(hook: Hook, module: ModuleType) -> None:
    try:
        hook(module)
    except Exception as error:  # an import must never fail because of autologging
        log.warning("Cairn autologging could not patch %s: %s", module.__name__, error)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds a waited-for module with the other finders, and runs its hooks once the module
    has executed; the module's spec and loader stay the originals."""

    def __init__(self) -> None:
        self._finding: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _waiting or fullname in self._finding:
            return None
        self._finding.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self._loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        with _lock:
            hooks = _waiting.pop(module.__name__, [])
        for hook in hooks:
            _call(hook, module)
