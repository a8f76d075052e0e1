"""Garbage collection of artifacts in S3 (a real moto server): the objects of the runs and
logged models collected go, counted from the listing; protected ones are not touched; a
server's `mlflow-artifacts:/` locations resolve under an s3:// destination."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from gc_world import make_run, model_of, rows_naming

from cairn.artifact_store.uri import artifact_repository
from cairn.entities.gc import GcRequest
from cairn.maintenance.gc import collect_garbage
from cairn.store.sql.registry import SqlRegistryStore
from cairn.store.sql.tracking import SqlTrackingStore


@pytest.fixture
def bucket(moto_endpoint: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CAIRN_S3_ENDPOINT_URL", moto_endpoint)
    name = f"cairn-gc-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return name


def _objects(s3_client: Any, bucket: str) -> dict[str, tuple[int, str]]:
    """key → (size, ETag) of every object in the bucket."""
    found = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents") or []:
            found[item["Key"]] = (int(item["Size"]), item["ETag"])
    return found


def test_s3_objects_of_collected_runs_go_and_protected_ones_stay(
    sqlite_store: SqlTrackingStore, bucket: str, s3_client: Any, tmp_path: Path
) -> None:
    experiment = sqlite_store.create_experiment("s3", artifact_location=f"s3://{bucket}/exp")
    doomed = [make_run(sqlite_store, experiment, tmp_path) for _ in range(2)]
    held, alive = (
        make_run(sqlite_store, experiment, tmp_path),
        make_run(sqlite_store, experiment, tmp_path),
    )
    registry = SqlRegistryStore(sqlite_store.db_uri)
    registry.create_registered_model("m")
    registry.create_model_version("m", f"runs:/{held}/model")
    registry.close()
    for run_id in [*doomed, held]:
        sqlite_store.delete_run(run_id)
    models = [model_of(sqlite_store, r) for r in doomed]
    before = _objects(s3_client, bucket)

    dry = collect_garbage(sqlite_store, GcRequest(dry_run=True))
    assert _objects(s3_client, bucket) == before
    report = collect_garbage(sqlite_store, GcRequest())

    after = _objects(s3_client, bucket)
    gone = {k: v for k, v in before.items() if k not in after}
    assert sorted(report.runs) == sorted(dry.runs) == sorted(doomed)
    assert sorted(report.logged_models) == sorted(models)
    assert (dry.files, dry.bytes) == (report.files, report.bytes)
    assert report.files == len(gone) == 2 * 3
    assert report.bytes == sum(size for size, _ in gone.values())
    assert all(any(i in key for i in [*doomed, *models]) for key in gone)
    assert {k: v for k, v in before.items() if held in k or alive in k} == {
        k: v for k, v in after.items() if held in k or alive in k
    }
    assert [k.kind for k in report.kept] == ["run"] and report.kept[0].id == held
    assert all(rows_naming(sqlite_store, r) == {} for r in doomed)


def test_proxied_locations_resolve_under_an_s3_destination(
    sqlite_store: SqlTrackingStore, bucket: str, s3_client: Any, tmp_path: Path
) -> None:
    destination = f"s3://{bucket}/store"
    experiment = sqlite_store.create_experiment("proxied", artifact_location="mlflow-artifacts:/7")
    run_id = sqlite_store.create_run(experiment, "u", 0, [], None).info.run_id
    local = tmp_path / "weights.bin"
    local.write_bytes(b"w" * 4096)
    artifact_repository(f"{destination}/7/{run_id}/artifacts").log_artifact(str(local), "model")
    sqlite_store.delete_experiment(experiment)

    report = collect_garbage(sqlite_store, GcRequest(), artifacts_destination=destination)

    assert report.runs == [run_id] and report.experiments == [experiment]
    assert (report.files, report.bytes) == (1, 4096)
    assert _objects(s3_client, bucket) == {}
