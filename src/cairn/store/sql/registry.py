"""SqlRegistryStore: MLflow's model registry on SQLite, PostgreSQL or MySQL/MariaDB, in the
same database as the tracking store (sources are checked against its runs and models).

Versions are numbered from `registered_models.last_version`: creating one runs
`UPDATE … SET last_version = last_version + 1` and reads the counter back in the same
transaction, so concurrent creators queue on the model's row and get distinct consecutive
numbers, and a deleted version's number is never handed out again (MLflow's rule).

Every creation, stage transition, alias move and deletion writes a `model_version_events`
row in the transaction that makes the change. Events outlive their version (the history of
a deleted version stays readable, ending with its `deleted` event) and go with their model
when it is renamed or deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from cairn.entities import (
    ModelVersion,
    ModelVersionEventKind,
    ModelVersionStage,
    ModelVersionStatus,
    PagedList,
    RegisteredModel,
)
from cairn.exceptions import InvalidParameterValueError, ResourceAlreadyExistsError
from cairn.store import page_token as tokens
from cairn.store import registry_validation as valid
from cairn.store import search
from cairn.store import validation as check
from cairn.store.base import (
    MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
    MODEL_VERSIONS_MAX_RESULTS_LIMIT,
    REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
    REGISTERED_MODELS_MAX_RESULTS_LIMIT,
    RegistryStore,
)
from cairn.store.model_source import allowed_prefix
from cairn.store.sql import dialects, migrate, registry_loading, registry_query
from cairn.store.sql.registry_aliases import SqlRegistryAliases
from cairn.store.sql.registry_rows import (
    checked_user,
    lock_model,
    lock_version,
    model_missing,
    now_ms,
    record,
    touch_model,
    version_missing,
)
from cairn.store.sql.registry_sources import check_owners, check_source, implied_ids
from cairn.store.sql.schema import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)

T = TypeVar("T")
_ARCHIVING_STAGES = (ModelVersionStage.STAGING, ModelVersionStage.PRODUCTION)
_rm, _mv, _alias = registered_models.c, model_versions.c, registered_model_aliases.c


class SqlRegistryStore(SqlRegistryAliases, RegistryStore):
    """The RegistryStore contract (see store/base.py) over one SQL database."""

    def __init__(self, db_uri: str, *, allowed_model_sources: Sequence[str] = ()) -> None:
        """`allowed_model_sources`: object-store prefixes (model_source.allowed_prefix) a
        version's source may lie under besides its run's or model's artifacts."""
        self.db_uri = db_uri
        self.allowed_model_sources = tuple(allowed_prefix(p) for p in allowed_model_sources)
        self.engine: Engine = migrate.migrated_engine(db_uri)

    def close(self) -> None:
        self.engine.dispose()

    def _unique(self, name: str, work: Callable[[Connection], T]) -> T:
        """`work` in a retried write; a key taken by a concurrent writer is a taken name."""
        try:
            return self._retrying(work)
        except IntegrityError:
            raise ResourceAlreadyExistsError(
                f"Registered Model (name={name}) already exists."
            ) from None

    # -- registered models --------------------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        user_id: str | None = None,
    ) -> RegisteredModel:
        name = valid.model_name(name)
        tag_rows = [{"name": name, "key": k, "value": v} for k, v in valid.tags(tags).items()]
        row = {
            "name": name,
            "description": valid.text("Description", description, valid.MAX_DESCRIPTION_LENGTH),
            "user_id": checked_user(user_id),
            "last_version": 0,
        }

        def work(conn: Connection) -> None:
            if conn.execute(select(_rm.name).where(_rm.name == name)).first():
                raise ResourceAlreadyExistsError(f"Registered Model (name={name}) already exists.")
            now = now_ms()
            conn.execute(
                insert(registered_models).values(**row, creation_time=now, last_updated_time=now)
            )
            if tag_rows:
                conn.execute(insert(registered_model_tags), tag_rows)

        self._unique(name, work)
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        name = valid.model_name(name)
        with self._read() as conn:
            found = registry_loading.load_models(conn, [name])
        if not found:
            raise model_missing(name)
        return found[0]

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        name, new_name = valid.model_name(name), valid.model_name(new_name)

        def work(conn: Connection) -> None:
            lock_model(conn, name)
            if (
                new_name != name
                and conn.execute(select(_rm.name).where(_rm.name == new_name)).first()
            ):
                raise ResourceAlreadyExistsError(
                    f"Registered Model (name={new_name}) already exists."
                )
            # Versions, tags, aliases, history and permissions follow through their
            # foreign keys' ON UPDATE CASCADE.
            conn.execute(
                update(registered_models)
                .where(_rm.name == name)
                .values(name=new_name, last_updated_time=now_ms())
            )

        self._unique(new_name, work)
        return self.get_registered_model(new_name)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        name = valid.model_name(name)
        text = valid.text("Description", description, valid.MAX_DESCRIPTION_LENGTH)

        def work(conn: Connection) -> None:
            lock_model(conn, name)
            conn.execute(
                update(registered_models)
                .where(_rm.name == name)
                .values(description=text, last_updated_time=now_ms())
            )

        self._retrying(work)
        return self.get_registered_model(name)

    def delete_registered_model(self, name: str) -> None:
        name = valid.model_name(name)

        def work(conn: Connection) -> None:
            lock_model(conn, name)
            # Everything else goes through ON DELETE CASCADE; versions first keeps MySQL
            # from walking the longest cascade chain inside one statement.
            conn.execute(delete(model_versions).where(_mv.name == name))
            conn.execute(delete(registered_models).where(_rm.name == name))

        self._retrying(work)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = REGISTERED_MODELS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        limit = tokens.max_results(max_results, REGISTERED_MODELS_MAX_RESULTS_LIMIT)
        offset = tokens.decode(page_token)
        filters = search.parse_filter(search.REGISTERED_MODEL_GRAMMAR, filter_string)
        order = search.parse_order_by(search.REGISTERED_MODEL_GRAMMAR, order_by)
        stmt = registry_query.registered_model_search(filters, order)
        with self._search_read() as conn:
            names = list(conn.execute(stmt.limit(limit + 1).offset(offset)).scalars())
            found = registry_loading.load_models(conn, names[:limit])
        return PagedList(found, tokens.next_token(offset, limit, len(names)))

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        name, key = valid.model_name(name), valid.tag_key(key)
        row = {"name": name, "key": key, "value": valid.tag_value(key, value)}

        def work(conn: Connection) -> None:
            lock_model(conn, name)
            dialects.upsert(conn, registered_model_tags, [row], ("name", "key"))

        self._retrying(work)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        name, key = valid.model_name(name), valid.tag_key(key)
        t = registered_model_tags.c

        def work(conn: Connection) -> None:
            lock_model(conn, name)
            # MLflow deletes a missing tag silently.
            conn.execute(delete(registered_model_tags).where(t.name == name, t.key == key))

        self._retrying(work)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        name = valid.model_name(name)
        wanted = {s.value for s in valid.stages(stages)}
        with self._read() as conn:
            if not conn.execute(select(_rm.name).where(_rm.name == name)).first():
                raise model_missing(name)
            keys = registry_loading.latest_version_keys(conn, [name]).get(name, [])
            latest = registry_loading.load_versions(conn, keys)
        return [v for v in latest if v.current_stage in wanted]

    # -- model versions ------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        user_id: str | None = None,
    ) -> ModelVersion:
        name = valid.model_name(name)
        tag_values = valid.tags(tags)
        prompt = valid.is_prompt_version(tag_values)
        if prompt:
            valid.prompt_source(source)
        row = {
            "name": name,
            "source": source,
            "run_id": check.run_id(run_id) if run_id else None,
            "model_id": model_id or None,
            "run_link": valid.text("run_link", run_link, valid.MAX_RUN_LINK_LENGTH),
            "description": valid.text("Description", description, valid.MAX_DESCRIPTION_LENGTH),
            "user_id": checked_user(user_id),
            "current_stage": ModelVersionStage.NONE.value,
            "status": ModelVersionStatus.READY.value,  # MLflow OSS: READY at once
        }

        def work(conn: Connection) -> int:
            now = now_ms()
            bumped = conn.execute(
                update(registered_models)
                .where(_rm.name == name)
                .values(last_version=_rm.last_version + 1, last_updated_time=now)
            )
            if bumped.rowcount == 0:
                raise model_missing(name)
            # Checked with the model's row locked; a refusal rolls the counter back.
            if prompt:  # a placeholder source: no files to check (valid.prompt_source)
                check_owners(conn, row["run_id"], row["model_id"])
            else:
                check_source(
                    conn, source, row["run_id"], row["model_id"], self.allowed_model_sources
                )
                row["run_id"], row["model_id"] = implied_ids(
                    conn, source, row["run_id"], row["model_id"]
                )
            number = int(
                conn.execute(select(_rm.last_version).where(_rm.name == name)).scalar_one()
            )
            conn.execute(
                insert(model_versions).values(
                    **row, version=number, creation_time=now, last_updated_time=now
                )
            )
            if tag_values:
                conn.execute(
                    insert(model_version_tags),
                    [
                        {"name": name, "version": number, "key": k, "value": v}
                        for k, v in tag_values.items()
                    ],
                )
            record(
                conn,
                name,
                number,
                ModelVersionEventKind.CREATED,
                row["user_id"],
                now,
                to_value=ModelVersionStage.NONE.value,
            )
            return number

        number = self._retrying(work)
        return self.get_model_version(name, str(number))

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        name, number = valid.model_name(name), valid.version(version)
        with self._read() as conn:
            found = registry_loading.load_versions(conn, [(name, number)])
        if not found:
            raise version_missing(name, number)
        return found[0]

    def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersion:
        name, number = valid.model_name(name), valid.version(version)
        text = valid.text("Description", description, valid.MAX_DESCRIPTION_LENGTH)

        def work(conn: Connection) -> None:
            lock_version(conn, name, number)
            now = now_ms()
            conn.execute(
                update(model_versions)
                .where(_mv.name == name, _mv.version == number)
                .values(description=text, last_updated_time=now)
            )
            touch_model(conn, name, now)

        self._retrying(work)
        return self.get_model_version(name, str(number))

    def transition_model_version_stage(
        self,
        name: str,
        version: str,
        stage: str,
        archive_existing_versions: bool = False,
        user_id: str | None = None,
    ) -> ModelVersion:
        name, number, target = valid.model_name(name), valid.version(version), valid.stage(stage)
        if archive_existing_versions and target not in _ARCHIVING_STAGES:
            raise InvalidParameterValueError(
                f"Model version transition cannot archive existing model versions because "
                f"'{target.value}' is not an active stage. Valid stages are "
                f"{', '.join(s.value for s in _ARCHIVING_STAGES)}."
            )
        actor = checked_user(user_id)

        def work(conn: Connection) -> None:
            current = lock_version(conn, name, number)
            now = now_ms()
            self._move(conn, name, number, current.current_stage, target.value, actor, now)
            if archive_existing_versions:
                others = conn.execute(
                    select(_mv.version).where(
                        _mv.name == name, _mv.current_stage == target.value, _mv.version != number
                    )
                ).scalars()
                for other in list(others):
                    archived = ModelVersionStage.ARCHIVED.value
                    self._move(conn, name, other, target.value, archived, actor, now)
            touch_model(conn, name, now)

        self._retrying(work)
        return self.get_model_version(name, str(number))

    @staticmethod
    def _move(
        conn: Connection, name: str, number: int, old: str, new: str, actor: str | None, now: int
    ) -> None:
        conn.execute(
            update(model_versions)
            .where(_mv.name == name, _mv.version == number)
            .values(current_stage=new, last_updated_time=now)
        )
        record(
            conn,
            name,
            number,
            ModelVersionEventKind.STAGE,
            actor,
            now,
            from_value=old,
            to_value=new,
        )

    def delete_model_version(self, name: str, version: str, user_id: str | None = None) -> None:
        name, number, actor = valid.model_name(name), valid.version(version), checked_user(user_id)

        def work(conn: Connection) -> None:
            current = lock_version(conn, name, number)
            now = now_ms()
            aliases = conn.execute(
                select(_alias.alias).where(_alias.name == name, _alias.version == number)
            ).scalars()
            for alias in sorted(aliases):
                record(
                    conn,
                    name,
                    number,
                    ModelVersionEventKind.ALIAS_DELETED,
                    actor,
                    now,
                    from_value=str(number),
                    alias=alias,
                )
            conn.execute(
                delete(registered_model_aliases).where(
                    _alias.name == name, _alias.version == number
                )
            )
            conn.execute(
                delete(model_version_tags).where(
                    model_version_tags.c.name == name, model_version_tags.c.version == number
                )
            )
            conn.execute(delete(model_versions).where(_mv.name == name, _mv.version == number))
            record(
                conn,
                name,
                number,
                ModelVersionEventKind.DELETED,
                actor,
                now,
                from_value=current.current_stage,
            )
            touch_model(conn, name, now)

        self._retrying(work)

    def get_model_version_download_uri(self, name: str, version: str) -> str:
        return self.get_model_version(name, version).source

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = MODEL_VERSIONS_MAX_RESULTS_DEFAULT,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        limit = tokens.max_results(max_results, MODEL_VERSIONS_MAX_RESULTS_LIMIT)
        offset = tokens.decode(page_token)
        filters = search.parse_filter(search.MODEL_VERSION_GRAMMAR, filter_string)
        order = search.parse_order_by(search.MODEL_VERSION_GRAMMAR, order_by)
        stmt = registry_query.model_version_search(filters, order)
        with self._search_read() as conn:
            rows = list(conn.execute(stmt.limit(limit + 1).offset(offset)))
            found = registry_loading.versions_from_rows(conn, rows[:limit])
        return PagedList(found, tokens.next_token(offset, limit, len(rows)))

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        name, number, key = valid.model_name(name), valid.version(version), valid.tag_key(key)
        row = {"name": name, "version": number, "key": key, "value": valid.tag_value(key, value)}

        def work(conn: Connection) -> None:
            lock_version(conn, name, number)
            dialects.upsert(conn, model_version_tags, [row], ("name", "version", "key"))

        self._retrying(work)

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        name, number, key = valid.model_name(name), valid.version(version), valid.tag_key(key)
        t = model_version_tags.c

        def work(conn: Connection) -> None:
            lock_version(conn, name, number)
            conn.execute(
                delete(model_version_tags).where(t.name == name, t.version == number, t.key == key)
            )

        self._retrying(work)
