"""Fixtures shared by the suites: a migrated store per backend, and a clean working directory.

PostgreSQL and MariaDB tests run against real servers (CAIRN_TEST_POSTGRES_URI,
CAIRN_TEST_MYSQL_URI). Unreachable servers skip those tests with the reason shown, unless
CAIRN_REQUIRE_DATABASES=1 (set by .ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cairn.store.sql.tracking import SqlTrackingStore

POSTGRES_URI = os.environ.get(
    "CAIRN_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/test"
)
MYSQL_URI = os.environ.get("CAIRN_TEST_MYSQL_URI", "mysql+pymysql://root@127.0.0.1:3306/test")
BACKENDS = ["sqlite", "postgresql", "mysql"]
# Children first, so deleting never trips a foreign key.
TABLES = [
    "input_tags",
    "inputs",
    "datasets",
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
    from cairn.tracking import fluent

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
    fluent._reset_state()
    yield tmp_path
    while fluent.active_run() is not None:
        fluent.end_run()
    fluent._reset_state()
