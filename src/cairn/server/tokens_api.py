"""Personal and service API tokens over REST, and who the caller is, under `cairn server
--auth` (answered by the auth middleware, which knows the caller; under both `/api/2.0/cairn`
and `/ajax-api/2.0/cairn`):

* `GET  …/users/current`: the caller's name, admin flag and kind of account (the UI's
  header and Tokens page).
* `GET  …/tokens/list[?username=]`: the caller's tokens (an admin's: anyone's), never a
  secret.
* `POST …/tokens/create {name, expires_in: "90d" | expires_at: ms, username?}`: a new token
  and its secret, shown only in this answer. It needs an interactive login (a browser
  session or a password): a token cannot mint tokens, so a leaked one cannot outlive its
  expiry or its revocation. `username` is for admins, naming a service account.
* `POST …/tokens/revoke {token_id, username?}`: the token is refused from now on.
* `POST …/service-accounts/create {username}`: admins only; a user that only tokens
  authenticate (no password, no browser login).

Errors are MLflow's: INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, PERMISSION_DENIED.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from cairn.exceptions import InvalidParameterValueError, PermissionDeniedError
from cairn.server.auth_store import SERVICE, AuthStore, User
from cairn.server.messages import Message
from cairn.server.responses import json_response
from cairn.server.tokens_store import Token, lifetime_ms, now_ms
from cairn.server.ui_api import PREFIXES

Call = Callable[[User, bool, Message], dict[str, Any]]


def token_json(token: Token, username: str) -> dict[str, Any]:
    return {
        "token_id": token.token_id,
        "username": username,
        "name": token.name,
        "created": token.created,
        "last_used": token.last_used,
        "expires_at": token.expires_at,
        "revoked": token.revoked,
        "state": token.state(now_ms()),
    }


def user_json(user: User) -> dict[str, Any]:
    return {"username": user.username, "is_admin": user.is_admin, "kind": user.kind}


def expiry_of(message: Message) -> int | None:
    """`expires_at` (ms since the epoch) or `expires_in` ("90d") as ms since the epoch."""
    expires_in = message.get("expires_in")
    expires_at = message.get("expires_at")
    if expires_in not in (None, "") and expires_at not in (None, ""):
        raise InvalidParameterValueError("Give expires_in or expires_at, not both.")
    if expires_in not in (None, ""):
        return now_ms() + lifetime_ms(str(expires_in))
    if expires_at in (None, ""):
        return None
    try:
        return int(expires_at)
    except (TypeError, ValueError):
        raise InvalidParameterValueError(
            f"Invalid expires_at {expires_at!r}: milliseconds since the epoch."
        ) from None


class TokensApi:
    """The calls above, for an authenticated `user` (`interactive`: by session or password,
    not by a token)."""

    def __init__(self, store: AuthStore) -> None:
        self.store = store
        calls: dict[tuple[str, str], Call] = {
            ("GET", "/users/current"): self.current,
            ("GET", "/tokens/list"): self.list,
            ("POST", "/tokens/create"): self.create,
            ("POST", "/tokens/revoke"): self.revoke,
            ("POST", "/service-accounts/create"): self.create_service_account,
        }
        self.calls = {
            (m, prefix + p): call for (m, p), call in calls.items() for prefix in PREFIXES
        }

    def serves(self, method: str, path: str) -> bool:
        return (method, path) in self.calls

    async def __call__(
        self, user: User, interactive: bool, scope: Scope, receive: Receive, send: Send
    ) -> None:
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        call = self.calls[(method, scope["path"])]
        message = await Message.read(Request(scope, receive))
        payload = await run_in_threadpool(call, user, interactive, message)
        await json_response(payload)(scope, receive, send)

    def current(self, user: User, _interactive: bool, _message: Message) -> dict[str, Any]:
        return {"user": user_json(user)}

    def _owner(self, user: User, message: Message) -> User:
        """The user whose tokens the call is about: the caller, or for admins anyone."""
        username = message.string("username") or user.username
        if username == user.username:
            return user
        if not user.is_admin:
            raise PermissionDeniedError("Only administrators may manage other users' tokens.")
        return self.store.get_user(username)

    def list(self, user: User, _interactive: bool, message: Message) -> dict[str, Any]:
        owner = self._owner(user, message)
        found = self.store.tokens.list(owner.id)
        return {"tokens": [token_json(t, owner.username) for t in found]}

    def create(self, user: User, interactive: bool, message: Message) -> dict[str, Any]:
        if not interactive:
            raise PermissionDeniedError(
                "Create tokens after logging in (browser or password), not with a token."
            )
        owner = self._owner(user, message)
        if owner.id != user.id and owner.kind != SERVICE:
            raise PermissionDeniedError(
                "Administrators create tokens for service accounts, not for other people."
            )
        name = message.string("name") or ""
        token, secret = self.store.tokens.issue(owner.id, name, expiry_of(message))
        return {"token": token_json(token, owner.username), "secret": secret}

    def revoke(self, user: User, _interactive: bool, message: Message) -> dict[str, Any]:
        owner = self._owner(user, message)
        token_id = message.string("token_id", required=True) or ""
        token = self.store.tokens.revoke(owner.id, token_id)
        return {"token": token_json(token, owner.username)}

    def create_service_account(
        self, user: User, _interactive: bool, message: Message
    ) -> dict[str, Any]:
        if not user.is_admin:
            raise PermissionDeniedError("Only administrators may create service accounts.")
        username = message.string("username", required=True) or ""
        return {"user": user_json(self.store.create_account(username, SERVICE))}
