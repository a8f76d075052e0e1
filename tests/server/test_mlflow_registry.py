"""MLflow's model registry through a live `cairn server`, driven by the real mlflow client:
registering from `log_model`, versions, stages, aliases, tags, searches, renames and deletes,
loading by every `models:/` form, and each refusal with the error code MLflow's own server
gives (as the client sees it)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from cairn.store.rest.registry import RestRegistryStore

pytestmark = [
    # mlflow.pyfunc warns about its own type hints when first imported; not ours to fix.
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred:UserWarning"),
    # Stages are deprecated in MLflow (since 2.9) but still served; the tests use them.
    pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning"),
]


def _name(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def _trained() -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(11)
    features = rng.normal(size=(40, 3))
    labels = (features[:, 0] > 0).astype(int)
    return LogisticRegression().fit(features, labels), features


def _run(mlflow: Any) -> str:
    """A finished run to register versions from (`runs:/<id>/model`)."""
    mlflow.set_experiment(_name("registry"))
    with mlflow.start_run() as run:
        return str(run.info.run_id)


def _versions(mlflow: Any, client: Any, name: str, count: int) -> str:
    """`count` versions of a new model `name`, from one run; returns the run id."""
    run_id = _run(mlflow)
    client.create_registered_model(name)
    for _ in range(count):
        client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    return run_id


def _error_code(call: Callable[[], object]) -> str:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as caught:
        call()
    return str(caught.value.error_code)


def test_log_model_registers_and_every_models_uri_loads(
    mlflow: Any, client: Any, tracking_server: Any
) -> None:
    model, features = _trained()
    name = _name("clf")
    mlflow.set_experiment(_name("registry"))
    infos = []
    for _ in range(2):
        with mlflow.start_run():
            infos.append(mlflow.sklearn.log_model(model, name="m", registered_model_name=name))
    assert [str(i.registered_model_version) for i in infos] == ["1", "2"]
    expected = model.predict(features)

    versions = client.search_model_versions(f"name = '{name}'")
    assert sorted(v.version for v in versions) == ["1", "2"]
    first = client.get_model_version(name, "1")
    assert first.source == f"models:/{infos[0].model_id}"
    assert first.status == "READY"
    # MLflow 3's client registers by model id alone; the server fills in the model's run (for
    # lineage). MLflow's entity drops `model_id`, so Cairn's REST store reads the answer.
    stored = RestRegistryStore(tracking_server.url).get_model_version(name, "1")
    assert (stored.model_id, stored.run_id) == (infos[0].model_id, infos[0].run_id)

    client.set_registered_model_alias(name, "champion", "1")
    client.transition_model_version_stage(name, "2", "Production")
    for uri in (
        f"models:/{name}@champion",
        f"models:/{name}/1",
        f"models:/{name}/latest",
        f"models:/{name}/Production",
    ):
        loaded = mlflow.pyfunc.load_model(uri)
        assert np.array_equal(loaded.predict(features), expected), uri
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_registered_model(name).aliases == {"champion": "1"}


def test_stages_archive_existing_and_latest_versions(mlflow: Any, client: Any) -> None:
    name = _name("staged")
    _versions(mlflow, client, name, 3)
    client.transition_model_version_stage(name, "1", "Staging")
    moved = client.transition_model_version_stage(
        name, "2", "staging", archive_existing_versions=True
    )
    assert moved.current_stage == "Staging"
    assert client.get_model_version(name, "1").current_stage == "Archived"
    client.transition_model_version_stage(name, "3", "Production")

    staging = client.get_latest_versions(name, stages=["Staging"])
    assert [(v.version, v.current_stage) for v in staging] == [("2", "Staging")]
    every = {v.current_stage: v.version for v in client.get_latest_versions(name)}
    assert every == {"Archived": "1", "Staging": "2", "Production": "3"}
    latest = {v.current_stage: v.version for v in client.get_registered_model(name).latest_versions}
    assert latest == every


def test_aliases_move_and_disappear(mlflow: Any, client: Any) -> None:
    name = _name("aliased")
    _versions(mlflow, client, name, 2)
    client.set_registered_model_alias(name, "prod", "1")
    client.set_registered_model_alias(name, "prod", "2")  # moves it
    assert client.get_model_version_by_alias(name, "prod").version == "2"
    assert client.get_model_version(name, "2").aliases == ["prod"]
    assert client.get_model_version(name, "1").aliases == []
    client.delete_registered_model_alias(name, "prod")
    assert client.get_registered_model(name).aliases == {}
    assert _error_code(lambda: client.get_model_version_by_alias(name, "prod")) == (
        "INVALID_PARAMETER_VALUE"
    )
    client.set_registered_model_alias(name, "gone-with-it", "1")
    client.delete_model_version(name, "1")
    assert client.get_registered_model(name).aliases == {}


def test_tags_descriptions_rename_and_delete(mlflow: Any, client: Any) -> None:
    name = _name("tagged")
    client.create_registered_model(name, tags={"team": "ml"}, description="first")
    run_id = _run(mlflow)
    client.create_model_version(
        name, f"runs:/{run_id}/model", run_id=run_id, tags={"k": "v"}, description="v1"
    )
    client.set_registered_model_tag(name, "owner", "ana")
    client.delete_registered_model_tag(name, "team")
    client.set_model_version_tag(name, "1", "validated", "yes")
    client.delete_model_version_tag(name, "1", "k")
    client.update_registered_model(name, description="second")
    client.update_model_version(name, "1", description="v1 again")

    model = client.get_registered_model(name)
    assert (model.tags, model.description) == ({"owner": "ana"}, "second")
    version = client.get_model_version(name, "1")
    assert (version.tags, version.description) == ({"validated": "yes"}, "v1 again")

    client.rename_registered_model(name, name + "-new")
    assert client.get_registered_model(name + "-new").tags == {"owner": "ana"}
    assert client.get_model_version(name + "-new", "1").tags == {"validated": "yes"}
    assert _error_code(lambda: client.get_registered_model(name)) == "RESOURCE_DOES_NOT_EXIST"

    client.delete_model_version(name + "-new", "1")
    assert _error_code(lambda: client.get_model_version(name + "-new", "1")) == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    again = client.create_model_version(name + "-new", f"runs:/{run_id}/model", run_id=run_id)
    assert again.version == "2"  # a deleted version's number is never reused
    client.delete_registered_model(name + "-new")
    assert _error_code(lambda: client.get_registered_model(name + "-new")) == (
        "RESOURCE_DOES_NOT_EXIST"
    )


def test_searches_filter_order_and_page(mlflow: Any, client: Any) -> None:
    prefix = _name("search")
    run_id = _run(mlflow)
    for i in range(5):
        client.create_registered_model(f"{prefix}-{i}", tags={"parity": str(i % 2)})
        client.create_model_version(f"{prefix}-{i}", f"runs:/{run_id}/model", run_id=run_id)

    pages, token = [], None
    while True:
        page = client.search_registered_models(
            filter_string=f"name LIKE '{prefix}-%'",
            max_results=2,
            order_by=["name DESC"],
            page_token=token,
        )
        pages.append([m.name for m in page])
        token = page.token
        if not token:
            break
    assert pages == [
        [f"{prefix}-4", f"{prefix}-3"],
        [f"{prefix}-2", f"{prefix}-1"],
        [f"{prefix}-0"],
    ]
    odd = client.search_registered_models(f"name LIKE '{prefix}-%' AND tags.parity = '1'")
    assert sorted(m.name for m in odd) == [f"{prefix}-1", f"{prefix}-3"]

    by_run = client.search_model_versions(f"run_id = '{run_id}'", order_by=["name ASC"])
    assert [v.name for v in by_run] == [f"{prefix}-{i}" for i in range(5)]
    two = client.search_model_versions(f"run_id = '{run_id}'", max_results=2)
    assert len(two) == 2 and two.token


def test_history_records_each_move(mlflow: Any, client: Any, tracking_server: Any) -> None:
    name = _name("history")
    _versions(mlflow, client, name, 2)
    client.transition_model_version_stage(name, "1", "Staging")
    client.set_registered_model_alias(name, "prod", "1")
    client.set_registered_model_alias(name, "prod", "2")

    query = urlencode({"name": name, "version": "1"})
    with urllib.request.urlopen(f"{tracking_server.api}/model-versions/history?{query}") as reply:
        events = json.loads(reply.read())["events"]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "created" and "stage" in kinds and "alias_set" in kinds
    stage = next(e for e in events if e["kind"] == "stage")
    assert (stage["from_value"], stage["to_value"]) == ("None", "Staging")


def test_refusals_carry_mlflows_error_codes(mlflow: Any, client: Any) -> None:
    name = _name("refused")
    run_id = _versions(mlflow, client, name, 1)
    cases: dict[str, Callable[[], object]] = {
        "unknown model": lambda: client.get_registered_model(name + "-nope"),
        "unknown version": lambda: client.get_model_version(name, "9"),
        "version of unknown model": lambda: client.create_model_version(
            name + "-nope", f"runs:/{run_id}/model", run_id=run_id
        ),
        "duplicate model": lambda: client.create_registered_model(name),
        "unknown alias": lambda: client.get_model_version_by_alias(name, "nothing"),
        "reserved alias": lambda: client.set_registered_model_alias(name, "latest", "1"),
        "alias to unknown version": lambda: client.set_registered_model_alias(name, "a", "9"),
        "bad stage": lambda: client.transition_model_version_stage(name, "1", "Live"),
        "file source": lambda: client.create_model_version(name, "file:///etc"),
        "absolute source": lambda: client.create_model_version(name, "/etc"),
        "traversal": lambda: client.create_model_version(
            name, f"runs:/{run_id}/../../../etc", run_id=run_id
        ),
        "http source": lambda: client.create_model_version(name, "http://169.254.169.254/x"),
        "bad name": lambda: client.create_registered_model("a/b"),
    }
    expected = {
        "unknown model": "RESOURCE_DOES_NOT_EXIST",
        "unknown version": "RESOURCE_DOES_NOT_EXIST",
        "version of unknown model": "RESOURCE_DOES_NOT_EXIST",
        "duplicate model": "RESOURCE_ALREADY_EXISTS",
        "alias to unknown version": "RESOURCE_DOES_NOT_EXIST",
    }
    seen = {label: _error_code(call) for label, call in cases.items()}
    assert seen == {label: expected.get(label, "INVALID_PARAMETER_VALUE") for label in cases}
    assert [v.version for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
