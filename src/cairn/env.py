"""Every CAIRN_* environment variable, typed and read at call time (never cached at import)."""

from __future__ import annotations

import os

DEFAULT_DATA_DIR = "cairn-data"


def tracking_uri() -> str | None:
    """`CAIRN_TRACKING_URI`: where runs are stored; unset means ./cairn-data/."""
    return os.environ.get("CAIRN_TRACKING_URI") or None


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _positive_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value > 0 else default


def async_metric_flush_seconds() -> float:
    """`CAIRN_METRIC_FLUSH_SECONDS`: the longest a buffered metric waits before it is written."""
    return _positive_float("CAIRN_METRIC_FLUSH_SECONDS", 1.0)


def async_logging_enabled() -> bool:
    """`CAIRN_ASYNC_LOGGING`: buffer fluent log_metric calls (default on)."""
    return _flag("CAIRN_ASYNC_LOGGING", True)


def offline() -> bool:
    """`CAIRN_MODE=offline`: log to the local store (./cairn-data) whatever the tracking URI
    says; `cairn sync` uploads it later."""
    return (os.environ.get("CAIRN_MODE") or "").strip().lower() == "offline"


def durability() -> str:
    """`CAIRN_DURABILITY`: `journal` (default: every batch is written to an on-disk journal
    before it is sent), `fsync` (and fsynced, for power loss) or `none` (memory only)."""
    raw = (os.environ.get("CAIRN_DURABILITY") or "journal").strip().lower()
    return raw if raw in ("none", "journal", "fsync") else "journal"


def journal_dir() -> str | None:
    """`CAIRN_JOURNAL_DIR`: where journal segments live (default: `journal/` beside a SQLite
    database, else ./cairn-data/journal)."""
    return os.environ.get("CAIRN_JOURNAL_DIR") or None


def journal_exit_seconds() -> float:
    """`CAIRN_JOURNAL_EXIT_SECONDS`: how long an exiting process keeps trying to deliver its
    journal to an unreachable server before leaving it for the next process or `cairn sync`."""
    return _positive_float("CAIRN_JOURNAL_EXIT_SECONDS", 10.0)


def heartbeat_seconds() -> float:
    """`CAIRN_HEARTBEAT_SECONDS`: how often a process with an active fluent run tells the
    store it is alive (a `cairn.heartbeat` tag; default 30)."""
    return _positive_float("CAIRN_HEARTBEAT_SECONDS", 30.0)


def heartbeat_timeout_seconds() -> float:
    """`CAIRN_HEARTBEAT_TIMEOUT`: how old a run's heartbeat may grow before `cairn server`,
    `cairn ui` and `cairn doctor --fix` end the run KILLED (default 300; never less than
    three of the run's own heartbeat intervals). On the host of the run's process, a
    process that is gone is seen at once, whatever its heartbeat."""
    return _positive_float("CAIRN_HEARTBEAT_TIMEOUT", 300.0)


def sqlite_busy_timeout_seconds() -> float:
    """`CAIRN_SQLITE_BUSY_TIMEOUT`: how long a writer waits for another process's lock."""
    return _positive_float("CAIRN_SQLITE_BUSY_TIMEOUT", 60.0)


def search_timeout_seconds() -> float:
    """`CAIRN_SEARCH_TIMEOUT_SECONDS`: the longest one search may run on the database before
    it is stopped and refused (default 30)."""
    return _positive_float("CAIRN_SEARCH_TIMEOUT_SECONDS", 30.0)


def artifact_root() -> str | None:
    """`CAIRN_ARTIFACT_ROOT`: where new experiments keep artifacts (default: beside the data)."""
    return os.environ.get("CAIRN_ARTIFACT_ROOT") or None


def capture_source() -> bool:
    """`CAIRN_CAPTURE_SOURCE`: store the entry script and the uncommitted diff (default on)."""
    return _flag("CAIRN_CAPTURE_SOURCE", True)


def capture_environment() -> bool:
    """`CAIRN_CAPTURE_ENVIRONMENT`: store requirements.txt and python_env.yaml (default on)."""
    return _flag("CAIRN_CAPTURE_ENVIRONMENT", True)


def tracking_username() -> str | None:
    """`CAIRN_TRACKING_USERNAME`, else `MLFLOW_TRACKING_USERNAME` (as MLflow): who runs."""
    return (
        os.environ.get("CAIRN_TRACKING_USERNAME")
        or os.environ.get("MLFLOW_TRACKING_USERNAME")
        or None
    )


def log_system_metrics() -> bool:
    """`CAIRN_LOG_SYSTEM_METRICS`: sample CPU, memory, disk, network and GPU during runs."""
    return _flag("CAIRN_LOG_SYSTEM_METRICS", False)


def system_metrics_interval_seconds() -> float:
    """`CAIRN_SYSTEM_METRICS_INTERVAL`: seconds between system metric samples."""
    return _positive_float("CAIRN_SYSTEM_METRICS_INTERVAL", 10.0)


def artifact_download_max_depth() -> int:
    """`CAIRN_ARTIFACT_DOWNLOAD_MAX_DEPTH`: how many folders deep a download from a server's
    artifact proxy may list (default 64); a listing that nests deeper is refused, so a
    server that lists a folder inside itself cannot make a download run forever."""
    return max(1, int(_positive_float("CAIRN_ARTIFACT_DOWNLOAD_MAX_DEPTH", 64)))


def artifact_download_max_files() -> int:
    """`CAIRN_ARTIFACT_DOWNLOAD_MAX_FILES`: how many files and folders one download from a
    server's artifact proxy may list (default 100,000) before it is refused."""
    return max(1, int(_positive_float("CAIRN_ARTIFACT_DOWNLOAD_MAX_FILES", 100_000)))


def s3_endpoint_url() -> str | None:
    """`CAIRN_S3_ENDPOINT_URL`: an S3-compatible endpoint (MinIO, Ceph, …) instead of AWS."""
    return os.environ.get("CAIRN_S3_ENDPOINT_URL") or None


# -- talking to a tracking server (each also read under MLflow's name, so settings carry over)


def _first(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _number(names: tuple[str, ...], default: float, minimum: float) -> float:
    for name in names:
        raw = os.environ.get(name)
        if raw:
            try:
                value = float(raw)
            except ValueError:
                continue
            if value >= minimum:
                return value
    return default


def tracking_password() -> str | None:
    """`CAIRN_TRACKING_PASSWORD` / `MLFLOW_TRACKING_PASSWORD`: HTTP Basic, with the username."""
    return _first("CAIRN_TRACKING_PASSWORD", "MLFLOW_TRACKING_PASSWORD")


def tracking_token() -> str | None:
    """`CAIRN_TRACKING_TOKEN` / `MLFLOW_TRACKING_TOKEN`: a Bearer API token."""
    return _first("CAIRN_TRACKING_TOKEN", "MLFLOW_TRACKING_TOKEN")


def tracking_insecure_tls() -> bool:
    """`CAIRN_TRACKING_INSECURE_TLS`: skip certificate checks (for test servers only)."""
    raw = _first("CAIRN_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_INSECURE_TLS") or ""
    return raw.strip().lower() in ("1", "true", "yes", "on")


def tracking_server_cert_path() -> str | None:
    """`CAIRN_TRACKING_SERVER_CERT_PATH`: a CA bundle for the server's certificate."""
    return _first("CAIRN_TRACKING_SERVER_CERT_PATH", "MLFLOW_TRACKING_SERVER_CERT_PATH")


def http_request_timeout() -> float:
    """`CAIRN_HTTP_REQUEST_TIMEOUT`: seconds to wait for a connection or any one read."""
    return _number(("CAIRN_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_TIMEOUT"), 120.0, 0.001)


def http_max_retries() -> int:
    """`CAIRN_HTTP_REQUEST_MAX_RETRIES` (default 5): the fewest times a failed call is tried
    again; retries go on past it until `CAIRN_HTTP_REQUEST_RETRY_DEADLINE`. 0 turns retries
    off. The fluent API never waits on retries: its journal keeps the work instead."""
    names = ("CAIRN_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    return int(_number(names, 5, 0))


def http_backoff_factor() -> float:
    """`CAIRN_HTTP_REQUEST_BACKOFF_FACTOR`: the first wait before a retry, doubling after
    (each wait at most 10 s)."""
    names = ("CAIRN_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR")
    return _number(names, 0.5, 0)


def http_retry_deadline() -> float:
    """`CAIRN_HTTP_REQUEST_RETRY_DEADLINE` (default 60): seconds after the first try when
    retries stop, however many were made (at least CAIRN_HTTP_REQUEST_MAX_RETRIES), so a
    direct Client call outlasts a server restart of up to that long."""
    return _number(("CAIRN_HTTP_REQUEST_RETRY_DEADLINE",), 60.0, 0)


# -- models


def allow_pickle() -> bool:
    """`CAIRN_ALLOW_PICKLE`, else MLflow's `MLFLOW_ALLOW_PICKLE_DESERIALIZATION`: whether
    `load_model` may unpickle a model (pickle and cloudpickle run code from the file). Default
    on, as MLflow; a service that loads models it did not train should set it to false."""
    raw = _first("CAIRN_ALLOW_PICKLE", "MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
    if raw is None:
        return True
    return raw.strip().lower() in ("1", "true", "yes", "on")
