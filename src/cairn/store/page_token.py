"""Opaque page tokens: base64 of {"offset": N}, the form MLflow's SQL store uses."""

from __future__ import annotations

import base64
import binascii
import json

from cairn.exceptions import InvalidParameterValueError

SEARCH_MAX_RESULTS_LIMIT = 50_000


def encode(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode(token: str | None) -> int:
    """The offset a token stands for; a token we did not make is refused."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.b64decode(token, validate=True))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidParameterValueError(f"Invalid page token {token!r}.") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < 2**62:
        raise InvalidParameterValueError(f"Invalid page token {token!r}.")
    return offset


def next_token(offset: int, limit: int, fetched: int) -> str | None:
    """The token of the page after `offset`, when the query fetched more than `limit` rows
    (the stores ask for one extra row to know)."""
    return encode(offset + limit) if fetched > limit else None


def max_results(value: object, limit: int = SEARCH_MAX_RESULTS_LIMIT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
        raise InvalidParameterValueError(
            f"Invalid value {value!r} for max_results: it must be a positive integer ≤ {limit}."
        )
    return value
