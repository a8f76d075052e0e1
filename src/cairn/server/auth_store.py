"""Users, API tokens and experiment permissions, in the tracking database (migration 0002),
and registered-model permissions (migration 0004, keyed by the model's name).

Passwords are hashed with argon2 (argon2-cffi, the `auth` extra, imported only when a
password is hashed or checked); API tokens are 32 random bytes, stored as their SHA-256
(a token has full entropy, so a slow hash adds nothing) and shown once when created.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from cairn.exceptions import (
    CairnError,
    InvalidParameterValueError,
    ResourceAlreadyExistsError,
    ResourceDoesNotExistError,
)
from cairn.store.sql.engine import WRITE
from cairn.store.sql.schema import (
    experiment_permissions,
    experiments,
    registered_model_permissions,
    tokens,
    users,
)
from cairn.wire.scalars import ascii_digits

PERMISSIONS = ("READ", "EDIT", "MANAGE")
"""Each level includes the ones before it."""
MIN_PASSWORD_LENGTH = 8
_RANK = {name: rank for rank, name in enumerate(PERMISSIONS, start=1)}
_INSTALL_HINT = "Authentication needs argon2-cffi: pip install 'cairn[auth]'"


class AuthUnavailableError(CairnError):
    """argon2-cffi is not installed."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    is_admin: bool
    created: int


def _password_hasher() -> Any:
    try:
        from argon2 import PasswordHasher
    except ImportError:
        raise AuthUnavailableError(_INSTALL_HINT) from None
    return PasswordHasher()


def check_argon2_available() -> None:
    """Raise AuthUnavailableError (naming the extra to install) unless argon2 is there."""
    _password_hasher()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidParameterValueError(
            f"The password is too weak: use at least {MIN_PASSWORD_LENGTH} characters."
        )


def permission_allows(held: str | None, needed: str) -> bool:
    return held is not None and _RANK.get(held, 0) >= _RANK[needed]


def _now() -> int:
    return int(time.time() * 1000)


def _experiment_key(experiment_id: str) -> int:
    if not isinstance(experiment_id, str) or not ascii_digits(experiment_id):
        raise InvalidParameterValueError(f"Invalid experiment ID {experiment_id!r}.")
    return int(experiment_id)


def _user(row: Any) -> User:
    return User(int(row.id), str(row.username), bool(row.is_admin), int(row.created))


class AuthStore:
    """The three auth tables over an engine whose schema is at migration 0002 or later."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.password_verifications = 0
        """How many argon2 verifications this store has run (the server's cache keeps
        repeated Basic-auth requests from running one each)."""
        self._dummy_hash: str | None = None  # made on the first unknown user's check

    # users --------------------------------------------------------------------------------

    def create_user(self, username: str, password: str, is_admin: bool = False) -> User:
        if not username or len(username) > 255 or ":" in username or username != username.strip():
            raise InvalidParameterValueError(
                f"Invalid username {username!r}: it must be non-empty, without ':' or "
                "surrounding spaces."
            )
        check_password_strength(password)
        password_hash = _password_hasher().hash(password)
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            if conn.execute(sa.select(users.c.id).where(users.c.username == username)).first():
                raise ResourceAlreadyExistsError(f"User {username!r} already exists.")
            created = _now()
            result = conn.execute(
                users.insert().values(
                    username=username,
                    password_hash=password_hash,
                    is_admin=is_admin,
                    created=created,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return User(int(key[0]), username, is_admin, created)

    def get_user(self, username: str) -> User:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        if row is None:
            raise ResourceDoesNotExistError(f"No user {username!r}.")
        return _user(row)

    def user_by_id(self, user_id: int) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
        return None if row is None else _user(row)

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.username)).all()
        return [_user(row) for row in rows]

    def delete_user(self, username: str) -> None:
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            row = conn.execute(sa.select(users.c.id).where(users.c.username == username)).first()
            if row is None:
                raise ResourceDoesNotExistError(f"No user {username!r}.")
            for table in (tokens, experiment_permissions, registered_model_permissions):
                conn.execute(table.delete().where(table.c.user_id == row.id))
            conn.execute(users.delete().where(users.c.id == row.id))

    def verify_password(self, username: str, password: str) -> User | None:
        """The user if `password` is theirs; None otherwise (an unknown user costs a
        verification too, so timing does not tell which names exist)."""
        hasher = _password_hasher()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        stored = row.password_hash if row is not None else self._dummy(hasher)
        self.password_verifications += 1
        try:
            hasher.verify(stored, password)
        except Exception:  # argon2's VerifyMismatchError, InvalidHashError, ...
            return None
        return None if row is None else _user(row)

    def _dummy(self, hasher: Any) -> str:
        """A hash of nothing, with this hasher's parameters, to verify unknown users against."""
        if self._dummy_hash is None:
            self._dummy_hash = str(hasher.hash(secrets.token_urlsafe(16)))
        return self._dummy_hash

    # tokens -------------------------------------------------------------------------------

    def create_token(self, username: str, name: str = "") -> str:
        """A new API token for the user; only its hash is kept, so this is the one chance
        to see it."""
        user = self.get_user(username)
        token = secrets.token_urlsafe(32)
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(
                tokens.insert().values(
                    token_hash=hash_token(token), user_id=user.id, name=name, created=_now()
                )
            )
        return token

    def user_for_token(self, token: str) -> User | None:
        digest = hash_token(token)
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(users)
                .join(tokens, tokens.c.user_id == users.c.id)
                .where(tokens.c.token_hash == digest)
            ).first()
        # The lookup is by a hash of the token, so comparing it leaks nothing about the token.
        return None if row is None else _user(row)

    # permissions --------------------------------------------------------------------------

    def grant(self, username: str, experiment_id: str, permission: str) -> None:
        user = self.get_user(username)
        self.grant_to(user.id, experiment_id, permission)

    def grant_to(self, user_id: int, experiment_id: str, permission: str) -> None:
        permission = _checked_permission(permission)
        key = _experiment_key(experiment_id)
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            if (
                conn.execute(
                    sa.select(experiments.c.experiment_id).where(experiments.c.experiment_id == key)
                ).first()
                is None
            ):
                raise ResourceDoesNotExistError(f"No experiment with ID {experiment_id}.")
            where = (experiment_permissions.c.experiment_id == key) & (
                experiment_permissions.c.user_id == user_id
            )
            if conn.execute(sa.select(experiment_permissions.c.permission).where(where)).first():
                conn.execute(
                    experiment_permissions.update().where(where).values(permission=permission)
                )
            else:
                conn.execute(
                    experiment_permissions.insert().values(
                        experiment_id=key, user_id=user_id, permission=permission
                    )
                )

    def permission(self, user_id: int, experiment_id: str) -> str | None:
        if not isinstance(experiment_id, str) or not ascii_digits(experiment_id):
            return None
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(experiment_permissions.c.permission).where(
                    (experiment_permissions.c.experiment_id == int(experiment_id))
                    & (experiment_permissions.c.user_id == user_id)
                )
            ).scalar()
        return None if value is None else str(value)

    def readable_experiments(self, user_id: int) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(experiment_permissions.c.experiment_id).where(
                    experiment_permissions.c.user_id == user_id
                )
            ).all()
        return {str(row.experiment_id) for row in rows}

    # registered-model permissions ----------------------------------------------------------
    # Keyed by name, with a foreign key that cascades: a rename moves the grants and a
    # delete drops them, so no grant outlives its model or passes to a namesake.

    def grant_model(self, username: str, name: str, permission: str) -> None:
        """Give `username` `permission` on the registered model `name` (the caller checks
        that the model exists)."""
        self.grant_model_to(self.get_user(username).id, name, permission)

    def grant_model_to(self, user_id: int, name: str, permission: str) -> None:
        permission = _checked_permission(permission)
        table = registered_model_permissions
        where = (table.c.name == name) & (table.c.user_id == user_id)
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            if conn.execute(sa.select(table.c.permission).where(where)).first():
                conn.execute(table.update().where(where).values(permission=permission))
            else:
                conn.execute(
                    table.insert().values(name=name, user_id=user_id, permission=permission)
                )

    def model_permission(self, user_id: int, name: str) -> str | None:
        table = registered_model_permissions
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(table.c.permission).where(
                    (table.c.name == name) & (table.c.user_id == user_id)
                )
            ).scalar()
        return None if value is None else str(value)

    def readable_models(self, user_id: int) -> set[str]:
        table = registered_model_permissions
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.name).where(table.c.user_id == user_id)).all()
        return {str(row.name) for row in rows}

    def model_created(self, name: str, creator_id: int) -> None:
        """The creator MANAGEs the new model."""
        self.grant_model_to(creator_id, name, "MANAGE")


def _checked_permission(permission: str) -> str:
    permission = permission.upper() if isinstance(permission, str) else permission
    if permission not in PERMISSIONS:
        raise InvalidParameterValueError(
            f"Invalid permission {permission!r}: use one of {', '.join(PERMISSIONS)}."
        )
    return permission
