"""What only the SQL registry has: its schema's cascades. The server's per-model permissions
live in `registered_model_permissions`; a renamed model keeps its rows there, a deleted one
(or a deleted user) loses them, on SQLite, PostgreSQL and MariaDB alike."""

from __future__ import annotations

import sqlalchemy as sa

from cairn.store.sql import migrate
from cairn.store.sql.registry import SqlRegistryStore
from cairn.store.sql.tracking import SqlTrackingStore


def _add_user(store: SqlTrackingStore, username: str) -> int:
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (username, password_hash, is_admin, created) "
                "VALUES (:u, 'x', :admin, 0)"
            ),
            {"u": username, "admin": False},
        )
        user_id = conn.execute(
            sa.text("SELECT id FROM users WHERE username = :u"), {"u": username}
        ).scalar_one()
    return int(user_id)


def _grant(store: SqlTrackingStore, name: str, user_id: int, permission: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO registered_model_permissions (name, user_id, permission) "
                "VALUES (:n, :u, :p)"
            ),
            {"n": name, "u": user_id, "p": permission},
        )


def _permissions(store: SqlTrackingStore) -> list[tuple[str, int, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT name, user_id, permission FROM registered_model_permissions "
                "ORDER BY name, user_id"
            )
        )
        return [(r[0], int(r[1]), r[2]) for r in rows]


def test_the_schema_is_at_head(store: SqlTrackingStore, registry: SqlRegistryStore) -> None:
    assert migrate.HEAD >= "0004"  # the registry migration, or a later one
    assert migrate.current_revision(registry.engine) == migrate.HEAD


def test_permissions_follow_a_rename_and_go_with_a_delete(
    store: SqlTrackingStore, registry: SqlRegistryStore
) -> None:
    ada, bob = _add_user(store, "ada"), _add_user(store, "bob")
    try:
        registry.create_registered_model("churn")
        registry.create_registered_model("fraud")
        _grant(store, "churn", ada, "MANAGE")
        _grant(store, "churn", bob, "READ")
        _grant(store, "fraud", ada, "EDIT")

        registry.rename_registered_model("churn", "attrition")
        assert _permissions(store) == [
            ("attrition", ada, "MANAGE"),
            ("attrition", bob, "READ"),
            ("fraud", ada, "EDIT"),
        ]

        registry.delete_registered_model("attrition")
        assert _permissions(store) == [("fraud", ada, "EDIT")]

        with store.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM users WHERE id = :u"), {"u": ada})
        assert _permissions(store) == []
    finally:
        with store.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM users WHERE username IN ('ada', 'bob')"))
