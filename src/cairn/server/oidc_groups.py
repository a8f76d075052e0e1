"""The group mapping file of `--oidc-group-mapping`: which of the identity provider's groups
make a user an admin, and which permissions they give on experiments and registered models.

```yaml
admins: [ml-platform]
experiments:
  churn: {ml-team: EDIT, analysts: READ}   # an experiment's name ...
  "12": {ml-team: READ}                     # ... or its id
models:
  churn-classifier: {ml-team: MANAGE}
```

JSON with the same shape works too (YAML reads it). A user in several groups gets the
highest permission any of them gives. The file is read once at start: a mistake in it stops
the server instead of failing each login.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cairn.exceptions import InvalidParameterValueError

_LEVELS = ("READ", "EDIT", "MANAGE")
_KEYS = frozenset({"admins", "experiments", "models"})


@dataclass(frozen=True)
class Grants:
    """What a user's groups give: the admin flag and permissions by experiment (id or
    name, as the file says) and by registered model name."""

    admin: bool = False
    experiments: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupMapping:
    admins: frozenset[str] = frozenset()
    experiments: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    models: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | None) -> GroupMapping:
        """The mapping in the file at `path` (None: no mapping, nothing granted)."""
        if path is None:
            return cls()
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise InvalidParameterValueError(
                f"Cannot read the group mapping {path}: {error}"
            ) from None
        return cls.parse(loaded if loaded is not None else {}, path)

    @classmethod
    def parse(cls, loaded: Any, where: str = "the group mapping") -> GroupMapping:
        if not isinstance(loaded, dict) or not set(loaded) <= _KEYS:
            raise InvalidParameterValueError(
                f"{where}: expected a mapping with keys {', '.join(sorted(_KEYS))}."
            )
        admins = loaded.get("admins") or []
        if not isinstance(admins, list) or not all(isinstance(g, str) for g in admins):
            raise InvalidParameterValueError(f"{where}: 'admins' is a list of group names.")
        return cls(
            frozenset(admins),
            _table(loaded.get("experiments"), "experiments", where),
            _table(loaded.get("models"), "models", where),
        )

    def grants(self, groups: Iterable[str]) -> Grants:
        held = set(groups)
        return Grants(
            admin=bool(held & self.admins),
            experiments=_highest(self.experiments, held),
            models=_highest(self.models, held),
        )


def _table(value: Any, key: str, where: str) -> dict[str, dict[str, str]]:
    """`{object: {group: LEVEL}}`, checked."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameterValueError(f"{where}: '{key}' maps names to {{group: LEVEL}}.")
    table: dict[str, dict[str, str]] = {}
    for name, by_group in value.items():
        if not isinstance(by_group, dict):
            raise InvalidParameterValueError(f"{where}: {key}.{name} is {{group: LEVEL}}.")
        levels = {}
        for group, level in by_group.items():
            if not isinstance(level, str) or level.upper() not in _LEVELS:
                raise InvalidParameterValueError(
                    f"{where}: {key}.{name}.{group} must be one of {', '.join(_LEVELS)}."
                )
            levels[str(group)] = level.upper()
        table[str(name)] = levels
    return table


def _highest(table: Mapping[str, Mapping[str, str]], held: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, by_group in table.items():
        given = [level for group, level in by_group.items() if group in held]
        if given:
            found[name] = max(given, key=_LEVELS.index)
    return found
