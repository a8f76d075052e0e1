"""Each integration's autologging switches: the one place they are kept."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AutologSettings:
    """MLflow's autolog switches, with its defaults; `options` holds an integration's own
    (scikit-learn's `max_tuning_runs`, say)."""

    log_models: bool = True
    log_datasets: bool = True
    log_input_examples: bool = False
    log_model_signatures: bool = True
    disable: bool = False
    exclusive: bool = False
    disable_for_unsupported_versions: bool = False
    silent: bool = False
    extra_tags: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


_lock = threading.Lock()
_settings: dict[str, AutologSettings] = {}


def configure(integration: str, settings: AutologSettings) -> None:
    """Set an integration's switches; `disable=True` turns it off."""
    with _lock:
        _settings[integration] = settings


def get(integration: str) -> AutologSettings | None:
    """The switches of an integration that is on; None when off or never turned on."""
    settings = _settings.get(integration)
    return None if settings is None or settings.disable else settings


def reset() -> None:
    """Every integration off (for tests)."""
    with _lock:
        _settings.clear()
