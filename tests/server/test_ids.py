"""Ids, numbers and enums are ASCII digits only: another script's digits ("٢", Arabic-Indic
two, which `str.isdigit` and `int` both take) or a superscript ("¹", which `isdigit` takes
and `int` refuses) is a 400 INVALID_PARAMETER_VALUE wherever it is sent, never a 500 and
never read as the number it looks like.

In process: the application is called as an ASGI app, over a real SQLite store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from asgi_support import Answer, call
from starlette.applications import Starlette

from cairn.exceptions import InvalidParameterValueError
from cairn.server.app import create_app
from cairn.server.routes import EndpointRoute
from cairn.store.sql.tracking import SqlTrackingStore
from cairn.wire import parse_double, parse_id, parse_int, parse_run_status, parse_view_type

API = "/api/2.0/mlflow"
NOT_ASCII_DIGITS = ["¹", "٢", "０", "2\n", "1_0", "²³"]


@pytest.fixture
def app(sqlite_store: SqlTrackingStore, tmp_path: Path) -> Iterator[Starlette]:
    yield create_app(sqlite_store, str(tmp_path / "artifacts"), allowed_hosts=["*"])


def _send(app: Starlette, method: str, path: str, fields: dict[str, Any]) -> Answer:
    if method == "GET":
        return call(app, method, f"{path}?{urlencode(fields, doseq=True)}")
    return call(app, method, path, json.dumps(fields).encode())


def _refused(answer: Answer) -> bool:
    return answer.status == 400 and json.loads(answer.body)["error_code"] in (
        "INVALID_PARAMETER_VALUE",
        "BAD_REQUEST",
    )


def _new_run(app: Starlette) -> str:
    for name in ("one", "two"):  # experiment 2 exists, so "٢" read as 2 would find it
        _send(app, "POST", f"{API}/experiments/create", {"name": name})
    answer = _send(app, "POST", f"{API}/runs/create", {"experiment_id": "2"})
    run_id: str = json.loads(answer.body)["run"]["info"]["run_id"]
    return run_id


@pytest.mark.parametrize("value", NOT_ASCII_DIGITS)
def test_a_non_ascii_experiment_id_is_invalid_in_query_body_and_lists(
    app: Starlette, value: str
) -> None:
    _new_run(app)
    calls = [
        ("GET", "/experiments/get", {"experiment_id": value}),
        ("POST", "/runs/create", {"experiment_id": value}),
        ("POST", "/experiments/delete", {"experiment_id": value}),
        ("POST", "/runs/search", {"experiment_ids": ["2", value]}),
        ("GET", "/traces", {"experiment_ids": value}),
        ("POST", "/logged-models/search", {"experiment_ids": [value]}),
    ]
    for method, path, fields in calls:
        answer = _send(app, method, API + path, fields)
        assert _refused(answer), (method, path, answer)


@pytest.mark.parametrize("value", ["¹", "٢", "³"])
def test_a_non_ascii_run_status_or_number_is_invalid(app: Starlette, value: str) -> None:
    run_id = _new_run(app)
    answer = _send(app, "POST", f"{API}/runs/update", {"run_id": run_id, "status": value})
    assert _refused(answer), answer
    fields = {"experiment_ids": ["2"], "max_results": value}
    assert _refused(_send(app, "POST", f"{API}/runs/search", fields))
    point = {"run_id": run_id, "key": "m", "value": 1, "timestamp": 1, "step": value}
    assert _refused(_send(app, "POST", f"{API}/runs/log-metric", point))
    assert _refused(
        _send(app, "POST", f"{API}/runs/log-metric", {**point, "step": 0, "value": value})
    )


def test_hostile_ids_in_every_endpoint_never_answer_500(app: Starlette) -> None:
    run_id = _new_run(app)
    endpoints = [r for r in app.routes if isinstance(r, EndpointRoute)]
    server_errors = []
    for route in endpoints:
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in route.accesses:
            for value in NOT_ASCII_DIGITS:
                for fields in (
                    {"experiment_id": value, "run_id": run_id},
                    {"experiment_ids": [value]},
                    {"run_id": run_id, "status": value, "version": value},
                    {"experiment_id": "2", "max_results": value, "view_type": value},
                ):
                    answer = _send(app, method, path, fields)
                    if answer.status >= 500:
                        server_errors.append((method, route.path, fields))
    assert server_errors == []


@pytest.mark.parametrize("value", ["¹", "٢", "０", "1_0", "²³", "-+1", "+-1", "--1"])
def test_the_wire_readers_take_ascii_digits_only(value: str) -> None:
    for read in (
        lambda: parse_id("experiment_id", value),
        lambda: parse_int("max_results", value),
        lambda: parse_double("value", value),
        lambda: parse_run_status(value),
        lambda: parse_view_type("view_type", value),
    ):
        with pytest.raises(InvalidParameterValueError):
            read()
    with pytest.raises(InvalidParameterValueError):
        parse_id("experiment_id", " 2")  # an id is spelled one way only
    assert parse_id("experiment_id", "12") == parse_id("experiment_id", 12) == "12"
    assert parse_int("step", " -3 ") == -3 and parse_double("v", "-1.5e3") == -1500.0


def test_a_content_length_in_other_digits_is_not_read_as_a_number(app: Starlette) -> None:
    body = json.dumps({"name": "e"}).encode()
    for declared in ("¹", "²"):
        answer = call(app, "POST", f"{API}/experiments/create", body, {"content-length": declared})
        assert answer.status < 500, declared
