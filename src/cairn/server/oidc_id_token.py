"""Validating an ID token (OpenID Connect Core §3.1.3.7): its signature against the
provider's keys, and its `iss`, `aud`, `exp`, `iat`, `nonce` and `sub`.

Only asymmetric algorithms are accepted: the keys are the provider's JWKS, and `none` or
an HMAC keyed by a public key would let anyone sign. Clocks may differ by `LEEWAY_SECONDS`.
"""

from __future__ import annotations

import logging
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from cairn.exceptions import UnauthenticatedError

LEEWAY_SECONDS = 60
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
_log = logging.getLogger("cairn.auth")


class UnknownKeyError(Exception):
    """The token names a key the key set lacks (the provider may have rotated its keys)."""


def validate_id_token(
    id_token: str, keys: dict[str, Any], issuer: str, client_id: str, nonce: str
) -> dict[str, Any]:
    """The token's claims; UnauthenticatedError (logged on `cairn.auth`) for a token that
    fails any check, UnknownKeyError when its key is not in `keys`."""
    try:
        key_set = KeySet.import_key_set(keys)  # type: ignore[arg-type]
        token = jwt.decode(id_token, key_set, algorithms=list(ALGORITHMS))
    except JoseError as error:
        if _names_unknown_key(id_token, keys):
            raise UnknownKeyError() from None
        raise _refused(f"its signature does not verify ({error.error})") from None
    except ValueError as error:
        raise _refused(f"it is malformed ({error})") from None
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(token.claims)
    except JoseError as error:
        raise _refused(f"its claims do not hold ({error.description or error.error})") from None
    audience = token.claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and token.claims.get("azp") != client_id:
        raise _refused("it has several audiences and is not authorized for this client")
    return dict(token.claims)


def _names_unknown_key(id_token: str, keys: dict[str, Any]) -> bool:
    try:
        kid = extract_compact(id_token.encode("ascii")).headers().get("kid")
    except (JoseError, ValueError, UnicodeError):
        return False
    known = {k.get("kid") for k in keys.get("keys", []) if isinstance(k, dict)}
    return kid is not None and kid not in known


def _refused(why: str) -> UnauthenticatedError:
    _log.warning("Refused an ID token: %s", why)
    return UnauthenticatedError(f"The identity provider's ID token was refused: {why}.")
