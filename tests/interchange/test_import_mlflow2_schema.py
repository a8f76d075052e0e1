"""Databases that MLflow 2.x created: the schema made by MLflow's own migrations at an
old revision (2.2, before datasets and aliases; and 2.22, the last before logged models),
read by reflection and imported whole."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import cairn as cairn_api
from conftest import cairn, clean_env

STORE = Path(__file__).with_name("mlflow2_store.py")
RUN = "0123456789abcdef0123456789abcdef"
T0 = 1_600_000_000_000


@pytest.mark.parametrize(
    ("revision", "has_datasets"), [("3500859a5d39", False), ("0584bdc529eb", True)]
)
def test_a_2x_database_imports_with_ids_times_histories_and_registry(
    revision: str, has_datasets: bool, tmp_path: Path
) -> None:
    source = f"sqlite:///{tmp_path}/mlflow.db"
    made = subprocess.run(
        [sys.executable, str(STORE), source, revision],
        env=clean_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    target = f"sqlite:///{tmp_path}/cairn.db"
    done = cairn("import", "mlflow", source, "--to", target, "--report", "r.json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr

    client = cairn_api.Client(target)
    experiment = client.get_experiment_by_name("legacy")
    assert experiment is not None and experiment.experiment_id == "7"
    assert experiment.tags == {"k": "v"}
    run = client.get_run(RUN)
    info = run.info
    assert (info.run_name, info.user_id, info.status) == ("old-run", "alice", "FINISHED")
    assert (run.info.start_time, run.info.end_time) == (T0, T0 + 5000)
    assert run.data.params == {"alpha": "0.5"}
    history = client.get_metric_history(RUN, "rmse")
    assert len(history) == 1_001
    assert [(m.step, m.timestamp, m.value) for m in history[:2]] == [(0, T0, 1.0), (1, T0 + 1, 0.5)]
    assert history[-1].step == 1_000 and math.isnan(history[-1].value)
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == (["iris"] if has_datasets else [])
    versions = {v.version: v for v in client.search_model_versions("name = 'legacy-model'")}
    assert set(versions) == {"1", "2"}
    assert versions["1"].current_stage == "Staging"
    assert versions["1"].run_id == RUN
    assert client.get_registered_model("legacy-model").description == "from 2.x"
    if has_datasets:
        assert client.get_model_version_by_alias("legacy-model", "prod").version == "2"
    assert client.create_model_version("legacy-model", f"runs:/{RUN}/model").version == "3"

    again = cairn("import", "mlflow", source, "--to", target, "--report", "r.json", cwd=tmp_path)
    assert again.returncode == 0
    assert json.loads((tmp_path / "r.json").read_text())["identical"] is True
