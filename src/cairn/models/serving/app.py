"""`create_scoring_app(model)`: the REST scoring server of `cairn models serve`.

Routes, as `mlflow models serve` has them:

* `GET /ping`, `GET /health`: 200 with the body "\\n" (the model is loaded before the app
  exists, so a running app is a healthy one);
* `GET /version`: Cairn's version, as plain text (and in `X-Cairn-Version`, as the tracking
  server sends it);
* `POST /invocations`: a payload (see `payloads`) in, `{"predictions": ...}` out (see
  `predictions`).

Errors:

* an unknown content type: 415 with a plain-text reason, as MLflow;
* a payload that does not parse, or that `predict` refuses: 400,
  `{"error_code": "BAD_REQUEST", "message": ...}`. `predict` refuses an input by raising an
  `InvalidParameterValueError` (a signature violation, for one) or a `ValueError` or
  `TypeError`, Python's "bad argument" errors: pandas, numpy and scikit-learn raise those
  for NaN or infinity where a model takes none, ragged columns, wrong shapes;
* anything else the model raises (and predictions that cannot be written as JSON): 500,
  `{"error_code": "INTERNAL_ERROR", ...}`, logged with its traceback. MLflow answers 400
  for every exception; a crash in the model (a `RuntimeError`, a `KeyError` in its own
  code, a `ZeroDivisionError`) is the server's problem, so clients and monitoring should see
  a 5xx.

The model runs on the event loop, not in a thread: one prediction at a time per worker
process, with no thread hand-off on each request. Use `--workers` for parallel predictions.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cairn.exceptions import CairnError
from cairn.models.serving.payloads import (
    PayloadError,
    UnsupportedMediaTypeError,
    parse_request,
)
from cairn.models.serving.predictions import encode_predictions

_log = logging.getLogger(__name__)
_JSON = "application/json"


class ScoringModel(Protocol):
    """What the server needs of a model: `cairn.pyfunc.PyFuncModel` is one."""

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any: ...


def create_scoring_app(model: ScoringModel) -> Starlette:
    """The scoring server for an already loaded `model`."""
    from cairn.version import __version__

    async def ping(_request: Request) -> Response:
        return Response("\n", media_type=_JSON)

    async def version(_request: Request) -> Response:
        return PlainTextResponse(__version__, headers={"X-Cairn-Version": __version__})

    async def invocations(request: Request) -> Response:
        return score(model, await request.body(), request.headers.get("content-type"))

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/health", ping, methods=["GET"]),
            Route("/version", version, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
        ]
    )


def score(model: ScoringModel, body: bytes, content_type: str | None) -> Response:
    """One `/invocations` request, start to finish: the reply for `body`."""
    try:
        request = parse_request(body, content_type)
    except UnsupportedMediaTypeError as error:
        return PlainTextResponse(error.message, status_code=error.http_status)
    except PayloadError as error:
        return _error("BAD_REQUEST", error.message, 400)
    try:
        raw = model.predict(request.data, params=request.params)
    except CairnError as error:
        if 400 <= error.http_status < 500:
            return _error("BAD_REQUEST", error.message, 400)
        return _model_failed(error)
    except (ValueError, TypeError) as error:  # Python's "bad argument": the input's fault
        message = f"The model cannot score this input: {type(error).__name__}: {error}"
        return _error("BAD_REQUEST", message, 400)
    except Exception as error:  # the model's own failure, whatever its type
        return _model_failed(error)
    try:
        return Response(encode_predictions(raw), media_type=_JSON)
    except (TypeError, ValueError, OverflowError) as error:
        return _model_failed(error)


def _model_failed(error: Exception) -> Response:
    _log.error("The model failed to predict", exc_info=error)
    message = f"The model failed to predict: {type(error).__name__}: {error}"
    return _error("INTERNAL_ERROR", message, 500)


def _error(code: str, message: str, status: int) -> Response:
    body = orjson.dumps({"error_code": code, "message": message})
    return Response(body, status_code=status, media_type=_JSON)
