"""A deleted experiment keeps its name until it is restored or collected: creating (or
renaming to) that name says which experiment holds it and how to free it, with MLflow's
RESOURCE_ALREADY_EXISTS (HTTP 400); once the row is gone for good, the name is free."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
import sqlalchemy as sa

from cairn.exceptions import ResourceAlreadyExistsError
from cairn.store.rest.tracking import RestTrackingStore
from cairn.store.sql.tracking import SqlTrackingStore


def deleted_experiment(store: SqlTrackingStore | RestTrackingStore, name: str) -> str:
    experiment_id = store.create_experiment(name)
    store.delete_experiment(experiment_id)
    return experiment_id


def assert_names_the_deleted(error: ResourceAlreadyExistsError, name: str, held: str) -> None:
    assert error.error_code == "RESOURCE_ALREADY_EXISTS" and error.http_status == 400
    assert f"Experiment '{name}' already exists in the deleted state (id {held})." in (
        error.message
    )
    assert f"cairn.Client().restore_experiment('{held}')" in error.message
    assert f"`cairn gc --experiment {held}`" in error.message


def test_creating_a_name_a_deleted_experiment_holds_says_how_to_free_it(
    store: SqlTrackingStore,
) -> None:
    held = deleted_experiment(store, "churn")
    with pytest.raises(ResourceAlreadyExistsError) as raised:
        store.create_experiment("churn")
    assert_names_the_deleted(raised.value, "churn", held)
    assert raised.value.message.endswith("then create it again.")

    store.restore_experiment(held)  # the first way out
    assert store.get_experiment_by_name("churn").experiment_id == held  # type: ignore[union-attr]


def test_renaming_to_a_name_a_deleted_experiment_holds_says_how_to_free_it(
    store: SqlTrackingStore,
) -> None:
    held = deleted_experiment(store, "baseline")
    other = store.create_experiment("candidate")
    with pytest.raises(ResourceAlreadyExistsError) as raised:
        store.rename_experiment(other, "baseline")
    assert_names_the_deleted(raised.value, "baseline", held)
    assert raised.value.message.endswith("then rename again.")
    assert store.get_experiment(other).name == "candidate"


def test_an_active_experiment_name_is_simply_taken(store: SqlTrackingStore) -> None:
    store.create_experiment("live")
    other = store.create_experiment("other")
    for attempt in (
        lambda: store.create_experiment("live"),
        lambda: store.rename_experiment(other, "live"),
    ):
        with pytest.raises(ResourceAlreadyExistsError) as raised:
            attempt()
        assert raised.value.message == "Experiment 'live' already exists."
    store.rename_experiment(other, "other")  # its own name is not "taken"


def test_the_name_of_an_experiment_removed_for_good_can_be_used_again(
    store: SqlTrackingStore,
) -> None:
    held = deleted_experiment(store, "reused")
    with store.engine.begin() as conn:  # what `cairn gc` does to the row
        conn.execute(sa.text("DELETE FROM experiments WHERE experiment_id = :id"), {"id": held})
    new = store.create_experiment("reused")  # SQLite may hand the same id out again
    assert store.get_experiment(new).lifecycle_stage == "active"
    assert store.get_experiment_by_name("reused").experiment_id == new  # type: ignore[union-attr]


def test_the_server_answers_400_resource_already_exists_with_the_same_message(
    rest_server: Any, rest_store: RestTrackingStore
) -> None:
    held = deleted_experiment(rest_store, "served")
    request = urllib.request.Request(
        f"{rest_server.url}/api/2.0/mlflow/experiments/create",
        data=json.dumps({"name": "served"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as answered:
        urllib.request.urlopen(request, timeout=30)
    assert answered.value.code == 400
    body = json.loads(answered.value.read())
    answered.value.close()
    assert body["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert f"already exists in the deleted state (id {held})" in body["message"]
    with pytest.raises(ResourceAlreadyExistsError) as raised:  # and the client keeps it all
        rest_store.create_experiment("served")
    assert_names_the_deleted(raised.value, "served", held)
