"""Password hashing and access-token helpers, without I/O."""

from __future__ import annotations

import datetime as dt
import uuid

import jwt
import pytest

from app.auth.security import (
    AccessTokenCodec,
    InvalidAccessTokenError,
    PasswordHasher,
    hash_opaque_token,
    new_opaque_token,
)
from app.core.config import Settings
from tests.conftest import load_test_settings

SESSION = uuid.UUID("0123456789abcdef0123456789abcdef")


@pytest.fixture
def settings() -> Settings:
    return load_test_settings()


def test_opaque_tokens_are_random_and_stored_as_a_digest() -> None:
    first, second = new_opaque_token(), new_opaque_token()
    assert first != second
    assert len(first) >= 43
    assert hash_opaque_token(first) == hash_opaque_token(first)
    assert first not in hash_opaque_token(first)
    assert len(hash_opaque_token(first)) == 64


async def test_password_hash_verifies_only_the_right_password(settings: Settings) -> None:
    hasher = PasswordHasher(settings)
    password_hash = await hasher.hash("correct horse")
    assert password_hash.startswith("$argon2id$")
    assert "correct horse" not in password_hash
    assert await hasher.verify("correct horse", password_hash) == (True, None)
    assert (await hasher.verify("wrong horse", password_hash))[0] is False


async def test_hash_with_other_parameters_is_upgraded_on_verify(settings: Settings) -> None:
    older = PasswordHasher(settings.model_copy(update={"argon2_memory_cost_kib": 32}))
    valid, upgraded = await PasswordHasher(settings).verify(
        "pw-123456", await older.hash("pw-123456")
    )
    assert valid is True
    assert upgraded is not None
    assert f"m={settings.argon2_memory_cost_kib}," in upgraded


async def test_dummy_verification_reuses_one_hash(settings: Settings) -> None:
    hasher = PasswordHasher(settings)
    await hasher.verify_dummy("anything")
    dummy = hasher._dummy_hash
    await hasher.verify_dummy("anything else")
    assert dummy is not None
    assert hasher._dummy_hash == dummy


def test_access_token_round_trip(settings: Settings) -> None:
    codec = AccessTokenCodec(settings)
    issued = codec.issue(42, SESSION)
    claims = codec.decode(issued.token)
    assert claims == issued.claims
    assert claims.user_id == 42
    lifetime = dt.timedelta(minutes=settings.access_token_expire_minutes)
    assert lifetime - dt.timedelta(seconds=1) < claims.expires_at - claims.issued_at <= lifetime


def test_access_tokens_carry_exactly_the_contract_claims(settings: Settings) -> None:
    token = AccessTokenCodec(settings).issue(7, SESSION).token
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert set(payload) == {"sub", "exp", "iat", "jti", "sid", "type", "iss", "aud"}
    assert payload["sid"] == SESSION.hex
    assert payload["sub"] == "7"
    assert payload["type"] == "access"


def test_each_token_has_its_own_id(settings: Settings) -> None:
    codec = AccessTokenCodec(settings)
    assert codec.issue(1, SESSION).claims.jti != codec.issue(1, SESSION).claims.jti


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."])
def test_garbage_is_refused(settings: Settings, token: str) -> None:
    with pytest.raises(InvalidAccessTokenError):
        AccessTokenCodec(settings).decode(token)


def test_token_of_another_issuer_or_audience_is_refused(settings: Settings) -> None:
    token = (
        AccessTokenCodec(settings.model_copy(update={"jwt_issuer": "evil"})).issue(1, SESSION).token
    )
    with pytest.raises(InvalidAccessTokenError):
        AccessTokenCodec(settings).decode(token)
    token = (
        AccessTokenCodec(settings.model_copy(update={"jwt_audience": "other"}))
        .issue(1, SESSION)
        .token
    )
    with pytest.raises(InvalidAccessTokenError):
        AccessTokenCodec(settings).decode(token)


def test_expired_token_is_refused(settings: Settings) -> None:
    codec = AccessTokenCodec(settings)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    with pytest.raises(InvalidAccessTokenError):
        codec.decode(codec.issue(1, SESSION, now=long_ago).token)


@pytest.mark.parametrize(
    "changes",
    [{"jti": ""}, {"jti": "x" * 65}, {"sub": str(2**63)}, {"exp": 10**20}],
    ids=["empty-jti", "long-jti", "huge-sub", "far-exp"],
)
def test_out_of_range_claims_are_refused(settings: Settings, changes: dict[str, object]) -> None:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims: dict[str, object] = {
        "sub": "1", "iat": now, "exp": now + 60, "jti": "j", "type": "access",
        "iss": settings.jwt_issuer, "aud": settings.jwt_audience, **changes,
    }  # fmt: skip
    token = jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm="HS256")
    with pytest.raises(InvalidAccessTokenError):
        AccessTokenCodec(settings).decode(token)
