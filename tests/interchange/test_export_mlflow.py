"""`cairn export mlflow DEST`: leaving Cairn is as safe as joining it. A store written by the
real mlflow client is imported into Cairn, exported into a new MLflow database, and the
mlflow client must see the same store in both (run ids, every history point, datasets,
registry versions, stages, aliases, artifact bytes). Then the writes one by one: MLflow's
encodings, identity, idempotence, and what is refused."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import cairn as cairn_api
from cairn.entities import (
    Experiment,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelStatus,
    Run,
    RunData,
    RunInfo,
)
from cairn.exceptions import InvalidParameterValueError
from cairn.interchange.copier import Copier
from cairn.interchange.mlflow_sql import MLflowSqlSource
from cairn.interchange.mlflow_sql_target import MLflowSqlTarget
from conftest import cairn, clean_env, mlflow_snapshot, write_mlflow

FLOAT_MAX = 1.7976931348623157e308
RUN_A, RUN_B = "a" * 32, "b" * 32


def _moved(shot: dict[str, Any]) -> dict[str, Any]:
    """Without the Default experiment's creation time (each store makes its own)."""
    shot["experiments"]["Default"].pop("creation_time")
    return shot


def _assert_same_store(seen: dict[str, Any], expected: dict[str, Any]) -> None:
    assert seen["runs"].keys() == expected["runs"].keys()
    for run_id, run in expected["runs"].items():
        for field, value in run.items():
            assert seen["runs"][run_id][field] == value, (run_id, field)
    assert seen == expected


def _rows(uri: str, query: str) -> list[Any]:
    engine = sa.create_engine(uri)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(query)))
    finally:
        engine.dispose()


def _export(origin: Path, destination: str, cwd: Path) -> dict[str, Any]:
    cwd.mkdir(parents=True, exist_ok=True)
    done = cairn("export", "mlflow", destination, "--from", f"sqlite:///{origin}",
                 "--report", "report.json", cwd=cwd)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads((cwd / "report.json").read_text())
    return report


@pytest.fixture(scope="module")
def mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("mlflow")
    write_mlflow(f"sqlite:///{folder}/mlflow.db", folder)
    return f"sqlite:///{folder}/mlflow.db"


@pytest.fixture(scope="module")
def expected(mlflow_db: str) -> dict[str, Any]:
    """What the mlflow client sees of the original store (read once; never changed)."""
    return _moved(mlflow_snapshot(mlflow_db))


@pytest.fixture(scope="module")
def cairn_db(mlflow_db: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The MLflow store imported into a Cairn database, once."""
    folder = tmp_path_factory.mktemp("cairn")
    done = cairn("import", "mlflow", mlflow_db, "--to", f"sqlite:///{folder}/cairn.db",
                 cwd=folder)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return folder / "cairn.db"


@pytest.fixture(scope="module")
def exported(cairn_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The Cairn store exported once into a database that did not exist."""
    folder = tmp_path_factory.mktemp("back")
    report = _export(cairn_db, f"sqlite:///{folder}/mlflow.db", folder)
    return {"folder": folder, "uri": f"sqlite:///{folder}/mlflow.db", "report": report}


@pytest.fixture(scope="module")
def empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow schema and nothing else, made once by the target (`mlflow db upgrade`)."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MLflowSqlTarget(f"sqlite:///{path}").close()
    return path


# -- the round trip -------------------------------------------------------------------------


def test_the_round_trip_gives_mlflow_back_the_same_store(
    expected: dict[str, Any], exported: dict[str, Any]
) -> None:
    seen = _moved(mlflow_snapshot(exported["uri"]))
    _assert_same_store(seen, expected)
    assert len(expected["runs"]) == 6
    baseline = next(r for r in expected["runs"].values() if r["name"] == "baseline")
    assert len(baseline["histories"]["loss"]) == 2_500
    assert baseline["histories"]["odd"][:3] == [
        [0, 1_700_000_000_000, "nan"], [1, 1_700_000_000_001, FLOAT_MAX],
        [2, 1_700_000_000_002, -FLOAT_MAX],
    ]  # fmt: skip
    assert len(baseline["files"]) == 3
    assert expected["registry"]["reg"]["aliases"] == {"champion": "2"}


def test_the_export_reports_every_entity_and_no_checksum_differs(
    exported: dict[str, Any],
) -> None:
    report = exported["report"]
    kinds = report["kinds"]
    assert report["complete"] is True
    assert report["checksum_mismatches"] == 0
    assert kinds["runs"]["imported"] == 6
    assert kinds["experiments"]["imported"] == 3  # Default too: `mlflow db upgrade` makes none
    assert kinds["metric_points"]["imported"] == 2_500 + 300 + 4 + 1 + 1 + 1 + 1 + 1
    assert kinds["logged_models"]["imported"] == 1
    assert kinds["model_versions"]["imported"] == 2
    assert kinds["artifact_files"]["imported"] >= 10
    assert report["artifact_bytes"] > 200_000


def test_the_export_lays_rows_and_files_out_as_mlflow_does(
    mlflow_db: str, exported: dict[str, Any]
) -> None:
    uri, folder = exported["uri"], exported["folder"]
    root = (folder / "mlruns").as_uri()
    locations = dict(_rows(uri, "SELECT name, artifact_location FROM experiments"))
    assert locations == {"Default": f"{root}/0", "vision": f"{root}/1", "old-project": f"{root}/2"}
    assert {w for (w,) in _rows(uri, "SELECT workspace FROM experiments")} == {"default"}
    query = "SELECT r.run_uuid, r.artifact_uri, e.artifact_location FROM runs r " \
            "JOIN experiments e ON e.experiment_id = r.experiment_id"  # fmt: skip
    for run_id, artifact_uri, location in _rows(uri, query):
        assert artifact_uri == f"{location}/{run_id}/artifacts"
    (model_id, location, status, source_run), = _rows(
        uri, "SELECT model_id, artifact_location, status, source_run_id FROM logged_models"
    )  # fmt: skip
    assert location == f"{root}/1/models/{model_id}/artifacts"
    assert status == 2  # READY
    assert (folder / "mlruns" / "1" / "models" / model_id / "artifacts" / "MLmodel").is_file()
    versions = dict(_rows(uri, "SELECT version, storage_location FROM model_versions"))
    assert versions[1] == location
    assert versions[2].startswith("runs:/")
    # Every column of every history row as MLflow wrote it, deletion times included.
    points = "SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics"
    assert sorted(_rows(uri, points)) == sorted(_rows(mlflow_db, points))
    latest = "SELECT run_uuid, key, value, timestamp, step, is_nan FROM latest_metrics"
    assert sorted(_rows(uri, latest)) == sorted(_rows(mlflow_db, latest))
    outputs = "SELECT source_type, source_id, destination_type, destination_id, step " \
              "FROM inputs WHERE source_type = 'RUN_OUTPUT'"  # fmt: skip
    assert _rows(uri, outputs) == _rows(mlflow_db, outputs)


def test_a_second_export_finds_the_store_identical(
    cairn_db: Path, exported: dict[str, Any], tmp_path: Path
) -> None:
    again = _export(cairn_db, exported["uri"], tmp_path)
    assert again["identical"] is True
    assert again["kinds"]["runs"]["present"] == 6
    assert again["kinds"]["model_versions"]["present"] == 2
    assert _rows(exported["uri"], "SELECT count(*) FROM metrics")[0][0] == 2_809


def test_an_export_after_new_runs_brings_only_those(
    cairn_db: Path, exported: dict[str, Any], tmp_path: Path
) -> None:
    origin, target = tmp_path / "cairn.db", tmp_path / "mlflow.db"
    shutil.copy(cairn_db, origin)
    shutil.copy(exported["folder"] / "mlflow.db", target)
    client = cairn_api.Client(f"sqlite:///{origin}")
    run = client.create_run("1", run_name="after-the-move")
    client.log_metric_points(
        [(run.info.run_id, "loss", 0.5 / s, 1_000 + s, s) for s in range(1, 40)]
    )
    client.set_terminated(run.info.run_id)
    client.store.close()
    later = _export(origin, f"sqlite:///{target}", tmp_path)
    assert later["kinds"]["runs"] == {
        "source": 7, "imported": 1, "present": 6, "skipped": 0, "reasons": []
    }  # fmt: skip
    assert later["kinds"]["metric_points"]["imported"] == 39
    count = f"SELECT count(*) FROM metrics WHERE run_uuid = '{run.info.run_id}'"
    assert _rows(f"sqlite:///{target}", count)[0][0] == 39


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_an_export_into_a_database_server(
    backend: str,
    expected: dict[str, Any],
    cairn_db: Path,
    new_server_database: Callable[[str, str], str],
    tmp_path: Path,
) -> None:
    """On PostgreSQL the schema is made first by MLflow's own store (with its Default
    experiment); on MariaDB the export makes it."""
    destination = new_server_database(backend, f"mlflow-export-{backend}")
    if backend == "postgresql":
        made = subprocess.run(
            [sys.executable, "-c", "import sys, mlflow; "
             "mlflow.MlflowClient(sys.argv[1]).search_experiments()", destination],
            cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr[-4000:]
    report = _export(cairn_db, destination, tmp_path / "export")
    assert report["complete"] is True
    assert report["kinds"]["experiments"]["present"] == (1 if backend == "postgresql" else 0)
    _assert_same_store(_moved(mlflow_snapshot(destination)), expected)
    again = _export(cairn_db, destination, tmp_path / "again")
    assert again["identical"] is True


# -- the writes -----------------------------------------------------------------------------


def test_a_direct_copy_between_mlflow_databases_keeps_everything(
    mlflow_db: str, expected: dict[str, Any], empty_mlflow_db: Path, tmp_path: Path
) -> None:
    """MLflow → MLflow through the same copier: deletion times, which Cairn's stores do
    not give out, come across too; artifacts go under the root given."""
    shutil.copy(empty_mlflow_db, tmp_path / "copy.db")
    destination = f"sqlite:///{tmp_path}/copy.db"
    source = MLflowSqlSource(mlflow_db)
    target = MLflowSqlTarget(destination, artifact_root=str(tmp_path / "store"))
    try:
        report = Copier(source, target).run()
    finally:
        source.close()
        target.close()
    assert report.complete and report.kinds["runs"].imported == 6
    deleted = "SELECT run_uuid, deleted_time FROM runs WHERE lifecycle_stage = 'deleted'"
    assert sorted(_rows(destination, deleted)) == sorted(_rows(mlflow_db, deleted))
    assert all(t is not None for _, t in _rows(destination, deleted))
    locations = [loc for (loc,) in _rows(destination, "SELECT artifact_uri FROM runs")]
    assert all(loc.startswith((tmp_path / "store").as_uri() + "/") for loc in locations)
    _assert_same_store(_moved(mlflow_snapshot(destination)), expected)


def _run(run_id: str, experiment_id: str, **data: Any) -> Run:
    info = RunInfo(run_id, experiment_id, "r", "me", "FINISHED", 10, 20, "", "active")
    return Run(info, RunData(**data))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_writes_follow_mlflows_encoding_and_keep_identity(
    backend: str,
    empty_mlflow_db: Path,
    new_server_database: Callable[[str, str], str],
    tmp_path: Path,
) -> None:
    if backend == "sqlite":
        shutil.copy(empty_mlflow_db, tmp_path / "mlflow.db")
        uri = f"sqlite:///{tmp_path}/mlflow.db"
    else:
        uri = new_server_database(backend, "mlflow-writes")
    target = MLflowSqlTarget(uri, artifact_root=str(tmp_path / "art"))
    try:
        experiment = Experiment("7", "seven", "", "active", {"k": "v"}, 5, 6)
        assert target.put_experiment(experiment) == ("7", True)
        assert target.put_experiment(experiment) == ("7", False)
        # Id 7 is taken: the next experiment gets a new id above it (the sequence moved).
        assert target.put_experiment(Experiment("7", "other", "", "active")) == ("8", True)

        # A logged model's metric names a run that is not there yet: it waits for it.
        metric = LoggedModelMetric("acc", math.nan, 30, 1, run_id=RUN_A)
        model = LoggedModel("m-1", "7", "net", "", 1, 2, LoggedModelStatus.READY,
                            params={"p": "1"}, tags={"t": "x"}, metrics=(metric,))  # fmt: skip
        location, created = target.put_logged_model(model, "7", None)
        assert (location, created) == (
            f"{(tmp_path / 'art').as_uri()}/7/models/m-1/artifacts",
            True,
        )
        assert target.put_logged_model(model, "7", None) == (location, False)
        query = "SELECT metric_value, run_id FROM logged_model_metrics"
        assert _rows(uri, query) == []
        uri_of_run, conflicts = target.put_run(_run(RUN_A, "7", params={"lr": "1"}), "7", None)
        assert uri_of_run.endswith(f"/art/7/{RUN_A}/artifacts") and conflicts == []
        assert _rows(uri, query) == [(0.0, RUN_A)]  # NaN as MLflow keeps it for models: 0

        points = [(RUN_A, "m", 1.0, 10, 2), (RUN_A, "m", math.inf, 20, 2),
                  (RUN_A, "m", math.nan, 5, 1), (RUN_A, "m", math.nan, 5, 1)]  # fmt: skip
        target.put_metric_points(points)
        target.put_metric_points([(RUN_A, "m", 9.0, 1, 0)])  # older: latest stays
        target.put_metric_points(points)  # repeats: stored once
        history = "SELECT value, timestamp, step, is_nan FROM metrics ORDER BY step, timestamp"
        assert [tuple(r) for r in _rows(uri, history)] == [
            (9.0, 1, 0, False), (0.0, 5, 1, True), (1.0, 10, 2, False), (FLOAT_MAX, 20, 2, False)
        ]  # fmt: skip
        latest = "SELECT value, timestamp, step, is_nan FROM latest_metrics"
        assert [tuple(r) for r in _rows(uri, latest)] == [(FLOAT_MAX, 20, 2, False)]

        # Present: its params are kept, another value is reported, not written.
        _, conflicts = target.put_run(_run(RUN_A, "7", params={"lr": "2"}), "7", None)
        assert conflicts == ["lr"]
        with pytest.raises(InvalidParameterValueError, match="already in experiment 7"):
            target.put_run(_run(RUN_A, "8"), "8", None)
        target.finish_run(_run(RUN_A, "7"), None)
        assert target.runs_of([RUN_A, RUN_B]).keys() == {RUN_A}
        assert target.runs_of([RUN_A])[RUN_A].info.status == "FINISHED"
    finally:
        target.close()
    assert target.problems == []


def test_a_database_that_is_not_mlflows_is_refused(cairn_db: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValueError, match="is a Cairn database"):
        MLflowSqlTarget(f"sqlite:///{cairn_db}")
    other = f"sqlite:///{tmp_path}/other.db"
    engine = sa.create_engine(other)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE notes (body TEXT)"))
    engine.dispose()
    with pytest.raises(InvalidParameterValueError, match="not an MLflow tracking database"):
        MLflowSqlTarget(other)
    done = cairn("export", "mlflow", other, "--from", f"sqlite:///{cairn_db}", cwd=tmp_path)
    assert done.returncode == 1
    assert "not an MLflow tracking database" in done.stderr


def test_without_mlflow_installed_an_empty_database_gets_instructions(tmp_path: Path) -> None:
    """Where the mlflow package is missing (blocked here as Python blocks a module), the
    schema cannot be made: the error says how to make it."""
    script = (
        "import sys; sys.modules['mlflow'] = None\n"
        "from cairn.interchange.mlflow_sql_target import MLflowSqlTarget\n"
        "from cairn.exceptions import InvalidParameterValueError\n"
        "try:\n    MLflowSqlTarget(sys.argv[1])\n"
        "except InvalidParameterValueError as error:\n    print(error.message)\n"
    )
    destination = f"sqlite:///{tmp_path}/empty.db"
    done = subprocess.run([sys.executable, "-c", script, destination], cwd=tmp_path,
                          env=clean_env(), capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"Create them with `mlflow db upgrade {destination}`" in done.stdout
    assert _rows(destination, "SELECT name FROM sqlite_master") == []
