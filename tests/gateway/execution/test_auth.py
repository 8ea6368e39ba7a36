"""Authenticated viewers: segment prices with a valid token, 401 for any bad one."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.gateway.conftest import GatewayFactory, Seed, full_product

SECRET = "test-secret-of-at-least-32-bytes!!"
PRICE_QUERY = '{ product(id: "abc") { price { amount listAmount discountPercent } } }'


def token(
    key: Any = SECRET,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    payload = {"sub": "u1", "exp": int(time.time()) + 300, **claims}
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def price_as(gateway: GatewayFactory, authorization: str | None, **settings: Any) -> Any:
    headers = {"authorization": authorization} if authorization else {}
    async with gateway(**settings) as http:
        response = await http.post(
            "/graphql",
            json={"query": PRICE_QUERY},
            headers={**headers, "accept": "application/graphql-response+json"},
        )
    return response.status_code, response.json()


async def test_anonymous_viewers_see_the_regular_price(seed: Seed, gateway: GatewayFactory) -> None:
    await seed("abc", *full_product("abc"))
    status, body = await price_as(gateway, None, jwt_hs256_secret=SECRET)
    assert status == 200
    assert body["data"]["product"]["price"] == {
        "amount": "17.99",
        "listAmount": "19.99",
        "discountPercent": "10.01",
    }


async def test_a_segment_claim_selects_the_segment_price(
    seed: Seed, gateway: GatewayFactory
) -> None:
    await seed("abc", *full_product("abc"))
    status, body = await price_as(
        gateway, f"Bearer {token(segment='gold')}", jwt_hs256_secret=SECRET
    )
    assert status == 200
    assert body["data"]["product"]["price"] == {
        "amount": "15.00",
        "listAmount": "17.99",
        "discountPercent": "16.62",
    }


async def test_an_unknown_segment_gets_the_regular_price(
    seed: Seed, gateway: GatewayFactory
) -> None:
    await seed("abc", *full_product("abc"))
    _, body = await price_as(
        gateway, f"Bearer {token(segment='platinum')}", jwt_hs256_secret=SECRET
    )
    assert body["data"]["product"]["price"]["amount"] == "17.99"


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (f"Bearer {token(key='another-secret-of-at-least-32-bytes')}", "invalid token"),
        (f"Bearer {token(exp=int(time.time()) - 3600)}", "token expired"),
        ("Bearer not.a.token", "malformed token"),
        ("Basic dTpw", "expected 'Authorization: Bearer <token>'"),
        (f"Bearer {jwt.encode({'sub': 'u1'}, SECRET, algorithm='HS256')}", "invalid token"),
        (f"Bearer {jwt.encode({'exp': 9999999999}, '', algorithm='none')}", "unaccepted algorithm"),
    ],
    ids=["wrong key", "expired", "malformed", "not bearer", "no expiry", "alg none"],
)
async def test_bad_tokens_get_401(
    gateway: GatewayFactory, authorization: str, message: str
) -> None:
    status, body = await price_as(gateway, authorization, jwt_hs256_secret=SECRET)
    assert status == 401
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert message in body["errors"][0]["message"]
    assert "data" not in body


async def test_rs256_with_a_public_key_file(
    seed: Seed, gateway: GatewayFactory, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    await seed("abc", *full_product("abc"))
    public = tmp_path / "public.pem"
    public.write_bytes(
        rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    good = token(rsa_key, "RS256", segment="gold")
    status, body = await price_as(gateway, f"Bearer {good}", jwt_public_key_file=public)
    assert status == 200 and body["data"]["product"]["price"]["amount"] == "15.00"
    forged = token(SECRET, "HS256", segment="gold")  # HS256 signed with... anything: refused.
    status, _ = await price_as(gateway, f"Bearer {forged}", jwt_public_key_file=public)
    assert status == 401


async def test_rs256_with_a_jwks_file(
    seed: Seed, gateway: GatewayFactory, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    await seed("abc", *full_product("abc"))
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    good = token(rsa_key, "RS256", headers={"kid": "k1"}, segment="gold", aud="shop")
    status, body = await price_as(
        gateway, f"Bearer {good}", jwt_jwks_file=jwks, jwt_audience="shop"
    )
    assert status == 200 and body["data"]["product"]["price"]["amount"] == "15.00"
    wrong_audience = token(rsa_key, "RS256", headers={"kid": "k1"}, aud="elsewhere")
    status, _ = await price_as(
        gateway, f"Bearer {wrong_audience}", jwt_jwks_file=jwks, jwt_audience="shop"
    )
    assert status == 401
