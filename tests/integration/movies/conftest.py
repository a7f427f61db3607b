"""The signed-in users of the movies tests (the auth tests' fixtures), and recorded events."""

from tests.integration.auth.conftest import (  # noqa: F401 - fixtures
    admin_headers,
    superuser,
    user,
    user_headers,
    user_tokens,
)
from tests.integration.recorded_events import heard_events  # noqa: F401 - fixture
