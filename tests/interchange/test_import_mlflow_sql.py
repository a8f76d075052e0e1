"""`cairn import mlflow DATABASE`, the README's way: a store written by the real mlflow
client, imported with the CLI, then read back by the mlflow client through `cairn server`
and compared field by field with what the same client reads from MLflow itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import cairn as cairn_api
from conftest import cairn, cairn_server, mlflow_snapshot, write_mlflow


def _moved(shot: dict[str, Any]) -> dict[str, Any]:
    """A snapshot without the Default experiment's creation time (each store makes its
    own Default when it is created)."""
    shot["experiments"]["Default"].pop("creation_time")
    return shot


@pytest.fixture(scope="module")
def mlflow_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mlflow")
    write_mlflow(f"sqlite:///{folder}/mlflow.db", folder)
    return folder


@pytest.fixture(scope="module")
def imported(mlflow_sqlite: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The store imported once with the CLI, and what that printed and reported."""
    target = tmp_path_factory.mktemp("cairn")
    done = cairn(
        "import", "mlflow", f"sqlite:///{mlflow_sqlite}/mlflow.db",
        "--to", f"sqlite:///{target}/cairn.db", "--report", str(target / "report.json"),
        cwd=target,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((target / "report.json").read_text())
    return {"folder": target, "stdout": done.stdout, "report": report}


def test_the_mlflow_client_sees_the_same_store_through_cairn(
    mlflow_sqlite: Path, imported: dict[str, Any]
) -> None:
    expected = _moved(mlflow_snapshot(f"sqlite:///{mlflow_sqlite}/mlflow.db"))
    with cairn_server(f"sqlite:///{imported['folder']}/cairn.db", imported["folder"]) as url:
        seen = _moved(mlflow_snapshot(url))
    assert seen["experiments"] == expected["experiments"]
    assert seen["runs"].keys() == expected["runs"].keys()
    for run_id, run in expected["runs"].items():
        assert seen["runs"][run_id] == run, run_id
    assert seen["registry"] == expected["registry"]
    assert len(expected["runs"]) == 6
    loss = next(r for r in expected["runs"].values() if r["name"] == "baseline")["histories"]
    assert len(loss["loss"]) == 2_500
    big = 1.7976931348623157e308
    assert loss["odd"][:3] == [
        [0, 1_700_000_000_000, "nan"], [1, 1_700_000_000_001, big], [2, 1_700_000_000_002, -big]
    ]  # fmt: skip


def test_the_report_counts_everything_and_no_checksum_differs(imported: dict[str, Any]) -> None:
    report = imported["report"]
    kinds = report["kinds"]
    assert report["checksum_mismatches"] == 0
    assert report["complete"] is True
    assert kinds["runs"] == {
        "source": 6, "imported": 6, "present": 0, "skipped": 0, "reasons": []
    }  # fmt: skip
    assert kinds["metric_points"]["imported"] == 2_500 + 300 + 4 + 1 + 1 + 1 + 1 + 1
    assert kinds["model_versions"]["imported"] == 2
    assert kinds["logged_models"]["imported"] == 1
    assert kinds["artifact_files"]["imported"] >= 8
    assert report["artifact_bytes"] > 200_000
    assert "checksum mismatches: 0" in imported["stdout"]


def test_models_and_runs_uris_keep_working(imported: dict[str, Any], workdir: Path) -> None:
    uri = f"sqlite:///{imported['folder']}/cairn.db"
    client = cairn_api.Client(uri)
    version = client.get_model_version("reg", "1")
    assert version.current_stage == "Production"
    assert client.get_model_version_by_alias("reg", "champion").version == "2"
    cairn_api.set_tracking_uri(uri)
    model = cairn_api.pyfunc.load_model("models:/reg/1")
    by_run = cairn_api.pyfunc.load_model(f"runs:/{version.run_id}/model")
    import pandas as pd

    frame = pd.DataFrame({"x": [4.0]})
    assert float(model.predict(frame)[0]) == pytest.approx(8.0)
    assert float(by_run.predict(frame)[0]) == pytest.approx(8.0)


def test_a_second_import_finds_the_store_identical_and_a_later_one_only_new_runs(
    mlflow_sqlite: Path, tmp_path: Path
) -> None:
    source = f"sqlite:///{mlflow_sqlite}/mlflow.db"
    target = f"sqlite:///{tmp_path}/cairn.db"

    def run() -> dict[str, Any]:
        done = cairn("import", "mlflow", source, "--to", target, "--report", "r.json",
                     cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads((tmp_path / "r.json").read_text())  # type: ignore[no-any-return]

    first = run()
    again = run()
    assert again["identical"] is True
    assert again["kinds"]["runs"]["present"] == first["kinds"]["runs"]["imported"]
    assert again["kinds"]["metric_points"]["present"] == first["kinds"]["metric_points"]["imported"]

    write_mlflow(source, mlflow_sqlite, more=True)
    later = run()
    assert later["kinds"]["runs"]["imported"] == 1
    assert later["kinds"]["metric_points"]["imported"] == 500
    assert later["kinds"]["runs"]["present"] == first["kinds"]["runs"]["imported"]


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_an_mlflow_database_on_a_server_imports_into_the_same_kind(
    backend: str, new_server_database: Callable[[str, str], str], tmp_path: Path
) -> None:
    source = new_server_database(backend, f"mlflow-source-{backend}")
    target = new_server_database(backend, f"cairn-target-{backend}")
    write_mlflow(source, tmp_path / "mlflow")
    done = cairn("import", "mlflow", source, "--to", target, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = _moved(mlflow_snapshot(source))
    with cairn_server(target, tmp_path / "server") as url:
        seen = _moved(mlflow_snapshot(url))
    for run_id, run in expected["runs"].items():
        for field, value in run.items():
            assert seen["runs"][run_id][field] == value, (run_id, field)
    assert seen == expected


def test_a_broken_store_reports_what_it_could_not_import_and_imports_the_rest(
    tmp_path: Path,
) -> None:
    """A missing artifact file, a finished run without an end time and a table a
    half-finished migration left out: each gets a line, the rest comes across."""
    write_mlflow(f"sqlite:///{tmp_path}/mlflow.db", tmp_path)
    engine = sa.create_engine(f"sqlite:///{tmp_path}/mlflow.db")
    with engine.begin() as conn:
        broken = conn.execute(sa.text("SELECT run_uuid FROM runs WHERE name = 'broken'")).scalar()
        conn.execute(sa.text("UPDATE runs SET end_time = NULL WHERE run_uuid = :r"), {"r": broken})
        conn.execute(sa.text("DROP TABLE input_tags"))
    engine.dispose()
    blob = next(tmp_path.glob("mlruns/*/*/artifacts/data/blob.bin"))
    blob.unlink()
    done = cairn("import", "mlflow", f"sqlite:///{tmp_path}/mlflow.db", "--to",
                 f"sqlite:///{tmp_path}/cairn.db", "--report", "r.json", cwd=tmp_path)  # fmt: skip
    report = json.loads((tmp_path / "r.json").read_text())
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["kinds"]["runs"]["imported"] == 6
    assert any(f"run {broken}: FAILED but no end time" in p for p in report["problems"])
    assert f"run {broken}: FAILED but no end time" in done.stdout
    client = cairn_api.Client(f"sqlite:///{tmp_path}/cairn.db")
    baseline = client.search_runs(["1"], filter_string="attributes.run_name = 'baseline'")[0]
    assert [d.dataset.name for d in baseline.inputs.dataset_inputs] == ["train"]
    assert client.get_run(broken).info.end_time is None
