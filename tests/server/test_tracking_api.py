"""MLflow's tracking REST API over raw HTTP, against a live `cairn server` on each backend.

Every endpoint's happy path and response shape (MLflow's proto JSON: snake_case, int64 as
numbers, NaN as "NaN", empty responses `{}`, empty lists left out), how requests are read
(GET query strings with repeated keys, camelCase names, unknown fields, enums by name or
number) and the error code and HTTP status of each kind of bad call.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests

if TYPE_CHECKING:
    from conftest import TrackingServer

JSON_HEADERS = {"Content-Type": "application/json"}
MiB = 1024 * 1024
FLOAT_MAX = 1.7976931348623157e308
TIMEOUT = 60


class Api:
    """Raw calls to one server: `post`/`get` give (status, JSON body)."""

    def __init__(self, server: TrackingServer, prefix: str = "/api/2.0/mlflow") -> None:
        self.server = server
        self.base = server.url + prefix

    def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        response = requests.post(
            self.base + path, json=body, headers=JSON_HEADERS, timeout=TIMEOUT, **kwargs
        )
        return response.status_code, response.json()

    def get(self, path: str, params: Any = None) -> tuple[int, Any]:
        response = requests.get(self.base + path, params=params, timeout=TIMEOUT)
        return response.status_code, response.json()

    def ok_post(self, path: str, body: Any = None) -> Any:
        status, payload = self.post(path, body)
        assert status == 200, payload
        return payload

    def ok_get(self, path: str, params: Any = None) -> Any:
        status, payload = self.get(path, params)
        assert status == 200, payload
        return payload

    def create_experiment(self, prefix: str = "exp") -> str:
        payload = self.ok_post("/experiments/create", {"name": unique(prefix)})
        experiment_id: str = payload["experiment_id"]
        return experiment_id

    def create_run(self, experiment_id: str, **fields: Any) -> dict[str, Any]:
        body = {"experiment_id": experiment_id, "start_time": 1_700_000_000_000, **fields}
        run: dict[str, Any] = self.ok_post("/runs/create", body)["run"]
        return run

    def get_run(self, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.ok_get("/runs/get", {"run_id": run_id})["run"]
        return run


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def error_of(status: int, payload: Any) -> tuple[int, str]:
    assert set(payload) >= {"error_code", "message"}, payload
    assert payload["message"]
    return status, payload["error_code"]


def tags_of(entity: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in entity.get("tags", [])}


@pytest.fixture
def api(tracking_server: TrackingServer) -> Api:
    return Api(tracking_server)


@pytest.fixture
def experiment_id(api: Api) -> str:
    return api.create_experiment()


@pytest.fixture
def run_id(api: Api, experiment_id: str) -> str:
    run_id: str = api.create_run(experiment_id)["info"]["run_id"]
    return run_id


# -- transport --------------------------------------------------------------------------------


def test_health_version_and_unknown_routes(tracking_server: TrackingServer) -> None:
    health = requests.get(tracking_server.url + "/health", timeout=TIMEOUT)
    assert (health.status_code, health.text) == (200, "OK")
    assert requests.get(tracking_server.url + "/version", timeout=TIMEOUT).text == "3.18.0"
    unknown = requests.get(
        tracking_server.url + "/api/2.0/mlflow/no-such/endpoint", timeout=TIMEOUT
    )
    assert unknown.status_code == 404
    # A known path with the wrong method.
    wrong_method = requests.get(
        tracking_server.url + "/api/2.0/mlflow/runs/log-batch", timeout=TIMEOUT
    )
    assert wrong_method.status_code == 405


def test_every_route_is_served_under_ajax_api_too(api: Api, experiment_id: str) -> None:
    ajax = Api(api.server, "/ajax-api/2.0/mlflow")
    experiment = ajax.ok_get("/experiments/get", {"experiment_id": experiment_id})["experiment"]
    assert experiment["experiment_id"] == experiment_id
    run = ajax.create_run(experiment_id)
    assert api.get_run(run["info"]["run_id"])["info"]["experiment_id"] == experiment_id


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "json"]
)
def test_post_without_json_content_type_is_400(api: Api, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = requests.post(
        api.base + "/experiments/create",
        data=b'{"name": "x"}',
        headers=headers,
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    payload = response.json()
    # MLflow says INVALID_PARAMETER_VALUE here; either code is a 400 to its client.
    assert payload["error_code"] in ("BAD_REQUEST", "INVALID_PARAMETER_VALUE")
    assert "Content-Type" in payload["message"]
    status, _ = api.get("/experiments/get-by-name", {"experiment_name": "x"})
    assert status == 404  # nothing was created


def test_json_content_type_with_charset_is_accepted(api: Api) -> None:
    name = unique("charset")
    response = requests.post(
        api.base + "/experiments/create",
        data=f'{{"name": "{name}"}}'.encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.json()["experiment_id"].isdigit()


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"just a string"', b"42"])
def test_body_that_is_not_a_json_object_is_400(api: Api, body: bytes) -> None:
    response = requests.post(
        api.base + "/experiments/create", data=body, headers=JSON_HEADERS, timeout=TIMEOUT
    )
    assert response.status_code == 400
    assert response.json()["error_code"] in ("BAD_REQUEST", "INVALID_PARAMETER_VALUE")


def test_double_encoded_json_body_is_read(api: Api) -> None:
    """Legacy MLflow clients post their JSON as a JSON string."""
    name = unique("legacy")
    status, payload = api.post("/experiments/create", f'{{"name": "{name}"}}')
    assert status == 200, payload
    found = api.ok_get("/experiments/get-by-name", {"experiment_name": name})
    assert found["experiment"]["experiment_id"] == payload["experiment_id"]


def test_empty_body_reads_as_no_fields(api: Api) -> None:
    response = requests.post(
        api.base + "/experiments/create", data=b"", headers=JSON_HEADERS, timeout=TIMEOUT
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "name" in response.json()["message"]


def _oversized_json(size: int) -> bytes:
    return b'{"name": "' + b"a" * size + b'"}'


def test_body_over_the_cap_is_400_and_the_server_keeps_answering(
    api: Api, experiment_id: str
) -> None:
    body = _oversized_json(33 * MiB)
    declared = requests.post(
        api.base + "/experiments/create", data=body, headers=JSON_HEADERS, timeout=TIMEOUT
    )
    assert declared.status_code == 400
    assert "larger than" in declared.json()["message"]

    # Without a Content-Length (chunked), the cap is enforced while reading.
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), MiB):
            yield body[start : start + MiB]

    streamed = requests.post(
        api.base + "/experiments/create", data=chunks(), headers=JSON_HEADERS, timeout=TIMEOUT
    )
    assert streamed.request.headers.get("Transfer-Encoding") == "chunked"
    assert streamed.status_code == 400
    assert "larger than" in streamed.json()["message"]

    # Nothing was created, and the server still serves requests.
    found = api.ok_get("/experiments/get", {"experiment_id": experiment_id})
    assert found["experiment"]["experiment_id"] == experiment_id
    assert requests.get(api.server.url + "/health", timeout=TIMEOUT).text == "OK"


def test_body_just_under_the_cap_is_read(api: Api) -> None:
    """A large body below 32 MiB reaches the handler (here the store refuses the long name)."""
    status, payload = api.post("/experiments/create", {"name": "n" * (31 * MiB)})
    assert (status, payload["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "larger than" not in payload["message"]


# -- experiments ------------------------------------------------------------------------------


def test_create_and_get_experiment_shape(api: Api) -> None:
    name = unique("shape")
    created = api.ok_post(
        "/experiments/create",
        {"name": name, "tags": [{"key": "team", "value": "ml"}, {"key": "empty"}]},
    )
    assert list(created) == ["experiment_id"]
    experiment_id = created["experiment_id"]
    assert isinstance(experiment_id, str) and experiment_id.isdigit()

    experiment = api.ok_get("/experiments/get", {"experiment_id": experiment_id})["experiment"]
    assert experiment["name"] == name
    assert experiment["lifecycle_stage"] == "active"
    assert experiment["artifact_location"] == f"mlflow-artifacts:/{experiment_id}"
    assert isinstance(experiment["creation_time"], int)
    assert isinstance(experiment["last_update_time"], int)
    assert tags_of(experiment) == {"team": "ml", "empty": ""}

    by_name = api.ok_get("/experiments/get-by-name", {"experiment_name": name})
    assert by_name["experiment"] == experiment


def test_default_experiment_exists(api: Api) -> None:
    experiment = api.ok_get("/experiments/get", {"experiment_id": "0"})["experiment"]
    assert (experiment["experiment_id"], experiment["name"]) == ("0", "Default")


def test_rename_delete_restore_experiment(api: Api, experiment_id: str) -> None:
    new_name = unique("renamed")
    assert (
        api.ok_post("/experiments/update", {"experiment_id": experiment_id, "new_name": new_name})
        == {}
    )
    assert (
        api.ok_get("/experiments/get", {"experiment_id": experiment_id})["experiment"]["name"]
        == new_name
    )

    assert api.ok_post("/experiments/delete", {"experiment_id": experiment_id}) == {}
    got = api.ok_get("/experiments/get", {"experiment_id": experiment_id})
    assert got["experiment"]["lifecycle_stage"] == "deleted"

    # Renaming a deleted experiment is MLflow's INVALID_STATE, a 500.
    status, payload = api.post(
        "/experiments/update", {"experiment_id": experiment_id, "new_name": unique("x")}
    )
    assert error_of(status, payload) == (500, "INVALID_STATE")
    # Deleting it again is a bad request.
    status, payload = api.post("/experiments/delete", {"experiment_id": experiment_id})
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")

    assert api.ok_post("/experiments/restore", {"experiment_id": experiment_id}) == {}
    got = api.ok_get("/experiments/get", {"experiment_id": experiment_id})
    assert got["experiment"]["lifecycle_stage"] == "active"


def test_delete_experiment_deletes_its_runs(api: Api, experiment_id: str, run_id: str) -> None:
    api.ok_post("/experiments/delete", {"experiment_id": experiment_id})
    assert api.get_run(run_id)["info"]["lifecycle_stage"] == "deleted"
    api.ok_post("/experiments/restore", {"experiment_id": experiment_id})
    assert api.get_run(run_id)["info"]["lifecycle_stage"] == "active"


def test_experiment_tags(api: Api, experiment_id: str) -> None:
    path = "/experiments/set-experiment-tag"
    assert api.ok_post(path, {"experiment_id": experiment_id, "key": "k", "value": "1"}) == {}
    api.ok_post(path, {"experiment_id": experiment_id, "key": "k", "value": "2"})
    api.ok_post(path, {"experiment_id": experiment_id, "key": "other"})  # value defaults to ""
    experiment = api.ok_get("/experiments/get", {"experiment_id": experiment_id})["experiment"]
    assert tags_of(experiment) == {"k": "2", "other": ""}

    delete = "/experiments/delete-experiment-tag"
    assert api.ok_post(delete, {"experiment_id": experiment_id, "key": "k"}) == {}
    experiment = api.ok_get("/experiments/get", {"experiment_id": experiment_id})["experiment"]
    assert tags_of(experiment) == {"other": ""}
    status, payload = api.post(delete, {"experiment_id": experiment_id, "key": "k"})
    assert error_of(status, payload) == (404, "RESOURCE_DOES_NOT_EXIST")

    status, payload = api.post(
        path, {"experiment_id": experiment_id, "key": "big", "value": "v" * 20_001}
    )
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")


def test_duplicate_experiment_name_is_400_resource_already_exists(api: Api) -> None:
    name = unique("dup")
    api.ok_post("/experiments/create", {"name": name})
    status, payload = api.post("/experiments/create", {"name": name})
    assert error_of(status, payload) == (400, "RESOURCE_ALREADY_EXISTS")


def test_name_of_a_deleted_experiment_stays_taken(api: Api) -> None:
    name = unique("taken")
    experiment_id = api.ok_post("/experiments/create", {"name": name})["experiment_id"]
    api.ok_post("/experiments/delete", {"experiment_id": experiment_id})
    status, payload = api.post("/experiments/create", {"name": name})
    assert error_of(status, payload) == (400, "RESOURCE_ALREADY_EXISTS")


def _search_names(payload: dict[str, Any]) -> list[str]:
    return [e["name"] for e in payload.get("experiments", [])]


def test_search_experiments_post_filter_order_and_pages(api: Api) -> None:
    prefix = unique("search")
    for suffix in ("c", "a", "b"):
        api.ok_post(
            "/experiments/create",
            {"name": f"{prefix}-{suffix}", "tags": [{"key": "suffix", "value": suffix}]},
        )
    body = {"filter": f"name LIKE '{prefix}-%'", "order_by": ["name ASC"], "max_results": 2}
    first = api.ok_post("/experiments/search", body)
    assert _search_names(first) == [f"{prefix}-a", f"{prefix}-b"]
    assert isinstance(first["next_page_token"], str)
    second = api.ok_post("/experiments/search", {**body, "page_token": first["next_page_token"]})
    assert _search_names(second) == [f"{prefix}-c"]
    assert "next_page_token" not in second

    by_tag = api.ok_post(
        "/experiments/search",
        {"filter": f"name LIKE '{prefix}-%' AND tags.suffix = 'b'", "max_results": 10},
    )
    assert _search_names(by_tag) == [f"{prefix}-b"]
    descending = api.ok_post(
        "/experiments/search",
        {"filter": f"name LIKE '{prefix}-%'", "order_by": ["name DESC"], "max_results": 10},
    )
    assert _search_names(descending) == [f"{prefix}-c", f"{prefix}-b", f"{prefix}-a"]


def test_search_experiments_get_with_query_params_and_view_types(api: Api) -> None:
    prefix = unique("viewtype")
    ids = [
        api.ok_post("/experiments/create", {"name": f"{prefix}-{i}"})["experiment_id"]
        for i in range(3)
    ]
    api.ok_post("/experiments/delete", {"experiment_id": ids[0]})
    query = [
        ("filter", f"name LIKE '{prefix}-%'"),
        ("max_results", "10"),
        # Repeated keys make a list: name first, then id (the names are distinct anyway).
        ("order_by", "name DESC"),
        ("order_by", "experiment_id"),
    ]
    active = api.ok_get("/experiments/search", query)
    assert _search_names(active) == [f"{prefix}-2", f"{prefix}-1"]
    for view in ("ALL", "3"):
        every = api.ok_get("/experiments/search", [*query, ("view_type", view)])
        assert _search_names(every) == [f"{prefix}-2", f"{prefix}-1", f"{prefix}-0"]
    for view in ("DELETED_ONLY", "2"):
        deleted = api.ok_get("/experiments/search", [*query, ("view_type", view)])
        assert _search_names(deleted) == [f"{prefix}-0"]
    # The JSON body takes the enum as a number too, and camelCase names.
    deleted = api.ok_post(
        "/experiments/search",
        {"filter": f"name LIKE '{prefix}-%'", "maxResults": 10, "viewType": 2},
    )
    assert _search_names(deleted) == [f"{prefix}-0"]


def test_search_experiments_with_no_match_is_empty_object(api: Api) -> None:
    payload = api.ok_post(
        "/experiments/search", {"filter": f"name = '{unique('none')}'", "max_results": 5}
    )
    assert payload == {}


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"max_results": 0},
        {"max_results": -1},
        {"max_results": 50_001},
        {"max_results": "many"},
        {"max_results": 10, "view_type": "SOMETIMES"},
        {"max_results": 10, "filter": "name = 'a' OR name = 'b'"},
        {"max_results": 10, "filter": "nonsense ~~ 3"},
        {"max_results": 10, "order_by": ["no_such_column"]},
        {"max_results": 10, "order_by": "name"},
        {"max_results": 10, "page_token": "not-a-token"},
    ],
)
def test_bad_search_experiments_is_400(api: Api, fields: dict[str, Any]) -> None:
    status, payload = api.post("/experiments/search", fields)
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")


def test_search_experiments_get_without_max_results_is_400(api: Api) -> None:
    status, payload = api.get("/experiments/search", {"filter": "name = 'x'"})
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")
    assert "max_results" in payload["message"]


def test_search_experiments_accepts_the_maximum(api: Api) -> None:
    payload = api.ok_post("/experiments/search", {"max_results": 50_000})
    assert "experiments" in payload


# -- runs -------------------------------------------------------------------------------------


def test_create_run_shape(api: Api, experiment_id: str) -> None:
    tags = [
        {"key": "mlflow.user", "value": "alice"},
        {"key": "mlflow.source.name", "value": "train.py"},
        {"key": "mlflow.source.type", "value": "LOCAL"},
        {"key": "team", "value": "ml"},
    ]
    run = api.create_run(
        experiment_id, user_id="alice", run_name="first", start_time=1_700_000_000_123, tags=tags
    )
    assert set(run) == {"info", "data", "inputs"}
    info = run["info"]
    assert re.fullmatch(r"[0-9a-f]{32}", info["run_id"])
    assert info["run_uuid"] == info["run_id"]
    assert info["experiment_id"] == experiment_id
    assert info["run_name"] == "first"
    assert info["user_id"] == "alice"
    assert info["status"] == "RUNNING"
    assert info["start_time"] == 1_700_000_000_123  # an int64 as a JSON number
    assert "end_time" not in info
    assert info["lifecycle_stage"] == "active"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/{info['run_id']}/artifacts"
    assert tags_of(run["data"]) == {
        **{t["key"]: t["value"] for t in tags},
        "mlflow.runName": "first",
    }
    assert run["inputs"] == {}
    assert api.get_run(info["run_id"])["info"] == info


def test_create_run_names_a_run_without_one(api: Api, experiment_id: str) -> None:
    run = api.create_run(experiment_id)
    name = run["info"]["run_name"]
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d+", name), name
    assert tags_of(run["data"])["mlflow.runName"] == name
    assert run["info"]["user_id"] == ""


def test_create_run_name_disagreeing_with_its_tag_is_400(api: Api, experiment_id: str) -> None:
    status, payload = api.post(
        "/runs/create",
        {
            "experiment_id": experiment_id,
            "run_name": "a",
            "tags": [{"key": "mlflow.runName", "value": "b"}],
        },
    )
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")


def test_create_run_reads_camel_case_and_string_int64(api: Api, experiment_id: str) -> None:
    run = api.ok_post(
        "/runs/create",
        {
            "experimentId": experiment_id,
            "userId": "bob",
            "runName": "camel",
            "startTime": "1700000000999",
            "somethingNew": {"ignored": True},
        },
    )["run"]
    assert (run["info"]["user_id"], run["info"]["run_name"]) == ("bob", "camel")
    assert run["info"]["start_time"] == 1_700_000_000_999


def test_create_run_in_a_deleted_or_unknown_experiment(api: Api, experiment_id: str) -> None:
    api.ok_post("/experiments/delete", {"experiment_id": experiment_id})
    status, payload = api.post("/runs/create", {"experiment_id": experiment_id})
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")
    status, payload = api.post("/runs/create", {"experiment_id": "987654321"})
    assert error_of(status, payload) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_get_run_by_run_uuid_and_camel_case(api: Api, run_id: str) -> None:
    for key in ("run_id", "run_uuid", "runId", "runUuid"):
        payload = api.ok_get("/runs/get", {key: run_id})
        assert payload["run"]["info"]["run_id"] == run_id


def test_update_run(api: Api, run_id: str) -> None:
    info = api.ok_post(
        "/runs/update",
        {"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_001_000},
    )["run_info"]
    assert (info["status"], info["end_time"]) == ("FINISHED", 1_700_000_001_000)
    assert info["run_uuid"] == run_id

    # Status by proto number (4 = FAILED), addressed by the legacy run_uuid, and a rename.
    info = api.ok_post("/runs/update", {"run_uuid": run_id, "status": 4, "run_name": "renamed"})[
        "run_info"
    ]
    assert (info["status"], info["run_name"]) == ("FAILED", "renamed")
    assert info["end_time"] == 1_700_000_001_000  # unchanged when not sent
    run = api.get_run(run_id)
    assert run["info"]["run_name"] == "renamed"
    assert tags_of(run["data"])["mlflow.runName"] == "renamed"

    status, payload = api.post("/runs/update", {"run_id": run_id, "status": "SLEEPING"})
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")


def test_delete_and_restore_run(api: Api, experiment_id: str, run_id: str) -> None:
    assert api.ok_post("/runs/delete", {"run_id": run_id}) == {}
    assert api.get_run(run_id)["info"]["lifecycle_stage"] == "deleted"
    # Logging to a deleted run is refused.
    status, payload = api.post("/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"})
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")
    search = {"experiment_ids": [experiment_id]}
    assert api.ok_post("/runs/search", search) == {}
    deleted = api.ok_post("/runs/search", {**search, "run_view_type": "DELETED_ONLY"})
    assert [r["info"]["run_id"] for r in deleted["runs"]] == [run_id]

    assert api.ok_post("/runs/restore", {"run_id": run_id}) == {}
    assert api.get_run(run_id)["info"]["lifecycle_stage"] == "active"
    active = api.ok_post("/runs/search", search)
    assert [r["info"]["run_id"] for r in active["runs"]] == [run_id]


# -- logging ----------------------------------------------------------------------------------


def _history(api: Api, run_id: str, key: str, **params: Any) -> dict[str, Any]:
    payload: dict[str, Any] = api.ok_get(
        "/metrics/get-history", {"run_id": run_id, "metric_key": key, **params}
    )
    return payload


def test_log_metric_values_including_nan_and_infinity(api: Api, run_id: str) -> None:
    path = "/runs/log-metric"
    for step, value in enumerate([0.5, "NaN", "Infinity", "-Infinity", 3, "2.5"]):
        body = {"run_id": run_id, "key": "m", "value": value, "timestamp": 1000 + step}
        if step:
            body["step"] = step  # step 0 is the default
        assert api.ok_post(path, body) == {}
    # int64 timestamp and step given as strings, with the legacy run_uuid.
    api.ok_post(
        path, {"run_uuid": run_id, "key": "m", "value": 7, "timestamp": "2000", "step": "10"}
    )

    metrics = _history(api, run_id, "m")["metrics"]
    assert [m["value"] for m in metrics] == [0.5, "NaN", FLOAT_MAX, -FLOAT_MAX, 3, 2.5, 7]
    assert [m["step"] for m in metrics] == [0, 1, 2, 3, 4, 5, 10]
    assert [m["timestamp"] for m in metrics] == [1000, 1001, 1002, 1003, 1004, 1005, 2000]
    assert all(m["key"] == "m" for m in metrics)

    latest = api.get_run(run_id)["data"]["metrics"]
    assert latest == [{"key": "m", "value": 7, "timestamp": 2000, "step": 10}]


def test_latest_nan_metric_is_returned_as_the_string_nan(api: Api, run_id: str) -> None:
    api.ok_post(
        "/runs/log-metric",
        {"run_id": run_id, "key": "loss", "value": "NaN", "timestamp": 5, "step": 1},
    )
    (latest,) = api.get_run(run_id)["data"]["metrics"]
    assert latest["value"] == "NaN"
    assert latest["step"] == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"value": 1.0, "timestamp": 1},  # no key
        {"key": "m", "timestamp": 1},  # no value
        {"key": "m", "value": 1.0},  # no timestamp
        {"key": "m", "value": "one", "timestamp": 1},
        {"key": "m", "value": True, "timestamp": 1},
        {"key": "m", "value": 1.0, "timestamp": "yesterday"},
        {"key": "m", "value": 1.0, "timestamp": -5},
        {"key": "../escape", "value": 1.0, "timestamp": 1},
    ],
)
def test_bad_log_metric_is_400(api: Api, run_id: str, fields: dict[str, Any]) -> None:
    status, payload = api.post("/runs/log-metric", {"run_id": run_id, **fields})
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")
    assert "metrics" not in api.get_run(run_id)["data"]


def test_log_param_is_immutable(api: Api, run_id: str) -> None:
    path = "/runs/log-parameter"
    assert api.ok_post(path, {"run_id": run_id, "key": "lr", "value": "0.1"}) == {}
    assert api.ok_post(path, {"run_uuid": run_id, "key": "lr", "value": "0.1"}) == {}
    status, payload = api.post(path, {"run_id": run_id, "key": "lr", "value": "0.2"})
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")
    assert "lr" in payload["message"]
    api.ok_post(path, {"run_id": run_id, "key": "long", "value": "x" * 7000})
    params = {p["key"]: p["value"] for p in api.get_run(run_id)["data"]["params"]}
    assert params["lr"] == "0.1"
    assert params["long"] == "x" * 6000  # truncated, as MLflow does


def test_set_and_delete_tag(api: Api, run_id: str) -> None:
    assert api.ok_post("/runs/set-tag", {"run_id": run_id, "key": "t", "value": "1"}) == {}
    api.ok_post("/runs/set-tag", {"run_uuid": run_id, "key": "t", "value": "2"})
    api.ok_post("/runs/set-tag", {"run_id": run_id, "key": "mlflow.runName", "value": "by-tag"})
    run = api.get_run(run_id)
    assert tags_of(run["data"])["t"] == "2"
    assert run["info"]["run_name"] == "by-tag"

    assert api.ok_post("/runs/delete-tag", {"run_id": run_id, "key": "t"}) == {}
    assert "t" not in tags_of(api.get_run(run_id)["data"])
    status, payload = api.post("/runs/delete-tag", {"run_id": run_id, "key": "t"})
    assert error_of(status, payload) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_log_batch(api: Api, run_id: str) -> None:
    body = {
        "run_id": run_id,
        "metrics": [
            {"key": "a", "value": 1.5, "timestamp": 10, "step": 0},
            {"key": "a", "value": 2.5, "timestamp": 11, "step": 1},
            {"key": "b", "value": "NaN", "timestamp": "12"},
        ],
        "params": [{"key": "p1", "value": "x"}, {"key": "p2", "value": ""}],
        "tags": [{"key": "t1", "value": "y"}],
        "unknown_field": [1, 2, 3],
    }
    assert api.ok_post("/runs/log-batch", body) == {}
    # An exact repeat is idempotent.
    assert api.ok_post("/runs/log-batch", body) == {}
    data = api.get_run(run_id)["data"]
    assert sorted(data["metrics"], key=lambda m: m["key"]) == [
        {"key": "a", "value": 2.5, "timestamp": 11, "step": 1},
        {"key": "b", "value": "NaN", "timestamp": 12, "step": 0},
    ]
    assert {p["key"]: p["value"] for p in data["params"]} == {"p1": "x", "p2": ""}
    assert tags_of(data)["t1"] == "y"
    assert len(_history(api, run_id, "a")["metrics"]) == 2
    # Only some sections.
    assert api.ok_post("/runs/log-batch", {"run_id": run_id}) == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"metrics": [{"key": "m", "value": 1.0, "timestamp": 1}] * 1001},
        {"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]},
        {"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]},
        {"metrics": [{"key": "m", "timestamp": 1}]},
        {"metrics": [{"key": "m", "value": 1.0}]},
        {"metrics": [{"value": 1.0, "timestamp": 1}]},
        {"metrics": ["m=1"]},
        {"metrics": {"key": "m"}},
        {"params": [{"value": "v"}]},
        {"params": [{"key": "p", "value": 1}]},
        {"params": [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]},
        {"tags": [{"value": "v"}]},
        {"tags": [{"key": "bad key!", "value": "v"}]},
    ],
)
def test_bad_log_batch_is_400_and_writes_nothing(
    api: Api, run_id: str, fields: dict[str, Any]
) -> None:
    status, payload = api.post("/runs/log-batch", {"run_id": run_id, **fields})
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")
    data = api.get_run(run_id)["data"]
    assert "metrics" not in data and "params" not in data
    assert set(tags_of(data)) == {"mlflow.runName"}


def test_log_batch_param_change_writes_nothing(api: Api, run_id: str) -> None:
    api.ok_post("/runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"})
    status, payload = api.post(
        "/runs/log-batch",
        {
            "run_id": run_id,
            "params": [{"key": "p", "value": "2"}],
            "metrics": [{"key": "m", "value": 1.0, "timestamp": 1}],
        },
    )
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")
    assert "metrics" not in api.get_run(run_id)["data"]


def test_log_inputs(api: Api, run_id: str) -> None:
    dataset = {
        "name": "iris",
        "digest": "abcd1234",
        "source_type": "local",
        "source": '{"uri": "/data/iris.csv"}',
        "schema": '{"mlflow_colspec": []}',
        "profile": '{"num_rows": 150}',
    }
    body = {
        "run_id": run_id,
        "datasets": [
            {"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": dataset}
        ],
    }
    assert api.ok_post("/runs/log-inputs", body) == {}
    assert api.ok_post("/runs/log-inputs", body) == {}  # stored once
    inputs = api.get_run(run_id)["inputs"]
    assert inputs == {
        "dataset_inputs": [
            {"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": dataset}
        ]
    }

    missing_source = {"run_id": run_id, "datasets": [{"dataset": {**dataset, "source": ""}}]}
    status, payload = api.post("/runs/log-inputs", missing_source)
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")


def test_get_metric_history_pages(api: Api, run_id: str) -> None:
    metrics = [{"key": "h", "value": float(i), "timestamp": 100 + i, "step": i} for i in range(5)]
    api.ok_post("/runs/log-batch", {"run_id": run_id, "metrics": metrics})

    everything = _history(api, run_id, "h")
    assert [m["step"] for m in everything["metrics"]] == [0, 1, 2, 3, 4]
    assert "next_page_token" not in everything

    seen: list[float] = []
    token = None
    pages = 0
    while True:
        params: dict[str, Any] = {"max_results": 2}
        if token:
            params["page_token"] = token
        page = _history(api, run_id, "h", **params)
        seen += [m["value"] for m in page["metrics"]]
        pages += 1
        token = page.get("next_page_token")
        if token is None:
            break
    assert (seen, pages) == ([0.0, 1.0, 2.0, 3.0, 4.0], 3)

    # Legacy run_uuid and camelCase metricKey in the query string.
    legacy = api.ok_get("/metrics/get-history", {"run_uuid": run_id, "metricKey": "h"})
    assert len(legacy["metrics"]) == 5
    # A key never logged: an empty history.
    assert _history(api, run_id, "never") == {}


@pytest.mark.parametrize(
    "params",
    [
        {"metric_key": "h"},  # no run id
        {"run_id": "RUN"},  # no metric key (the run id is filled in below)
        {"run_id": "RUN", "metric_key": "h", "max_results": "0"},
        {"run_id": "RUN", "metric_key": "h", "max_results": "lots"},
        {"run_id": "RUN", "metric_key": "h", "page_token": "%%%"},
    ],
)
def test_bad_get_metric_history_is_400(api: Api, run_id: str, params: dict[str, str]) -> None:
    query = {k: run_id if v == "RUN" else v for k, v in params.items()}
    status, payload = api.get("/metrics/get-history", query)
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")


# -- search_runs ------------------------------------------------------------------------------


@pytest.fixture
def searchable(api: Api, experiment_id: str) -> tuple[str, list[str]]:
    """Three runs with metrics, params and tags, created at increasing start times."""
    ids = []
    for i, (acc, model) in enumerate([(0.7, "tree"), (0.9, "forest"), (0.8, "forest")]):
        run_id = api.create_run(experiment_id, run_name=f"r{i}", start_time=1000 + i)["info"][
            "run_id"
        ]
        api.ok_post(
            "/runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [{"key": "acc", "value": acc, "timestamp": 1, "step": 0}],
                "params": [{"key": "model", "value": model}],
                "tags": [{"key": "idx", "value": str(i)}],
            },
        )
        ids.append(run_id)
    return experiment_id, ids


def _run_names(payload: dict[str, Any]) -> list[str]:
    return [r["info"]["run_name"] for r in payload.get("runs", [])]


def test_search_runs_filters_and_orders(api: Api, searchable: tuple[str, list[str]]) -> None:
    experiment_id, ids = searchable
    base = {"experiment_ids": [experiment_id]}
    # Default order: newest start_time first.
    assert _run_names(api.ok_post("/runs/search", base)) == ["r2", "r1", "r0"]
    by_metric = api.ok_post("/runs/search", {**base, "order_by": ["metrics.acc DESC"]})
    assert _run_names(by_metric) == ["r1", "r2", "r0"]
    filtered = api.ok_post(
        "/runs/search",
        {**base, "filter": "params.model = 'forest' AND metrics.acc > 0.85"},
    )
    assert _run_names(filtered) == ["r1"]
    by_tag = api.ok_post(
        "/runs/search", {**base, "filter": "tags.idx != '1'", "order_by": ["attributes.run_name"]}
    )
    assert _run_names(by_tag) == ["r0", "r2"]
    by_id = api.ok_post("/runs/search", {**base, "filter": f"attributes.run_id IN ('{ids[0]}')"})
    assert _run_names(by_id) == ["r0"]
    # Experiment ids may be numbers; unknown fields are ignored.
    numeric = api.ok_post(
        "/runs/search", {"experimentIds": [int(experiment_id)], "maxResults": 1, "x": 1}
    )
    assert _run_names(numeric) == ["r2"]

    full = api.ok_post("/runs/search", {**base, "filter": "attributes.run_name = 'r1'"})
    (run,) = full["runs"]
    assert run["info"]["run_uuid"] == ids[1]
    assert run["data"]["metrics"] == [{"key": "acc", "value": 0.9, "timestamp": 1, "step": 0}]
    assert run["data"]["params"] == [{"key": "model", "value": "forest"}]
    assert tags_of(run["data"])["idx"] == "1"


def test_search_runs_pages(api: Api, searchable: tuple[str, list[str]]) -> None:
    experiment_id, _ = searchable
    body: dict[str, Any] = {
        "experiment_ids": [experiment_id],
        "max_results": 2,
        "order_by": ["attributes.start_time ASC"],
    }
    first = api.ok_post("/runs/search", body)
    assert _run_names(first) == ["r0", "r1"]
    second = api.ok_post("/runs/search", {**body, "page_token": first["next_page_token"]})
    assert _run_names(second) == ["r2"]
    assert "next_page_token" not in second


def test_search_runs_view_types(api: Api, searchable: tuple[str, list[str]]) -> None:
    experiment_id, ids = searchable
    api.ok_post("/runs/delete", {"run_id": ids[0]})
    base = {"experiment_ids": [experiment_id]}
    assert _run_names(api.ok_post("/runs/search", base)) == ["r2", "r1"]
    for view in ("ALL", 3, "3"):
        every = api.ok_post("/runs/search", {**base, "run_view_type": view})
        assert _run_names(every) == ["r2", "r1", "r0"]
    deleted = api.ok_post("/runs/search", {**base, "run_view_type": 2})
    assert _run_names(deleted) == ["r0"]


def test_search_runs_with_nothing_to_find_is_empty_object(api: Api, experiment_id: str) -> None:
    assert api.ok_post("/runs/search", {"experiment_ids": [experiment_id]}) == {}
    assert api.ok_post("/runs/search", {}) == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"filter": "metrics.acc > 0.5 OR params.model = 'tree'"},
        {"filter": "metrics.acc >>> 1"},
        {"filter": "attributes.run_name IN ('a')"},
        {"order_by": ["metrics.acc SIDEWAYS"]},
        {"order_by": [5]},
        {"max_results": 0},
        {"max_results": 50_001},
        {"run_view_type": "NEVER"},
        {"page_token": "bm90IGpzb24="},
        {"experiment_ids": ["not-a-number"]},
        {"experiment_ids": "1"},
    ],
)
def test_bad_search_runs_is_400(api: Api, experiment_id: str, fields: dict[str, Any]) -> None:
    status, payload = api.post("/runs/search", {"experiment_ids": [experiment_id], **fields})
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")


# -- errors common to the endpoints -----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/experiments/create", {}),
        ("/experiments/create", {"name": ""}),
        ("/experiments/update", {"experiment_id": "0"}),
        ("/experiments/update", {"new_name": "x"}),
        ("/experiments/delete", {}),
        ("/experiments/restore", {}),
        ("/experiments/set-experiment-tag", {"experiment_id": "0"}),
        ("/experiments/delete-experiment-tag", {"key": "k"}),
        ("/runs/create", {}),
        ("/runs/update", {"status": "FINISHED"}),
        ("/runs/delete", {}),
        ("/runs/restore", {}),
        ("/runs/log-metric", {"key": "m", "value": 1, "timestamp": 1}),
        ("/runs/log-parameter", {"key": "p", "value": "v"}),
        ("/runs/set-tag", {"key": "t", "value": "v"}),
        ("/runs/delete-tag", {"key": "t"}),
        ("/runs/log-batch", {"metrics": []}),
        ("/runs/log-inputs", {"datasets": []}),
    ],
)
def test_missing_required_field_is_400(api: Api, path: str, body: dict[str, Any]) -> None:
    status, payload = api.post(path, body)
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/experiments/get", {}),
        ("/experiments/get-by-name", {}),
        ("/runs/get", {}),
        ("/experiments/get", {"experiment_id": "abc"}),
        ("/runs/get", {"run_id": "../../etc"}),
    ],
)
def test_bad_get_is_400(api: Api, path: str, params: dict[str, str]) -> None:
    status, payload = api.get(path, params)
    assert error_of(status, payload) == (400, "INVALID_PARAMETER_VALUE")


MISSING_RUN = "f" * 32


@pytest.mark.parametrize(
    ("method", "path", "fields"),
    [
        ("GET", "/runs/get", {"run_id": MISSING_RUN}),
        ("GET", "/metrics/get-history", {"run_id": MISSING_RUN, "metric_key": "m"}),
        ("GET", "/experiments/get", {"experiment_id": "987654321"}),
        ("GET", "/experiments/get-by-name", {"experiment_name": "no such experiment ever"}),
        ("POST", "/runs/update", {"run_id": MISSING_RUN, "status": "FINISHED"}),
        ("POST", "/runs/delete", {"run_id": MISSING_RUN}),
        ("POST", "/runs/restore", {"run_id": MISSING_RUN}),
        (
            "POST",
            "/runs/log-metric",
            {"run_id": MISSING_RUN, "key": "m", "value": 1, "timestamp": 1},
        ),
        ("POST", "/runs/log-parameter", {"run_id": MISSING_RUN, "key": "p", "value": "v"}),
        ("POST", "/runs/set-tag", {"run_id": MISSING_RUN, "key": "t", "value": "v"}),
        ("POST", "/runs/delete-tag", {"run_id": MISSING_RUN, "key": "t"}),
        ("POST", "/runs/log-batch", {"run_id": MISSING_RUN, "params": [{"key": "p"}]}),
        ("POST", "/experiments/update", {"experiment_id": "987654321", "new_name": "x"}),
        ("POST", "/experiments/delete", {"experiment_id": "987654321"}),
        ("POST", "/experiments/restore", {"experiment_id": "987654321"}),
        ("POST", "/experiments/set-experiment-tag", {"experiment_id": "987654321", "key": "k"}),
        ("POST", "/experiments/delete-experiment-tag", {"experiment_id": "987654321", "key": "k"}),
    ],
)
def test_unknown_resource_is_404(api: Api, method: str, path: str, fields: dict[str, Any]) -> None:
    status, payload = api.get(path, fields) if method == "GET" else api.post(path, fields)
    assert error_of(status, payload) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_error_body_is_json_with_code_and_message(api: Api) -> None:
    response = requests.get(api.base + "/runs/get", params={"run_id": MISSING_RUN}, timeout=TIMEOUT)
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert payload["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert MISSING_RUN in payload["message"]


def test_metric_values_round_trip_exactly(api: Api, run_id: str) -> None:
    values = [0.1, 1e-300, -2.5e300, 123456789.123456789, 0.0, 2**53 + 2.0]
    api.ok_post(
        "/runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [
                {"key": "exact", "value": v, "timestamp": 1, "step": i}
                for i, v in enumerate(values)
            ],
        },
    )
    got = [m["value"] for m in _history(api, run_id, "exact")["metrics"]]
    assert got == values


# -- hostile values: a bad value is the client's error, never the server's --------------------

HUGE_OFFSET_TOKEN = "eyJvZmZzZXQiOiAxMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDB9"  # {"offset": 10**25}
NONE: frozenset[str] = frozenset()

# (id, method, path, fields, backends where the store answers 500; none since the store
# refuses these values itself: ids past 2**31-1, page offsets past 2**62, NUL, long user ids).
HOSTILE_CASES = [
    ("exp-id-over-int32-get", "GET", "/experiments/get", {"experiment_id": "2147483648"}, NONE),
    (
        "exp-id-over-int32-search-runs",
        "POST",
        "/runs/search",
        {"experiment_ids": ["2147483648"]},
        NONE,
    ),
    (
        "exp-id-over-int32-filter",
        "POST",
        "/experiments/search",
        {"max_results": 5, "filter": "experiment_id = '2147483648'"},
        NONE,
    ),
    (
        "page-token-offset-over-int64",
        "POST",
        "/runs/search",
        {"experiment_ids": ["EXP"], "page_token": HUGE_OFFSET_TOKEN},
        NONE,
    ),
    (
        "nul-in-user-id",
        "POST",
        "/runs/create",
        {"experiment_id": "EXP", "user_id": "a\x00b"},
        NONE,
    ),
    (
        "user-id-over-256-chars",
        "POST",
        "/runs/create",
        {"experiment_id": "EXP", "user_id": "u" * 1000},
        NONE,
    ),
    ("nul-in-delete-tag-key", "POST", "/runs/delete-tag", {"run_id": "RUN", "key": "a\x00"}, NONE),
    (
        "nul-in-delete-experiment-tag-key",
        "POST",
        "/experiments/delete-experiment-tag",
        {"experiment_id": "EXP", "key": "a\x00"},
        NONE,
    ),
    (
        "nul-in-history-metric-key",
        "GET",
        "/metrics/get-history",
        {"run_id": "RUN", "metric_key": "a\x00"},
        NONE,
    ),
    (
        "nul-in-run-filter",
        "POST",
        "/runs/search",
        {"experiment_ids": ["EXP"], "filter": "params.a = 'x\x00'"},
        NONE,
    ),
    (
        "nul-in-experiment-filter",
        "POST",
        "/experiments/search",
        {"max_results": 5, "filter": "name = 'x\x00'"},
        NONE,
    ),
    (
        "nul-in-order-by",
        "POST",
        "/runs/search",
        {"experiment_ids": ["EXP"], "order_by": ["params.`a\x00`"]},
        NONE,
    ),
    (
        "nul-in-dataset-name",
        "POST",
        "/runs/log-inputs",
        {
            "run_id": "RUN",
            "datasets": [
                {"dataset": {"name": "d\x00", "digest": "x", "source_type": "s", "source": "s"}}
            ],
        },
        NONE,
    ),
    # These already answer as they should.
    (
        "nul-in-tag-key",
        "POST",
        "/runs/set-tag",
        {"run_id": "RUN", "key": "a\x00", "value": ""},
        NONE,
    ),
    ("nul-in-run-id", "GET", "/runs/get", {"run_id": "a\x00"}, NONE),
    (
        "step-over-int64",
        "POST",
        "/runs/log-metric",
        {"run_id": "RUN", "key": "m", "value": 1, "timestamp": 1, "step": 2**63},
        NONE,
    ),
    (
        "page-token-negative-offset",
        "POST",
        "/runs/search",
        {"experiment_ids": ["EXP"], "page_token": "eyJvZmZzZXQiOiAtMX0="},
        NONE,
    ),
]


def _fill(value: Any, experiment_id: str, run_id: str) -> Any:
    if value == "EXP":
        return experiment_id
    if value == "RUN":
        return run_id
    if isinstance(value, list):
        return [_fill(v, experiment_id, run_id) for v in value]
    return value


@pytest.mark.parametrize(
    ("method", "path", "fields", "broken_on"),
    [pytest.param(*case[1:], id=case[0]) for case in HOSTILE_CASES],
)
def test_hostile_value_is_a_client_error_not_a_500(
    request: pytest.FixtureRequest,
    tracking_server: TrackingServer,
    api: Api,
    experiment_id: str,
    run_id: str,
    method: str,
    path: str,
    fields: dict[str, Any],
    broken_on: frozenset[str],
) -> None:
    assert tracking_server.backend not in broken_on
    fields = {k: _fill(v, experiment_id, run_id) for k, v in fields.items()}
    status, payload = api.get(path, fields) if method == "GET" else api.post(path, fields)
    assert status < 500, payload
    if status >= 400:
        assert error_of(status, payload)[1] in (
            "INVALID_PARAMETER_VALUE",
            "RESOURCE_DOES_NOT_EXIST",
        )
