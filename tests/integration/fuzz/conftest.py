"""The fuzzer signs in as a superuser (the auth tests' fixtures)."""

from tests.integration.auth.conftest import (  # noqa: F401 - fixtures
    admin_headers,
    superuser,
)
