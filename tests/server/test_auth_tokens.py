"""API tokens with expiry and revocation, from the `cairn users` commands, and the upgrade
of a database whose tokens predate migration 0009 (they keep working, with an id)."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from cairn.cli.users import users
from cairn.server.auth_store import AuthStore
from cairn.server.tokens_store import hash_token
from cairn.store.sql.engine import create
from cairn.store.sql.migrate import ensure_schema, upgrade

PASSWORD = "correct-horse-battery"


def _cli(database: Path, *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(
        users, [*args, "--backend-store-uri", f"sqlite:///{database}"], input=stdin
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_tokens_from_the_cli_expire_list_and_revoke(tmp_path: Path) -> None:
    database = tmp_path / "cairn.db"
    _cli(database, "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    laptop = _cli(database, "token", "alice", "--name", "laptop", "--expires-in", "90d").strip()
    forever = _cli(database, "token", "alice", "--name", "ci").strip()
    listed = _cli(database, "tokens", "alice").splitlines()
    assert len(listed) == 2 and all("ACTIVE" in line for line in listed)
    assert laptop not in "".join(listed) and forever not in "".join(listed)
    engine = create(f"sqlite:///{database}")
    try:
        store = AuthStore(engine)
        assert store.user_for_token(laptop) == store.get_user("alice")
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT token_id, name, expires_at FROM tokens")).all()
        by_name = {row.name: row for row in rows}
        expected = time.time() * 1000 + 90 * 86_400_000
        assert abs(by_name["laptop"].expires_at - expected) < 60_000
        assert by_name["ci"].expires_at is None
        revoked = _cli(database, "revoke-token", "alice", by_name["laptop"].token_id)
        assert "Revoked" in revoked
        assert store.user_for_token(laptop) is None
        assert store.user_for_token(forever) is not None
        assert "REVOKED" in _cli(database, "tokens", "alice")
    finally:
        engine.dispose()
    refused = CliRunner().invoke(
        users,
        ["token", "alice", "--expires-in", "soon", "--backend-store-uri", f"sqlite:///{database}"],
    )
    assert refused.exit_code != 0 and "Invalid duration" in refused.output


def test_a_service_account_has_tokens_and_no_password(tmp_path: Path) -> None:
    database = tmp_path / "cairn.db"
    _cli(database, "create-service", "nightly")
    secret = _cli(database, "token", "nightly", "--name", "pipeline").strip()
    assert "nightly (service)" in _cli(database, "list")
    engine = create(f"sqlite:///{database}")
    try:
        store = AuthStore(engine)
        user = store.user_for_token(secret)
        assert user is not None and user.kind == "service" and not user.is_admin
        assert store.verify_password("nightly", "") is None
        assert store.verify_password("nightly", PASSWORD) is None
    finally:
        engine.dispose()


def test_tokens_made_before_migration_0009_still_work(tmp_path: Path) -> None:
    engine = create(f"sqlite:///{tmp_path / 'cairn.db'}")
    try:
        upgrade(engine, "0008")
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO users (username, password_hash, is_admin, created) "
                    "VALUES ('old', 'x', 1, 1)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO tokens (token_hash, user_id, name, created) "
                    "VALUES (:hash, 1, 'legacy', 1)"
                ),
                {"hash": hash_token("an-old-token")},
            )
        ensure_schema(engine, backup=False)
        store = AuthStore(engine)
        user = store.user_for_token("an-old-token")
        assert user is not None and user.username == "old" and user.is_admin
        assert user.kind == "password"
        (token,) = store.tokens.list(user.id)
        assert token.token_id == hash_token("an-old-token")[:16] and token.expires_at is None
        store.tokens.revoke(user.id, token.token_id)
        assert store.user_for_token("an-old-token") is None
    finally:
        engine.dispose()
