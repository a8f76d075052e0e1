"""The browser's login through the OpenID Connect provider: the authorization code flow
with PKCE (S256), at `/auth/login`, `/auth/callback` and `/auth/logout`.

1. `GET /auth/login?next=/#/…` makes a state, a nonce and a PKCE verifier, keeps them in
   the signed `cairn_login` cookie (cairn.server.oidc_session) and redirects to the
   provider's authorization endpoint with the S256 challenge.
2. `GET /auth/callback?code=…&state=…` checks the state against the cookie, exchanges the
   code (with the verifier and the client secret) at the token endpoint, validates the ID
   token (cairn.server.oidc_id_token), finds or creates the user and applies their groups
   (cairn.server.oidc_accounts), sets the `cairn_session` cookie and returns to `next`.
   Any failure is 401 UNAUTHENTICATED (403 PERMISSION_DENIED for a name taken by another
   account), logged on `cairn.auth`.
3. `POST /auth/logout` ends every session of the user (not the provider's own session:
   the next login may pass through the provider without a prompt) and shows a page with a
   link to log in again. POST, so another site cannot log a user out with a link.

The redirect URL is `--oidc-redirect-url`, or /auth/callback on the origin the request
came to (behind a proxy that rewrites Host or scheme, set it).
"""

from __future__ import annotations

import html
import logging
import secrets

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from cairn.exceptions import CairnError, UnauthenticatedError
from cairn.server import errors
from cairn.server.auth_store import AuthStore
from cairn.server.oidc_accounts import OidcAccounts, groups_of
from cairn.server.oidc_config import CALLBACK_PATH, LOGIN_PATH, LOGOUT_PATH, OidcSettings
from cairn.server.oidc_discovery import Discovery
from cairn.server.oidc_id_token import UnknownKeyError, validate_id_token
from cairn.server.oidc_session import LoginState, Session, SessionCookies
from cairn.server.tokens_store import now_ms

_log = logging.getLogger("cairn.auth")
_LOGGED_OUT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Cairn: logged out</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main id="page"><p>You are logged out of Cairn.</p>
<p><a id="login-again" href="{login}">Log in again</a></p></main></body></html>"""


def safe_return(target: str | None) -> str:
    """A path on this server to return to after login ("/" for anything else: no open
    redirect to another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class OidcLogin:
    """The three /auth/ routes, as an ASGI app the auth middleware hands them to."""

    def __init__(self, settings: OidcSettings, store: AuthStore, accounts: OidcAccounts) -> None:
        self.settings = settings
        self.store = store
        self.accounts = accounts
        self.discovery = Discovery(settings.issuer)
        self.cookies = SessionCookies(settings.signing_key, settings.session_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self._answer(request)
        except CairnError as error:
            response = errors.error_response(error)
            if scope["path"] == CALLBACK_PATH:
                self.cookies.end_login(response, request)
        await response(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        path, method = request.url.path, request.method
        if path == LOGIN_PATH and method in ("GET", "HEAD"):
            return await self.login(request)
        if path == CALLBACK_PATH and method in ("GET", "HEAD"):
            return await self.callback(request)
        if path == LOGOUT_PATH and method == "POST":
            return await self.logout(request)
        return Response("Method Not Allowed", status_code=405)

    async def login(self, request: Request) -> Response:
        metadata = await self.discovery.metadata()
        state = LoginState(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(48),  # 64 characters: RFC 7636 allows 43-128
            return_to=safe_return(request.query_params.get("next")),
        )
        async with self._client_for(request) as client:
            url, _state = client.create_authorization_url(
                metadata.authorization_endpoint,
                state=state.state,
                code_verifier=state.verifier,
                nonce=state.nonce,
            )
        response = RedirectResponse(url, status_code=302)
        self.cookies.start_login(response, request, state)
        return response

    async def callback(self, request: Request) -> Response:
        state = self.cookies.login(request)
        given = request.query_params.get("state", "")
        if state is None or not secrets.compare_digest(state.state, given):
            _log.warning("Refused a login callback: its state does not match the login's")
            raise UnauthenticatedError("The login's state does not match: log in again.")
        if "error" in request.query_params:
            error = request.query_params.get("error", "")
            _log.warning("The identity provider refused a login: %s", error)
            raise UnauthenticatedError(f"The identity provider refused the login: {error}.")
        code = request.query_params.get("code")
        if not code:
            raise UnauthenticatedError("The identity provider gave no authorization code.")
        metadata = await self.discovery.metadata()
        async with self._client_for(request) as client:
            try:
                tokens = await client.fetch_token(
                    metadata.token_endpoint, code=code, code_verifier=state.verifier
                )
            except (AuthlibBaseError, httpx.HTTPError, ValueError) as error:
                _log.warning("The token endpoint refused a login's code: %s", error)
                raise UnauthenticatedError(
                    "The identity provider refused the authorization code."
                ) from None
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise UnauthenticatedError("The identity provider gave no ID token.")
        claims = await self._validated(id_token, state.nonce)
        groups = groups_of(claims, self.settings.groups_claim)
        user = await run_in_threadpool(self.accounts.sign_in, self.settings.issuer, claims, groups)
        _log.info(
            "User %r logged in through the identity provider (groups %s)", user.username, groups
        )
        response = RedirectResponse(state.return_to, status_code=302)
        self.cookies.end_login(response, request)
        self.cookies.start_session(response, request, Session(user.id, now_ms()))
        return response

    async def _validated(self, id_token: str, nonce: str) -> dict[str, object]:
        settings = self.settings
        keys = await self.discovery.keys()
        try:
            return validate_id_token(id_token, keys, settings.issuer, settings.client_id, nonce)
        except UnknownKeyError:
            keys = await self.discovery.keys(refresh=True)
        try:
            return validate_id_token(id_token, keys, settings.issuer, settings.client_id, nonce)
        except UnknownKeyError:
            _log.warning("Refused an ID token signed by a key the provider does not publish")
            raise UnauthenticatedError(
                "The identity provider's ID token was refused: signed by an unknown key."
            ) from None

    async def logout(self, request: Request) -> Response:
        session = self.cookies.session(request)
        if session is not None:
            await run_in_threadpool(self.store.end_sessions, session.user_id)
        page = _LOGGED_OUT.format(login=html.escape(LOGIN_PATH))
        response = HTMLResponse(page)
        self.cookies.end_session(response, request)
        return response

    def _client_for(self, request: Request) -> AsyncOAuth2Client:
        redirect = self.settings.redirect_url or str(
            request.url.replace(path=CALLBACK_PATH, query="")
        )
        return AsyncOAuth2Client(
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            scope=self.settings.scopes,
            redirect_uri=redirect,
            code_challenge_method="S256",
        )
