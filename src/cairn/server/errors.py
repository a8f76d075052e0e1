"""CairnError to MLflow's error JSON: {"error_code": ..., "message": ...} and its status; the
router's own refusals (no such path, a method the path does not take) in the same JSON."""

from __future__ import annotations

import errno
import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cairn.exceptions import CairnError, InvalidParameterValueError
from cairn.server.responses import json_response

_log = logging.getLogger(__name__)


def error_response(error: CairnError) -> Response:
    return json_response(
        {"error_code": error.error_code, "message": error.message}, status=error.http_status
    )


async def on_cairn_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, CairnError)
    return error_response(error)


async def on_http_error(_request: Request, error: Exception) -> Response:
    """The router's 404 and 405 (with its `Allow` header), as MLflow's error JSON."""
    assert isinstance(error, HTTPException)
    if error.status_code in (204, 304):  # answers without a body
        return Response(status_code=error.status_code, headers=error.headers)
    code = "ENDPOINT_NOT_FOUND" if error.status_code == 404 else "BAD_REQUEST"
    response = json_response({"error_code": code, "message": error.detail}, error.status_code)
    response.headers.update(error.headers or {})
    return response


async def on_unexpected_error(request: Request, error: Exception) -> Response:
    """Anything else is a bug: logged with its traceback, answered as MLflow's INTERNAL_ERROR.
    But a name the file system refuses as too long is the request's (an artifact path)."""
    if isinstance(error, OSError) and error.errno == errno.ENAMETOOLONG:
        return error_response(
            InvalidParameterValueError(
                "A name in the path is too long for the artifact store's file system "
                "(255 bytes per folder or file name)."
            )
        )
    _log.exception("Unexpected error serving %s %s", request.method, request.url.path)
    return json_response(
        {"error_code": "INTERNAL_ERROR", "message": "Internal server error."}, status=500
    )
