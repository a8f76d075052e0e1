"""Fixtures shared by the suites: a migrated store per backend, and a clean working directory.

PostgreSQL and MariaDB tests run against real servers (CAIRN_TEST_POSTGRES_URI,
CAIRN_TEST_MYSQL_URI). Unreachable servers skip those tests with the reason shown, unless
CAIRN_REQUIRE_DATABASES=1 (set by .ci/run), which turns the skip into a failure.

The "rest" backend is a live `cairn server` subprocess (`rest_server`, one per session)
reached through RestTrackingStore (`rest_store`, on a server emptied before each test);
tests/rest/ runs the store contract through it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cairn.store.rest.tracking import RestTrackingStore
from cairn.store.sql.registry import SqlRegistryStore
from cairn.store.sql.tracking import SqlTrackingStore
from local_processes import answers_health, cairn_server_command, free_port, stop_process
from moto_server import start_moto, stop

POSTGRES_URI = os.environ.get(
    "CAIRN_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/test"
)
MYSQL_URI = os.environ.get("CAIRN_TEST_MYSQL_URI", "mysql+pymysql://root@127.0.0.1:3306/test")
BACKENDS = ["sqlite", "postgresql", "mysql"]
# Children first, so deleting never trips a foreign key.
TABLES = [
    "trace_assessments",
    "trace_spans",
    "trace_metadata",
    "trace_tags",
    "trace_info",
    "idempotency_keys",
    "registered_model_permissions",
    "model_version_events",
    "registered_model_aliases",
    "model_version_tags",
    "model_versions",
    "registered_model_tags",
    "registered_models",
    "run_outputs",
    "logged_model_storage",
    "logged_model_metrics",
    "logged_model_params",
    "logged_model_tags",
    "logged_models",
    "input_tags",
    "inputs",
    "datasets",
    "run_storage",
    "metric_rollups",
    "metric_rollup_state",
    "latest_metrics",
    "metrics",
    "params",
    "tags",
    "runs",
    "experiment_tags",
    "experiments",
]


def require_or_skip(reason: str) -> None:
    if os.environ.get("CAIRN_REQUIRE_DATABASES") == "1":
        pytest.fail(f"{reason} (CAIRN_REQUIRE_DATABASES=1: a skip here is a failure)")
    pytest.skip(reason)


def _server_database(base_uri: str, kind: str) -> str:
    """Create a fresh database on the server for this test session; return its URI."""
    from cairn.store.sql.engine import normalize_uri

    name = f"cairn_test_{uuid.uuid4().hex[:10]}"
    url = sa.make_url(normalize_uri(base_uri))
    try:
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        engine.dispose()
    except Exception as error:
        require_or_skip(f"{kind} server unreachable at {base_uri}: {error.__class__.__name__}")
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_database(uri: str) -> None:
    url = sa.make_url(uri)
    name = url.database
    engine = sa.create_engine(url.set(database="test"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if url.get_backend_name() == "postgresql":
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once per session; tests get copies (MLflow's cached_db)."""
    path = tmp_path_factory.mktemp("template") / "cairn.db"
    store = SqlTrackingStore(f"sqlite:///{path}", str(path.parent / "artifacts"))
    store.close()
    return path


@pytest.fixture(scope="session")
def server_store_uris() -> Iterator[dict[str, str]]:
    created: dict[str, str] = {}
    yield created
    for uri in created.values():
        _drop_database(uri)


@pytest.fixture(scope="session")
def new_server_database(server_store_uris: dict[str, str]) -> Callable[[str, str], str]:
    """A factory: `new_server_database("postgresql", key)` creates a fresh database for this
    session, registered under `key` so it is dropped at the end; returns its URI."""

    def create(backend: str, key: str) -> str:
        base = POSTGRES_URI if backend == "postgresql" else MYSQL_URI
        server_store_uris[key] = _server_database(base, backend)
        return server_store_uris[key]

    return create


def _wipe(store: SqlTrackingStore) -> None:
    with store.engine.begin() as conn:
        for table in TABLES:
            conn.execute(sa.text(f"DELETE FROM {table}"))
    store._ensure_default_experiment()


def make_store(
    backend: str, tmp_path: Path, sqlite_template: Path, server_store_uris: dict[str, str]
) -> SqlTrackingStore:
    """A store with an empty schema (only the Default experiment) on `backend`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    artifacts = str(tmp_path / "artifacts")
    if backend == "sqlite":
        path = tmp_path / "cairn.db"
        shutil.copy(sqlite_template, path)
        return SqlTrackingStore(f"sqlite:///{path}", artifacts)
    if backend not in server_store_uris:
        base = POSTGRES_URI if backend == "postgresql" else MYSQL_URI
        server_store_uris[backend] = _server_database(base, backend)
    store = SqlTrackingStore(server_store_uris[backend], artifacts)
    _wipe(store)
    return store


@pytest.fixture(params=BACKENDS)
def store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    server_store_uris: dict[str, str],
) -> Iterator[SqlTrackingStore]:
    """The TrackingStore under contract test, once per backend."""
    store = make_store(request.param, tmp_path, sqlite_template, server_store_uris)
    yield store
    store.close()


@pytest.fixture
def registry_uri(store: SqlTrackingStore) -> str:
    """Where the registry under test lives, for `cairn.store.uri.registry_store` in other
    processes: the `store` fixture's database (a REST run of the contract overrides this
    with the server's URL)."""
    return store.db_uri


@pytest.fixture
def registry(registry_uri: str) -> Iterator[SqlRegistryStore]:
    """The RegistryStore under contract test, on the `store` fixture's database (and so once
    per backend): tests create runs and logged models with `store`, register them here."""
    registry = SqlRegistryStore(registry_uri)
    yield registry
    registry.close()


@pytest.fixture
def store_on(
    tmp_path: Path, sqlite_template: Path, server_store_uris: dict[str, str]
) -> Iterator[Callable[[str], SqlTrackingStore]]:
    """A factory: `store_on("postgresql")` gives an empty store on that backend."""
    made: list[SqlTrackingStore] = []

    def build(backend: str) -> SqlTrackingStore:
        made.append(make_store(backend, tmp_path / backend, sqlite_template, server_store_uris))
        return made[-1]

    yield build
    for store in made:
        store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path, sqlite_template: Path) -> Iterator[SqlTrackingStore]:
    store = make_store("sqlite", tmp_path, sqlite_template, {})
    yield store
    store.close()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory with no Cairn configuration and fresh fluent state."""
    from cairn.tracking import fluent, session

    monkeypatch.chdir(tmp_path)
    for name in (
        "CAIRN_TRACKING_URI",
        "CAIRN_ARTIFACT_ROOT",
        "CAIRN_EXPERIMENT_NAME",
        "CAIRN_EXPERIMENT_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    # Source and environment capture add files to every run; the tests that are about it
    # switch it back on.
    monkeypatch.setenv("CAIRN_CAPTURE_SOURCE", "false")
    monkeypatch.setenv("CAIRN_CAPTURE_ENVIRONMENT", "false")
    session.reset()
    yield tmp_path
    while fluent.active_run() is not None:
        fluent.end_run()
    session.reset()


# -- the "rest" backend: a live `cairn server` ---------------------------------------------

REST_SERVER_START_SECONDS = 60.0
REST_SERVER_STOP_SECONDS = 15.0
# Cairn's server confines experiment locations to allowed roots (MLflow accepts any); the
# contract suite keeps an explicit s3://bucket/… location, so that bucket is allowed.
REST_SERVER_ALLOWED_ROOT = "s3://bucket"


@dataclass(frozen=True)
class RestServer:
    """A `cairn server` subprocess on 127.0.0.1 over a SQLite file of its own.

    `database` is that same file opened in the test process: a view of what the server
    stored, and the way to wipe it between tests (much faster than a server per test)."""

    url: str
    database: SqlTrackingStore
    artifacts: Path
    log: Path

    def wipe(self) -> None:
        _wipe(self.database)


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    stop_process(process, REST_SERVER_STOP_SECONDS)


def _start_server(folder: Path, db_uri: str) -> tuple[subprocess.Popen[bytes], int]:
    """`cairn server` on a free port, polled on /health until it answers (a bounded loop)."""
    log = folder / "server.log"
    for _attempt in range(3):  # another process may take the port between probe and bind
        port = free_port()
        command = cairn_server_command(
            port,
            db_uri,
            str(folder / "artifacts"),
            "--allowed-artifact-roots",
            REST_SERVER_ALLOWED_ROOT,
        )
        with open(log, "ab") as out:
            process = subprocess.Popen(command, cwd=folder, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + REST_SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if answers_health(port):
                return process, port
            try:
                process.wait(0.05)  # not a sleep: returns at once if the server died
            except subprocess.TimeoutExpired:
                continue
            break  # it ended (a taken port, most likely): try another port
        else:
            _stop_server(process)
            break
    pytest.fail(f"cairn server did not start:\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture(scope="session")
def rest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestServer]:
    """One live server for the session; tests that need a clean one call `wipe()`."""
    from cairn.cli.server import ARTIFACT_SCHEME_ROOT

    folder = tmp_path_factory.mktemp("rest-server")
    db_uri = f"sqlite:///{folder / 'server.db'}"
    process, port = _start_server(folder, db_uri)
    # The server's own artifact root, so the Default experiment a wipe recreates is the
    # one the server would create.
    database = SqlTrackingStore(db_uri, ARTIFACT_SCHEME_ROOT)
    try:
        url = f"http://127.0.0.1:{port}"
        yield RestServer(url, database, folder / "artifacts", folder / "server.log")
    finally:
        database.close()
        _stop_server(process)


@pytest.fixture
def rest_store(rest_server: RestServer) -> Iterator[RestTrackingStore]:
    """The TrackingStore over HTTP, on an emptied server (only the Default experiment)."""
    rest_server.wipe()
    store = RestTrackingStore(rest_server.url, str(rest_server.artifacts))
    yield store
    store.close()


# -- S3: a real moto server process, with dummy credentials -------------------------------


@pytest.fixture(scope="session")
def aws_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Dummy credentials and region for this process (and the children it starts)."""
    masked = tmp_path_factory.mktemp("aws-config") / "absent"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "cairn-test-key")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "cairn-test-secret")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_CONFIG_FILE", str(masked))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(masked))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        no_proxy = ",".join(p for p in ("127.0.0.1", os.environ.get("NO_PROXY")) if p)
        patch.setenv("NO_PROXY", no_proxy)
        patch.setenv("no_proxy", no_proxy)
        yield


@pytest.fixture(scope="session")
def moto_endpoint(aws_environment: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real moto S3 server process, for the whole session."""
    process, endpoint = start_moto(tmp_path_factory.mktemp("moto") / "server.log")
    try:
        yield endpoint
    finally:
        stop(process)


@pytest.fixture(scope="session")
def s3_client(moto_endpoint: str) -> Any:
    """A plain boto3 client on the moto server, to look at (or plant) keys behind the
    repository's back."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=moto_endpoint, config=Config(s3={"addressing_style": "path"})
    )
