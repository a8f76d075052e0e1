"""How `cairn server --auth` signs browsers in through an OpenID Connect provider: the
options (`--oidc-issuer`, `--oidc-client-id`, ...) and environment, checked once at start.

The client secret comes only from CAIRN_OIDC_CLIENT_SECRET (a command line is visible to
every user of the machine). Session cookies are signed with CAIRN_SESSION_SECRET, or, when
that is unset, with a key derived from the client secret, so every worker and every restart
agrees on it (changing the client secret ends every session).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cairn.exceptions import InvalidParameterValueError
from cairn.server.tokens_store import lifetime_ms

LOGIN_PATH, CALLBACK_PATH, LOGOUT_PATH = "/auth/login", "/auth/callback", "/auth/logout"
PATHS = frozenset({LOGIN_PATH, CALLBACK_PATH, LOGOUT_PATH})
CLIENT_SECRET_ENV = "CAIRN_OIDC_CLIENT_SECRET"
SESSION_SECRET_ENV = "CAIRN_SESSION_SECRET"
SESSION_LIFETIME_ENV = "CAIRN_SESSION_LIFETIME"
DEFAULT_SCOPES = "openid profile email"
DEFAULT_GROUPS_CLAIM = "groups"
DEFAULT_SESSION_SECONDS = 8 * 3600


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str = DEFAULT_SCOPES
    groups_claim: str = DEFAULT_GROUPS_CLAIM
    redirect_url: str | None = None  # None: /auth/callback on the origin the browser used
    group_mapping: str | None = None  # a YAML or JSON file (cairn.server.oidc_groups)
    session_seconds: int = DEFAULT_SESSION_SECONDS
    session_secret: str = ""

    def __post_init__(self) -> None:
        issuer = urlsplit(self.issuer)
        if issuer.scheme not in ("http", "https") or not issuer.netloc:
            raise InvalidParameterValueError(f"Invalid --oidc-issuer {self.issuer!r}: a URL.")
        if not self.client_id:
            raise InvalidParameterValueError("--oidc-issuer needs --oidc-client-id.")
        if not self.client_secret:
            raise InvalidParameterValueError(
                f"--oidc-issuer needs the client secret in {CLIENT_SECRET_ENV}."
            )
        if "openid" not in self.scopes.split():
            raise InvalidParameterValueError("--oidc-scopes must include 'openid'.")
        if self.redirect_url is not None and urlsplit(self.redirect_url).scheme not in (
            "http",
            "https",
        ):
            raise InvalidParameterValueError(
                f"Invalid --oidc-redirect-url {self.redirect_url!r}: an http(s) URL."
            )

    @property
    def signing_key(self) -> bytes:
        if self.session_secret:
            return self.session_secret.encode("utf-8")
        return hmac.new(
            self.client_secret.encode("utf-8"), b"cairn session cookies", hashlib.sha256
        ).digest()

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def as_options(self) -> dict[str, Any]:
        """What travels to the server's workers (secrets excepted: they read the environment)."""
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "scopes": self.scopes,
            "groups_claim": self.groups_claim,
            "redirect_url": self.redirect_url,
            "group_mapping": self.group_mapping,
        }

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> OidcSettings:
        environ = os.environ if environ is None else environ
        lifetime = environ.get(SESSION_LIFETIME_ENV, "").strip()
        return cls(
            issuer=str(options["issuer"]),
            client_id=str(options.get("client_id") or ""),
            client_secret=environ.get(CLIENT_SECRET_ENV, ""),
            scopes=str(options.get("scopes") or DEFAULT_SCOPES),
            groups_claim=str(options.get("groups_claim") or DEFAULT_GROUPS_CLAIM),
            redirect_url=options.get("redirect_url") or None,
            group_mapping=options.get("group_mapping") or None,
            session_seconds=lifetime_ms(lifetime) // 1000 if lifetime else DEFAULT_SESSION_SECONDS,
            session_secret=environ.get(SESSION_SECRET_ENV, ""),
        )
