"""MLflowFileSource over an `mlruns` store that the real mlflow client wrote, then imported
into Cairn with the Copier.

The store is written once per module in a subprocess (mlflow keeps process-wide state):
`python test_mlflow_files.py ROOT MANIFEST` runs `write_store`, which also reads the store
back through mlflow's own client into MANIFEST, the truth the source is held to. The store
is then moved, as people move `mlruns` folders: every artifact URI in it is stale, and the
source has to find the files inside the store.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cairn.entities import Metric
from cairn.exceptions import InvalidParameterValueError
from cairn.interchange.cairn_target import CairnTarget
from cairn.interchange.copier import Copier
from cairn.interchange.mlflow_files import MLflowFileSource
from cairn.interchange.report import FidelityReport
from cairn.interchange.source import CHUNK_POINTS, SourceRun
from cairn.tracking.client import Client

STEPS = 1500
BINARY = bytes(range(256)) * 4
FLOAT_MAX = sys.float_info.max


# -- the store, written by mlflow -----------------------------------------------------------


def write_store(root: str, manifest_path: str) -> None:
    """Runs in the subprocess: write the store with mlflow, then record what mlflow reads."""
    import warnings

    warnings.simplefilter("ignore")
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import Metric as MlflowMetric
    from sklearn.linear_model import LinearRegression

    mlflow.set_tracking_uri(f"file://{root}/mlruns")
    client = MlflowClient()
    kept = client.create_experiment("kept", tags={"team": "vision", "owner/name": "ada"})
    mlflow.set_experiment(experiment_id=kept)
    dataset = from_pandas(pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]}), name="train")
    with (
        open(os.path.join(root, "notes.txt"), "w") as text,
        open(os.path.join(root, "weights.bin"), "wb") as binary,
    ):
        text.write("hello from mlflow\n")
        binary.write(BINARY)
    with mlflow.start_run(run_name="trained") as trained:
        run_id = trained.info.run_id
        mlflow.log_params({"lr": "0.01", "optimizer/name": "adam"})
        mlflow.set_tags({"stage": "dev", "notes/long": "x" * 300})
        start = int(time.time() * 1000)
        for first in range(0, STEPS, 1000):
            points = range(first, min(first + 1000, STEPS))
            client.log_batch(
                run_id, [MlflowMetric("loss", 1 / (i + 1), start + i, i) for i in points]
            )
        for step, value in enumerate((math.nan, math.inf, -math.inf, 1.5)):
            mlflow.log_metric("odd", value, step=step, timestamp=start + step)
        mlflow.log_metric("eval/acc", 0.75, step=7, dataset=dataset)
        mlflow.log_input(dataset, context="training")
        mlflow.log_artifact(os.path.join(root, "notes.txt"), "docs")
        mlflow.log_artifact(os.path.join(root, "weights.bin"))
        model = mlflow.sklearn.log_model(
            LinearRegression().fit([[0], [1]], [0, 1]), name="model", params={"alpha": "1"}
        )
    discarded = client.create_run(kept, run_name="discarded")
    client.log_metric(discarded.info.run_id, "loss", 2.0, step=3)
    client.set_terminated(discarded.info.run_id)
    client.delete_run(discarded.info.run_id)
    crashed = client.create_run(kept, run_name="crashed")
    client.log_param(crashed.info.run_id, "seed", "7")
    client.set_terminated(crashed.info.run_id, "KILLED")
    client.create_run(kept, run_name="still running")
    abandoned = client.create_logged_model(kept, name="abandoned")
    client.delete_logged_model(abandoned.model_id)

    gone = client.create_experiment("gone", tags={"why": "tried"})
    orphan = client.create_run(gone, run_name="orphan")
    client.log_metric(orphan.info.run_id, "loss", 3.0, step=1)
    client.log_artifact(orphan.info.run_id, os.path.join(root, "notes.txt"))
    client.set_terminated(orphan.info.run_id)
    client.delete_experiment(gone)

    client.create_registered_model("churn", tags={"domain": "retail"}, description="Churn")
    client.create_model_version("churn", model.model_uri, run_id=run_id, tags={"checked": "yes"})
    client.create_model_version("churn", f"runs:/{run_id}/model", run_id=run_id)
    client.create_model_version("churn", f"runs:/{run_id}/model")
    client.delete_model_version("churn", "3")
    client.transition_model_version_stage("churn", "1", "Production")
    client.set_registered_model_alias("churn", "champion", "2")
    with open(manifest_path, "w") as out:
        json.dump(_read_back(client, model.model_id, abandoned.model_id), out)


def _read_back(client: Any, model_id: str, abandoned: str) -> dict[str, Any]:
    """What mlflow's own client reads from the store: the truth the source is held to."""
    from mlflow.entities import ViewType

    experiments, runs = [], []
    for e in client.search_experiments(view_type=ViewType.ALL):
        experiments.append(
            {
                "id": e.experiment_id,
                "name": e.name,
                "stage": e.lifecycle_stage,
                "created": e.creation_time,
                "updated": e.last_update_time,
                "tags": e.tags,
            }
        )
        for run in client.search_runs([e.experiment_id], run_view_type=ViewType.ALL):
            info, data = run.info, run.data
            runs.append(
                {
                    "id": info.run_id,
                    "experiment": info.experiment_id,
                    "name": info.run_name,
                    "user": info.user_id,
                    "status": info.status,
                    "start": info.start_time,
                    "end": info.end_time,
                    "stage": info.lifecycle_stage,
                    "params": data.params,
                    "tags": data.tags,
                    "latest": data.metrics,
                    "histories": {
                        key: [
                            [m.timestamp, m.value, m.step]
                            for m in client.get_metric_history(info.run_id, key)
                        ]
                        for key in data.metrics
                    },
                    "inputs": [
                        [d.dataset.name, d.dataset.digest, {t.key: t.value for t in d.tags}]
                        for d in run.inputs.dataset_inputs
                    ],
                    "outputs": [o.model_id for o in run.outputs.model_outputs],
                }
            )
    model = client.get_logged_model(model_id)
    registered = client.get_registered_model("churn")
    return {
        "experiments": experiments,
        "runs": runs,
        "logged_model": {
            "id": model.model_id,
            "experiment": model.experiment_id,
            "name": model.name,
            "status": str(model.status),
            "created": model.creation_timestamp,
            "params": model.params,
            "tags": model.tags,
            "run": model.source_run_id,
        },
        "abandoned": abandoned,
        "registered": {
            "name": registered.name,
            "description": registered.description,
            "tags": registered.tags,
            "aliases": registered.aliases,
            "created": registered.creation_timestamp,
        },
        "versions": [
            {
                "version": str(v.version),
                "stage": v.current_stage,
                "source": v.source,
                "run": v.run_id,
                "tags": v.tags,
                "aliases": sorted(v.aliases),
                "created": v.creation_timestamp,
            }
            for v in client.search_model_versions("name='churn'")
        ],
    }


@dataclass
class Store:
    root: Path
    truth: dict[str, Any]

    def run_named(self, name: str) -> dict[str, Any]:
        return next(r for r in self.truth["runs"] if r["name"] == name)

    def experiment_named(self, name: str) -> dict[str, Any]:
        return next(e for e in self.truth["experiments"] if e["name"] == name)

    def experiment_name(self, experiment_id: str) -> str:
        return str(next(e["name"] for e in self.truth["experiments"] if e["id"] == experiment_id))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    if importlib.util.find_spec("mlflow") is None:
        pytest.skip("the mlflow client is a test dependency (pip install -e .[dev])")
    folder = tmp_path_factory.mktemp("mlflow")
    written = folder / "written"
    written.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_ALLOW_FILE_STORE="true", MLFLOW_DISABLE_TELEMETRY="true")
    subprocess.run(
        [sys.executable, __file__, str(written), str(folder / "truth.json")],
        env=env,
        check=True,
        capture_output=True,
        timeout=240,
    )
    (written / "mlruns").rename(folder / "mlruns")  # every artifact URI inside is stale now
    truth = json.loads((folder / "truth.json").read_text())
    return Store(folder / "mlruns", truth)


def _copy(store: Store, tmp_path: Path) -> Path:
    target = tmp_path / "mlruns"
    shutil.copytree(store.root, target)
    return target


def _points(history: Iterable[Any]) -> list[tuple[int, str, int]]:
    """Points as (timestamp, repr of the value, step): NaN equals NaN, nothing else moves."""
    out = []
    for point in history:
        timestamp, value, step = (
            (point.timestamp, point.value, point.step) if isinstance(point, Metric) else point
        )
        out.append((int(timestamp), repr(float(value)), int(step)))
    return out


def _as_logged(key: str, history: list[list[Any]]) -> list[list[Any]]:
    """mlflow's reading of a history, with the step it drops put back: a dataset-linked
    line ("timestamp value step name digest") reads as step 0 in mlflow; the source keeps
    the step logged. (log_model then appends the latest point as mlflow read it: step 0.)"""
    if key != "eval/acc":
        return history
    (timestamp, value, _), *rest = history
    return [[timestamp, value, 7], *rest]


def _history(source: MLflowFileSource, run_id: str, key: str) -> list[Metric]:
    chunks = list(source.metric_history(run_id, key))
    assert all(0 < len(chunk) <= CHUNK_POINTS for chunk in chunks)
    assert {(p[0], p[1]) for chunk in chunks for p in chunk} <= {(run_id, key)}
    return [Metric(key, p[2], p[3], p[4]) for chunk in chunks for p in chunk]


def _all_runs(source: MLflowFileSource) -> dict[str, SourceRun]:
    return {r.run_id: r for e in list(source.experiments()) for r in source.runs(e.experiment_id)}


# -- the source reads what mlflow reads -----------------------------------------------------


def test_experiments_are_read_as_mlflow_reads_them(store: Store) -> None:
    source = MLflowFileSource(f"file://{store.root}")
    seen = {
        e.experiment_id: (e.name, e.lifecycle_stage, e.creation_time, e.last_update_time, e.tags)
        for e in source.experiments()
    }
    assert seen == {
        e["id"]: (e["name"], e["stage"], e["created"], e["updated"], e["tags"])
        for e in store.truth["experiments"]
    }
    assert seen[store.experiment_named("gone")["id"]][1] == "deleted"
    assert seen[store.experiment_named("kept")["id"]][4]["owner/name"] == "ada"


def test_runs_are_read_as_mlflow_reads_them(store: Store) -> None:
    source = MLflowFileSource(store.root)
    runs = _all_runs(source)
    assert set(runs) == {r["id"] for r in store.truth["runs"]}
    for truth in store.truth["runs"]:
        item = runs[truth["id"]]
        info, data = item.run.info, item.run.data
        assert (info.experiment_id, info.run_name, info.user_id, info.status) == (
            truth["experiment"],
            truth["name"],
            truth["user"],
            truth["status"],
        )
        assert (info.start_time, info.end_time, info.lifecycle_stage) == (
            truth["start"],
            truth["end"],
            truth["stage"],
        )
        assert (data.params, data.tags) == (truth["params"], truth["tags"])
        assert _points([(0, v, 0) for v in data.metrics.values()]) == _points(
            [(0, v, 0) for v in truth["latest"].values()]
        )
        assert set(item.metric_keys) == set(truth["histories"])
        inputs = [
            [d.dataset.name, d.dataset.digest, {t.key: t.value for t in d.tags}]
            for d in item.run.inputs.dataset_inputs
        ]
        assert inputs == truth["inputs"]
        assert [o.model_id for o in item.run.outputs.model_outputs] == truth["outputs"]
        assert item.problems == []
    kinds = {runs[r["id"]].run.info.run_name: runs[r["id"]] for r in store.truth["runs"]}
    assert kinds["discarded"].deleted_time is not None and kinds["trained"].deleted_time is None
    assert kinds["orphan"].run.info.lifecycle_stage == "deleted"  # its experiment was deleted
    assert kinds["still running"].run.info.end_time is None
    assert kinds["crashed"].run.info.status == "KILLED"


def test_every_history_point_is_streamed(store: Store) -> None:
    source = MLflowFileSource(store.root)
    runs = _all_runs(source)
    for truth in store.truth["runs"]:
        total = 0
        for key, expected in truth["histories"].items():
            got = _history(source, truth["id"], key)
            total += len(got)
            assert _points(got) == _points(_as_logged(key, expected))
        assert runs[truth["id"]].point_count == total
    trained = store.run_named("trained")
    loss = _points(trained["histories"]["loss"])
    # log_model logs a point of each metric again: every line counts, repeats included.
    assert len(loss) == STEPS + 1 and loss[-1] in loss[:STEPS]
    odd = _history(source, trained["id"], "odd")
    assert [repr(m.value) for m in odd[:4]] == ["nan", "inf", "-inf", "1.5"]


def test_logged_models_and_the_registry_are_read(store: Store) -> None:
    source = MLflowFileSource(store.root)
    kept = store.experiment_named("kept")["id"]
    (model,) = source.logged_models(kept)
    truth = store.truth["logged_model"]
    assert (model.model_id, model.experiment_id, model.name) == (
        truth["id"],
        truth["experiment"],
        truth["name"],
    )
    assert (model.status.name, model.creation_timestamp, model.source_run_id) == (
        truth["status"],
        truth["created"],
        truth["run"],
    )
    assert (model.params, model.tags) == (truth["params"], truth["tags"])
    assert {m.key for m in model.metrics} == {"loss", "odd", "eval/acc"}
    assert source.problems == [f"logged model {store.truth['abandoned']} is deleted: not imported"]

    (registered,) = source.registered_models()
    expected = store.truth["registered"]
    assert (registered.name, registered.description, registered.creation_timestamp) == (
        expected["name"],
        expected["description"],
        expected["created"],
    )
    assert (registered.tags, registered.aliases) == (expected["tags"], expected["aliases"])
    versions = [
        {
            "version": v.version,
            "stage": v.current_stage,
            "source": v.source,
            "run": v.run_id,
            "tags": v.tags,
            "aliases": list(v.aliases),
            "created": v.creation_timestamp,
        }
        for v in source.model_versions("churn")
    ]
    assert versions == sorted(store.truth["versions"], key=lambda v: int(v["version"]))
    assert [v["version"] for v in versions] == ["1", "2"]  # 3 was deleted


def test_a_long_history_streams_in_chunks(store: Store, tmp_path: Path) -> None:
    root = _copy(store, tmp_path)
    run_id = store.run_named("trained")["id"]
    experiment = store.run_named("trained")["experiment"]
    with open(root / experiment / run_id / "metrics" / "long", "w") as out:
        out.writelines(f"{1000 + i} {i * 0.5} {i}\n" for i in range(CHUNK_POINTS + 5))
    source = MLflowFileSource(root)
    item = _all_runs(source)[run_id]
    assert "long" in item.metric_keys
    latest = {m.key: m for m in item.run.data.latest_metrics}["long"]
    assert (latest.step, latest.value) == (CHUNK_POINTS + 4, (CHUNK_POINTS + 4) * 0.5)
    sizes = [len(chunk) for chunk in source.metric_history(run_id, "long")]
    assert sizes == [CHUNK_POINTS, 5]


def test_artifact_roots_are_found_inside_the_store(store: Store) -> None:
    source = MLflowFileSource(store.root)
    trained = store.run_named("trained")
    stale = f"file:///nowhere/mlruns/{trained['experiment']}/{trained['id']}/artifacts"
    repository = source.artifacts(stale)
    assert repository is not None
    assert {f.path for f in repository.list_artifacts()} == {"docs", "weights.bin"}
    orphan = store.run_named("orphan")  # a deleted experiment's folder moved into .trash
    found = source.artifacts(f"/nowhere/{orphan['experiment']}/{orphan['id']}/artifacts")
    assert found is not None and [f.path for f in found.list_artifacts()] == ["notes.txt"]
    assert source.artifacts("file:///nowhere/at/all") is None
    assert source.artifacts("mlflow-artifacts:/0/abc/artifacts") is None


def test_a_folder_that_is_no_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterValueError, match="not a folder"):
        MLflowFileSource(tmp_path / "missing")


# -- importing into Cairn -------------------------------------------------------------------


def _import(root: Path, uri: str) -> FidelityReport:
    target = CairnTarget(uri)
    try:
        return Copier(MLflowFileSource(root), target).run()
    finally:
        target.close()


def _as_stored(points: list[tuple[int, str, int]]) -> list[tuple[int, str, int]]:
    """A history as Cairn keeps it (MLflow's SQL semantics): ±inf clamped to ±FLOAT_MAX,
    exact repeats once; ordered by step, then time."""
    clamp = {"inf": repr(FLOAT_MAX), "-inf": repr(-FLOAT_MAX)}
    held = {(t, clamp.get(v, v), s) for t, v, s in points}
    return sorted(held, key=lambda p: (p[2], p[0], p[1]))


def _files_below(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _run_folder(store: Store, root: Path, name: str) -> Path:
    run = store.run_named(name)
    for parent in (root, root / ".trash"):
        folder = parent / str(run["experiment"]) / str(run["id"])
        if folder.is_dir():
            return folder
    raise AssertionError(name)


def test_an_import_keeps_ids_histories_files_and_versions(
    store: Store, workdir: Path, tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path}/cairn.db"
    report = _import(store.root, uri)
    assert report.checksum_mismatches == 0 and report.complete, report.table()
    assert report.kinds["runs"].imported == len(store.truth["runs"])
    assert report.kinds["metric_points"].imported == sum(
        len(h) for r in store.truth["runs"] for h in r["histories"].values()
    )
    client = Client(uri)
    for truth in store.truth["runs"]:
        run = client.get_run(truth["id"])  # the same id
        experiment = client.get_experiment(run.info.experiment_id)
        assert experiment.name == store.experiment_name(truth["experiment"])
        assert (run.info.status, run.info.start_time, run.info.end_time) == (
            truth["status"],
            truth["start"],
            truth["end"],
        )
        assert run.info.lifecycle_stage == truth["stage"]
        assert (run.data.params, run.data.tags) == (truth["params"], truth["tags"])
        for key, expected in truth["histories"].items():
            held = _points(client.get_metric_history(truth["id"], key))
            assert _as_stored(held) == _as_stored(_points(_as_logged(key, expected))), key
        source_files = _files_below(_run_folder(store, store.root, truth["name"]) / "artifacts")
        if source_files:
            here = client.download_artifacts(truth["id"], "", str(tmp_path / truth["id"]))
            assert _files_below(Path(here)) == source_files
        else:
            assert client.list_artifacts(truth["id"]) == []
    trained = client.get_run(store.run_named("trained")["id"])
    assert [d.dataset.name for d in trained.inputs.dataset_inputs] == ["train"]
    model_id = store.truth["logged_model"]["id"]
    assert [o.model_id for o in trained.outputs.model_outputs] == [model_id]
    assert client.get_logged_model(model_id).params == store.truth["logged_model"]["params"]
    model_files = store.root / store.truth["logged_model"]["experiment"] / "models" / model_id
    here = client.download_model_artifacts(model_id, str(tmp_path / model_id))
    assert _files_below(Path(here)) == _files_below(model_files / "artifacts")
    assert "MLmodel" in _files_below(Path(here))
    assert client.get_experiment_by_name("gone").lifecycle_stage == "deleted"

    registered = client.get_registered_model("churn")
    assert (registered.tags, registered.aliases) == ({"domain": "retail"}, {"champion": "2"})
    first, second = client.get_model_version("churn", "1"), client.get_model_version("churn", "2")
    assert (first.current_stage, first.tags, first.source) == (
        "Production",
        {"checked": "yes"},
        f"models:/{model_id}",
    )
    assert second.aliases == ("champion",)

    again = _import(store.root, uri)
    assert again.identical, again.table()


def _break(store: Store, root: Path) -> None:
    """The damage a real store shows: a run folder without its meta.yaml, a garbled metric
    line, a finished run without an end time, unparsable YAML in the registry."""
    (_run_folder(store, root, "crashed") / "meta.yaml").unlink()
    loss = _run_folder(store, root, "trained") / "metrics" / "loss"
    lines = loss.read_text().splitlines(keepends=True)
    loss.write_text("".join([*lines[:10], "12 not-a-number 3\n", *lines[10:]]))
    discarded = _run_folder(store, root, "discarded") / "meta.yaml"
    discarded.write_text(discarded.read_text().replace("end_time:", "was_end_time:"))
    (root / "models" / "churn" / "version-2" / "meta.yaml").write_text("name: [unclosed\n")


def test_broken_entries_are_left_out_with_their_reason(store: Store, tmp_path: Path) -> None:
    root = _copy(store, tmp_path)
    _break(store, root)
    running = _run_folder(store, root, "still running") / "meta.yaml"
    running.write_text(running.read_text().replace("status: 1", "status: 9"))
    gone = store.experiment_named("gone")["id"]
    (root / ".trash" / gone / "meta.yaml").write_text("- not\n- a mapping\n")
    source = MLflowFileSource(root)

    runs = {r.run.info.run_name: r for r in _all_runs(source).values()}
    assert set(runs) == {"trained", "discarded", "still running"}  # crashed, orphan: left out
    assert runs["trained"].problems == [
        "metric 'loss': 1 unreadable line(s) left out "
        "(line 11: could not convert string to float: 'not-a-number')"
    ]
    assert runs["trained"].point_count == sum(
        len(h) for h in store.run_named("trained")["histories"].values()
    )
    assert runs["discarded"].problems == ["FINISHED but no end time; imported without one"]
    assert runs["still running"].problems == ["status 9 is not MLflow's; read as RUNNING"]
    assert runs["still running"].run.info.status == "RUNNING"
    assert [v.version for v in source.model_versions("churn")] == ["1"]
    crashed = store.run_named("crashed")["id"]
    kept = store.experiment_named("kept")["id"]
    trash, folder = root / ".trash" / gone, root / kept / crashed
    version = root / "models" / "churn" / "version-2" / "meta.yaml"
    assert source.problems[:2] == [
        f"experiment {gone} left out: {trash / 'meta.yaml'} holds no mapping",
        f"run {crashed} of experiment {kept} left out: {folder / 'meta.yaml'} is missing",
    ]
    assert source.problems[2:] == [source.problems[2]] and source.problems[2].startswith(
        f"registered model 'churn': version-2 left out: {version} cannot be read: "
        "while parsing a flow sequence"
    )


def test_a_broken_store_imports_the_rest_and_says_what_was_wrong(
    store: Store, workdir: Path, tmp_path: Path
) -> None:
    root = _copy(store, tmp_path)
    _break(store, root)
    source = MLflowFileSource(root)
    uri = f"sqlite:///{tmp_path}/cairn.db"
    target = CairnTarget(uri)
    report = Copier(source, target).run()
    target.close()

    assert report.kinds["runs"].imported == len(store.truth["runs"]) - 1
    crashed, trained = store.run_named("crashed")["id"], store.run_named("trained")["id"]
    assert any(crashed in p and "meta.yaml is missing" in p for p in source.problems)
    assert any("version-2 left out" in p for p in source.problems)
    assert any(
        p.startswith(f"run {trained}: metric 'loss': 1 unreadable line") for p in report.problems
    )
    assert any("FINISHED but no end time" in p for p in report.problems)
    client = Client(uri)
    assert len(client.get_metric_history(trained, "loss")) == STEPS
    assert client.get_run(store.run_named("discarded")["id"]).info.end_time is None
    assert [v.version for v in client.search_model_versions("name='churn'")] == ["1"]
    assert client.get_run(trained).data.params == store.run_named("trained")["params"]


if __name__ == "__main__":
    write_store(sys.argv[1], sys.argv[2])
