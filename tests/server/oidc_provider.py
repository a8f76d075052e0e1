"""A small OpenID Connect provider for the SSO tests, run as its own process on 127.0.0.1.

It serves discovery, a JWKS with one RSA key, `/authorize` (approves at once the user the
test chose: `POST /control/next-user` sets sub, name and groups), `/token` (checks the
code, its redirect_uri, the client secret and the PKCE verifier against the S256
challenge) and `/userinfo`. `POST /control/next-id-token {"kind": "forged"|"expired"}`
makes the next `/token` answer carry an ID token signed by another key or already expired;
`GET /control/last-authorize` says what the last `/authorize` was asked.

`start_provider` runs `python oidc_provider.py PORT CLIENT_ID CLIENT_SECRET` and waits for
its discovery document.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx

CLIENT_ID = "cairn-tests"
CLIENT_SECRET = "provider-test-secret"
KEY_ID = "test-key-1"


def _app(issuer: str, client_id: str, client_secret: str) -> Any:
    from joserfc import jwt
    from joserfc.jwk import RSAKey
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, RedirectResponse, Response
    from starlette.routing import Route

    key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"})
    other = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"})
    state: dict[str, Any] = {
        "next_user": {"sub": "u-1", "preferred_username": "alice", "groups": []},
        "codes": {},
        "last_authorize": {},
        "next_kind": "valid",
        "access": {},
    }

    def id_token(user: dict[str, Any], nonce: str, kind: str) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": client_id,
            "sub": user["sub"],
            "preferred_username": user["preferred_username"],
            "groups": user["groups"],
            "nonce": nonce,
            "iat": now,
            "exp": now + 300,
        }
        if kind == "expired":
            claims["iat"], claims["exp"] = now - 3600, now - 1800
        signer = other if kind == "forged" else key
        return jwt.encode({"alg": "RS256", "kid": KEY_ID}, claims, signer)

    async def discovery(_request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "userinfo_endpoint": f"{issuer}/userinfo",
                "jwks_uri": f"{issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def jwks(_request: Request) -> Response:
        return JSONResponse({"keys": [key.as_dict(private=False)]})

    async def authorize(request: Request) -> Response:
        query = dict(request.query_params)
        state["last_authorize"] = query
        if query.get("client_id") != client_id or query.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        state["codes"][code] = {
            "user": dict(state["next_user"]),
            "redirect_uri": query.get("redirect_uri"),
            "challenge": query.get("code_challenge"),
            "method": query.get("code_challenge_method"),
            "nonce": query.get("nonce", ""),
        }
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return RedirectResponse(target, status_code=302)

    async def token(request: Request) -> Response:
        # Form-encoded, parsed by hand (Starlette's form parser needs python-multipart).
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        basic = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        if basic != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = state["codes"].pop(str(form.get("code")), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = str(form.get("code_verifier", ""))
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if grant["method"] != "S256" or challenge != grant["challenge"]:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "PKCE verification failed"},
                status_code=400,
            )
        kind, state["next_kind"] = state["next_kind"], "valid"
        access = secrets.token_urlsafe(16)
        state["access"][access] = grant["user"]
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token(grant["user"], grant["nonce"], kind),
            }
        )

    async def userinfo(request: Request) -> Response:
        access = request.headers.get("authorization", "").removeprefix("Bearer ")
        user = state["access"].get(access)
        if user is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(user)

    async def next_user(request: Request) -> Response:
        state["next_user"] = await request.json()
        return JSONResponse({})

    async def next_id_token(request: Request) -> Response:
        state["next_kind"] = (await request.json())["kind"]
        return JSONResponse({})

    async def last_authorize(_request: Request) -> Response:
        return JSONResponse(state["last_authorize"])

    async def pending_code(_request: Request) -> Response:
        """The codes not yet exchanged (a test exchanges one itself, with a wrong verifier)."""
        return JSONResponse({"codes": list(state["codes"])})

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/jwks", jwks),
            Route("/authorize", authorize),
            Route("/token", token, methods=["POST"]),
            Route("/userinfo", userinfo),
            Route("/control/next-user", next_user, methods=["POST"]),
            Route("/control/next-id-token", next_id_token, methods=["POST"]),
            Route("/control/last-authorize", last_authorize),
            Route("/control/pending-codes", pending_code),
        ]
    )


@dataclass
class Provider:
    process: subprocess.Popen[bytes]
    issuer: str

    def next_user(self, username: str, groups: list[str], sub: str | None = None) -> None:
        user = {"sub": sub or f"sub-{username}", "preferred_username": username, "groups": groups}
        httpx.post(f"{self.issuer}/control/next-user", json=user).raise_for_status()

    def next_id_token(self, kind: str) -> None:
        httpx.post(f"{self.issuer}/control/next-id-token", json={"kind": kind}).raise_for_status()

    def last_authorize(self) -> dict[str, str]:
        answer: dict[str, str] = httpx.get(f"{self.issuer}/control/last-authorize").json()
        return answer

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_provider(log: Path, port: int) -> Provider:
    """The provider on 127.0.0.1:`port`, answering its discovery document."""
    issuer = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, __file__, str(port), CLIENT_ID, CLIENT_SECRET],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{issuer}/.well-known/openid-configuration").status_code == 200:
                return Provider(process, issuer)
        except httpx.HTTPError:
            pass
        try:
            process.wait(0.05)  # returns only if the provider died
            break
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    raise RuntimeError(f"the OIDC provider did not start:\n{log.read_text()}")


if __name__ == "__main__":
    import uvicorn

    port, client_id, client_secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    application = _app(f"http://127.0.0.1:{port}", client_id, client_secret)
    uvicorn.run(application, host="127.0.0.1", port=port, log_level="warning")
