"""Unpickling is announced once per process and can be switched off."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import cairn
from cairn.exceptions import InvalidParameterValueError, PermissionDeniedError


def _notices(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cairn.models" and "Unpickling" in r.message]


def test_notice_is_logged_once_and_names_the_file(
    tmp_path: Path, classifier: LogisticRegression, caplog: pytest.LogCaptureFixture
) -> None:
    cairn.sklearn.save_model(classifier, tmp_path / "m")
    caplog.set_level(logging.WARNING, logger="cairn.models")
    cairn.pyfunc.load_model(tmp_path / "m")
    cairn.sklearn.load_model(str(tmp_path / "m"))
    notices = _notices(caplog)
    assert len(notices) == 1
    assert str(tmp_path / "m" / "model.pkl") in notices[0].getMessage()
    assert "\n" not in notices[0].getMessage()


def test_skops_loads_without_the_notice(
    tmp_path: Path, classifier: LogisticRegression, caplog: pytest.LogCaptureFixture
) -> None:
    cairn.sklearn.save_model(classifier, tmp_path / "m", serialization_format="skops")
    caplog.set_level(logging.WARNING, logger="cairn.models")
    cairn.sklearn.load_model(str(tmp_path / "m"))
    assert _notices(caplog) == []


@pytest.mark.parametrize("variable", ["CAIRN_ALLOW_PICKLE", "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"])
def test_switched_off_pickles_are_refused(
    tmp_path: Path,
    classifier: LogisticRegression,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    cairn.sklearn.save_model(classifier, tmp_path / "pickled")
    cairn.sklearn.save_model(classifier, tmp_path / "safe", serialization_format="skops")
    monkeypatch.setenv(variable, "false")
    with pytest.raises(PermissionDeniedError, match="CAIRN_ALLOW_PICKLE"):
        cairn.pyfunc.load_model(tmp_path / "pickled")
    with pytest.raises(PermissionDeniedError):
        cairn.sklearn.load_model(str(tmp_path / "pickled"))
    skops_model = cairn.pyfunc.load_model(tmp_path / "safe")  # skops needs no permission
    frame = pd.DataFrame({"a": [2.0], "b": [0.1]})
    assert skops_model.predict(frame).tolist() == classifier.predict(frame).tolist()


def test_cairn_setting_wins_over_mlflows(
    tmp_path: Path, classifier: LogisticRegression, monkeypatch: pytest.MonkeyPatch
) -> None:
    cairn.sklearn.save_model(classifier, tmp_path / "m")
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    monkeypatch.setenv("CAIRN_ALLOW_PICKLE", "true")
    assert cairn.pyfunc.load_model(tmp_path / "m") is not None


def test_skops_refuses_types_nobody_trusted(tmp_path: Path) -> None:
    from sklearn.preprocessing import FunctionTransformer

    model = FunctionTransformer(func=abs)  # no predict(): saved without pyfunc, as MLflow
    cairn.sklearn.save_model(model, tmp_path / "m", serialization_format="skops")
    with pytest.raises(InvalidParameterValueError, match="builtins.abs"):
        cairn.sklearn.load_model(str(tmp_path / "m"))
    loaded = cairn.sklearn.load_model(str(tmp_path / "m"), skops_trusted_types=["builtins.abs"])
    assert loaded.func is abs
