"""A model version's `source`, checked against the runs and logged models in the database
(the rules and their reasons are in cairn.store.model_source)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.engine import Connection

from cairn.entities import LifecycleStage
from cairn.exceptions import ResourceDoesNotExistError
from cairn.store import model_source
from cairn.store.ids import LOGGED_MODEL_ID
from cairn.store.model_source import SourceReference, refuse
from cairn.store.sql.schema import logged_models, model_versions, runs


def check_source(
    conn: Connection,
    source: str,
    run_id: str | None,
    model_id: str | None,
    external: Sequence[str] = (),
) -> None:
    """Refuse `source` unless it names an existing run, logged model or version, lies
    inside the artifacts of `run_id`'s run or `model_id`'s model (which must exist), or
    lies under one of the `external` object-store prefixes (model_source.allowed_prefix)."""
    model_source.check_safe(source)
    run_root = _run_root(conn, run_id) if run_id else None
    model_root = _model_root(conn, model_id) if model_id else None
    ref = model_source.reference(source)
    if ref is not None:
        _check_reference(conn, source, ref, run_id, model_id)
        return
    if model_source.under_allowed_prefix(source, external):
        return  # an allowed object store: accepted, never read by the server
    roots = [root for root in (run_root, model_root) if root]
    if not roots and model_source.is_external(source):
        raise model_source.refuse_external(source)
    if not roots:
        raise refuse(
            source,
            "a source is runs:/<run_id>/<path>, models:/<model_id>, or a location inside the "
            "artifacts of the run_id or model_id it is registered with",
        )
    if not any(model_source.lies_within(source, root) for root in roots):
        if model_source.is_external(source):
            raise model_source.refuse_external(source)
        owners = " or ".join(
            f"{what} {ident!r} ({root})"
            for what, ident, root in (
                ("run", run_id, run_root),
                ("logged model", model_id, model_root),
            )
            if root
        )
        raise refuse(source, f"it lies outside the artifacts of {owners}")


def _check_reference(
    conn: Connection,
    source: str,
    ref: SourceReference,
    run_id: str | None,
    model_id: str | None,
) -> None:
    if ref.kind == "run":
        if run_id and ref.ids[0] != run_id:
            raise refuse(source, f"it names run {ref.ids[0]!r}, not run_id {run_id!r}")
        if _run_root(conn, ref.ids[0], missing=None) is None:
            raise refuse(source, f"run {ref.ids[0]!r} does not exist")
    elif ref.kind == "model":
        if model_id and ref.ids[0] != model_id:
            raise refuse(source, f"it names logged model {ref.ids[0]!r}, not {model_id!r}")
        if _model_root(conn, ref.ids[0], missing=None) is None:
            raise refuse(source, f"logged model {ref.ids[0]!r} does not exist")
    else:
        name, version = ref.ids
        mv = model_versions.c
        if not conn.execute(
            select(mv.version).where(mv.name == name, mv.version == int(version))
        ).first():
            raise refuse(source, f"model version {name!r} {version} does not exist")


def check_owners(conn: Connection, run_id: str | None, model_id: str | None) -> None:
    """A prompt version's placeholder source names no files, but a `run_id` or `model_id` it
    is registered with must still exist (ResourceDoesNotExistError otherwise)."""
    if run_id:
        _run_root(conn, run_id)
    if model_id:
        _model_root(conn, model_id)


_MISSING = object()


def _run_root(conn: Connection, run_id: str, missing: object = _MISSING) -> str | None:
    """The run's artifact location ("" when it has none); a missing run raises unless a
    `missing` value (None) is given to return instead."""
    found = conn.execute(select(runs.c.artifact_uri).where(runs.c.run_uuid == run_id)).first()
    if found is None:
        if missing is _MISSING:
            raise ResourceDoesNotExistError(f"Run '{run_id}' not found.")
        return None
    return str(found[0] or "")


def _model_root(conn: Connection, model_id: str, missing: object = _MISSING) -> str | None:
    found = None
    if LOGGED_MODEL_ID.fullmatch(model_id):
        lm = logged_models.c
        found = conn.execute(
            select(lm.artifact_location).where(
                lm.model_id == model_id, lm.lifecycle_stage == LifecycleStage.ACTIVE
            )
        ).first()
    if found is None:
        if missing is _MISSING:
            raise ResourceDoesNotExistError(f"Logged model with ID '{model_id}' not found.")
        return None
    return str(found[0])


def implied_ids(
    conn: Connection, source: str, run_id: str | None, model_id: str | None
) -> tuple[str | None, str | None]:
    """(run_id, model_id) with what a checked `runs:/` or `models:/<id>` source implies filled
    in: MLflow 3's client registers `models:/<id>` alone, and lineage needs the run."""
    ref = model_source.reference(source)
    if ref is None:
        return run_id, model_id
    if ref.kind == "run":
        return run_id or ref.ids[0], model_id
    if ref.kind == "model":
        model_id = model_id or ref.ids[0]
        if run_id is None:
            run_id = conn.execute(
                select(logged_models.c.source_run_id).where(logged_models.c.model_id == model_id)
            ).scalar()
    return run_id, model_id
