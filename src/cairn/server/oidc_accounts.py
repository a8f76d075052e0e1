"""The Cairn user behind a provider identity, and the grants its groups give, rewritten at
each login.

A provider identity is its issuer and `sub`, kept as the user's `subject`. The first login
creates an "oidc" user (no password) named by the `preferred_username` claim (else `email`,
else `sub`); a name already taken by another account is refused, so nobody becomes an
existing user by choosing a display name at the provider. Later logins find the user by
`subject`, whatever the name claims then.

Group grants live in tables of their own (`experiment_group_permissions`,
`registered_model_group_permissions`, and `users.group_admin`): each login replaces them
with what the groups give now, so a grant goes with its group, while grants made by hand
(`cairn users grant`, `permissions/create`) are never touched. Experiments and models the
mapping names that do not exist (yet) are skipped and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from cairn.exceptions import CairnError, PermissionDeniedError
from cairn.server.auth_store import OIDC, AuthStore, User
from cairn.server.oidc_groups import Grants, GroupMapping
from cairn.store.base import TrackingStore
from cairn.store.sql.engine import WRITE
from cairn.store.sql.schema import (
    experiment_group_permissions,
    registered_model_group_permissions,
    registered_models,
)
from cairn.wire.scalars import ascii_digits

_log = logging.getLogger("cairn.auth")


def username_of(claims: Mapping[str, Any]) -> str:
    for claim in ("preferred_username", "email", "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise PermissionDeniedError("The identity provider named no user.")


def groups_of(claims: Mapping[str, Any], claim: str) -> list[str]:
    """The groups in `claim`: a list of names (or one name)."""
    value = claims.get(claim)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [g for g in value if isinstance(g, str)]
    return []


class OidcAccounts:
    """Provider identities to users, with their group grants (blocking methods)."""

    def __init__(self, store: AuthStore, tracking: TrackingStore, mapping: GroupMapping):
        self.store = store
        self.tracking = tracking
        self.mapping = mapping

    def sign_in(self, issuer: str, claims: Mapping[str, Any], groups: list[str]) -> User:
        """The user of a validated ID token's claims, with its group grants applied."""
        subject = f"{issuer}|{claims['sub']}"
        user = self.store.user_by_subject(subject)
        if user is None:
            username = username_of(claims)
            try:
                user = self.store.create_account(username, OIDC, subject=subject)
            except CairnError as error:
                _log.warning("Refused a first login as %r: %s", username, error.message)
                raise PermissionDeniedError(
                    f"The name {username!r} belongs to another Cairn account: ask an administrator."
                ) from None
        self.apply(user.id, self.mapping.grants(groups))
        found = self.store.user_by_id(user.id)
        assert found is not None
        return found

    def apply(self, user_id: int, grants: Grants) -> None:
        """Replace the user's group grants by `grants`."""
        experiments = self._experiment_ids(grants.experiments)
        models = self._existing_models(grants.models)
        self.store.set_group_admin(user_id, grants.admin)
        exp_table, model_table = experiment_group_permissions, registered_model_group_permissions
        with self.store.engine.connect().execution_options(**WRITE) as conn, conn.begin():
            conn.execute(exp_table.delete().where(exp_table.c.user_id == user_id))
            conn.execute(model_table.delete().where(model_table.c.user_id == user_id))
            if experiments:
                conn.execute(
                    exp_table.insert(),
                    [
                        {"experiment_id": e, "user_id": user_id, "permission": p}
                        for e, p in experiments.items()
                    ],
                )
            if models:
                conn.execute(
                    model_table.insert(),
                    [{"name": n, "user_id": user_id, "permission": p} for n, p in models.items()],
                )

    def _experiment_ids(self, by_reference: Mapping[str, str]) -> dict[int, str]:
        """Experiment ids for the mapping's ids and names (the higher level where both
        name one experiment)."""
        found: dict[int, str] = {}
        for reference, level in by_reference.items():
            experiment_id = self._experiment_id(reference)
            if experiment_id is None:
                _log.warning("The group mapping names no experiment %r: skipped", reference)
                continue
            held = found.get(experiment_id)
            if held is None or _rank(level) > _rank(held):
                found[experiment_id] = level
        return found

    def _experiment_id(self, reference: str) -> int | None:
        if ascii_digits(reference):
            try:
                return int(self.tracking.get_experiment(reference).experiment_id)
            except CairnError:
                pass  # maybe a name of digits
        experiment = self.tracking.get_experiment_by_name(reference)
        return None if experiment is None else int(experiment.experiment_id)

    def _existing_models(self, by_name: Mapping[str, str]) -> dict[str, str]:
        if not by_name:
            return {}
        with self.store.engine.connect() as conn:
            names = conn.execute(
                sa.select(registered_models.c.name).where(registered_models.c.name.in_(by_name))
            ).scalars()
            existing = set(names)
        for name in set(by_name) - existing:
            _log.warning("The group mapping names no registered model %r: skipped", name)
        return {n: p for n, p in by_name.items() if n in existing}


def _rank(level: str) -> int:
    return ("READ", "EDIT", "MANAGE").index(level)
