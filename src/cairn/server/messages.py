"""The fields of one API call, from a JSON body (POST, PATCH, DELETE) or a query string (GET,
and HEAD, which is answered as its GET).

MLflow's client sends GET fields as query parameters, repeated keys for lists, and POST
fields as JSON; either may name a field in snake_case or camelCase. Bodies are capped so a
client cannot make the server buffer gigabytes of JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request

from cairn.exceptions import CairnError, InvalidParameterValueError
from cairn.wire import parse_int
from cairn.wire.scalars import ascii_digits

MAX_BODY_BYTES = 32 * 1024 * 1024


class BadRequestError(CairnError):
    error_code = "BAD_REQUEST"
    http_status = 400


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class Message:
    def __init__(
        self, fields: dict[str, Any], from_query: bool, headers: Mapping[str, str] | None = None
    ) -> None:
        self.fields = fields
        self.from_query = from_query
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        """The request's headers (Starlette's, case-insensitive), for the few calls that
        read one, such as `Idempotency-Key`."""

    @classmethod
    async def read(cls, request: Request) -> Message:
        """The call's fields; fields in the path (`/logged-models/{model_id}`) win."""
        message = await cls._read_fields(request)
        message.fields.update(request.path_params)
        message.headers = request.headers
        return message

    @classmethod
    async def _read_fields(cls, request: Request) -> Message:
        if request.method in ("GET", "HEAD"):
            query: dict[str, Any] = {}
            for key, value in request.query_params.multi_items():
                query.setdefault(key, []).append(value)
            return cls(query, from_query=True)
        body = await _body(request)
        if not body.strip():
            return cls({}, from_query=False)
        try:
            fields = orjson.loads(body)
            if isinstance(fields, str):  # legacy clients send the JSON as a JSON string
                fields = orjson.loads(fields)
        except orjson.JSONDecodeError:
            raise BadRequestError("The request body is not valid JSON.") from None
        if not isinstance(fields, dict):
            raise BadRequestError("The request body must be a JSON object.")
        return cls(fields, from_query=False)

    def _raw(self, name: str) -> Any:
        value = self.fields.get(name)
        if value is None:
            value = self.fields.get(_camel(name))
        if self.from_query and isinstance(value, list):
            return value[-1] if value else None
        return value

    def get(self, name: str, default: Any = None) -> Any:
        value = self._raw(name)
        return default if value is None else value

    def required(self, name: str) -> Any:
        value = self._raw(name)
        if value is None or value == "":
            raise InvalidParameterValueError(f"Missing value for required parameter '{name}'.")
        return value

    def string(self, name: str, required: bool = False) -> str | None:
        value = self.required(name) if required else self._raw(name)
        if value is not None and not isinstance(value, str):
            raise InvalidParameterValueError(f"Invalid value {value!r} for parameter '{name}'.")
        return value

    def integer(self, name: str, default: int | None = None, required: bool = False) -> int | None:
        value = self.required(name) if required else self._raw(name)
        return default if value is None else parse_int(name, value)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise InvalidParameterValueError(f"Invalid value {value!r} for parameter '{name}'.")

    def repeated(self, name: str) -> list[Any]:
        value = self.fields.get(name)
        if value is None:
            value = self.fields.get(_camel(name))
        if value is None:
            return []
        if not isinstance(value, list):
            raise InvalidParameterValueError(f"Parameter '{name}' must be a list.")
        return value

    def run_id(self) -> str:
        """`run_id`, or MLflow's legacy `run_uuid`: the client sends both."""
        value = self.get("run_id") or self.get("run_uuid")
        if not value:
            raise InvalidParameterValueError("Missing value for required parameter 'run_id'.")
        if not isinstance(value, str):
            raise InvalidParameterValueError(f"Invalid value {value!r} for parameter 'run_id'.")
        return value


async def _body(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "")
    if (
        request.method in ("POST", "PUT", "PATCH")
        and content_type.split(";")[0].strip() != "application/json"
    ):
        raise BadRequestError("Bad Request. Content-Type must be one of ['application/json'].")
    declared = request.headers.get("content-length")
    if declared is not None and ascii_digits(declared) and int(declared) > MAX_BODY_BYTES:
        raise BadRequestError(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadRequestError(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)
