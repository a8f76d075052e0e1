"""`cairn export mlflow http://…` into a live `mlflow server`.

The round trip: a store the real mlflow client wrote, imported into Cairn with the CLI,
exported with the CLI, then read by the mlflow client and compared field by field with the
original, run ids mapped back through the tag `cairn.source_run_id` (a server makes ids of
its own). A second export finds everything there. Then a store written by Cairn's client,
with what a REST target must work around: a version number deleted between others, a
model's metrics, a nested run listed before its parent, dataset outputs MLflow lacks.
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.entities import (
    Dataset,
    DatasetInput,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Param,
)
from cairn.exceptions import ResourceDoesNotExistError
from cairn.interchange.copier import Copier
from cairn.interchange.mlflow_rest_target import SOURCE_MODEL_TAG, SOURCE_RUN_TAG, MLflowRestTarget
from cairn.interchange.report import FidelityReport
from cairn.interchange.store_source import StoreSource
from cairn.store.uri import StoreCache
from cairn.tracking.client import Client
from conftest import START_SECONDS, cairn, clean_env, mlflow_snapshot, write_mlflow
from local_processes import answers_health, free_port

pytestmark = [
    # Stages are deprecated in MLflow (since 2.9) but still served; the stores use them.
    pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning"),
]

STOP_SECONDS = 15.0
PARENT = "mlflow.parentRunId"


# -- a live MLflow server --------------------------------------------------------------------


class MLflowServer:
    """`mlflow server` started at once and waited for on first use of `url`, so that it
    starts while the store to export is being written (a start takes tens of seconds)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log = folder / "mlflow-server.log"
        self.attempts = 0
        self._url: str | None = None
        self._start()

    def _start(self) -> None:
        self.attempts += 1
        self.port = free_port()
        command = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
            "--artifacts-destination", str(self.folder / "mlartifacts"),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                command, cwd=self.folder, env=clean_env(), stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def url(self) -> str:
        while self._url is None:
            deadline = time.monotonic() + START_SECONDS
            while not answers_health(self.port):
                if time.monotonic() > deadline:
                    pytest.fail(f"mlflow server did not start:\n{self._log_tail()}")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(0.1)  # not a sleep: returns at once if it died
                if self.process.poll() is not None:
                    if self.attempts == 3:  # a taken port, most likely, three times over
                        pytest.fail(f"mlflow server did not start:\n{self._log_tail()}")
                    self._start()
                    deadline = time.monotonic() + START_SECONDS
            self._url = f"http://127.0.0.1:{self.port}"
        return self._url

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_SECONDS)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLflowServer]:
    server = MLflowServer(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield server
    finally:
        server.stop()


# -- the round trip: MLflow → Cairn → MLflow -------------------------------------------------


@pytest.fixture(scope="module")
def cairn_store(mlflow_server: MLflowServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Cairn store imported from an MLflow store the real client wrote (`mlflow.db` and
    `cairn.db` side by side), while the server starts."""
    folder = tmp_path_factory.mktemp("round-trip")
    write_mlflow(f"sqlite:///{folder}/mlflow.db", folder)
    done = cairn(
        "import", "mlflow", f"sqlite:///{folder}/mlflow.db", "--to", f"sqlite:///{folder}/cairn.db",
        cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def _export(url: str, folder: Path, report: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    done = cairn(
        "export", "mlflow", url, "--from", f"sqlite:///{folder}/cairn.db", "--report", report,
        cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done, json.loads((folder / report).read_text())


@pytest.fixture(scope="module")
def exported(mlflow_server: MLflowServer, cairn_store: Path) -> dict[str, Any]:
    done, report = _export(mlflow_server.url, cairn_store, "first.json")
    return {"stdout": done.stdout, "report": report}


def _as_cairn(shot: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The server's snapshot in the source's terms: runs under their Cairn ids (the tag
    dropped, a parent named by its Cairn id), experiment ids by name, versions' runs by
    Cairn id; only what `expected` has (the server holds other tests' exports too); and
    without the creation times MLflow's API sets itself."""
    cairn_ids = {run_id: run["tags"][SOURCE_RUN_TAG] for run_id, run in shot["runs"].items()}
    experiment_ids = {
        shot["experiments"][name]["id"]: e["id"] for name, e in expected["experiments"].items()
    }
    runs = {}
    for run_id, run in shot["runs"].items():
        if run["experiment_id"] not in experiment_ids:
            continue
        run["tags"].pop(SOURCE_RUN_TAG)
        if PARENT in run["tags"]:
            run["tags"][PARENT] = cairn_ids[run["tags"][PARENT]]
        run["experiment_id"] = experiment_ids[run["experiment_id"]]
        runs[cairn_ids[run_id]] = run
    registry = {name: shot["registry"][name] for name in expected["registry"]}
    for model in registry.values():
        for version in model["versions"].values():
            version["run_id"] = cairn_ids.get(version["run_id"], version["run_id"])
    experiments = {name: shot["experiments"][name] for name in expected["experiments"]}
    return _timeless({"experiments": experiments, "runs": runs, "registry": registry})


def _timeless(shot: dict[str, Any]) -> dict[str, Any]:
    for experiment in shot["experiments"].values():
        del experiment["creation_time"], experiment["id"]
    for model in shot["registry"].values():
        del model["creation_timestamp"]
        for version in model["versions"].values():
            del version["creation_timestamp"]
    return shot


def test_the_mlflow_client_sees_the_store_again_after_the_round_trip(
    cairn_store: Path, mlflow_server: MLflowServer, exported: dict[str, Any]
) -> None:
    expected = _timeless(mlflow_snapshot(f"sqlite:///{cairn_store}/mlflow.db"))
    original = mlflow_snapshot(f"sqlite:///{cairn_store}/mlflow.db")
    seen = _as_cairn(mlflow_snapshot(mlflow_server.url), original)
    # MLflow's server takes a `runs:/` version only with its run named: the version the
    # client registered without one (against a database, which does not ask) now names it.
    broken = next(i for i, r in expected["runs"].items() if r["name"] == "broken")
    assert expected["registry"]["reg"]["versions"]["2"]["run_id"] is None
    expected["registry"]["reg"]["versions"]["2"]["run_id"] = broken

    assert seen["experiments"] == expected["experiments"]
    assert seen["runs"].keys() == expected["runs"].keys()
    for run_id, run in expected["runs"].items():
        for field, value in run.items():
            assert seen["runs"][run_id][field] == value, (run_id, field)
    assert seen["registry"] == expected["registry"]
    baseline = next(r for r in expected["runs"].values() if r["name"] == "baseline")
    assert len(baseline["histories"]["loss"]) == 2_500
    assert baseline["histories"]["odd"][0] == [0, 1_700_000_000_000, "nan"]
    assert len(baseline["files"]) >= 3


def test_the_report_counts_everything_and_no_checksum_differs(exported: dict[str, Any]) -> None:
    report = exported["report"]
    kinds = report["kinds"]
    assert (report["complete"], report["checksum_mismatches"]) == (True, 0)
    assert kinds["runs"] == {
        "source": 6, "imported": 6, "present": 0, "skipped": 0, "reasons": []
    }  # fmt: skip
    assert kinds["metric_points"]["imported"] == 2_500 + 300 + 4 + 1 + 1 + 1 + 1 + 1
    assert (kinds["logged_models"]["imported"], kinds["model_versions"]["imported"]) == (1, 2)
    assert kinds["experiments"]["imported"] + kinds["experiments"]["present"] == 3
    assert kinds["artifact_files"]["imported"] >= 8
    assert report["artifact_bytes"] > 200_000
    assert "checksum mismatches: 0" in exported["stdout"]
    # One line per experiment with runs says where their Cairn ids went.
    moved = [p for p in report["problems"] if SOURCE_RUN_TAG in p]
    assert sorted(p.split("'")[1] for p in moved) == ["old-project", "vision"]
    assert f"the tag {SOURCE_RUN_TAG} holds each one's Cairn id" in exported["stdout"]


def test_a_second_export_finds_everything_there(
    mlflow_server: MLflowServer, cairn_store: Path, exported: dict[str, Any]
) -> None:
    _, again = _export(mlflow_server.url, cairn_store, "again.json")
    assert again["identical"] is True
    first = exported["report"]["kinds"]
    for kind in ("runs", "params", "tags", "model_versions", "logged_models"):
        assert again["kinds"][kind]["present"] == first[kind]["imported"], kind
    assert again["kinds"]["metric_points"]["source"] == 0  # histories of runs present: not read
    assert again["kinds"]["artifact_files"]["source"] == 0  # files of runs present: not read
    assert not any(SOURCE_RUN_TAG in p for p in again["problems"])  # no run made anew


def test_a_server_that_does_not_answer_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "cairn.db").touch()
    url, origin = f"http://127.0.0.1:{free_port()}", f"sqlite:///{tmp_path}/cairn.db"
    done = cairn("export", "mlflow", url, "--from", origin, cwd=tmp_path)
    assert done.returncode == 1
    assert "Error:" in done.stderr and url in done.stderr
    assert "Traceback" not in done.stderr
    rooted = cairn("export", "mlflow", url, "--from", origin, "--artifact-root", "x", cwd=tmp_path)
    assert rooted.returncode == 1
    assert "--artifact-root is for a database export" in rooted.stderr


# -- what only a Cairn store holds, exported in-process --------------------------------------


@pytest.fixture
def cairn_client(tmp_path: Path) -> Iterator[Client]:
    stores = StoreCache()
    yield Client(f"sqlite:///{tmp_path / 'cairn.db'}", stores=stores)
    stores.close()


def _fill(client: Client) -> dict[str, str]:
    """A parent and its child (started later: listed first), a deleted run, a model with
    150 params and two metrics measured on the parent (one NaN), versions 1 and 3 of a
    model whose version 2 was deleted, a dataset output; returns the ids by role."""
    experiment = client.create_experiment("native", tags={"kind": "cairn"})
    parent = client.create_run(experiment, start_time=1_000, run_name="parent").info.run_id
    child = client.create_run(
        experiment, start_time=2_000, run_name="child", tags={PARENT: parent}
    ).info.run_id
    gone = client.create_run(experiment, start_time=500, run_name="gone").info.run_id
    history = [0.25, math.nan, 0.5]
    points = [Metric("acc", v, 3_000 + s, s) for s, v in enumerate(history)]

    def points_of(*steps: int) -> list[tuple[int, float]]:
        return [(s, history[s]) for s in steps]

    client.log_batch(parent, points, [Param("lr", "0.1")])
    dataset = Dataset("scored", "d1", "local", '{"uri": "/tmp/scored.csv"}')
    client.store.log_dataset_outputs(child, [DatasetInput(dataset)])
    params = {f"p{n:03}": str(n) for n in range(150)}
    model = client.create_logged_model(experiment, "clf", parent, params=params)
    client.store.log_model_metrics(
        model.model_id,
        [LoggedModelMetric("acc", v, 3_000 + s, s, run_id=parent) for s, v in points_of(1, 2)],
    )
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    client.log_outputs(parent, [LoggedModelOutput(model.model_id, 2)])
    for run_id in (parent, child, gone):
        client.set_terminated(run_id, end_time=9_000)
    client.delete_run(gone)
    client.create_registered_model("gappy", tags={"t": "1"}, description="with a hole")
    for _ in range(3):
        client.create_model_version("gappy", f"runs:/{parent}/model", run_id=parent)
    client.delete_model_version("gappy", "2")
    client.transition_model_version_stage("gappy", "1", "Staging")
    client.set_registered_model_alias("gappy", "prod", "3")
    return {"parent": parent, "child": child, "gone": gone, "model": model.model_id}


def _copy(source_uri: str, url: str) -> tuple[FidelityReport, MLflowRestTarget]:
    source = StoreSource(source_uri)
    target = MLflowRestTarget(url)
    try:
        return Copier(source, target).run(), target
    finally:
        source.close()
        target.close()


def test_a_cairn_store_keeps_numbers_parents_and_model_metrics(
    cairn_client: Client, mlflow_server: MLflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_HTTP_REQUEST_MAX_RETRIES", "0")
    ids = _fill(cairn_client)
    report, target = _copy(cairn_client.tracking_uri, mlflow_server.url)
    assert report.complete, report.table()
    assert (report.kinds["runs"].imported, report.kinds["model_versions"].imported) == (3, 2)
    new = target.run_ids
    stores = StoreCache()
    mlflow = Client(mlflow_server.url, stores=stores)
    try:
        parent, child = mlflow.get_run(new[ids["parent"]]), mlflow.get_run(new[ids["child"]])
        assert child.data.tags[PARENT] == new[ids["parent"]]
        assert parent.data.tags[SOURCE_RUN_TAG] == ids["parent"]
        assert mlflow.get_run(new[ids["gone"]]).info.lifecycle_stage == "deleted"
        # The model's metrics went through log-batch on the run, adding nothing to its
        # history (not even a 0 beside the NaN: MLflow keeps a model's NaN as 0).
        history = mlflow.get_metric_history(new[ids["parent"]], "acc")
        assert [(m.step, repr(m.value)) for m in history] == [(0, "0.25"), (1, "nan"), (2, "0.5")]

        model = mlflow.get_logged_model(target.model_ids[ids["model"]])
        assert (model.name, model.status, len(model.params)) == ("clf", "LOGGED_MODEL_READY", 150)
        assert model.tags[SOURCE_MODEL_TAG] == ids["model"]
        measured = sorted((m.step, m.key, m.run_id) for m in model.metrics)
        assert measured == [(1, "acc", new[ids["parent"]]), (2, "acc", new[ids["parent"]])]
        assert [(o.model_id, o.step) for o in parent.outputs.model_outputs] == [(model.model_id, 2)]

        versions = {v.version: v for v in mlflow.search_model_versions("name = 'gappy'")}
        assert sorted(versions) == ["1", "3"]
        first = versions["1"]
        assert (first.current_stage, first.run_id) == ("Staging", parent.info.run_id)
        assert versions["3"].source == f"runs:/{parent.info.run_id}/model"
        assert mlflow.get_registered_model("gappy").aliases == {"prod": "3"}
        with pytest.raises(ResourceDoesNotExistError):
            mlflow.get_model_version("gappy", "2")
        source = f"runs:/{parent.info.run_id}/model"
        later = mlflow.create_model_version("gappy", source, run_id=parent.info.run_id)
        assert later.version == "4"
    finally:
        stores.close()
    assert any("'native'" in p and SOURCE_RUN_TAG in p for p in target.problems)
    assert any(f"logged model {ids['model']}" in p for p in target.problems)
    assert any(f"run {ids['child']}: 1 dataset output" in p for p in target.problems)
    assert not any("is not here" in p for p in target.problems)

    again, repeat = _copy(cairn_client.tracking_uri, mlflow_server.url)
    assert again.identical, again.table()
    assert repeat.run_ids == new
