"""The provider's endpoints and signing keys, read from its discovery document
(`<issuer>/.well-known/openid-configuration`) and its JWKS.

Read at the first login rather than at start, so a server starts while its provider is
down (API clients with tokens still work). The document is kept for the life of the
process; the key set is read again when an ID token names a key it lacks (key rotation),
at most once a minute.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from cairn.exceptions import CairnError

REFETCH_KEYS_SECONDS = 60.0
_TIMEOUT = httpx.Timeout(10.0)
_REQUIRED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


class ProviderUnavailableError(CairnError):
    """The identity provider did not answer as one should (502: the fault is upstream)."""

    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 502


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None = None


async def get_json(url: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=_TIMEOUT) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise ProviderUnavailableError(f"The identity provider failed at {url}: {error}") from None
    if not isinstance(document, dict):
        raise ProviderUnavailableError(f"The identity provider answered no JSON object at {url}.")
    return document


class Discovery:
    """The metadata and keys of one issuer, fetched when first needed."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self._metadata: ProviderMetadata | None = None
        self._keys: dict[str, Any] | None = None
        self._keys_read = 0.0
        self._lock = asyncio.Lock()

    async def metadata(self) -> ProviderMetadata:
        if self._metadata is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await get_json(url)
            missing = [k for k in _REQUIRED if not isinstance(document.get(k), str)]
            if missing:
                raise ProviderUnavailableError(f"The discovery document lacks {missing}.")
            if document["issuer"] != self.issuer:
                # OIDC Discovery §4.3: the document must name the issuer it was read from.
                raise ProviderUnavailableError(
                    f"The discovery document names issuer {document['issuer']!r}, "
                    f"not {self.issuer!r}."
                )
            end = document.get("end_session_endpoint")
            self._metadata = ProviderMetadata(
                issuer=str(document["issuer"]),
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                jwks_uri=str(document["jwks_uri"]),
                end_session_endpoint=end if isinstance(end, str) else None,
            )
        return self._metadata

    async def keys(self, refresh: bool = False) -> dict[str, Any]:
        """The JWKS; `refresh` reads it again unless it was read in the last minute."""
        async with self._lock:
            stale = time.monotonic() - self._keys_read >= REFETCH_KEYS_SECONDS
            if self._keys is None or (refresh and stale):
                self._keys = await get_json((await self.metadata()).jwks_uri)
                self._keys_read = time.monotonic()
            return self._keys
