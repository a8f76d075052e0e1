"""Errors raised by Cairn, each carrying MLflow's error code and HTTP status.

The tree::

    CairnError                         INTERNAL_ERROR           500
    ├── InvalidParameterValueError     INVALID_PARAMETER_VALUE  400
    ├── ResourceDoesNotExistError      RESOURCE_DOES_NOT_EXIST  404
    ├── ResourceAlreadyExistsError     RESOURCE_ALREADY_EXISTS  400  (MLflow answers 400, not 409)
    ├── InvalidStateError              INVALID_STATE            500  (as MLflow)
    ├── PermissionDeniedError          PERMISSION_DENIED        403
    ├── UnauthenticatedError           UNAUTHENTICATED          401
    ├── NotImplementedByServerError    NOT_IMPLEMENTED          501
    └── TemporarilyUnavailableError    TEMPORARILY_UNAVAILABLE  503

`error_for_code` maps a code back to its class, so an error that crosses the REST API
keeps its type.
"""

from __future__ import annotations


class CairnError(Exception):
    """Root of every error Cairn raises on purpose."""

    error_code: str = "INTERNAL_ERROR"
    http_status: int = 500

    def __init__(self, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = error_code


class InvalidParameterValueError(CairnError):
    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class ResourceDoesNotExistError(CairnError):
    error_code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class ResourceAlreadyExistsError(CairnError):
    error_code = "RESOURCE_ALREADY_EXISTS"
    http_status = 400


class InvalidStateError(CairnError):
    error_code = "INVALID_STATE"
    http_status = 500


class PermissionDeniedError(CairnError):
    error_code = "PERMISSION_DENIED"
    http_status = 403


class UnauthenticatedError(CairnError):
    error_code = "UNAUTHENTICATED"
    http_status = 401


class NotImplementedByServerError(CairnError):
    """A capability this server or storage lacks (multipart uploads on a local folder)."""

    error_code = "NOT_IMPLEMENTED"
    http_status = 501


class TemporarilyUnavailableError(CairnError):
    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503


_BY_CODE: dict[str, type[CairnError]] = {
    cls.error_code: cls
    for cls in (
        InvalidParameterValueError,
        ResourceDoesNotExistError,
        ResourceAlreadyExistsError,
        InvalidStateError,
        PermissionDeniedError,
        UnauthenticatedError,
        NotImplementedByServerError,
        TemporarilyUnavailableError,
    )
}


def error_for_code(error_code: str, message: str) -> CairnError:
    """Build the CairnError subclass named after `error_code` (CairnError if unknown)."""
    cls = _BY_CODE.get(error_code)
    if cls is None:
        return CairnError(message, error_code=error_code)
    return cls(message)
