"""Storage figures kept by the Client writing files itself: the README's path (fluent logging
to ./cairn-data, no server) and runs that keep their files on S3 (a moto server). The kept
figures equal what is on disk or in the bucket, and `cairn storage` (with and without
`--recount`) prints them."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LinearRegression

import cairn
import cairn.sklearn
from cairn.cli import cli
from cairn.entities.storage import ExperimentStorage
from cairn.maintenance.storage import recount
from cairn.store.sql.tracking import SqlTrackingStore


def _store() -> SqlTrackingStore:
    store = cairn.Client().store
    assert isinstance(store, SqlTrackingStore)
    return store


def _on_disk(folder: Path) -> tuple[int, int]:
    sizes = [p.stat().st_size for p in folder.rglob("*") if p.is_file()]
    return sum(sizes), len(sizes)


def _storage_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["storage", "--json", *args])
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_the_readme_path_keeps_points_and_files(workdir: Path) -> None:
    cairn.set_experiment("churn")
    (workdir / "weights.bin").write_bytes(b"w" * 5000)
    (workdir / "data").mkdir()
    (workdir / "data" / "a.csv").write_text("a,b\n1,2\n")
    (workdir / "data" / "b.csv").write_text("a,b\n3,4\n5,6\n")
    with cairn.start_run() as run:
        for step in range(200):
            cairn.log_metric("loss", 1 / (step + 1), step=step)
        cairn.log_metrics({"accuracy": 0.9, "f1": 0.8})
        cairn.log_artifact("weights.bin", "model")
        cairn.log_artifact("weights.bin", "model")  # the same file again: replaced
        cairn.log_artifacts("data", "data")
        cairn.log_text("short", "notes.md")
        cairn.log_text("a longer note replaces it", "notes.md")
        cairn.log_dict({"depth": 5}, "config.yaml")
        model = LinearRegression().fit(np.array([[0.0], [1.0]]), np.array([0.0, 1.0]))
        cairn.sklearn.log_model(model, name="model")
    experiment_id = run.info.experiment_id
    store = _store()
    run_root = Path(store.get_run(run.info.run_id).info.artifact_uri)
    (model_id,) = [m.model_id for m in store.search_logged_models([experiment_id])]
    model_root = Path(store.get_logged_model(model_id).artifact_uri)
    run_bytes, run_files = _on_disk(run_root)
    model_bytes, model_files = _on_disk(model_root)
    assert run_files == 5 and model_files > 1

    kept = store.experiment_storage([experiment_id])[experiment_id]
    assert kept == ExperimentStorage(
        runs=1,
        logged_models=1,
        metric_points=202,
        artifact_bytes=run_bytes + model_bytes,
        artifact_files=run_files + model_files,
        model_artifact_bytes=model_bytes,
    )
    figures = store.run_storage([run.info.run_id])[run.info.run_id]
    assert (figures.artifact_bytes, figures.artifact_files) == (run_bytes, run_files)

    printed = CliRunner().invoke(cli, ["storage"])
    assert printed.exit_code == 0, printed.output
    row = next(line for line in printed.output.splitlines() if line.startswith("churn"))
    assert row.split()[1:4] == [experiment_id, "1", "202"]
    assert _storage_json("--experiment", "churn")["experiments"][experiment_id] == {
        "name": "churn",
        "runs": 1,
        "deleted_runs": 0,
        "logged_models": 1,
        "metric_points": 202,
        "artifact_bytes": run_bytes + model_bytes,
        "artifact_files": run_files + model_files,
        "model_artifact_bytes": model_bytes,
    }
    recounted = _storage_json("--experiment", experiment_id, "--recount")
    assert recounted == _storage_json("--experiment", "churn")
    assert store.experiment_storage([experiment_id])[experiment_id] == kept


def test_cairn_storage_refuses_what_it_cannot_do(workdir: Path) -> None:
    cairn.set_experiment("one")
    unknown = CliRunner().invoke(cli, ["storage", "--experiment", "no-such-experiment"])
    assert unknown.exit_code == 1
    assert "RESOURCE_DOES_NOT_EXIST" in unknown.output
    remote = CliRunner().invoke(
        cli, ["storage", "--recount", "--tracking-uri", "http://127.0.0.1:9"]
    )
    assert remote.exit_code == 2
    assert "--recount needs the database" in remote.output


@pytest.fixture
def s3_bucket(
    workdir: Path, moto_endpoint: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> str:
    bucket = f"storage-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("CAIRN_S3_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("CAIRN_ARTIFACT_ROOT", f"s3://{bucket}/cairn")
    return bucket


def _in_bucket(s3_client: Any, bucket: str, prefix: str) -> tuple[int, int]:
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    files = [o for o in listed if not o["Key"].endswith("/")]
    return sum(o["Size"] for o in files), len(files)


def test_a_client_writing_to_s3_keeps_the_figures(
    workdir: Path, s3_bucket: str, s3_client: Any
) -> None:
    client = cairn.Client()
    experiment_id = client.create_experiment("on-s3")
    run_id = client.create_run(experiment_id).info.run_id
    (workdir / "big.bin").write_bytes(os.urandom(70_000))
    (workdir / "tree" / "deep").mkdir(parents=True)
    (workdir / "tree" / "deep" / "x.txt").write_text("x" * 300)
    (workdir / "tree" / "y.txt").write_text("y" * 20)
    client.log_artifact(run_id, str(workdir / "big.bin"))
    client.log_artifacts(run_id, str(workdir / "tree"), "tree")
    client.log_batch(run_id, [cairn.entities.Metric("m", 1.0, 0, s) for s in range(40)])
    prefix = client.get_run(run_id).info.artifact_uri.removeprefix(f"s3://{s3_bucket}/")
    in_bucket = _in_bucket(s3_client, s3_bucket, prefix)
    assert in_bucket == (70_320, 3)
    store = _store()
    figures = store.run_storage([run_id])[run_id]
    assert (figures.metric_points, figures.artifact_bytes, figures.artifact_files) == (
        40,
        *in_bucket,
    )

    # On S3 a replaced file is not looked up: it counts again until a recount.
    client.log_artifact(run_id, str(workdir / "big.bin"))
    assert store.run_storage([run_id])[run_id].artifact_bytes == 140_320
    report = recount(store, [experiment_id])
    assert report.unreachable == []
    recounted = store.run_storage([run_id])[run_id]
    assert (recounted.artifact_bytes, recounted.artifact_files) == in_bucket


def test_a_capture_stored_by_links_is_counted(workdir: Path) -> None:
    """A run's source and environment capture, linked into its local folder (the fluent API
    stores it through `Client.log_capture_files`), counts like any other file."""
    client = cairn.Client()
    experiment_id = client.create_experiment("captured")
    run = client.create_run(experiment_id)
    captured = workdir / "capture"
    (captured / "source").mkdir(parents=True)
    (captured / "source" / "train.py").write_text("print('hi')\n" * 10)
    (captured / "requirements.txt").write_text("numpy==2.0\n")
    files = [
        ("source/train.py", str(captured / "source" / "train.py")),
        ("requirements.txt", str(captured / "requirements.txt")),
    ]
    for _ in range(2):  # stored again (a second capture of the same run): replaced
        client.log_capture_files(run.info.run_id, run.info.artifact_uri, str(captured), files)
    root = Path(run.info.artifact_uri)
    assert (root / "source" / "train.py").stat().st_ino == (
        captured / "source" / "train.py"
    ).stat().st_ino
    figures = _store().run_storage([run.info.run_id])[run.info.run_id]
    assert (figures.artifact_bytes, figures.artifact_files) == (131, 2)


def test_a_figure_that_cannot_be_recorded_never_fails_the_logging(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The figures are the tracker's: with their table gone (a broken store), the artifact
    is still logged, the training script sees no error, and a warning says how to mend."""
    (workdir / "weights.bin").write_bytes(b"w" * 300)
    with cairn.start_run() as run:
        with _store().engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE run_storage")
        cairn.log_artifact("weights.bin", "model")
    folder = Path(cairn.get_run(run.info.run_id).info.artifact_uri) / "model"
    assert (folder / "weights.bin").read_bytes() == b"w" * 300
    assert any("--recount" in r.getMessage() for r in caplog.records)
