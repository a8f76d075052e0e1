"""Users, API tokens and experiment permissions, in the tracking database (migration 0002),
registered-model permissions (migration 0004, keyed by the model's name), and the kinds of
account and grants from the identity provider's groups (migration 0009).

Passwords are hashed with argon2 (argon2-cffi, the `auth` extra, imported only when a
password is hashed or checked); API tokens live in cairn.server.tokens_store. A user is a
"password" account, an "oidc" one (signs in through the provider: no password) or a
"service" one (API tokens only). A user's permission on an experiment or model is the
higher of the grant made by hand and the one their groups give (cairn.server.oidc_accounts
rewrites the latter at each login); admins are those marked by hand or by their groups.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, Table

from cairn.exceptions import (
    CairnError,
    InvalidParameterValueError,
    ResourceAlreadyExistsError,
    ResourceDoesNotExistError,
)
from cairn.extras import install_hint
from cairn.server.tokens_store import TokenStore, now_ms
from cairn.store.sql.engine import WRITE
from cairn.store.sql.schema import (
    experiment_group_permissions,
    experiment_permissions,
    experiments,
    registered_model_group_permissions,
    registered_model_permissions,
    tokens,
    users,
)
from cairn.wire.scalars import ascii_digits

PERMISSIONS = ("READ", "EDIT", "MANAGE")
"""Each level includes the ones before it."""
PASSWORD, OIDC, SERVICE = "password", "oidc", "service"  # the kinds of account
MIN_PASSWORD_LENGTH = 8
_RANK = {name: rank for rank, name in enumerate(PERMISSIONS, start=1)}
_EXPERIMENT_GRANTS = (experiment_permissions, experiment_group_permissions)
_MODEL_GRANTS = (registered_model_permissions, registered_model_group_permissions)
_INSTALL_HINT = f"Authentication needs argon2-cffi: {install_hint('auth')}"


class AuthUnavailableError(CairnError):
    """argon2-cffi is not installed."""


class NoSuchUserError(ResourceDoesNotExistError):
    """A user name that no account has (the CLI adds how to create one)."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    is_admin: bool  # by hand or by the user's groups
    created: int
    kind: str = PASSWORD
    sessions_after: int | None = None  # browser sessions begun before this are over


def _password_hasher() -> Any:
    try:
        from argon2 import PasswordHasher
    except ImportError:
        raise AuthUnavailableError(_INSTALL_HINT) from None
    return PasswordHasher()


def check_argon2_available() -> None:
    """Raise AuthUnavailableError (naming the extra to install) unless argon2 is there."""
    _password_hasher()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidParameterValueError(
            f"The password is too weak: use at least {MIN_PASSWORD_LENGTH} characters."
        )


def permission_allows(held: str | None, needed: str) -> bool:
    return held is not None and _RANK.get(held, 0) >= _RANK[needed]


def _experiment_key(experiment_id: str) -> int:
    if not isinstance(experiment_id, str) or not ascii_digits(experiment_id):
        raise InvalidParameterValueError(f"Invalid experiment ID {experiment_id!r}.")
    return int(experiment_id)


def _user(row: Any) -> User:
    return User(
        int(row.id),
        str(row.username),
        bool(row.is_admin) or bool(row.group_admin),
        int(row.created),
        str(row.kind),
        None if row.sessions_after is None else int(row.sessions_after),
    )


def _check_username(username: str) -> None:
    if not username or len(username) > 255 or ":" in username or username != username.strip():
        raise InvalidParameterValueError(
            f"Invalid username {username!r}: it must be non-empty, without ':' or "
            "surrounding spaces."
        )


def _higher(*held: Any) -> str | None:
    found = [str(p) for p in held if p is not None]
    return max(found, key=lambda p: _RANK.get(p, 0)) if found else None


class AuthStore:
    """The auth tables over an engine whose schema is at migration 0009 or later."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tokens = TokenStore(engine)
        self.password_verifications = 0
        """How many argon2 verifications this store has run (the server's cache keeps
        repeated Basic-auth requests from running one each)."""
        self._dummy_hash: str | None = None  # made on the first unknown user's check

    # users --------------------------------------------------------------------------------

    def create_user(self, username: str, password: str, is_admin: bool = False) -> User:
        _check_username(username)
        check_password_strength(password)
        password_hash = _password_hasher().hash(password)
        return self._insert(username, PASSWORD, password_hash, is_admin)

    def create_account(
        self, username: str, kind: str, is_admin: bool = False, subject: str | None = None
    ) -> User:
        """A user without a password: an "oidc" one (with the provider's `subject`) or a
        "service" one, which only API tokens authenticate."""
        if kind not in (OIDC, SERVICE):
            raise InvalidParameterValueError(f"Invalid kind of account {kind!r}.")
        _check_username(username)
        return self._insert(username, kind, "", is_admin, subject)

    def _insert(
        self,
        username: str,
        kind: str,
        password_hash: str,
        is_admin: bool,
        subject: str | None = None,
    ) -> User:
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            if conn.execute(sa.select(users.c.id).where(users.c.username == username)).first():
                raise ResourceAlreadyExistsError(f"User {username!r} already exists.")
            created = now_ms()
            result = conn.execute(
                users.insert().values(
                    username=username,
                    password_hash=password_hash,
                    is_admin=is_admin,
                    created=created,
                    kind=kind,
                    subject=subject,
                    group_admin=False,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return User(int(key[0]), username, is_admin, created, kind)

    def user_by_subject(self, subject: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.subject == subject)).first()
        return None if row is None else _user(row)

    def set_group_admin(self, user_id: int, group_admin: bool) -> None:
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(
                users.update().where(users.c.id == user_id).values(group_admin=group_admin)
            )

    def end_sessions(self, user_id: int) -> None:
        """Log the user out of every browser: sessions begun before now are refused."""
        with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(
                users.update().where(users.c.id == user_id).values(sessions_after=now_ms())
            )

    def get_user(self, username: str) -> User:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        if row is None:
            raise NoSuchUserError(f"No user {username!r}.")
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
                raise NoSuchUserError(f"No user {username!r}.")
            for table in (
                tokens,
                experiment_permissions,
                registered_model_permissions,
                experiment_group_permissions,
                registered_model_group_permissions,
            ):
                conn.execute(table.delete().where(table.c.user_id == row.id))
            conn.execute(users.delete().where(users.c.id == row.id))

    def verify_password(self, username: str, password: str) -> User | None:
        """The user if `password` is theirs; None otherwise (an unknown user costs a
        verification too, so timing does not tell which names exist)."""
        hasher = _password_hasher()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == username)).first()
        # Accounts without a password (oidc, service) cost a verification too, and fail it.
        has_password = row is not None and row.kind == PASSWORD
        stored = row.password_hash if row is not None and has_password else self._dummy(hasher)
        self.password_verifications += 1
        try:
            hasher.verify(stored, password)
        except Exception:  # argon2's VerifyMismatchError, InvalidHashError, ...
            return None
        return _user(row) if row is not None and has_password else None

    def _dummy(self, hasher: Any) -> str:
        """A hash of nothing, with this hasher's parameters, to verify unknown users against."""
        if self._dummy_hash is None:
            self._dummy_hash = str(hasher.hash(secrets.token_urlsafe(16)))
        return self._dummy_hash

    # tokens -------------------------------------------------------------------------------

    def create_token(self, username: str, name: str = "", expires_at: int | None = None) -> str:
        """A new API token for the user; only its hash is kept, so this is the one chance
        to see it."""
        _token, secret = self.tokens.issue(self.get_user(username).id, name, expires_at)
        return secret

    def user_for_token(self, token: str) -> User | None:
        """The user of a live token (not expired, not revoked)."""
        user_id = self.tokens.user_id_for(token)
        return None if user_id is None else self.user_by_id(user_id)

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
        """The higher of the user's grant by hand and by their groups."""
        if not isinstance(experiment_id, str) or not ascii_digits(experiment_id):
            return None
        return self._held(_EXPERIMENT_GRANTS, "experiment_id", int(experiment_id), user_id)

    def readable_experiments(self, user_id: int) -> set[str]:
        return self._granted(_EXPERIMENT_GRANTS, "experiment_id", user_id)

    def _held(self, tables: tuple[Table, Table], column: str, key: Any, user_id: int) -> str | None:
        """The highest permission on `key` that `tables` (by hand, by groups) give the user."""
        with self.engine.connect() as conn:
            held = conn.execute(
                sa.union_all(
                    *(
                        sa.select(t.c.permission).where(
                            (t.c[column] == key) & (t.c.user_id == user_id)
                        )
                        for t in tables
                    )
                )
            ).scalars()
            return _higher(*held)

    def _granted(self, tables: tuple[Table, Table], column: str, user_id: int) -> set[str]:
        """Everything `tables` give the user any permission on."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.union(*(sa.select(t.c[column]).where(t.c.user_id == user_id) for t in tables))
            ).scalars()
            return {str(value) for value in rows}

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
        """The higher of the user's grant by hand and by their groups."""
        return self._held(_MODEL_GRANTS, "name", name, user_id)

    def readable_models(self, user_id: int) -> set[str]:
        return self._granted(_MODEL_GRANTS, "name", user_id)

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
