"""StoreSource: a live `mlflow server` filled by the real mlflow client, and a Cairn database
filled by Cairn's client, each copied by `Copier` into a fresh Cairn SQLite store and read
back field by field; a second copy finds everything there already."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from cairn.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelOutput,
    LoggedModelStatus,
    Metric,
    Param,
    Run,
    RunTag,
)
from cairn.interchange.cairn_target import CairnTarget
from cairn.interchange.copier import Copier
from cairn.interchange.report import FidelityReport
from cairn.interchange.store_source import StoreSource
from cairn.store.uri import StoreCache
from cairn.tracking.client import Client
from local_processes import answers_health, free_port

pytestmark = [
    # Stages are deprecated in MLflow (since 2.9) but still served; the source has one.
    pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning"),
]

START_SECONDS = 90.0
STOP_SECONDS = 15.0
#: Small pages and chunks, so every listing and history is read across several pages.
PAGE = 2
CHUNK = 7
HISTORY_STEPS = 25
SPECIAL_VALUES = (math.nan, math.inf, -math.inf)
BINARY = bytes(range(256)) * 40
MODEL_NAME = "churn"


# -- a live MLflow server --------------------------------------------------------------------


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_SECONDS)


def _start_mlflow(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`mlflow server` on a free port, polled on /health until it answers (bounded)."""
    log = folder / "mlflow-server.log"
    env = {
        **os.environ,
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    for _attempt in range(3):  # another process may take the port between probe and bind
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(folder / "mlartifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if answers_health(port):
                return process, f"http://127.0.0.1:{port}"
            try:
                process.wait(0.1)  # not a sleep: returns at once if the server died
            except subprocess.TimeoutExpired:
                continue
            break  # it ended (a taken port, most likely): try another port
        else:
            _stop(process)
            break
    pytest.fail(f"mlflow server did not start:\n{log.read_text(errors='replace')[-4000:]}")


@dataclass(frozen=True)
class Filled:
    """What the source holds, as its writer knows it."""

    uri: str
    experiment_id: str
    run_ids: tuple[str, ...]
    deleted_run_id: str
    model_id: str


@pytest.fixture(scope="module")
def mlflow_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    folder = tmp_path_factory.mktemp("mlflow-source")
    process, url = _start_mlflow(folder)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
            patch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "1")
            # No retries: an unexpected 5xx fails now, not after minutes of backoff.
            patch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            yield _fill_mlflow(url, folder)
    finally:
        _stop(process)


def _fill_mlflow(url: str, folder: Path) -> Filled:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiment_id = client.create_experiment("moving-in", tags={"team": "risk"})
    run_ids = tuple(_mlflow_run(client, experiment_id, n) for n in range(3))
    deleted = client.create_run(experiment_id, run_name="gone").info.run_id
    client.log_param(deleted, "p", "1")
    client.delete_run(deleted)
    model_id = _mlflow_files_and_models(client, experiment_id, run_ids[0], folder)
    return Filled(url, experiment_id, run_ids, deleted, model_id)


def _mlflow_run(client: Any, experiment_id: str, n: int) -> str:
    """A finished run with params, tags and histories (NaN, ±inf and NaN alone among them)."""
    from mlflow import entities as ml

    run_id: str = client.create_run(
        experiment_id, run_name=f"run-{n}", tags={"n": str(n)}
    ).info.run_id
    start = 1_700_000_000_000
    points = [ml.Metric("loss", 1 / (s + 1), start + s, s) for s in range(HISTORY_STEPS)]
    points += [ml.Metric("odd", v, start + i, i) for i, v in enumerate(SPECIAL_VALUES)]
    points += [ml.Metric("nan_only", math.nan, start, 0)]
    params = [ml.Param("lr", "0.01"), ml.Param("layers", str(n + 2))]
    client.log_batch(run_id, metrics=points, params=params, tags=[ml.RunTag("phase", "fit")])
    client.set_terminated(run_id, "FINISHED", end_time=1_700_000_100_000 + n)
    return run_id


def _mlflow_files_and_models(client: Any, experiment_id: str, run_id: str, folder: Path) -> str:
    """A dataset input, files, a logged model and a registered model with two versions (one
    in Production, one with an alias) on `run_id`; returns the logged model's id."""
    from mlflow import entities as ml

    dataset = ml.Dataset("train", "d1g35t", "http", '{"url": "https://example.com/t.csv"}')
    tag = ml.InputTag("mlflow.data.context", "training")
    client.log_inputs(run_id, datasets=[ml.DatasetInput(dataset, [tag])])
    client.log_text(run_id, "hello from mlflow", "notes/readme.txt")
    (folder / "weights.bin").write_bytes(BINARY)
    client.log_artifact(run_id, str(folder / "weights.bin"), "model")

    model = client.create_logged_model(
        experiment_id, name="clf", source_run_id=run_id, params={"alpha": "0.5"}, tags={"k": "v"}
    )
    (folder / "model-files").mkdir()
    (folder / "model-files" / "MLmodel").write_text("flavors: {}\n")
    client.log_model_artifacts(model.model_id, str(folder / "model-files"))
    client.finalize_logged_model(model.model_id, ml.LoggedModelStatus.READY)
    client.log_metric(run_id, "acc", 0.75, timestamp=1_700_000_050_000, model_id=model.model_id)
    client.log_outputs(run_id, [ml.LoggedModelOutput(model.model_id, 0)])

    client.create_registered_model(MODEL_NAME, tags={"owner": "me"}, description="a model")
    run_source = f"{client.get_run(run_id).info.artifact_uri}/model"
    client.create_model_version(MODEL_NAME, run_source, run_id=run_id, tags={"v": "1"})
    client.create_model_version(
        MODEL_NAME, f"models:/{model.model_id}", run_id=run_id, model_id=model.model_id
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated in MLflow
        client.transition_model_version_stage(MODEL_NAME, "1", "Production")
    client.set_registered_model_alias(MODEL_NAME, "champion", "2")
    return str(model.model_id)


@pytest.fixture
def target_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("CAIRN_ARTIFACT_ROOT", raising=False)
    return f"sqlite:///{tmp_path / 'cairn.db'}"


@pytest.fixture
def cairn_reader(target_uri: str) -> Iterator[Client]:
    stores = StoreCache()
    yield Client(target_uri, stores=stores)
    stores.close()


def _copy(source_uri: str, target_uri: str) -> tuple[FidelityReport, list[str]]:
    source = StoreSource(source_uri, chunk_points=CHUNK, page_size=PAGE)
    target = CairnTarget(target_uri)
    try:
        return Copier(source, target).run(), source.problems
    finally:
        source.close()
        target.close()


# -- comparing -------------------------------------------------------------------------------


def _points(history: Any) -> list[tuple[int, int, str]]:
    """Every point as (step, timestamp, repr of value): NaN compares equal to NaN."""
    return sorted((m.step, m.timestamp, repr(float(m.value))) for m in history)


def _latest(run: Run) -> dict[str, tuple[int, int, str]]:
    return {m.key: (m.step, m.timestamp, repr(m.value)) for m in run.data.latest_metrics}


def _same_run(mine: Run, theirs: Any) -> None:
    a, b = mine.info, theirs.info
    assert (a.run_id, a.experiment_id, a.run_name, a.user_id) == (
        b.run_id,
        b.experiment_id,
        b.run_name,
        b.user_id,
    )
    assert (a.status, a.start_time, a.end_time, a.lifecycle_stage) == (
        b.status,
        b.start_time,
        b.end_time,
        b.lifecycle_stage,
    )
    assert mine.data.params == theirs.data.params
    assert mine.data.tags == theirs.data.tags
    latest = {m.key: repr(m.value) for m in mine.data.latest_metrics}
    assert latest == {key: repr(value) for key, value in theirs.data.metrics.items()}


# -- (a) from a live MLflow server -----------------------------------------------------------


def test_mlflow_server_history_pages_stay_small(mlflow_source: Filled) -> None:
    source = StoreSource(mlflow_source.uri, chunk_points=CHUNK)
    try:
        chunks = list(source.metric_history(mlflow_source.run_ids[0], "loss"))
    finally:
        source.close()
    assert [len(c) for c in chunks] == [7, 7, 7, 4]
    assert [p[4] for chunk in chunks for p in chunk] == list(range(HISTORY_STEPS))


def test_mlflow_server_runs_arrive_with_ids_and_every_point(
    mlflow_source: Filled, target_uri: str, cairn_reader: Client
) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    report, problems = _copy(mlflow_source.uri, target_uri)
    assert problems == []
    assert report.complete, report.table()
    assert report.checksum_mismatches == 0
    assert report.kinds["runs"].imported == 4
    # Three runs' histories, and the point the logged model was measured by.
    points = 3 * (HISTORY_STEPS + len(SPECIAL_VALUES) + 1) + 1
    assert report.kinds["metric_points"].imported == points

    mlflow = MlflowClient(tracking_uri=mlflow_source.uri)
    experiment = cairn_reader.get_experiment(mlflow_source.experiment_id)
    assert (experiment.name, experiment.tags["team"]) == ("moving-in", "risk")
    theirs = mlflow.search_runs([mlflow_source.experiment_id], run_view_type=ViewType.ALL)
    assert len(theirs) == 4
    for their_run in theirs:
        run_id = their_run.info.run_id
        mine = cairn_reader.get_run(run_id)
        _same_run(mine, their_run)
        for key in their_run.data.metrics:
            assert _points(cairn_reader.get_metric_history(run_id, key)) == _points(
                mlflow.get_metric_history(run_id, key)
            )
    gone = cairn_reader.get_run(mlflow_source.deleted_run_id)
    assert (gone.info.lifecycle_stage, gone.data.params) == ("deleted", {"p": "1"})

    first = cairn_reader.get_run(mlflow_source.run_ids[0])
    (used,) = first.inputs.dataset_inputs
    assert (used.dataset.name, used.dataset.digest, used.dataset.source_type) == (
        "train",
        "d1g35t",
        "http",
    )
    assert [(t.key, t.value) for t in used.tags] == [("mlflow.data.context", "training")]
    assert [o.model_id for o in first.outputs.model_outputs] == [mlflow_source.model_id]


def test_mlflow_server_models_and_files_arrive(
    mlflow_source: Filled, target_uri: str, cairn_reader: Client, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    report, problems = _copy(mlflow_source.uri, target_uri)
    assert problems == []
    assert report.checksum_mismatches == 0
    first = mlflow_source.run_ids[0]

    readme = cairn_reader.download_artifacts(first, "notes/readme.txt", str(tmp_path / "a"))
    assert Path(readme).read_text() == "hello from mlflow"
    weights = cairn_reader.download_artifacts(first, "model/weights.bin", str(tmp_path / "b"))
    assert Path(weights).read_bytes() == BINARY
    assert cairn_reader.get_run(first).info.artifact_uri.startswith(str(tmp_path))

    model = cairn_reader.get_logged_model(mlflow_source.model_id)
    assert (model.name, model.status, model.source_run_id) == (
        "clf",
        LoggedModelStatus.READY,
        first,
    )
    assert (model.params, model.tags.get("k")) == ({"alpha": "0.5"}, "v")
    assert [(m.key, m.value, m.run_id) for m in model.metrics] == [("acc", 0.75, first)]
    files = cairn_reader.download_model_artifacts(model.model_id, str(tmp_path / "m"))
    assert (Path(files) / "MLmodel").read_text() == "flavors: {}\n"

    registered = cairn_reader.get_registered_model(MODEL_NAME)
    assert (registered.description, registered.tags) == ("a model", {"owner": "me"})
    assert registered.aliases == {"champion": "2"}
    one = cairn_reader.get_model_version(MODEL_NAME, "1")
    two = cairn_reader.get_model_version(MODEL_NAME, "2")
    assert (one.current_stage, one.tags, one.run_id) == ("Production", {"v": "1"}, first)
    # The run's files moved, so the version's source follows them.
    run_root = cairn_reader.get_run(first).info.artifact_uri
    assert one.source == f"{run_root}/model"
    theirs = MlflowClient(registry_uri=mlflow_source.uri, tracking_uri=mlflow_source.uri)
    for mine, their in (
        (one, theirs.get_model_version(MODEL_NAME, "1")),
        (two, theirs.get_model_version(MODEL_NAME, "2")),
    ):
        assert (mine.creation_timestamp, mine.run_id, mine.model_id, mine.description) == (
            their.creation_timestamp,
            their.run_id,
            their.model_id,
            their.description,
        )
    assert (two.current_stage, two.source) == ("None", f"models:/{mlflow_source.model_id}")
    assert cairn_reader.get_model_version_by_alias(MODEL_NAME, "champion").version == "2"
    created = cairn_reader.create_model_version(MODEL_NAME, f"models:/{model.model_id}")
    assert created.version == "3"  # numbering goes on after the imported versions


def test_mlflow_server_imported_twice_is_identical(mlflow_source: Filled, target_uri: str) -> None:
    first, _ = _copy(mlflow_source.uri, target_uri)
    assert first.kinds["runs"].imported == 4
    again, problems = _copy(mlflow_source.uri, target_uri)
    assert problems == []
    assert again.identical, again.table()
    assert again.kinds["runs"].present == 4
    assert again.kinds["model_versions"].present == 2


# -- (b) from a Cairn database ---------------------------------------------------------------


@pytest.fixture
def cairn_source(tmp_path: Path) -> Iterator[Client]:
    stores = StoreCache()
    yield Client(f"sqlite:///{tmp_path / 'source' / 'cairn.db'}", stores=stores)
    stores.close()


def _fill_cairn(client: Client, folder: Path) -> list[str]:
    """Runs in a live and a deleted experiment, with everything a run can hold."""
    live = client.create_experiment("live", tags={"team": "a"})
    retired = client.create_experiment("retired")
    run_ids = []
    for n, experiment_id in enumerate([live, live, live, retired]):
        run = client.create_run(experiment_id, start_time=1_000 + n, run_name=f"r{n}")
        run_id = run.info.run_id
        metrics = [Metric("loss", 0.5 / (s + 1), 2_000 + s, s) for s in range(HISTORY_STEPS)]
        metrics += [Metric("odd", v, 3_000 + i, i) for i, v in enumerate(SPECIAL_VALUES)]
        metrics += [Metric("nan_only", math.nan, 4_000, 0)]
        client.log_batch(
            run_id, metrics, [Param("n", str(n)), Param("lr", "0.1")], [RunTag("phase", "fit")]
        )
        client.set_terminated(run_id, end_time=5_000 + n)
        run_ids.append(run_id)
    first = run_ids[0]
    dataset = Dataset("train", "abc123", "local", '{"uri": "/data/train.csv"}')
    client.log_inputs(first, [DatasetInput(dataset, (InputTag("mlflow.data.context", "train"),))])
    (folder / "notes.txt").write_text("hello from cairn")
    client.log_artifact(first, str(folder / "notes.txt"), "docs")
    model = client.create_logged_model(live, name="m", source_run_id=first, params={"a": "1"})
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    client.log_outputs(first, [LoggedModelOutput(model.model_id, 3)])
    client.delete_run(run_ids[2])
    client.delete_experiment(retired)
    client.create_registered_model(MODEL_NAME, tags={"t": "1"})
    client.create_model_version(MODEL_NAME, f"models:/{model.model_id}", run_id=first)
    client.create_model_version(MODEL_NAME, f"runs:/{first}/docs", run_id=first)
    client.transition_model_version_stage(MODEL_NAME, "1", "Staging")
    client.set_registered_model_alias(MODEL_NAME, "best", "1")
    return run_ids


def test_cairn_database_copies_run_for_run(
    cairn_source: Client, target_uri: str, cairn_reader: Client, tmp_path: Path
) -> None:
    run_ids = _fill_cairn(cairn_source, tmp_path)
    report, problems = _copy(cairn_source.tracking_uri, target_uri)
    assert problems == []
    assert report.complete, report.table()
    assert report.kinds["runs"].imported == 4
    assert report.kinds["experiments"].imported == 2  # Default was there already
    assert report.kinds["logged_models"].imported == 1
    assert (
        report.kinds["registered_models"].imported,
        report.kinds["model_versions"].imported,
    ) == (1, 2)

    for run_id in run_ids:
        mine, theirs = cairn_reader.get_run(run_id), cairn_source.get_run(run_id)
        assert (mine.data.params, mine.data.tags) == (theirs.data.params, theirs.data.tags)
        assert _latest(mine) == _latest(theirs)
        assert mine.inputs == theirs.inputs
        assert mine.outputs == theirs.outputs
        for output in theirs.outputs.model_outputs:
            model = cairn_reader.get_logged_model(output.model_id)
            assert (model.params, model.status) == ({"a": "1"}, LoggedModelStatus.READY)
        # Files were copied: only the artifact root differs.
        assert replace(mine.info, artifact_uri="") == replace(theirs.info, artifact_uri="")
        for key in ("loss", "odd", "nan_only"):
            assert _points(cairn_reader.get_metric_history(run_id, key)) == _points(
                cairn_source.get_metric_history(run_id, key)
            )
    retired = cairn_reader.get_experiment_by_name("retired")
    assert retired is not None and retired.lifecycle_stage == "deleted"
    notes = cairn_reader.download_artifacts(run_ids[0], "docs/notes.txt", str(tmp_path / "d"))
    assert Path(notes).read_text() == "hello from cairn"
    for number in ("1", "2"):
        mine_v = cairn_reader.get_model_version(MODEL_NAME, number)
        theirs_v = cairn_source.get_model_version(MODEL_NAME, number)
        assert (mine_v.current_stage, mine_v.source, mine_v.aliases, mine_v.tags) == (
            theirs_v.current_stage,
            theirs_v.source,
            theirs_v.aliases,
            theirs_v.tags,
        )

    again, problems = _copy(cairn_source.tracking_uri, target_uri)
    assert problems == []
    assert again.identical, again.table()


def test_cairn_database_lists_every_run_across_pages(cairn_source: Client, tmp_path: Path) -> None:
    run_ids = _fill_cairn(cairn_source, tmp_path)
    source = StoreSource(cairn_source.tracking_uri, page_size=PAGE)
    try:
        experiments = {e.name: e.experiment_id for e in source.experiments()}
        listed = [item.run_id for e in experiments.values() for item in source.runs(e)]
        keys = {item.run_id: item.metric_keys for item in source.runs(experiments["live"])}
    finally:
        source.close()
    assert set(experiments) == {"Default", "live", "retired"}
    assert sorted(listed) == sorted(run_ids)
    assert {tuple(sorted(k)) for k in keys.values()} == {("loss", "nan_only", "odd")}


def test_missing_endpoint_is_a_problem_not_a_failure(mlflow_source: Filled) -> None:
    """A registered model the server does not know: its versions cannot be listed; the
    source says so and goes on."""
    source = StoreSource(mlflow_source.uri)
    try:
        assert list(source.model_versions("no-such-model")) == []
        assert list(source.registered_models())[0].name == MODEL_NAME
        assert source.artifacts("nosuchscheme://x") is None
    finally:
        source.close()
    assert len(source.problems) == 2
    assert "no-such-model" in source.problems[0]
    assert "nosuchscheme://x" in source.problems[1]


def test_server_without_the_endpoints_gives_problems(mlflow_source: Filled) -> None:
    """Under a path where the real server serves nothing, every listing answers 404: each
    becomes a problem, and the source still ends every listing."""
    source = StoreSource(f"{mlflow_source.uri}/no-api-here")
    try:
        assert list(source.experiments()) == []
        assert list(source.logged_models(mlflow_source.experiment_id)) == []
        assert list(source.registered_models()) == []
    finally:
        source.close()
    assert all("HTTP 404" in p and "\n" not in p for p in source.problems)
    assert [p.split(":")[0] for p in source.problems] == [
        "listing experiments",
        f"listing logged models of experiment {mlflow_source.experiment_id}",
        "listing registered models",
        "listing prompts",
    ]
