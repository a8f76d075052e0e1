"""What every integration's `autolog()` does once its own arguments are checked: keep the
switches, then patch the library when it is imported, or unpatch it when turned off.

Each `autolog()` keeps MLflow's explicit keyword signature (the names and defaults users
and IDEs see) and hands its arguments here as `locals()`: the MLflow switches among them
become the `AutologSettings`, and its own options come as keywords.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from types import ModuleType
from typing import Any

from cairn.autologging import import_hooks, patching, settings
from cairn.autologging.settings import AutologSettings

# MLflow's switches: the AutologSettings fields an `autolog()` takes by name.
SWITCHES = tuple(f.name for f in fields(AutologSettings) if f.name != "options")


def turn_on(
    integration: str,
    libraries: tuple[str, ...],
    install: Callable[[ModuleType], None],
    switches: Mapping[str, Any],
    **options: Any,
) -> None:
    """Configure `integration` from `switches` (an `autolog()`'s arguments; those it lacks
    keep AutologSettings' defaults) and `options`; then, unless `disable`, run
    `install(module)` once each of `libraries` is imported, else revert its patches."""
    given = {name: switches[name] for name in SWITCHES if name in switches}
    given["extra_tags"] = {str(k): str(v) for k, v in (given.get("extra_tags") or {}).items()}
    current = AutologSettings(**given, options=options)
    settings.configure(integration, current)
    if current.disable:
        patching.revert(integration)
        return
    for library in libraries:
        import_hooks.when_imported(library, install)
