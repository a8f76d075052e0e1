"""Who starts a run: the `mlflow.user` tag, the same for the Client and the fluent API."""

from __future__ import annotations

import functools
import getpass

from cairn import env

USER_TAG = "mlflow.user"
UNKNOWN_USER = "unknown"


def current_user() -> str:
    """`CAIRN_TRACKING_USERNAME`, then `MLFLOW_TRACKING_USERNAME` (as MLflow), then the OS user."""
    return env.tracking_username() or _os_user()


@functools.cache
def _os_user() -> str:
    """Looked up once per process: a passwd lookup costs more than a whole fluent log call."""
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):  # no passwd entry, e.g. in some containers
        return UNKNOWN_USER
