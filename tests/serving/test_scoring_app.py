"""The scoring app in process, over real models: each payload format gives the model's own
predictions, input errors are 400, the model's own failures 500."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from asgi_call import Exchange, call

import cairn
import cairn.pyfunc
from cairn.exceptions import InvalidParameterValueError
from cairn.models.serving.app import create_scoring_app
from conftest import Trained


@pytest.fixture(scope="module")
def app(sklearn_model_dir: Path) -> Any:
    return create_scoring_app(cairn.pyfunc.load_model(sklearn_model_dir))


def _invoke(app: Any, payload: object, content_type: str = "application/json") -> Exchange:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return call(app, "POST", "/invocations", body, content_type)


def _payloads(frame: pd.DataFrame) -> dict[str, tuple[bytes, str]]:
    parquet = io.BytesIO()
    frame.to_parquet(parquet)
    as_json = {
        "dataframe_split": {"dataframe_split": frame.to_dict(orient="split")},
        "dataframe_split without index": {
            "dataframe_split": {"columns": list(frame.columns), "data": frame.values.tolist()}
        },
        "dataframe_records": {"dataframe_records": frame.to_dict(orient="records")},
        "instances": {"instances": frame.to_dict(orient="records")},
        "inputs": {"inputs": frame.to_dict(orient="list")},
    }
    payloads = {name: (json.dumps(p).encode(), "application/json") for name, p in as_json.items()}
    payloads["csv"] = (frame.to_csv(index=False).encode(), "text/csv")
    payloads["parquet"] = (parquet.getvalue(), "application/vnd.apache.parquet")
    return payloads


PAYLOAD_NAMES = [
    "dataframe_split",
    "dataframe_split without index",
    "dataframe_records",
    "instances",
    "inputs",
    "csv",
    "parquet",
]


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_each_format_gives_the_models_own_predictions(
    app: Any, trained: Trained, name: str
) -> None:
    body, content_type = _payloads(trained.frame)[name]
    reply = _invoke(app, body, content_type)
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"predictions": trained.expected}


def test_an_inputs_object_of_scalars_is_one_row(app: Any, trained: Trained) -> None:
    row = trained.frame.iloc[0].to_dict()
    reply = _invoke(app, {"inputs": row})
    assert reply.status == 200, reply.body
    assert reply.json() == {"predictions": trained.expected[:1]}


def test_ping_health_and_version(app: Any) -> None:
    for path in ("/ping", "/health"):
        reply = call(app, "GET", path)
        assert (reply.status, reply.body) == (200, b"\n")
    version = call(app, "GET", "/version")
    assert (version.status, version.body.decode()) == (200, cairn.__version__)


BAD_INPUTS = {
    "not json": b"{",
    "two formats": b'{"inputs": {"f0": [1]}, "instances": [{"f0": 1}]}',
    "no format": b'{"data": [[1, 2, 3, 4]]}',
    "ragged rows": b'{"dataframe_split": {"data": [[1.0, 2.0, 3.0, 4.0], [1.0]]}}',
    "string in a double column": (
        b'{"dataframe_records": [{"f0": "one", "f1": 1.0, "f2": 1.0, "f3": 1.0}]}'
    ),
    "missing column": b'{"dataframe_records": [{"f0": 1.0, "f1": 1.0, "f2": 1.0}]}',
    "rows without column names": b'{"instances": [[1.0, 2.0, 3.0, 4.0]]}',
    "infinity, which the estimator refuses": (
        b'{"dataframe_split": {"columns": ["f0", "f1", "f2", "f3"], "data": [[1, 2, 3, Infinity]]}}'
    ),
    "columns of different lengths": (
        b'{"inputs": {"f0": [1.0, 2.0], "f1": [1.0], "f2": [1.0], "f3": [1.0]}}'
    ),
    "a list in a cell": b'{"instances": [{"f0": [1.0], "f1": 1.0, "f2": 1.0, "f3": 1.0}]}',
    "params not an object": (
        b'{"inputs": {"f0": [1.0], "f1": [1.0], "f2": [1.0], "f3": [1.0]}, "params": [1]}'
    ),
}


@pytest.mark.parametrize("body", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_input_errors_are_400_bad_request(app: Any, body: bytes) -> None:
    reply = _invoke(app, body)
    assert reply.status == 400
    assert reply.json()["error_code"] == "BAD_REQUEST"
    assert reply.json()["message"]


def test_bad_csv_is_400(app: Any) -> None:
    reply = _invoke(app, b"f0,f1,f2,f3\n1,2,3,4\n1,2,3,4,5,6\n", "text/csv")
    assert reply.status == 400 and reply.json()["error_code"] == "BAD_REQUEST"


def test_unknown_content_type_is_415_in_plain_text(app: Any) -> None:
    reply = _invoke(app, b"f0=1", "application/x-www-form-urlencoded")
    assert reply.status == 415
    assert reply.headers["content-type"].startswith("text/plain")
    assert b"application/json" in reply.body


def test_wrong_method_and_unknown_path(app: Any) -> None:
    assert call(app, "GET", "/invocations").status == 405
    assert call(app, "GET", "/nothing").status == 404


# -- custom models: params, and a model's own failures ----------------------------------------


class EchoParams(cairn.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return {"total": np.array([model_input["x"].sum()]), "params": params}


class Refuses(cairn.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        raise InvalidParameterValueError("negative ages are not allowed")


class RaisesValueError(cairn.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        raise ValueError("expected 3 features, got 1")


class Crashes(cairn.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        raise ZeroDivisionError("division by zero")


class ReturnsAnObject(cairn.pyfunc.PythonModel):
    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        return [object()]


def _custom_app(tmp_path: Path, python_model: cairn.pyfunc.PythonModel) -> Any:
    cairn.pyfunc.save_model(tmp_path / "custom", python_model=python_model)
    return create_scoring_app(cairn.pyfunc.load_model(tmp_path / "custom"))


def test_params_reach_the_model(tmp_path: Path) -> None:
    app = _custom_app(tmp_path, EchoParams())
    reply = _invoke(app, {"inputs": {"x": [1, 2, 3]}, "params": {"k": 2, "mode": "fast"}})
    assert reply.status == 200, reply.body
    assert reply.json() == {"predictions": {"total": [6], "params": {"k": 2, "mode": "fast"}}}


def test_a_model_refusing_its_input_is_400(tmp_path: Path) -> None:
    reply = _invoke(_custom_app(tmp_path, Refuses()), {"inputs": [1]})
    assert reply.status == 400
    assert reply.json() == {
        "error_code": "BAD_REQUEST",
        "message": "negative ages are not allowed",
    }


def test_a_value_error_from_the_model_is_400(tmp_path: Path) -> None:
    reply = _invoke(_custom_app(tmp_path, RaisesValueError()), {"inputs": [1]})
    assert reply.status == 400
    assert reply.json()["error_code"] == "BAD_REQUEST"
    assert "ValueError: expected 3 features, got 1" in reply.json()["message"]


def test_a_model_crashing_is_500_internal_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reply = _invoke(_custom_app(tmp_path, Crashes()), {"inputs": [1]})
    assert reply.status == 500
    assert reply.json()["error_code"] == "INTERNAL_ERROR"
    assert "ZeroDivisionError: division by zero" in reply.json()["message"]
    assert any(record.exc_info for record in caplog.records)  # logged with its traceback


def test_predictions_json_cannot_hold_are_500(tmp_path: Path) -> None:
    reply = _invoke(_custom_app(tmp_path, ReturnsAnObject()), {"inputs": [1]})
    assert reply.status == 500
    assert reply.json()["error_code"] == "INTERNAL_ERROR"


def test_params_outside_the_signature_are_400(tmp_path: Path) -> None:
    from cairn.models.signature import infer_signature

    signature = infer_signature(pd.DataFrame({"x": [1]}), params={"k": 1})
    path = tmp_path / "with-params"
    cairn.pyfunc.save_model(path, python_model=EchoParams(), signature=signature)
    app = create_scoring_app(cairn.pyfunc.load_model(path))
    good = _invoke(app, {"inputs": {"x": [1, 2]}, "params": {"k": 5}})
    typo = _invoke(app, {"inputs": {"x": [1, 2]}, "params": {"kk": 5}})
    assert good.status == 200 and good.json()["predictions"]["params"] == {"k": 5}
    assert typo.status == 400 and typo.json()["error_code"] == "BAD_REQUEST"
