"""The RegistryStore contract (MLflow's model registry plus Cairn's version history), on
SQLite, PostgreSQL and MariaDB.

Tests use only the public methods of the `registry` fixture and of `store` (the tracking
store on the same database, for runs and logged models to register), and `registry_uri`
for other processes, so the same suite can run over REST by overriding those fixtures.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from cairn.entities import ModelVersion, ModelVersionEventKind, RegisteredModel, Run
from cairn.exceptions import (
    InvalidParameterValueError,
    ResourceAlreadyExistsError,
    ResourceDoesNotExistError,
)
from cairn.store.base import RegistryStore, TrackingStore

UNKNOWN_RUN = "0123456789abcdef0123456789abcdef"
UNKNOWN_MODEL = "m-" + "0" * 32


def _run(store: TrackingStore, experiment: str = "registry") -> Run:
    try:
        experiment_id = store.create_experiment(experiment)
    except ResourceAlreadyExistsError:
        found = store.get_experiment_by_name(experiment)
        assert found is not None
        experiment_id = found.experiment_id
    return store.create_run(experiment_id, "tester", 1_000, [], None)


def _runs_source(run: Run, path: str = "model") -> str:
    return f"runs:/{run.info.run_id}/{path}"


@pytest.fixture
def run(store: TrackingStore) -> Run:
    return _run(store)


@pytest.fixture
def versions(registry: RegistryStore, run: Run) -> Callable[[str, int], list[str]]:
    """A factory: `versions("m", 3)` creates model m with three versions."""

    def make(name: str, count: int) -> list[str]:
        registry.create_registered_model(name)
        return [
            registry.create_model_version(name, _runs_source(run), run_id=run.info.run_id).version
            for _ in range(count)
        ]

    return make


# -- registered models --------------------------------------------------------------------


def test_create_registered_model_records_what_it_was_given(registry: RegistryStore) -> None:
    model = registry.create_registered_model(
        "churn", tags={"team": "risk"}, description="predicts churn", user_id="ada"
    )
    assert (model.name, model.description, model.user_id) == ("churn", "predicts churn", "ada")
    assert model.tags == {"team": "risk"}
    assert model.aliases == {} and model.latest_versions == ()
    assert model.creation_timestamp > 0
    assert model.last_updated_timestamp == model.creation_timestamp
    assert registry.get_registered_model("churn") == model


def test_a_taken_name_is_refused(registry: RegistryStore) -> None:
    registry.create_registered_model("churn")
    with pytest.raises(ResourceAlreadyExistsError):
        registry.create_registered_model("churn")


def test_names_are_case_sensitive(registry: RegistryStore) -> None:
    registry.create_registered_model("churn")
    assert registry.create_registered_model("Churn").name == "Churn"


@pytest.mark.parametrize(
    "name", ["", "   ", "a/b", "a:b", "models:/x", "x" * 257, "a\x00b", ".", ".."]
)
def test_malformed_names_are_refused(registry: RegistryStore, name: str) -> None:
    with pytest.raises(InvalidParameterValueError):
        registry.create_registered_model(name)


def test_a_name_of_256_characters_is_accepted(registry: RegistryStore) -> None:
    assert registry.create_registered_model("n" * 256).name == "n" * 256


_ON_UNKNOWN_MODEL: list[tuple[str, Callable[[RegistryStore], object]]] = [
    ("get", lambda r: r.get_registered_model("nope")),
    ("rename", lambda r: r.rename_registered_model("nope", "other")),
    ("update", lambda r: r.update_registered_model("nope", "d")),
    ("delete", lambda r: r.delete_registered_model("nope")),
    ("set_tag", lambda r: r.set_registered_model_tag("nope", "k", "v")),
    ("delete_tag", lambda r: r.delete_registered_model_tag("nope", "k")),
    ("latest", lambda r: r.get_latest_versions("nope")),
    ("create_version", lambda r: r.create_model_version("nope", f"runs:/{UNKNOWN_RUN}/m")),
    ("get_version", lambda r: r.get_model_version("nope", "1")),
    ("set_alias", lambda r: r.set_registered_model_alias("nope", "champ", "1")),
    ("delete_alias", lambda r: r.delete_registered_model_alias("nope", "champ")),
    ("by_alias", lambda r: r.get_model_version_by_alias("nope", "champ")),
    ("history", lambda r: r.get_model_version_history("nope", "1")),
]


@pytest.mark.parametrize(
    "call", [c for _, c in _ON_UNKNOWN_MODEL], ids=[n for n, _ in _ON_UNKNOWN_MODEL]
)
def test_an_unknown_model_does_not_exist(
    registry: RegistryStore, call: Callable[[RegistryStore], object]
) -> None:
    with pytest.raises(ResourceDoesNotExistError):
        call(registry)


def test_update_sets_the_description_and_the_update_time(registry: RegistryStore) -> None:
    created = registry.create_registered_model("churn", description="old")
    updated = registry.update_registered_model("churn", "new")
    assert updated.description == "new"
    assert updated.last_updated_timestamp >= created.last_updated_timestamp
    assert updated.creation_timestamp == created.creation_timestamp
    assert registry.update_registered_model("churn", None).description == ""


def test_rename_carries_versions_tags_aliases_and_history(
    registry: RegistryStore, versions: Callable[[str, int], list[str]]
) -> None:
    versions("churn", 2)
    registry.set_registered_model_tag("churn", "team", "risk")
    registry.set_model_version_tag("churn", "1", "validated", "yes")
    registry.set_registered_model_alias("churn", "champion", "1", user_id="ada")
    registry.transition_model_version_stage("churn", "2", "Staging", user_id="ada")

    renamed = registry.rename_registered_model("churn", "attrition")

    assert renamed.name == "attrition"
    assert renamed.tags == {"team": "risk"}
    assert renamed.aliases == {"champion": "1"}
    assert {v.version for v in renamed.latest_versions} == {"1", "2"}
    first = registry.get_model_version("attrition", "1")
    assert (first.name, first.tags, first.aliases) == (
        "attrition",
        {"validated": "yes"},
        ("champion",),
    )
    assert registry.get_model_version_by_alias("attrition", "champion").version == "1"
    history = registry.get_model_version_history("attrition", "2")
    assert [e.kind for e in history] == [ModelVersionEventKind.CREATED, ModelVersionEventKind.STAGE]
    assert all(e.name == "attrition" for e in history)
    with pytest.raises(ResourceDoesNotExistError):
        registry.get_registered_model("churn")
    with pytest.raises(ResourceDoesNotExistError):
        registry.get_model_version("churn", "1")
    assert registry.search_model_versions("name = 'churn'") == []
    # Numbering continues where it was.
    source = registry.get_model_version("attrition", "1").source
    assert registry.create_model_version("attrition", source, run_id=first.run_id).version == "3"


def test_rename_to_a_taken_or_malformed_name_is_refused(registry: RegistryStore) -> None:
    registry.create_registered_model("churn")
    registry.create_registered_model("attrition")
    with pytest.raises(ResourceAlreadyExistsError):
        registry.rename_registered_model("churn", "attrition")
    with pytest.raises(InvalidParameterValueError):
        registry.rename_registered_model("churn", "a/b")
    assert registry.get_registered_model("churn").name == "churn"


def test_delete_removes_the_model_its_versions_and_history(
    registry: RegistryStore, versions: Callable[[str, int], list[str]], run: Run
) -> None:
    versions("churn", 2)
    registry.set_registered_model_alias("churn", "champion", "2")
    registry.set_model_version_tag("churn", "1", "k", "v")
    registry.delete_registered_model("churn")
    with pytest.raises(ResourceDoesNotExistError):
        registry.get_registered_model("churn")
    with pytest.raises(ResourceDoesNotExistError):
        registry.get_model_version("churn", "1")
    with pytest.raises(ResourceDoesNotExistError):
        registry.get_model_version_history("churn", "1")
    assert registry.search_model_versions("name = 'churn'") == []
    # A new model of that name starts afresh, without the old one's tags or aliases.
    registry.create_registered_model("churn")
    again = registry.create_model_version("churn", _runs_source(run))
    assert (again.version, again.tags, again.aliases) == ("1", {}, ())
    assert registry.get_registered_model("churn").aliases == {}


def test_registered_model_tags(registry: RegistryStore) -> None:
    registry.create_registered_model("churn", tags={"a": "1"})
    registry.set_registered_model_tag("churn", "a", "2")
    registry.set_registered_model_tag("churn", "b", "x" * 100_000)
    assert registry.get_registered_model("churn").tags == {"a": "2", "b": "x" * 100_000}
    registry.delete_registered_model_tag("churn", "a")
    registry.delete_registered_model_tag("churn", "never-set")  # MLflow: no error
    assert registry.get_registered_model("churn").tags == {"b": "x" * 100_000}


@pytest.mark.parametrize(
    ("key", "value"),
    [("k", "x" * 100_001), ("", "v"), ("../k", "v"), ("k" * 251, "v"), ("k", "a\x00")],
)
def test_malformed_registered_model_tags_are_refused(
    registry: RegistryStore, key: str, value: str
) -> None:
    registry.create_registered_model("churn")
    with pytest.raises(InvalidParameterValueError):
        registry.set_registered_model_tag("churn", key, value)
    with pytest.raises(InvalidParameterValueError):
        registry.create_registered_model("other", tags={key: value})
    with pytest.raises(ResourceDoesNotExistError):
        registry.get_registered_model("other")


def test_latest_versions_are_the_highest_per_stage(
    registry: RegistryStore, versions: Callable[[str, int], list[str]]
) -> None:
    versions("churn", 5)
    registry.transition_model_version_stage("churn", "1", "Production")
    registry.transition_model_version_stage("churn", "2", "Production")
    registry.transition_model_version_stage("churn", "3", "staging")
    registry.transition_model_version_stage("churn", "4", "ARCHIVED")

    def latest(stages: list[str] | None) -> list[tuple[str, str]]:
        return [(v.current_stage, v.version) for v in registry.get_latest_versions("churn", stages)]

    everything = [("None", "5"), ("Staging", "3"), ("Production", "2"), ("Archived", "4")]
    assert latest(None) == everything
    assert latest([]) == everything
    assert latest(["production", "NONE"]) == [("None", "5"), ("Production", "2")]
    model = registry.get_registered_model("churn")
    assert [(v.current_stage, v.version) for v in model.latest_versions] == everything
    with pytest.raises(InvalidParameterValueError):
        registry.get_latest_versions("churn", ["Prod"])


# -- model versions -------------------------------------------------------------------------


def test_create_model_version_records_what_it_was_given(
    registry: RegistryStore, store: TrackingStore, run: Run
) -> None:
    registry.create_registered_model("churn")
    model = store.create_logged_model(run.info.experiment_id, source_run_id=run.info.run_id)
    version = registry.create_model_version(
        "churn",
        f"models:/{model.model_id}",
        run_id=run.info.run_id,
        tags={"stage": "candidate"},
        run_link="https://ci.example/build/7",
        description="first",
        model_id=model.model_id,
        user_id="ada",
    )
    assert version.version == "1"
    assert (version.status, version.current_stage) == ("READY", "None")
    assert version.source == f"models:/{model.model_id}"
    assert (version.run_id, version.model_id) == (run.info.run_id, model.model_id)
    assert (version.run_link, version.description, version.user_id) == (
        "https://ci.example/build/7",
        "first",
        "ada",
    )
    assert version.tags == {"stage": "candidate"} and version.aliases == ()
    assert version.creation_timestamp == version.last_updated_timestamp > 0
    assert registry.get_model_version("churn", "1") == version
    assert registry.get_model_version_download_uri("churn", "1") == version.source
    parent = registry.get_registered_model("churn")
    assert parent.last_updated_timestamp >= version.creation_timestamp


def test_version_numbers_are_never_reused(
    registry: RegistryStore, versions: Callable[[str, int], list[str]], run: Run
) -> None:
    assert versions("churn", 3) == ["1", "2", "3"]
    registry.delete_model_version("churn", "3")
    registry.delete_model_version("churn", "2")
    assert registry.create_model_version("churn", _runs_source(run)).version == "4"


def test_versions_are_numbered_per_model(
    registry: RegistryStore, versions: Callable[[str, int], list[str]]
) -> None:
    assert versions("churn", 2) == ["1", "2"]
    assert versions("attrition", 1) == ["1"]


@pytest.mark.parametrize("version", ["abc", "-1", "1.5", ""])
def test_malformed_version_numbers_are_refused(
    registry: RegistryStore, versions: Callable[[str, int], list[str]], version: str
) -> None:
    versions("churn", 1)
    with pytest.raises(InvalidParameterValueError):
        registry.get_model_version("churn", version)


@pytest.mark.parametrize("version", ["2", "99999999999999999999", "0"])
def test_unknown_versions_do_not_exist(
    registry: RegistryStore, versions: Callable[[str, int], list[str]], version: str
) -> None:
    versions("churn", 1)
    with pytest.raises(ResourceDoesNotExistError):
        registry.get_model_version("churn", version)
    with pytest.raises(ResourceDoesNotExistError):
        registry.update_model_version("churn", version, "d")
    with pytest.raises(ResourceDoesNotExistError):
        registry.transition_model_version_stage("churn", version, "Staging")
    with pytest.raises(ResourceDoesNotExistError):
        registry.delete_model_version("churn", version)
    with pytest.raises(ResourceDoesNotExistError):
        registry.set_model_version_tag("churn", version, "k", "v")
    with pytest.raises(ResourceDoesNotExistError):
        registry.set_registered_model_alias("churn", "champion", version)
    with pytest.raises(ResourceDoesNotExistError):
        registry.get_model_version_download_uri("churn", version)
    with pytest.raises(ResourceDoesNotExistError):
        registry.get_model_version_history("churn", version)


def test_update_model_version_sets_the_description(
    registry: RegistryStore, versions: Callable[[str, int], list[str]]
) -> None:
    versions("churn", 1)
    before = registry.get_model_version("churn", "1")
    after = registry.update_model_version("churn", "1", "validated on Q3")
    assert after.description == "validated on Q3"
    assert after.last_updated_timestamp >= before.last_updated_timestamp
    assert after.creation_timestamp == before.creation_timestamp


def test_model_version_tags(
    registry: RegistryStore, versions: Callable[[str, int], list[str]]
) -> None:
    versions("churn", 2)
    registry.set_model_version_tag("churn", "1", "a", "1")
    registry.set_model_version_tag("churn", "1", "a", "2")
    registry.set_model_version_tag("churn", "1", "long", "y" * 100_000)
    assert registry.get_model_version("churn", "1").tags == {"a": "2", "long": "y" * 100_000}
    assert registry.get_model_version("churn", "2").tags == {}
    registry.delete_model_version_tag("churn", "1", "a")
    registry.delete_model_version_tag("churn", "1", "never-set")
    assert registry.get_model_version("churn", "1").tags == {"long": "y" * 100_000}
    with pytest.raises(InvalidParameterValueError):
        registry.set_model_version_tag("churn", "1", "k", "y" * 100_001)
    with pytest.raises(InvalidParameterValueError):
        registry.set_model_version_tag("churn", "1", "../k", "v")


# -- stages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("production", "Production"),
        ("STAGING", "Staging"),
        ("archived", "Archived"),
        ("none", "None"),
    ],
)
def test_stages_are_case_insensitive_in_and_canonical_out(
    registry: RegistryStore, versions: Callable[[str, int], list[str]], given: str, stored: str
) -> None:
    versions("churn", 1)
    moved = registry.transition_model_version_stage("churn", "1", given)
    assert moved.current_stage == stored
    assert registry.get_model_version("churn", "1").current_stage == stored


@pytest.mark.parametrize("stage", ["Prod", "", "Deleted_Internal", "production "])
def test_unknown_stages_are_refused(
    registry: RegistryStore, versions: Callable[[str, int], list[str]], stage: str
) -> None:
    versions("churn", 1)
    with pytest.raises(InvalidParameterValueError):
        registry.transition_model_version_stage("churn", "1", stage)


@pytest.mark.parametrize("stage", ["None", "Archived"])
def test_archiving_existing_versions_needs_an_active_stage(
    registry: RegistryStore, versions: Callable[[str, int], list[str]], stage: str
) -> None:
    versions("churn", 1)
    with pytest.raises(InvalidParameterValueError):
        registry.transition_model_version_stage("churn", "1", stage, archive_existing_versions=True)
    assert registry.get_model_version("churn", "1").current_stage == "None"


def test_archive_existing_versions_archives_the_others_in_the_target_stage(
    registry: RegistryStore, versions: Callable[[str, int], list[str]]
) -> None:
    versions("churn", 4)
    registry.transition_model_version_stage("churn", "1", "Production")
    registry.transition_model_version_stage("churn", "2", "Production")
    registry.transition_model_version_stage("churn", "3", "Staging")
    before = registry.get_model_version("churn", "1")

    moved = registry.transition_model_version_stage(
        "churn", "4", "production", archive_existing_versions=True, user_id="ada"
    )

    assert moved.current_stage == "Production"
    stages = {v: registry.get_model_version("churn", v).current_stage for v in "1234"}
    assert stages == {"1": "Archived", "2": "Archived", "3": "Staging", "4": "Production"}
    archived = registry.get_model_version("churn", "1")
    assert archived.last_updated_timestamp >= before.last_updated_timestamp
    last = registry.get_model_version_history("churn", "1")[-1]
    assert (last.kind, last.from_value, last.to_value, last.user_id) == (
        ModelVersionEventKind.STAGE,
        "Production",
        "Archived",
        "ada",
    )
    assert len(registry.get_model_version_history("churn", "3")) == 2  # created, Staging


def test_archiving_leaves_the_moved_version_alone_when_it_is_already_there(
    registry: RegistryStore, versions: Callable[[str, int], list[str]]
) -> None:
    versions("churn", 2)
    registry.transition_model_version_stage("churn", "1", "Staging")
    registry.transition_model_version_stage("churn", "1", "Staging", archive_existing_versions=True)
    assert registry.get_model_version("churn", "1").current_stage == "Staging"


# -- deleting versions ------------------------------------------------------------------------


def test_delete_model_version_removes_it_and_its_aliases(
    registry: RegistryStore, versions: Callable[[str, int], list[str]]
) -> None:
    versions("churn", 2)
    registry.set_registered_model_alias("churn", "champion", "1")
    registry.set_registered_model_alias("churn", "shadow", "1")
    registry.set_registered_model_alias("churn", "challenger", "2")
    registry.set_model_version_tag("churn", "1", "k", "v")
    registry.transition_model_version_stage("churn", "1", "Production")

    registry.delete_model_version("churn", "1", user_id="ada")

    with pytest.raises(ResourceDoesNotExistError):
        registry.get_model_version("churn", "1")
    model = registry.get_registered_model("churn")
    assert model.aliases == {"challenger": "2"}
    assert [v.version for v in model.latest_versions] == ["2"]
    assert registry.get_latest_versions("churn", ["Production"]) == []
    with pytest.raises(InvalidParameterValueError):
        registry.get_model_version_by_alias("churn", "champion")
    assert [v.version for v in registry.search_model_versions("name = 'churn'")] == ["2"]


def test_the_history_of_a_deleted_version_stays_readable(
    registry: RegistryStore, versions: Callable[[str, int], list[str]]
) -> None:
    versions("churn", 1)
    registry.set_registered_model_alias("churn", "champion", "1")
    registry.transition_model_version_stage("churn", "1", "Production")
    registry.delete_model_version("churn", "1", user_id="ada")
    history = registry.get_model_version_history("churn", "1")
    assert [e.kind for e in history][-2:] == [
        ModelVersionEventKind.ALIAS_DELETED,
        ModelVersionEventKind.DELETED,
    ]
    assert (history[-2].alias, history[-2].user_id) == ("champion", "ada")
    assert (history[-1].from_value, history[-1].user_id) == ("Production", "ada")


# -- aliases ----------------------------------------------------------------------------------


def test_aliases_point_at_versions_and_move(
    registry: RegistryStore, versions: Callable[[str, int], list[str]]
) -> None:
    versions("churn", 3)
    registry.set_registered_model_alias("churn", "champion", "1")
    registry.set_registered_model_alias("churn", "Challenger-2_b", "2")
    assert registry.get_model_version_by_alias("churn", "champion").version == "1"
    registry.set_registered_model_alias("churn", "champion", "3")
    assert registry.get_model_version_by_alias("churn", "champion").version == "3"
    assert registry.get_registered_model("churn").aliases == {
        "Challenger-2_b": "2",
        "champion": "3",
    }
    registry.set_registered_model_alias("churn", "shadow", "3")
    assert registry.get_model_version("churn", "3").aliases == ("champion", "shadow")
    assert registry.get_model_version("churn", "1").aliases == ()
    registry.delete_registered_model_alias("churn", "champion")
    registry.delete_registered_model_alias("churn", "never-set")  # MLflow: no error
    assert registry.get_registered_model("churn").aliases == {"Challenger-2_b": "2", "shadow": "3"}


def test_an_unknown_alias_is_an_invalid_parameter(
    registry: RegistryStore, versions: Callable[[str, int], list[str]]
) -> None:
    versions("churn", 1)
    # MLflow answers 400 INVALID_PARAMETER_VALUE here, not 404.
    with pytest.raises(InvalidParameterValueError):
        registry.get_model_version_by_alias("churn", "champion")


@pytest.mark.parametrize("latest", ["latest", "LATEST", "Latest"])
def test_latest_is_the_highest_version(
    registry: RegistryStore, versions: Callable[[str, int], list[str]], latest: str
) -> None:
    versions("churn", 3)
    registry.delete_model_version("churn", "3")
    assert registry.get_model_version_by_alias("churn", latest).version == "2"


def test_latest_of_a_model_without_versions_is_not_found(registry: RegistryStore) -> None:
    registry.create_registered_model("churn")
    with pytest.raises(InvalidParameterValueError):
        registry.get_model_version_by_alias("churn", "latest")


@pytest.mark.parametrize(
    "alias",
    ["latest", "LaTeSt", "v1", "V12", "", "has space", "dot.ted", "slash/ed", "é", "a" * 256],
)
def test_reserved_and_malformed_aliases_are_refused(
    registry: RegistryStore, versions: Callable[[str, int], list[str]], alias: str
) -> None:
    versions("churn", 1)
    with pytest.raises(InvalidParameterValueError):
        registry.set_registered_model_alias("churn", alias, "1")


@pytest.mark.parametrize("alias", ["a" * 255, "v", "v1a", "version1", "-", "_"])
def test_unusual_but_valid_aliases_are_accepted(
    registry: RegistryStore, versions: Callable[[str, int], list[str]], alias: str
) -> None:
    versions("churn", 1)
    registry.set_registered_model_alias("churn", alias, "1")
    assert registry.get_model_version_by_alias("churn", alias).version == "1"


# -- history ----------------------------------------------------------------------------------


def test_history_records_who_moved_what_oldest_first(registry: RegistryStore, run: Run) -> None:
    registry.create_registered_model("churn")
    registry.create_model_version("churn", _runs_source(run), user_id="ada")
    registry.create_model_version("churn", _runs_source(run), user_id="ada")
    registry.transition_model_version_stage("churn", "1", "staging", user_id="bob")
    registry.set_registered_model_alias("churn", "champion", "1", user_id="bob")
    registry.set_registered_model_alias("churn", "champion", "2", user_id="cy")
    registry.transition_model_version_stage("churn", "1", "Production", user_id="cy")
    registry.delete_registered_model_alias("churn", "champion", user_id="di")

    def summary(version: str) -> list[tuple[object, ...]]:
        return [
            (e.kind, e.user_id, e.from_value, e.to_value, e.alias)
            for e in registry.get_model_version_history("churn", version)
        ]

    kinds = ModelVersionEventKind
    assert summary("1") == [
        (kinds.CREATED, "ada", None, "None", None),
        (kinds.STAGE, "bob", "None", "Staging", None),
        (kinds.ALIAS_SET, "bob", None, "1", "champion"),
        (kinds.ALIAS_DELETED, "cy", "1", "2", "champion"),  # moved to version 2
        (kinds.STAGE, "cy", "Staging", "Production", None),
    ]
    assert summary("2") == [
        (kinds.CREATED, "ada", None, "None", None),
        (kinds.ALIAS_SET, "cy", "1", "2", "champion"),
        (kinds.ALIAS_DELETED, "di", "2", None, "champion"),
    ]
    history = registry.get_model_version_history("churn", "1")
    assert all(e.name == "churn" and e.version == "1" for e in history)
    stamps = [e.timestamp for e in history]
    assert stamps == sorted(stamps) and stamps[0] > 0


# -- search: registered models ----------------------------------------------------------------


def _names(page: Sequence[RegisteredModel]) -> list[str]:
    return [m.name for m in page]


@pytest.fixture
def catalog(registry: RegistryStore) -> None:
    for name, team in (("churn", "risk"), ("Churn-v2", "risk"), ("fraud", "ops"), ("ranker", None)):
        registry.create_registered_model(name, tags={"team": team} if team else None)


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, ["Churn-v2", "churn", "fraud", "ranker"]),
        ("", ["Churn-v2", "churn", "fraud", "ranker"]),
        ("name = 'churn'", ["churn"]),
        ("name != 'churn'", ["Churn-v2", "fraud", "ranker"]),
        ("name LIKE 'churn%'", ["churn"]),  # LIKE is case-sensitive
        ("name ILIKE 'churn%'", ["Churn-v2", "churn"]),
        ("name IN ('fraud', 'ranker', 'nope')", ["fraud", "ranker"]),
        ("tags.team = 'risk'", ["Churn-v2", "churn"]),
        # Models without the tag match too: MLflow's client filters every search with
        # tags.`mlflow.prompt.is_prompt` != 'true' and expects untagged models back.
        ("tags.team != 'risk'", ["fraud", "ranker"]),
        ("tags.`mlflow.prompt.is_prompt` != 'true'", ["Churn-v2", "churn", "fraud", "ranker"]),
        ("tags.`team` LIKE 'o%' and name = 'fraud'", ["fraud"]),
        ("tags.team ILIKE 'RISK' AND name ILIKE '%v2'", ["Churn-v2"]),
    ],
)
def test_search_registered_models_filters(
    registry: RegistryStore, catalog: None, filter_string: str | None, expected: list[str]
) -> None:
    assert _names(registry.search_registered_models(filter_string)) == expected


@pytest.mark.parametrize(
    "filter_string",
    [
        "name = 'a' OR name = 'b'",
        "creation_timestamp > 0",
        "timestamp > 0",
        "version_number = 1",
        "name = ",
        "tags.team IS NULL",
        "name = 'a\x00'",
    ],
)
def test_search_registered_models_refuses_bad_filters(
    registry: RegistryStore, filter_string: str
) -> None:
    with pytest.raises(InvalidParameterValueError):
        registry.search_registered_models(filter_string)


def test_search_registered_models_orders_by_name_or_last_update(
    registry: RegistryStore, catalog: None
) -> None:
    registry.update_registered_model("fraud", "touched last")
    assert _names(registry.search_registered_models(order_by=["name DESC"])) == [
        "ranker",
        "fraud",
        "churn",
        "Churn-v2",
    ]
    models = registry.search_registered_models()
    by_update = sorted(models, key=lambda m: (-m.last_updated_timestamp, m.name))
    # `timestamp` and `last_updated_timestamp` both mean the last update (MLflow's SQL store).
    for clause in ("timestamp DESC", "last_updated_timestamp DESC"):
        found = registry.search_registered_models(order_by=[clause])
        assert _names(found) == [m.name for m in by_update]
    assert _names(registry.search_registered_models(order_by=["timestamp DESC"]))[0] == "fraud"


@pytest.mark.parametrize(
    "order_by",
    [
        ["creation_timestamp"],
        ["timestamp", "last_updated_timestamp DESC"],
        ["name", "name DESC"],
        ["tags.team"],
        ["name SIDEWAYS"],
    ],
)
def test_search_registered_models_refuses_bad_order_by(
    registry: RegistryStore, order_by: list[str]
) -> None:
    with pytest.raises(InvalidParameterValueError):
        registry.search_registered_models(order_by=order_by)


def test_search_registered_models_pages(registry: RegistryStore, catalog: None) -> None:
    seen: list[str] = []
    token = None
    for _ in range(3):
        page = registry.search_registered_models(max_results=3, page_token=token)
        seen += _names(page)
        token = page.token
        if token is None:
            break
    assert seen == ["Churn-v2", "churn", "fraud", "ranker"]
    assert registry.search_registered_models(max_results=4).token is None
    assert len(registry.search_registered_models(max_results=1000)) == 4


@pytest.mark.parametrize("max_results", [0, -1, 1001])
def test_search_registered_models_limits_max_results(
    registry: RegistryStore, max_results: int
) -> None:
    with pytest.raises(InvalidParameterValueError):
        registry.search_registered_models(max_results=max_results)


def test_search_refuses_a_forged_page_token(registry: RegistryStore) -> None:
    with pytest.raises(InvalidParameterValueError):
        registry.search_registered_models(page_token="not-a-token")
    with pytest.raises(InvalidParameterValueError):
        registry.search_model_versions(page_token="not-a-token")


# -- search: model versions -------------------------------------------------------------------


@pytest.fixture
def shelf(registry: RegistryStore, store: TrackingStore) -> tuple[Run, Run]:
    """churn v1 (run a, Production, tag k=a), v2 (run b), v3 (run a, Staging);
    fraud v1 (run b, tag k=b)."""
    a, b = _run(store), _run(store)
    registry.create_registered_model("churn")
    registry.create_registered_model("fraud")
    registry.create_model_version("churn", _runs_source(a, "model"), tags={"k": "a"})
    registry.create_model_version("churn", _runs_source(b, "model"), run_id=b.info.run_id)
    registry.create_model_version("churn", _runs_source(a, "better"), run_id=a.info.run_id)
    registry.create_model_version("fraud", _runs_source(b, "model"), tags={"k": "b"})
    registry.transition_model_version_stage("churn", "1", "Production")
    registry.transition_model_version_stage("churn", "3", "Staging")
    return a, b


def _keys(page: Sequence[ModelVersion]) -> list[tuple[str, str]]:
    return [(v.name, v.version) for v in page]


def test_search_model_versions_defaults_to_name_asc_version_desc(
    registry: RegistryStore, shelf: tuple[Run, Run]
) -> None:
    assert _keys(registry.search_model_versions()) == [
        ("churn", "3"),
        ("churn", "2"),
        ("churn", "1"),
        ("fraud", "1"),
    ]


def test_search_model_versions_filters(registry: RegistryStore, shelf: tuple[Run, Run]) -> None:
    a, b = shelf

    def keys(filter_string: str) -> list[tuple[str, str]]:
        return _keys(registry.search_model_versions(filter_string))

    assert keys("name = 'fraud'") == [("fraud", "1")]
    assert keys("name IN ('fraud')") == [("fraud", "1")]
    assert keys("name = 'churn' AND version_number > 1") == [("churn", "3"), ("churn", "2")]
    assert keys("version_number = 1") == [("churn", "1"), ("fraud", "1")]
    # A runs:/ source names its run, so versions registered without run_id get it too.
    assert keys(f"run_id = '{b.info.run_id}'") == [("churn", "2"), ("fraud", "1")]
    assert keys(f"run_id IN ('{a.info.run_id}', '{b.info.run_id}')") == [
        ("churn", "3"),
        ("churn", "2"),
        ("churn", "1"),
        ("fraud", "1"),
    ]
    assert keys(f"source_path = 'runs:/{a.info.run_id}/better'") == [("churn", "3")]
    assert keys(f"source_path LIKE 'runs:/{b.info.run_id}/%'") == [("churn", "2"), ("fraud", "1")]
    assert keys("tags.k = 'a'") == [("churn", "1")]
    assert keys("tags.k ILIKE 'B'") == [("fraud", "1")]
    assert keys("current_stage = 'production'") == [("churn", "1")]
    assert keys("current_stage IN ('Staging', 'PRODUCTION')") == [("churn", "3"), ("churn", "1")]
    assert keys("current_stage != 'None'") == [("churn", "3"), ("churn", "1")]


@pytest.mark.parametrize(
    "filter_string",
    [
        "version_number = 'one'",
        "creation_timestamp > 0",
        "source_path IN ('x')",
        "name = 'a' OR name = 'b'",
        "metrics.x > 1",
        "tags.k IS NULL",
    ],
)
def test_search_model_versions_refuses_bad_filters(
    registry: RegistryStore, filter_string: str
) -> None:
    with pytest.raises(InvalidParameterValueError):
        registry.search_model_versions(filter_string)


def test_search_model_versions_orders(registry: RegistryStore, shelf: tuple[Run, Run]) -> None:
    def keys(*order_by: str) -> list[tuple[str, str]]:
        return _keys(registry.search_model_versions(order_by=list(order_by)))

    assert keys("name DESC") == [("fraud", "1"), ("churn", "3"), ("churn", "2"), ("churn", "1")]
    assert keys("version_number", "name DESC") == [
        ("fraud", "1"),
        ("churn", "1"),
        ("churn", "2"),
        ("churn", "3"),
    ]
    every = registry.search_model_versions()
    by_creation = sorted(every, key=lambda v: (v.creation_timestamp, v.name, -int(v.version)))
    assert keys("creation_timestamp") == [(v.name, v.version) for v in by_creation]
    by_update = sorted(every, key=lambda v: (-v.last_updated_timestamp, v.name, -int(v.version)))
    assert keys("last_updated_timestamp DESC") == [(v.name, v.version) for v in by_update]
    for bad in (["run_id"], ["tags.k"], ["version_number", "version_number DESC"], ["stage"]):
        with pytest.raises(InvalidParameterValueError):
            registry.search_model_versions(order_by=bad)


def test_search_model_versions_pages(registry: RegistryStore, shelf: tuple[Run, Run]) -> None:
    first = registry.search_model_versions(max_results=3)
    assert len(first) == 3 and first.token
    second = registry.search_model_versions(max_results=3, page_token=first.token)
    assert _keys(first) + _keys(second) == _keys(registry.search_model_versions())
    assert second.token is None
    with pytest.raises(InvalidParameterValueError):
        registry.search_model_versions(max_results=200_001)


def test_search_results_carry_tags_and_aliases(
    registry: RegistryStore, shelf: tuple[Run, Run]
) -> None:
    registry.set_registered_model_alias("churn", "champion", "1")
    registry.set_registered_model_tag("churn", "team", "risk")
    (found,) = registry.search_model_versions("name = 'churn' AND version_number = 1")
    assert found == registry.get_model_version("churn", "1")
    assert found.aliases == ("champion",) and found.tags == {"k": "a"}
    (model,) = registry.search_registered_models("name = 'churn'")
    assert model == registry.get_registered_model("churn")


# -- sources (reference §8: MLflow was attacked through `source`) -----------------------------


def test_sources_that_name_runs_models_or_lie_inside_their_artifacts_are_accepted(
    registry: RegistryStore, store: TrackingStore, run: Run
) -> None:
    registry.create_registered_model("churn")
    model = store.create_logged_model(run.info.experiment_id, source_run_id=run.info.run_id)
    run_root, model_root = run.info.artifact_uri, model.artifact_uri
    accepted = [
        (_runs_source(run), None, None),
        (_runs_source(run, "nested/dir/model"), run.info.run_id, None),
        (f"runs:/{run.info.run_id}/", None, None),
        (f"models:/{model.model_id}", None, model.model_id),
        (f"models:/{model.model_id}", run.info.run_id, None),
        (run_root, run.info.run_id, None),
        (f"{run_root}/model", run.info.run_id, None),
        (f"{run_root}/model/", run.info.run_id, None),
        (f"{run_root}/./model", run.info.run_id, None),
        (f"{model_root}/", None, model.model_id),
        (f"{model_root}/MLmodel", run.info.run_id, model.model_id),
        ("models:/churn/1", None, None),  # another registered version (copy_model_version)
    ]
    if run_root.startswith("/"):
        accepted.append((f"file://{run_root}/model", run.info.run_id, None))
    for source, run_id, model_id in accepted:
        version = registry.create_model_version("churn", source, run_id=run_id, model_id=model_id)
        assert registry.get_model_version_download_uri("churn", version.version) == source


def _vectors(run_root: str, other_root: str, run_id: str) -> list[str]:
    """Reference §8's attack vectors, aimed at a run whose artifacts are at `run_root`."""
    return [
        "",
        "   ",
        "/etc",
        "/etc/passwd",
        "file:///etc/passwd",
        "file:///",
        "file://evil-host/share/model",
        "//proc/self/environ",
        "http://attacker.example/api/2.0/mlflow-artifacts/artifacts/model",
        "https://169.254.169.254/latest/meta-data",
        "http:///?/../../../../etc/",
        "http:///#/../../etc/",
        "C:/Windows/System32",
        "model",
        "./model",
        "s3://someone-elses-bucket/model",
        other_root,
        f"{other_root}/model",
        f"{run_root}/../../other/artifacts",
        f"{run_root}/../",
        f"{run_root}/..",
        f"{run_root}/model/../../../etc",
        f"{run_root}/%2e%2e/%2e%2e/etc",
        f"{run_root}/%2E%2E%2F%2E%2E%2Fetc",
        f"{run_root}/%252e%252e/%252e%252e/etc",
        f"{run_root}/%25252e%25252e/etc",
        f"{run_root}\\..\\..\\etc",
        f"{run_root}/model\\..\\..",
        f"{run_root}/x;/../../etc",
        f"{run_root}/#/../../etc",
        f"{run_root}/?/../../etc",
        f"{run_root}/model?x=1",
        f"{run_root}/model#frag",
        f"{run_root}/model\x00.txt",
        f"{run_root}/model%00.txt",
        f"{run_root}/model\n",
        f"{run_root}/mo\x1bdel",
        f"{run_root}-evil/model",
        f"runs:/{run_id}/../../etc",
        f"runs:/{run_id}/%2e%2e/%2e%2e/etc",
        f"runs:/{run_id}//etc/passwd",
        f"runs:/{run_id}/C:/x",
        f"runs:/{UNKNOWN_RUN}/model",
        "runs:/not a run/model",
        "runs://host/model",
        f"models:/{UNKNOWN_MODEL}",
        "models:/not-a-model-id",
        "models:/churn/99",
        "models:/churn/champion",
        "models:/churn@champion",
        f"models:/{UNKNOWN_MODEL}/../../etc",
        "mlflow-artifacts:/0/other/artifacts",
        "x" * 9000,
    ]


def test_sources_outside_the_run_or_model_are_refused(
    registry: RegistryStore, store: TrackingStore, run: Run
) -> None:
    registry.create_registered_model("churn")
    other = _run(store, "elsewhere")
    refused = []
    for source in _vectors(run.info.artifact_uri, other.info.artifact_uri, run.info.run_id):
        try:
            registry.create_model_version("churn", source, run_id=run.info.run_id)
        except InvalidParameterValueError:
            continue
        refused.append(source)
    assert refused == [], "accepted unsafe sources"
    assert registry.search_model_versions("name = 'churn'") == []


def test_the_refusal_names_the_reason(registry: RegistryStore, run: Run) -> None:
    registry.create_registered_model("churn")
    with pytest.raises(InvalidParameterValueError, match="'..'"):
        registry.create_model_version(
            "churn", f"{run.info.artifact_uri}/%252e%252e/x", run.info.run_id
        )
    with pytest.raises(InvalidParameterValueError, match="outside"):
        registry.create_model_version("churn", "/etc/passwd", run_id=run.info.run_id)


def test_a_plain_location_needs_the_run_or_model_it_belongs_to(
    registry: RegistryStore, run: Run
) -> None:
    registry.create_registered_model("churn")
    with pytest.raises(InvalidParameterValueError):
        registry.create_model_version("churn", f"{run.info.artifact_uri}/model")


def test_a_model_sources_model_must_be_the_one_given(
    registry: RegistryStore, store: TrackingStore, run: Run
) -> None:
    registry.create_registered_model("churn")
    first = store.create_logged_model(run.info.experiment_id)
    second = store.create_logged_model(run.info.experiment_id)
    with pytest.raises(InvalidParameterValueError):
        registry.create_model_version(
            "churn", f"models:/{first.model_id}", model_id=second.model_id
        )
    other = _run(store)
    with pytest.raises(InvalidParameterValueError):
        registry.create_model_version("churn", _runs_source(other), run_id=run.info.run_id)


def test_a_deleted_logged_model_cannot_be_registered(
    registry: RegistryStore, store: TrackingStore, run: Run
) -> None:
    registry.create_registered_model("churn")
    model = store.create_logged_model(run.info.experiment_id)
    store.delete_logged_model(model.model_id)
    with pytest.raises(InvalidParameterValueError):
        registry.create_model_version("churn", f"models:/{model.model_id}")


def test_unknown_run_or_model_ids_do_not_exist(registry: RegistryStore, run: Run) -> None:
    registry.create_registered_model("churn")
    with pytest.raises(ResourceDoesNotExistError):
        registry.create_model_version("churn", _runs_source(run), run_id=UNKNOWN_RUN)
    with pytest.raises(ResourceDoesNotExistError):
        registry.create_model_version("churn", _runs_source(run), model_id=UNKNOWN_MODEL)
    with pytest.raises(InvalidParameterValueError):
        registry.create_model_version("churn", _runs_source(run), run_id="not a run id")


def test_a_refused_source_uses_up_no_version_number(registry: RegistryStore, run: Run) -> None:
    registry.create_registered_model("churn")
    with pytest.raises(InvalidParameterValueError):
        registry.create_model_version("churn", "/etc/passwd", run_id=run.info.run_id)
    assert registry.create_model_version("churn", _runs_source(run)).version == "1"


# -- concurrency ------------------------------------------------------------------------------

_WORKER = """
import sys
from cairn.store.uri import registry_store

registry = registry_store(sys.argv[1])
registry.get_registered_model(sys.argv[2])  # connected and warm before the start signal
print("ready", flush=True)
sys.stdin.readline()
numbers = [registry.create_model_version(sys.argv[2], sys.argv[3]).version for _ in range(10)]
print(" ".join(numbers), flush=True)
"""


def test_concurrent_creators_get_distinct_consecutive_versions(
    registry: RegistryStore, registry_uri: str, run: Run, tmp_path: Path
) -> None:
    registry.create_registered_model("churn")
    command = [sys.executable, "-c", _WORKER, registry_uri, "churn", _runs_source(run)]
    workers = [
        subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tmp_path
        )
        for _ in range(4)
    ]
    try:
        for worker in workers:  # every worker is connected before any starts
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert all(worker.returncode == 0 for worker in workers)
    numbers = [int(n) for output in outputs for n in output.split()]
    assert sorted(numbers) == list(range(1, 41))
    for output in outputs:  # each worker's own numbers rise
        mine = [int(n) for n in output.split()]
        assert mine == sorted(mine)
    found = registry.search_model_versions("name = 'churn'", max_results=100)
    assert sorted(int(v.version) for v in found) == list(range(1, 41))
    assert all(len(registry.get_model_version_history("churn", v.version)) == 1 for v in found)
