"""The registry from the client's side on the default local store: log_model with
registered_model_name, register_model, and every models:/ URI form loading the right
version; stage transitions and alias moves leave a history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import cairn
from cairn.entities import ModelVersionEventKind
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError


def _flipped(frame: pd.DataFrame, labels: np.ndarray) -> LogisticRegression:
    """A second model whose predictions differ from the `classifier` fixture's."""
    return LogisticRegression().fit(frame, 1 - labels)


def test_versions_load_by_number_latest_stage_and_alias(
    workdir: Path, classifier: LogisticRegression, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    second = _flipped(frame, labels)
    with cairn.start_run():
        first_info = cairn.sklearn.log_model(classifier, "clf", registered_model_name="churn")
        second_info = cairn.sklearn.log_model(second, "clf", registered_model_name="churn")
    assert (first_info.registered_model_version, second_info.registered_model_version) == (
        "1",
        "2",
    )
    client = cairn.Client()
    assert client.get_model_version("churn", 1).model_id == first_info.model_id
    client.transition_model_version_stage("churn", 1, "production")
    client.set_registered_model_alias("churn", "champion", 1)
    expected_first, expected_second = classifier.predict(frame), second.predict(frame)
    for uri, expected in (
        ("models:/churn/1", expected_first),
        ("models:/churn/2", expected_second),
        ("models:/churn/latest", expected_second),
        ("models:/churn/Production", expected_first),
        ("models:/churn@champion", expected_first),
    ):
        np.testing.assert_array_equal(cairn.pyfunc.load_model(uri).predict(frame), expected)


def test_register_model_from_a_runs_uri(
    workdir: Path, classifier: LogisticRegression, frame: pd.DataFrame
) -> None:
    with cairn.start_run() as run:
        info = cairn.sklearn.log_model(classifier, "clf")
    version = cairn.register_model(f"runs:/{run.info.run_id}/clf", "from-run")
    assert (version.version, version.source, version.run_id, version.model_id) == (
        "1",
        f"models:/{info.model_id}",
        run.info.run_id,
        info.model_id,
    )
    loaded = cairn.pyfunc.load_model("models:/from-run/1")
    np.testing.assert_array_equal(loaded.predict(frame), classifier.predict(frame))


def test_history_records_stage_and_alias_moves(
    workdir: Path, classifier: LogisticRegression
) -> None:
    with cairn.start_run():
        cairn.sklearn.log_model(classifier, "clf", registered_model_name="audited")
    client = cairn.Client()
    client.transition_model_version_stage("audited", 1, "Staging")
    client.transition_model_version_stage("audited", 1, "Production")
    client.set_registered_model_alias("audited", "champion", 1)
    events = client.get_model_version_history("audited", 1)
    stages = [(e.from_value, e.to_value) for e in events if e.kind is ModelVersionEventKind.STAGE]
    assert stages == [("None", "Staging"), ("Staging", "Production")]
    aliases = [e.alias for e in events if e.kind is ModelVersionEventKind.ALIAS_SET]
    assert aliases == ["champion"]
    assert all(e.user_id for e in events if e.kind is not ModelVersionEventKind.CREATED)


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        ("models:/nobody/1", ResourceDoesNotExistError),
        ("models:/nobody@champion", ResourceDoesNotExistError),
        ("models:/nobody/Production", ResourceDoesNotExistError),
        ("models:/", InvalidParameterValueError),
        ("models:/a/b/c", InvalidParameterValueError),
    ],
)
def test_bad_registry_uris(workdir: Path, uri: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        cairn.pyfunc.load_model(uri)


def test_unknown_alias_and_empty_stage(workdir: Path, classifier: LogisticRegression) -> None:
    with cairn.start_run():
        cairn.sklearn.log_model(classifier, "clf", registered_model_name="staged")
    with pytest.raises(InvalidParameterValueError):
        cairn.pyfunc.load_model("models:/staged@nobody")
    with pytest.raises(ResourceDoesNotExistError, match="Production"):
        cairn.pyfunc.load_model("models:/staged/Production")


def test_lineage_leads_from_a_version_to_its_run_data_and_commit(
    workdir: Path, classifier: LogisticRegression, frame: pd.DataFrame
) -> None:
    from cairn.entities import Dataset, DatasetInput, InputTag

    training = Dataset("train", "d1g3st", "local", '{"uri": "train.csv"}')
    with cairn.start_run() as run:
        cairn.set_tag("mlflow.source.git.commit", "abc123")
        client = cairn.Client()
        client.log_inputs(
            run.info.run_id,
            [DatasetInput(training, (InputTag("mlflow.data.context", "training"),))],
        )
        info = cairn.sklearn.log_model(classifier, "clf", registered_model_name="traced")
    lineage = client.get_model_version_lineage("traced", 1)
    assert lineage.logged_model is not None and lineage.logged_model.model_id == info.model_id
    assert lineage.run is not None and lineage.run.info.run_id == run.info.run_id
    assert [d.dataset.digest for d in lineage.datasets] == ["d1g3st"]
    assert lineage.git_commit == "abc123"


def test_download_artifacts_takes_registry_uris(
    workdir: Path, classifier: LogisticRegression
) -> None:
    with cairn.start_run():
        cairn.sklearn.log_model(classifier, "clf", registered_model_name="fetched")
    cairn.Client().set_registered_model_alias("fetched", "champion", 1)
    for uri in ("models:/fetched/1", "models:/fetched@champion"):
        local = Path(cairn.artifacts.download_artifacts(uri, dst_path=str(workdir / uri[-3:])))
        assert (local / "MLmodel").is_file(), uri
        assert str(local).startswith(str(workdir)), "copied, not pointed at the store"
