"""The pieces every MLflow message is built from: an object's fields, `[{key, value}]` pairs
and pages of results.

Readers name the field they refuse by its path (`metrics[3].timestamp`), with MLflow's
messages, so the server can answer a bad request with them; the REST stores read the
server's answers through the same functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

from cairn.entities import PagedList
from cairn.exceptions import InvalidParameterValueError
from cairn.wire.scalars import parse_int

T = TypeVar("T")


class KeyValue(Protocol):
    """A tag or a param: any entity with a key and a value."""

    @property
    def key(self) -> str: ...

    @property
    def value(self) -> str: ...


def present(out: dict[str, Any]) -> dict[str, Any]:
    """An object without its unset (None) fields: proto JSON leaves them out."""
    return {k: v for k, v in out.items() if v is not None}


# -- reading fields ------------------------------------------------------------------------


def as_list(name: str, value: Any) -> list[Any]:
    """A repeated field: absent or null reads as empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidParameterValueError(f"Parameter '{name}' must be a list.")
    return value


def as_object(name: str, index: int, item: Any) -> dict[str, Any]:
    """Item `index` of the repeated field `name`, which must be a JSON object."""
    if not isinstance(item, dict):
        raise InvalidParameterValueError(f"Parameter '{name}[{index}]' must be an object.")
    return item


def field(path: str, item: Mapping[str, Any], name: str, required: bool) -> Any:
    value = item.get(name)
    if required and (value is None or value == ""):
        raise InvalidParameterValueError(f"Missing value for required parameter '{path}.{name}'.")
    return value


def text(path: str, item: Mapping[str, Any], name: str, required: bool = False) -> str:
    """A string field; absent or null reads as "" (proto's default)."""
    value = field(path, item, name, required)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidParameterValueError(f"Invalid value {value!r} for parameter '{path}.{name}'.")
    return value


def integer(path: str, item: Mapping[str, Any], name: str) -> int:
    """An int64 field; unset reads as 0 (proto's default)."""
    return optional_integer(path, item, name) or 0


def optional_integer(path: str, item: Mapping[str, Any], name: str) -> int | None:
    """An int64 field that may be unset (an experiment's times, a run's end)."""
    value = item.get(name)
    return None if value is None else parse_int(f"{path}.{name}", value)


def optional_text(value: Any) -> str | None:
    """An optional string field: unset, null and "" all read as None."""
    return None if value is None or value == "" else str(value)


# -- key/value pairs -----------------------------------------------------------------------


def pairs(items: Mapping[str, str] | Iterable[KeyValue] | None) -> list[dict[str, str]]:
    """A `{key: value}` mapping, or tags and params, as MLflow's `[{key, value}]`. A value
    that is not a string (a number a caller passed) goes as its text."""
    if items is None:
        return []
    found = items.items() if isinstance(items, Mapping) else ((i.key, i.value) for i in items)
    return [{"key": k, "value": v if isinstance(v, str) else str(v)} for k, v in found]


def parse_pairs(items: Any, name: str = "tags") -> list[tuple[str, str]]:
    """`[{key, value}]`: each key required, a missing value read as ""."""
    found = []
    for i, raw in enumerate(as_list(name, items)):
        item, path = as_object(name, i, raw), f"{name}[{i}]"
        found.append((text(path, item, "key", True), text(path, item, "value")))
    return found


def parse_tag_map(items: Any, name: str = "tags") -> dict[str, str]:
    """`[{key, value}]` as a dict; a repeated key keeps its last value."""
    return dict(parse_pairs(items, name))


# -- pages ---------------------------------------------------------------------------------


def page(name: str, items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    """One page of a search: `{name: [...], next_page_token}`, each left out when empty
    (MLflow omits empty lists, so an empty search answers `{}`)."""
    out: dict[str, Any] = {}
    if items:
        out[name] = items
    if token:
        out["next_page_token"] = token
    return out


def parse_items(
    answer: Mapping[str, Any], name: str, parse: Callable[[Mapping[str, Any]], T]
) -> list[T]:
    """The repeated field `name` of an answer, each object in it read by `parse`."""
    return [parse(as_object(name, i, x)) for i, x in enumerate(as_list(name, answer.get(name)))]


def parse_page(
    answer: Mapping[str, Any], name: str, parse: Callable[[Mapping[str, Any]], T]
) -> PagedList[T]:
    """A page as `page` writes it, each item read by `parse`."""
    return PagedList(parse_items(answer, name, parse), answer.get("next_page_token") or None)
