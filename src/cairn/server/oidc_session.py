"""The browser's cookies under OIDC login: the session, and the state of a login under way.

Both are signed (itsdangerous, HMAC-SHA256), HttpOnly, SameSite=Lax (sent on the provider's
redirect back, which is a top-level GET, and never on another site's POST), and Secure when
the request came over https.

* `cairn_session` holds the user's id and when the session began. It lasts
  `session_seconds` (CAIRN_SESSION_LIFETIME, default 8 h) from the login, not from the last
  call: a login re-reads the user's groups, so grants never lag the provider by more than
  a session. Logging out (POST /auth/logout) sets the user's `sessions_after`, which ends
  every session of theirs begun before it, in every browser; the user row is read on each
  call, so a deleted user's session ends at once too.
* `cairn_login` holds the state, nonce, PKCE verifier and the page to return to, for ten
  minutes, on the path /auth/ only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection
from starlette.responses import Response

SESSION_COOKIE = "cairn_session"
LOGIN_COOKIE = "cairn_login"
LOGIN_SECONDS = 600
LOGIN_PATH = "/auth/"


@dataclass(frozen=True)
class Session:
    user_id: int
    began: int  # milliseconds since the epoch


@dataclass(frozen=True)
class LoginState:
    state: str
    nonce: str
    verifier: str
    return_to: str


class SessionCookies:
    """Signs and reads the two cookies with one key (salted apart)."""

    def __init__(self, key: bytes, session_seconds: int) -> None:
        self.session_seconds = session_seconds
        self._sessions = URLSafeTimedSerializer(key, salt="cairn-session")
        self._logins = URLSafeTimedSerializer(key, salt="cairn-login")

    def session(self, connection: HTTPConnection) -> Session | None:
        loaded = self._load(self._sessions, connection, SESSION_COOKIE, self.session_seconds)
        if not isinstance(loaded, dict):
            return None
        user_id, began = loaded.get("u"), loaded.get("b")
        if not isinstance(user_id, int) or not isinstance(began, int):
            return None
        return Session(user_id, began)

    def start_session(
        self, response: Response, connection: HTTPConnection, session: Session
    ) -> None:
        value = self._sessions.dumps({"u": session.user_id, "b": session.began})
        _set(response, connection, SESSION_COOKIE, value, self.session_seconds, "/")

    def end_session(self, response: Response, connection: HTTPConnection) -> None:
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=_secure(connection), httponly=True, samesite="lax"
        )

    def login(self, connection: HTTPConnection) -> LoginState | None:
        loaded = self._load(self._logins, connection, LOGIN_COOKIE, LOGIN_SECONDS)
        if not isinstance(loaded, list) or len(loaded) != 4:
            return None
        if not all(isinstance(v, str) for v in loaded):
            return None
        return LoginState(*loaded)

    def start_login(
        self, response: Response, connection: HTTPConnection, state: LoginState
    ) -> None:
        value = self._logins.dumps([state.state, state.nonce, state.verifier, state.return_to])
        _set(response, connection, LOGIN_COOKIE, value, LOGIN_SECONDS, LOGIN_PATH)

    def end_login(self, response: Response, connection: HTTPConnection) -> None:
        response.delete_cookie(
            LOGIN_COOKIE, path=LOGIN_PATH, secure=_secure(connection), httponly=True, samesite="lax"
        )

    @staticmethod
    def _load(
        serializer: URLSafeTimedSerializer, connection: HTTPConnection, name: str, max_age: int
    ) -> Any:
        value = connection.cookies.get(name)
        if not value:
            return None
        try:
            return serializer.loads(value, max_age=max_age)
        except BadSignature:  # a forged, altered or expired cookie (SignatureExpired too)
            return None


def _secure(connection: HTTPConnection) -> bool:
    return connection.url.scheme == "https"


def _set(
    response: Response, connection: HTTPConnection, name: str, value: str, seconds: int, path: str
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=seconds,
        path=path,
        secure=_secure(connection),
        httponly=True,
        samesite="lax",
    )
