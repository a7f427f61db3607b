"""The audit trail: security events on the `app.audit` logger.

Each line names the event and the account (`user_id`; `by_user_id` for an action on
someone else's account); the request id joins it through structlog's context. Never a
password, token or submitted login: only ids.
"""

from __future__ import annotations

import structlog

audit = structlog.get_logger("app.audit")
