"""Secrets never reach a log line; request ids are sane."""

from __future__ import annotations

import pytest

from app.core.logging import REDACTED, mask_email, redact
from app.core.middleware import choose_request_id


def test_sensitive_keys_are_redacted_at_any_depth() -> None:
    event = {
        "event": "login",
        "password": "hunter2",
        "headers": {"Authorization": "Bearer abc.def", "accept": "json"},
        "items": [{"refresh_token": "r1"}, {"name": "ok"}],
        "current_password": "old",
        "SECRET_KEY": "k",
    }
    assert redact(event) == {
        "event": "login",
        "password": REDACTED,
        "headers": {"Authorization": REDACTED, "accept": "json"},
        "items": [{"refresh_token": REDACTED}, {"name": "ok"}],
        "current_password": REDACTED,
        "SECRET_KEY": REDACTED,
    }


def test_bearer_tokens_and_url_passwords_in_text_are_redacted() -> None:
    text = "sent Bearer eyJhbGciOi.x.y to postgresql+psycopg://app:s3cret@db:5432/app"
    assert redact(text) == (
        f"sent Bearer {REDACTED} to postgresql+psycopg://app:{REDACTED}@db:5432/app"
    )


@pytest.mark.parametrize("incoming", ["abc", "A-b_c.9", "x" * 128])
def test_sane_request_id_is_kept(incoming: str) -> None:
    assert choose_request_id(incoming) == incoming


@pytest.mark.parametrize("incoming", [None, "", "x" * 129, "a b", "a\nb", "<script>"])
def test_other_request_ids_are_replaced(incoming: str | None) -> None:
    assert choose_request_id(incoming) != incoming


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("ann@example.com", "a***@example.com"),
        ("Ann <ann.lee@mail.example.org>", "a***@mail.example.org"),
        ("not an address", "***"),
        ("", "***"),
    ],
)
def test_email_addresses_are_masked_for_the_log(address: str, masked: str) -> None:
    assert mask_email(address) == masked
