"""Tracking URIs: every spelling of the three databases, the default, and bad ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import cairn
from cairn.exceptions import InvalidParameterValueError
from cairn.store import uri
from cairn.store.sql.tracking import SqlTrackingStore


@pytest.mark.parametrize(
    ("backend", "scheme"),
    [
        ("postgresql", "postgres"),
        ("postgresql", "postgresql"),
        ("mysql", "mariadb"),
        ("mysql", "mysql+pymysql"),
    ],
)
def test_each_spelling_of_a_server_uri_reaches_the_database(
    backend: str, scheme: str, store_on: Callable[[str], SqlTrackingStore]
) -> None:
    store = store_on(backend)
    spelled = f"{scheme}://{store.db_uri.partition('://')[2]}"
    client = cairn.Client(spelled)
    experiment_id = client.create_experiment(f"via-{scheme}")
    assert store.get_experiment(experiment_id).name == f"via-{scheme}"


def test_default_uri_is_sqlite_in_cairn_data_of_the_working_directory(workdir: Path) -> None:
    assert uri.default_tracking_uri() == f"sqlite:///{workdir / 'cairn-data' / 'cairn.db'}"
    assert uri.default_artifact_root(uri.default_tracking_uri()) == str(
        workdir / "cairn-data" / "artifacts"
    )


def test_environment_variable_chooses_the_store(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_TRACKING_URI", f"sqlite:///{workdir / 'elsewhere.db'}")
    cairn.Client().create_experiment("env")
    assert (workdir / "elsewhere.db").exists()
    assert not (workdir / "cairn-data").exists()


def test_a_plain_folder_means_sqlite_inside_it(workdir: Path) -> None:
    cairn.set_tracking_uri(workdir / "store")
    cairn.set_experiment("folder")
    assert (workdir / "store" / "cairn.db").exists()
    assert cairn.get_tracking_uri() == f"sqlite:///{workdir / 'store' / 'cairn.db'}"


@pytest.mark.parametrize("bad", ["nonsense", "ftp://host/db", "://x"])
def test_unknown_or_malformed_uris_are_refused(bad: str) -> None:
    with pytest.raises(InvalidParameterValueError):
        cairn.Client(bad)


def test_client_follows_set_tracking_uri(workdir: Path) -> None:
    """As MlflowClient() does: a Client made without a URI uses the one set globally."""
    cairn.set_tracking_uri(f"sqlite:///{workdir / 'chosen.db'}")
    experiment_id = cairn.Client().create_experiment("chosen")
    assert cairn.Client().tracking_uri == cairn.get_tracking_uri()
    assert cairn.get_experiment(experiment_id).name == "chosen"
    assert not (workdir / "cairn-data").exists()
