"""API tokens: issued with a name and an optional expiry, listed without their secret,
revoked by id (migrations 0002 and 0009).

A token is 32 random bytes, stored as its SHA-256 (it has full entropy, so a slow hash adds
nothing) and shown once when issued. A revoked token stays in the table (who had what,
until when) and is refused like an expired one. `last_used` is written at most once a
minute per token, so a busy client does not turn every call into a write.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from cairn.durations import duration_ms
from cairn.exceptions import InvalidParameterValueError, ResourceDoesNotExistError
from cairn.store.sql.engine import WRITE
from cairn.store.sql.schema import tokens

LAST_USED_EVERY_MS = 60_000
MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class Token:
    """What may be shown of a token: never its secret."""

    token_id: str
    user_id: int
    name: str
    created: int
    last_used: int | None
    expires_at: int | None
    revoked: int | None

    def state(self, now_ms: int) -> str:
        if self.revoked is not None:
            return "REVOKED"
        if self.expires_at is not None and self.expires_at <= now_ms:
            return "EXPIRED"
        return "ACTIVE"


def now_ms() -> int:
    return int(time.time() * 1000)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def lifetime_ms(text: str) -> int:
    """A token's or session's lifetime: a positive duration, a bare number in days."""
    lifetime = duration_ms(text, bare_unit="d")
    if lifetime <= 0:
        raise InvalidParameterValueError(f"Invalid duration {text!r}: it must be positive.")
    return lifetime


def _token(row: Any) -> Token:
    return Token(
        str(row.token_id),
        int(row.user_id),
        str(row.name),
        int(row.created),
        None if row.last_used is None else int(row.last_used),
        None if row.expires_at is None else int(row.expires_at),
        None if row.revoked is None else int(row.revoked),
    )


class TokenStore:
    """The tokens table over an engine whose schema is at migration 0009 or later."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def issue(
        self, user_id: int, name: str = "", expires_at: int | None = None
    ) -> tuple[Token, str]:
        """A new token for the user and its secret (the one chance to see it)."""
        if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH:
            raise InvalidParameterValueError(
                f"A token's name is text of at most {MAX_NAME_LENGTH} characters."
            )
        created = now_ms()
        if expires_at is not None and expires_at <= created:
            raise InvalidParameterValueError("A token's expiry must lie in the future.")
        secret = secrets.token_urlsafe(32)
        token = Token(secrets.token_hex(8), user_id, name, created, None, expires_at, None)
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(
                tokens.insert().values(
                    token_hash=hash_token(secret),
                    token_id=token.token_id,
                    user_id=user_id,
                    name=name,
                    created=created,
                    expires_at=expires_at,
                )
            )
        return token, secret

    def list(self, user_id: int) -> list[Token]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(tokens).where(tokens.c.user_id == user_id).order_by(tokens.c.created)
            ).all()
        return [_token(row) for row in rows]

    def revoke(self, user_id: int, token_id: str) -> Token:
        """Revoke the user's token `token_id` (revoking twice keeps the first time)."""
        where = (tokens.c.user_id == user_id) & (tokens.c.token_id == str(token_id))
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            row = conn.execute(sa.select(tokens).where(where)).first()
            if row is None:
                raise ResourceDoesNotExistError(f"No token {token_id!r} for this user.")
            if row.revoked is None:
                conn.execute(tokens.update().where(where).values(revoked=now_ms()))
                row = conn.execute(sa.select(tokens).where(where)).one()
        return _token(row)

    def user_id_for(self, secret: str) -> int | None:
        """The id of the user whose live token `secret` is; None for an unknown, expired
        or revoked one."""
        digest = hash_token(secret)
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.token_hash == digest)).first()
        # The lookup is by a hash of the token, so comparing it leaks nothing about the token.
        if row is None:
            return None
        now = now_ms()
        if _token(row).state(now) != "ACTIVE":
            return None
        if row.last_used is None or now - int(row.last_used) >= LAST_USED_EVERY_MS:
            with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
                conn.execute(
                    tokens.update().where(tokens.c.token_hash == digest).values(last_used=now)
                )
        return int(row.user_id)
