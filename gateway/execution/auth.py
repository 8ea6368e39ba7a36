"""Who is asking: an optional ``Authorization: Bearer <JWT>``.

No header means an anonymous viewer. A header that does not verify is an error
(401), never a silent fallback to anonymous.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jwt

from shopwindow.gateway.errors import GatewayError
from shopwindow.settings import GatewaySettings

_LEEWAY_S = 30


class AuthenticationError(GatewayError):
    """The credentials were present but not acceptable; the message is safe to show."""

    code = "UNAUTHENTICATED"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The verified viewer.

    Attributes:
        subject: The token's ``sub``; ``None`` when anonymous.
        segment: The customer segment whose prices apply, from the ``segment`` claim.
    """

    subject: str | None = None
    segment: str | None = None


ANONYMOUS = Viewer()


class TokenVerifier:
    """Verifies bearer tokens with the keys and rules from the settings.

    Args:
        settings: HS256 secret and/or RS256 public key or JWKS file, audience, issuer.
    """

    def __init__(self, settings: GatewaySettings) -> None:
        self._keys: list[tuple[str, Any]] = []
        if settings.jwt_hs256_secret is not None:
            self._keys.append(("HS256", settings.jwt_hs256_secret.get_secret_value()))
        if settings.jwt_public_key_file is not None:
            self._keys.append(("RS256", settings.jwt_public_key_file.read_text()))
        self._jwks: dict[str, Any] = {}
        if settings.jwt_jwks_file is not None:
            jwks = jwt.PyJWKSet.from_dict(json.loads(settings.jwt_jwks_file.read_text()))
            self._jwks = {key.key_id: key for key in jwks.keys if key.key_id}
            self._keys += [("RS256", key) for key in jwks.keys if not key.key_id]
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer

    @property
    def enabled(self) -> bool:
        """Whether any key is configured."""
        return bool(self._keys or self._jwks)

    def viewer(self, authorization: str | None) -> Viewer:
        """The viewer named by an ``Authorization`` header value.

        Raises:
            AuthenticationError: For a malformed, unverifiable or expired token.
        """
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("expected 'Authorization: Bearer <token>'")
        if not self.enabled:
            raise AuthenticationError("this gateway accepts no tokens")
        claims = self._verify(token.strip())
        segment = claims.get("segment")
        subject = claims.get("sub")
        return Viewer(
            subject=subject if isinstance(subject, str) else None,
            segment=segment if isinstance(segment, str) else None,
        )

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("malformed token") from None
        candidates = self._keys
        kid = header.get("kid")
        if kid is not None and kid in self._jwks:
            candidates = [("RS256", self._jwks[kid])]
        candidates = [(alg, key) for alg, key in candidates if alg == header.get("alg")]
        if not candidates:
            raise AuthenticationError("token signed with an unaccepted algorithm or key")
        error: jwt.PyJWTError | None = None
        for algorithm, key in candidates:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=[algorithm],
                    audience=self._audience,
                    issuer=self._issuer,
                    leeway=_LEEWAY_S,
                    options={"require": ["exp"], "verify_aud": self._audience is not None},
                )
                return claims
            except jwt.ExpiredSignatureError:
                raise AuthenticationError("token expired") from None
            except jwt.PyJWTError as failure:
                error = failure
        raise AuthenticationError(f"invalid token: {error}") from None
