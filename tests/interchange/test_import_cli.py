"""The import as the README shows it: `cairn import mlflow ./mlruns` in a project folder
(no --to: into ./cairn-data/), and `--to http://…` into a running `cairn server`. Both are
judged by the mlflow client: it must see through Cairn what it saw in MLflow."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from conftest import cairn, cairn_server, mlflow_snapshot, write_mlflow


def _comparable(shot: dict[str, Any]) -> dict[str, Any]:
    """Without what each store makes for itself: the Default experiment's creation time,
    and experiment ids (the file store's 18-digit ids do not fit a database's)."""
    for experiment in shot["experiments"].values():
        experiment.pop("id")
    shot["experiments"]["Default"].pop("creation_time")
    for run in shot["runs"].values():
        run.pop("experiment_id")
    return shot


def _as_a_database_keeps_it(shot: dict[str, Any]) -> dict[str, Any]:
    """The file store keeps exact repeats of a point (MLflow's `log_model` logs a run's
    metrics again) and ±inf; MLflow's database, like Cairn's, stores a repeat once and
    ±inf as ±the largest double."""
    for run in shot["runs"].values():
        for key, points in run["histories"].items():
            once = [p for i, p in enumerate(points) if p not in points[:i][-1:]]
            run["histories"][key] = [[s, t, _finite(v)] for s, t, v in once]
    return shot


def _finite(value: object) -> object:
    if isinstance(value, float) and math.isinf(value):
        return math.copysign(sys.float_info.max, value)
    return value


def test_an_mlruns_folder_imports_into_the_local_store_by_default(tmp_path: Path) -> None:
    write_mlflow(f"file://{tmp_path}/mlruns", tmp_path)
    done = cairn("import", "mlflow", "mlruns", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "cairn-data" / "cairn.db").exists()
    assert "checksum mismatches: 0" in done.stdout
    expected = _as_a_database_keeps_it(_comparable(mlflow_snapshot(f"file://{tmp_path}/mlruns")))
    with cairn_server(f"sqlite:///{tmp_path}/cairn-data/cairn.db", tmp_path / "srv") as url:
        seen = _comparable(mlflow_snapshot(url))
    for run_id, run in expected["runs"].items():
        assert seen["runs"][run_id] == run, run_id
    assert seen == expected

    again = cairn("import", "mlflow", "mlruns", cwd=tmp_path)
    assert again.returncode == 0
    assert "nothing was imported" in again.stdout


def test_an_mlflow_database_imports_into_a_running_cairn_server(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path}/mlflow.db"
    write_mlflow(source, tmp_path)
    with cairn_server(f"sqlite:///{tmp_path}/server/cairn.db", tmp_path / "server") as url:
        done = cairn("import", "mlflow", source, "--to", url, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        seen = mlflow_snapshot(url)
        again = cairn("import", "mlflow", source, "--to", url, cwd=tmp_path)
    expected = mlflow_snapshot(source)
    expected["experiments"]["Default"].pop("creation_time")
    seen["experiments"]["Default"].pop("creation_time")
    assert seen == expected
    assert again.returncode == 0 and "nothing was imported" in again.stdout
