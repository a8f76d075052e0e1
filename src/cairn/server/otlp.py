"""`POST /v1/traces`: OTLP/HTTP span ingest, for the mlflow client's tracer and for any
OpenTelemetry SDK's OTLP exporter.

The experiment comes from the `x-mlflow-experiment-id` header (MLflow's), so under `--auth`
the call is checked without reading its body. The body is protobuf or OTLP's JSON, perhaps
gzip- or deflate-compressed; it is read in chunks up to `MAX_OTLP_BODY_BYTES` (compressed
and decompressed alike: a small gzip bomb is refused as a large body is), and parsed off
the event loop. The answer is an empty ExportTraceServiceResponse in the request's encoding;
errors are MLflow's JSON (`{"error_code", "message"}`) with 400, 404 or 413.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cairn.entities.trace import Span
from cairn.exceptions import CairnError, InvalidParameterValueError
from cairn.server.access import EDIT, Access, Source
from cairn.server.context import Context
from cairn.server.routes import EndpointRoute
from cairn.wire import otlp

OTLP_TRACES_PATH = "/v1/traces"
EXPERIMENT_HEADER = "x-mlflow-experiment-id"
MAX_OTLP_BODY_BYTES = 100 * 1024 * 1024
"""The largest OTLP body taken, before and after decompression (100 MiB)."""
_DECOMPRESSORS: dict[str, Callable[[], Any]] = {
    "gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    "x-gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    "deflate": lambda: zlib.decompressobj(),
}


class RequestTooLargeError(CairnError):
    error_code = "REQUEST_LIMIT_EXCEEDED"
    http_status = 413


def experiment_header(headers: Mapping[str, str]) -> str:
    """The experiment an OTLP export is for; INVALID_PARAMETER_VALUE when not given."""
    value = (headers.get(EXPERIMENT_HEADER) or "").strip()
    if not value:
        raise InvalidParameterValueError(
            f"Missing header '{EXPERIMENT_HEADER}': name the experiment the spans belong to."
        )
    return value


def routes(context: Context) -> list[EndpointRoute]:
    return [
        EndpointRoute(
            OTLP_TRACES_PATH, _exporter(context), {"POST": Access(EDIT, Source.EXPERIMENT_HEADER)}
        )
    ]


def _exporter(context: Context) -> Callable[[Request], Any]:
    async def export(request: Request) -> Response:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in otlp.MEDIA_TYPES:
            raise InvalidParameterValueError(
                f"Invalid Content-Type {media_type!r}: an OTLP export is "
                f"{' or '.join(otlp.MEDIA_TYPES)}."
            )
        experiment_id = experiment_header(request.headers)
        body = await _read_body(request)
        encoding = request.headers.get("content-encoding", "")

        def store() -> None:  # one trip to a worker thread: decoding and writing both block
            spans = _decode(body, encoding, media_type)
            context.trace_store.log_spans(experiment_id, spans)

        await run_in_threadpool(store)
        return Response(otlp.export_response(media_type), media_type=media_type)

    return export


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_OTLP_BODY_BYTES:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_OTLP_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(body: bytes, encoding: str, media_type: str) -> list[Span]:
    """The spans of an export (blocking: decompression and parsing are CPU work)."""
    request = otlp.parse_export_request(_decompress(body, encoding), media_type)
    return otlp.spans_of(request)


def _decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    make = _DECOMPRESSORS.get(encoding)
    if make is None:
        raise InvalidParameterValueError(
            f"Unsupported Content-Encoding {encoding!r}: use gzip, deflate or none."
        )
    decompressor = make()
    try:
        out = decompressor.decompress(body, MAX_OTLP_BODY_BYTES + 1)
    except zlib.error:
        raise InvalidParameterValueError(f"The body is not valid {encoding} data.") from None
    if len(out) > MAX_OTLP_BODY_BYTES:
        raise _too_large()
    return bytes(out)


def _too_large() -> RequestTooLargeError:
    return RequestTooLargeError(
        f"The OTLP export is larger than {MAX_OTLP_BODY_BYTES} bytes; send fewer spans per "
        "export (a smaller batch in the exporter's span processor)."
    )
