"""Dataset inputs of runs: each dataset stored once per experiment, linked to many runs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import Connection

from cairn.entities import DatasetInput
from cairn.exceptions import InvalidParameterValueError
from cairn.store.sql import dialects
from cairn.store.sql.schema import datasets, input_tags, inputs, runs

if TYPE_CHECKING:
    from cairn.store.sql.tracking import SqlTrackingStore

# MLflow's limits for dataset fields.
_LIMITS = {
    "name": 500,
    "digest": 36,
    "source_type": 36,
    "source": 65_535,
    "schema": 1_048_575,
    "profile": 16_777_215,
}
_TAG_KEY_LIMIT, _TAG_VALUE_LIMIT = 255, 500


def validate(item: DatasetInput) -> None:
    dataset = item.dataset
    for field, limit in _LIMITS.items():
        value = getattr(dataset, field)
        if field in ("name", "digest", "source_type", "source") and not value:
            raise InvalidParameterValueError(f"Dataset {field} must not be empty.")
        if value is not None and "\x00" in value:
            raise InvalidParameterValueError(f"Dataset {field} contains a NUL character.")
        if value is not None and len(value) > limit:
            raise InvalidParameterValueError(
                f"Dataset {field} has {len(value)} characters; the limit is {limit}."
            )
    for tag in item.tags:
        if "\x00" in tag.key or "\x00" in tag.value:
            raise InvalidParameterValueError("A dataset input tag contains a NUL character.")
        if not tag.key or len(tag.key) > _TAG_KEY_LIMIT or len(tag.value) > _TAG_VALUE_LIMIT:
            raise InvalidParameterValueError(
                f"Invalid dataset input tag {tag.key!r}: keys are 1-{_TAG_KEY_LIMIT} "
                f"characters, values at most {_TAG_VALUE_LIMIT}."
            )


def link_row(run_id: str, dataset_uuid: str, output: bool) -> dict[str, str]:
    """An `inputs` row: dataset → run for what a run read (MLflow's form), run → dataset
    for what it wrote (predictions), so each direction is its own index range."""
    if output:
        return {
            "source_type": "RUN",
            "source_id": run_id,
            "destination_type": "DATASET",
            "destination_id": dataset_uuid,
        }
    return {
        "source_type": "DATASET",
        "source_id": dataset_uuid,
        "destination_type": "RUN",
        "destination_id": run_id,
    }


def log(
    conn: Connection,
    store: SqlTrackingStore,
    run_id: str,
    items: Sequence[DatasetInput],
    output: bool = False,
    any_stage: bool = False,
) -> None:
    """Link each dataset to the run (as read, or with `output` as written), creating the
    dataset in the run's experiment if new. Only to an active run, unless `any_stage` (an
    import, which brings deleted runs along too)."""
    for item in items:
        validate(item)
    if not any_stage:
        store._check_active_run(conn, run_id)
    experiment_id = conn.execute(
        select(runs.c.experiment_id).where(runs.c.run_uuid == run_id)
    ).scalar_one()
    for item in items:
        d = item.dataset
        dialects.insert_ignore(
            conn,
            datasets,
            [
                {
                    "dataset_uuid": uuid.uuid4().hex,
                    "experiment_id": experiment_id,
                    "name": d.name,
                    "digest": d.digest,
                    "dataset_source_type": d.source_type,
                    "dataset_source": d.source,
                    "dataset_schema": d.schema,
                    "dataset_profile": d.profile,
                }
            ],
        )
        dataset_uuid = conn.execute(
            select(datasets.c.dataset_uuid).where(
                datasets.c.experiment_id == experiment_id,
                datasets.c.name == d.name,
                datasets.c.digest == d.digest,
            )
        ).scalar_one()
        link = link_row(run_id, dataset_uuid, output)
        dialects.insert_ignore(conn, inputs, [{"input_uuid": uuid.uuid4().hex, **link}])
        input_uuid = conn.execute(
            select(inputs.c.input_uuid).where(*(inputs.c[k] == v for k, v in link.items()))
        ).scalar_one()
        dialects.upsert(
            conn,
            input_tags,
            [{"input_uuid": input_uuid, "name": t.key, "value": t.value} for t in item.tags],
            ("input_uuid", "name"),
        )
