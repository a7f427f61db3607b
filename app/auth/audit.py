"""The audit trail: security events on the `app.audit` logger.

Each line names the event and the account (`user_id`; `by_user_id` for an action on
someone else's account); the request id and the client's canonical address (`client`,
see `app.core.client_address`) join it through structlog's context. Never a password,
token or submitted login: only ids.

What is recorded: every login (succeeded, or failed with its `reason`: unknown
account, wrong password, account disabled, password changed meanwhile, or `rate limited`
with the `limit` that refused it); password and email changes and resets; refresh token
reuse; every role and status change (superuser granted or withdrawn, user blocked,
unblocked or deleted); and every request to an admin route (`admin action`, with its
outcome, or `admin action refused` for a caller who is no superuser).
"""

from __future__ import annotations

import structlog

audit = structlog.get_logger("app.audit")


def audit_login_limited(user_id: int | None, limit: str) -> None:
    """A login refused (429) by `limit`, the setting's name."""
    audit.warning("login failed", user_id=user_id, reason="rate limited", limit=limit)
