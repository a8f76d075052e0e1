"""Input checks with MLflow's limits, run before anything is written.

Every failure is an InvalidParameterValueError whose message names the offending value,
so bad input never reaches the database and never costs data already logged.
"""

from __future__ import annotations

import logging
import math
import posixpath
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cairn.exceptions import InvalidParameterValueError

if TYPE_CHECKING:
    from cairn.entities import Metric, Param, RunTag

_log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 20_000
MAX_RUN_NAME_LENGTH = 250
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
MAX_BATCH_ENTITIES = 1000

_KEY_PATTERN = re.compile(r"^[/\w.\- :]*$")
_RUN_ID_PATTERN = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
_EXPERIMENT_ID_PATTERN = re.compile(r"^[0-9]{1,10}$")
_CLIENT_RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
_IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
MAX_IDEMPOTENCY_KEY_LENGTH = 100
MAX_EXPERIMENT_ID = 2**31 - 1  # the experiments table's INTEGER key on every database
MAX_USER_ID_LENGTH = 256

#: Stored in place of ±inf, as MLflow does: the largest finite double.
FLOAT_MAX = 1.7976931348623157e308


def validate_key(kind: str, key: object) -> str:
    """A metric, param or tag key: ≤ 250 chars of `[/\\w.\\- :]`, a normalised relative path."""
    if not isinstance(key, str):
        raise InvalidParameterValueError(f"{kind} key must be a string, got {type(key).__name__}.")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidParameterValueError(
            f"{kind} key '{key[:40]}…' has {len(key)} characters; the limit is {MAX_KEY_LENGTH}."
        )
    normal = posixpath.normpath(key)
    if (
        not _KEY_PATTERN.match(key)
        or normal != key
        or normal == "."
        or normal.startswith(("..", "/"))
    ):
        raise InvalidParameterValueError(
            f"Invalid {kind.lower()} key {key!r}: keys may contain only alphanumerics, "
            "underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/), "
            "and must be a normalised relative path (no '..', no leading '/')."
        )
    return key


def metric_value(key: str, value: object) -> float:
    """A metric value as a float; bools and non-numbers are refused, NaN and ±inf kept."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            import numbers

            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError
            return float(value)
        except (TypeError, ValueError):
            raise InvalidParameterValueError(
                f"Metric {key!r} has value {value!r} of type {type(value).__name__}; "
                "a metric value must be a number."
            ) from None
    return float(value)


def integer(what: str, value: object, minimum: int | None = None) -> int:
    """An integer argument (timestamps in ms, steps); bools and floats with fractions refused."""
    if isinstance(value, bool):
        raise InvalidParameterValueError(f"{what} must be an integer, got {value!r}.")
    if isinstance(value, int):
        number = value
    else:
        try:
            import numbers

            if not isinstance(value, numbers.Integral):
                raise TypeError
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidParameterValueError(f"{what} must be an integer, got {value!r}.") from None
    if minimum is not None and number < minimum:
        raise InvalidParameterValueError(f"{what} must be ≥ {minimum}, got {number}.")
    if not -(2**63) <= number < 2**63:
        raise InvalidParameterValueError(f"{what} {number} does not fit in 64 bits.")
    return number


def text_value(kind: str, key: str, value: object, limit: int, truncate: bool) -> str:
    """A param or tag value as a string; past `limit`, truncated (as MLflow does) or refused."""
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        raise InvalidParameterValueError(f"{kind} {key!r} has a NUL character in its value.")
    if len(text) > limit:
        if not truncate:
            raise InvalidParameterValueError(
                f"{kind} {key!r} has a value of {len(text)} characters; the limit is {limit}."
            )
        _log.warning("%s %r: value of %d characters truncated to %d.", kind, key, len(text), limit)
        text = text[:limit]
    return text


def stored_metric_value(value: float) -> tuple[float, bool]:
    """(value to store, is_nan): NaN is stored as 0 with a flag, ±inf as ±FLOAT_MAX."""
    if math.isnan(value):
        return 0.0, True
    if math.isinf(value):
        return (FLOAT_MAX if value > 0 else -FLOAT_MAX), False
    return value, False


def run_id(value: object) -> str:
    if not isinstance(value, str) or not _RUN_ID_PATTERN.fullmatch(value):
        raise InvalidParameterValueError(f"Invalid run id {value!r}.")
    return value


def client_run_id(value: object) -> str:
    """A run id chosen by the client (so a replayed create names the same run): 32
    lowercase hex digits, the shape of the ids the store makes itself."""
    if not isinstance(value, str) or not _CLIENT_RUN_ID_PATTERN.fullmatch(value):
        raise InvalidParameterValueError(
            f"Invalid run id {value!r}: a run id given at creation must be 32 lowercase "
            "hexadecimal digits."
        )
    return value


def idempotency_key(value: object) -> str:
    """An idempotency key: 1-100 characters of `[A-Za-z0-9._:-]`."""
    if not isinstance(value, str) or not _IDEMPOTENCY_KEY_PATTERN.fullmatch(value):
        raise InvalidParameterValueError(
            f"Invalid idempotency key {value!r}: expected 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} "
            "characters of letters, digits, '.', '_', ':' and '-'."
        )
    return value


def idempotency_part(key: str, part: int) -> str:
    """The key of the `part`-th request a keyed call is split into: `<key>.<part>`, the same
    for the same call every time it is replayed. A key too long to take the suffix is
    shortened to a digest of itself first, so distinct keys keep distinct parts."""
    suffix = f".{part}"
    if len(key) + len(suffix) > MAX_IDEMPOTENCY_KEY_LENGTH:
        import hashlib

        key = hashlib.sha256(key.encode()).hexdigest()
    return key + suffix


def experiment_id(value: object) -> str:
    """Experiment ids are decimal integers, passed around as strings (MLflow's API)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(text, str)
        or not _EXPERIMENT_ID_PATTERN.fullmatch(text)
        or int(text) > MAX_EXPERIMENT_ID
    ):
        raise InvalidParameterValueError(
            f"Invalid experiment id {value!r}: expected an integer from 0 to {MAX_EXPERIMENT_ID}."
        )
    return text


def no_nul(what: str, value: str) -> str:
    """PostgreSQL refuses NUL in text; refuse it everywhere, before any query is made."""
    if "\x00" in value:
        raise InvalidParameterValueError(f"{what} contains a NUL character.")
    return value


def user_id(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidParameterValueError(f"user_id must be a string, got {value!r}.")
    if len(value) > MAX_USER_ID_LENGTH:
        raise InvalidParameterValueError(
            f"user_id has {len(value)} characters; the limit is {MAX_USER_ID_LENGTH}."
        )
    return no_nul("user_id", value)


def experiment_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterValueError(
            f"Invalid experiment name {name!r}: expected a non-empty string."
        )
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameterValueError(
            f"Experiment name has {len(name)} characters; the limit is "
            f"{MAX_EXPERIMENT_NAME_LENGTH}."
        )
    return no_nul("Experiment name", name)


def run_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidParameterValueError(f"Run name must be a string, got {name!r}.")
    if len(name) > MAX_RUN_NAME_LENGTH:
        raise InvalidParameterValueError(
            f"Run name has {len(name)} characters; the limit is {MAX_RUN_NAME_LENGTH}."
        )
    return no_nul("Run name", name)


def batch(metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]) -> None:
    """MLflow's log-batch limits, and no key logged twice with two values in one batch."""
    for what, items, limit in (
        ("metrics", metrics, MAX_BATCH_METRICS),
        ("params", params, MAX_BATCH_PARAMS),
        ("tags", tags, MAX_BATCH_TAGS),
    ):
        if len(items) > limit:
            raise InvalidParameterValueError(
                f"A batch may hold at most {limit} {what}; this one has {len(items)}."
            )
    total = len(metrics) + len(params) + len(tags)
    if total > MAX_BATCH_ENTITIES:
        raise InvalidParameterValueError(
            f"A batch may hold at most {MAX_BATCH_ENTITIES} items in all; this one has {total}."
        )
    seen: dict[str, str] = {}
    for param in params:
        if seen.setdefault(param.key, param.value) != param.value:
            raise InvalidParameterValueError(
                f"Param {param.key!r} appears twice in one batch with different values."
            )


_INT64_END = 2**63


def metric_points(run_id: str, metrics: Sequence[Metric]) -> list[tuple[str, str, float, int, int]]:
    """Checked (run_id, key, value, timestamp, step) tuples; each distinct key is checked once
    and plain floats and in-range ints skip the slow paths (a batch is 1,000 points)."""
    for key in {m.key if type(m.key) is str else validate_key("Metric", m.key) for m in metrics}:
        validate_key("Metric", key)
    points = []
    for m in metrics:
        value, timestamp, step = m.value, m.timestamp, m.step
        if type(value) is not float:
            value = metric_value(m.key, value)
        if type(timestamp) is not int or not 0 <= timestamp < _INT64_END:
            timestamp = integer("Metric timestamp", timestamp, minimum=0)
        if type(step) is not int or not -_INT64_END <= step < _INT64_END:
            step = integer("Metric step", step)
        points.append((run_id, m.key, value, timestamp, step))
    return points
