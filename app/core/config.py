"""Settings: the only reader of the environment and of `.env`."""

from __future__ import annotations

import importlib.util
import ipaddress
import math
import zlib
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.limit_syntax import check_limit_text

# Where the app keeps its data when DATABASE_URL is not set: the embedded SQLite file (a
# project generated with PostgreSQL as its database names its own database here instead).
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/app.db"
DEV_SECRET_KEY = "dev-only-secret-key-change-me-before-deploying-0000"  # noqa: S105 - refused in production
# Every SECRET_KEY printed in the repository's sample files: public, so refused in production
# (a unit test finds each one in the samples and fails on one missing here).
PUBLIC_SECRET_KEYS = frozenset({
    DEV_SECRET_KEY,  # .sample.env
    "test-secret-key-that-is-long-enough-for-hs256-000",  # .test.env
    "generate-with-python3-c-import-secrets-print-secrets.token_urlsafe-48",  # k8s secrets example
})  # fmt: skip
MIN_SECRET_KEY_BYTES = 32
MIN_SECRET_KEY_BITS = 128

Environment = Literal["local", "testing", "staging", "production"]
# "10/minute" and the like, or empty for no limit (see `app.core.limit_syntax`).
LimitText = Annotated[str, AfterValidator(check_limit_text)]
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _check_redis_url(url: str) -> str:
    """Empty (in-process backends) or a URL redis-py opens: checked with the settings, so a
    typo is one line naming REDIS_URL rather than a traceback at the first connection."""
    if url and not url.startswith(REDIS_SCHEMES):
        raise ValueError(f"must be empty or start with {', '.join(REDIS_SCHEMES)}")
    return url


RedisUrl = Annotated[str, AfterValidator(_check_redis_url)]


_OUTSIDE = (
    "(it serves only ENVIRONMENT=testing, and local on a loopback host); set a random one: "
    'python -c "import secrets; print(secrets.token_urlsafe(48))"'
)


def estimated_entropy_bits(key: str) -> float:
    """A generous estimate of the bits of randomness in `key`, to refuse a predictable one.

    Its length times the Shannon entropy of its characters (`aaaa...` has none, `abab...`
    one bit a character), capped by its size once deflated (a repeated pattern such as
    `0123456789` four times compresses). A random key of 32 bytes or more, in hex or
    base64, scores far above `MIN_SECRET_KEY_BITS`; words and patterns can score high
    too: the estimate refuses the obvious mistakes, nothing more.
    """
    data = key.encode()
    counts = Counter(data).values()
    shannon = -sum(count * math.log2(count / len(data)) for count in counts)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw: no header
    deflated_bits = 8 * len(deflater.compress(data) + deflater.flush())
    return min(shannon, deflated_bits)


def _secret_key_problem(secret: str) -> str | None:
    """Why production refuses `secret`, or None; never quotes the key."""
    if secret in PUBLIC_SECRET_KEYS:
        return "must not be a value published in the kit's sample files"
    if len(secret.encode()) < MIN_SECRET_KEY_BYTES:
        return f"must be at least {MIN_SECRET_KEY_BYTES} bytes long"
    if estimated_entropy_bits(secret) < MIN_SECRET_KEY_BITS:
        return "is too predictable (repeated characters or a repeated pattern)"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: reachable from wherever it resolves
        return False


INSTALL_OBSERVABILITY = (
    "install the observability extra (uv sync --extra observability, "
    "or build the image with --build-arg EXTRAS=observability)"
)
# What each setting of tracing and error reporting imports (app/core/telemetry.py) once it
# is set: packages of the optional `observability` extra of pyproject.toml.
OBSERVABILITY_MODULES = {
    "otel_exporter_otlp_endpoint": (
        "OpenTelemetry",
        (
            "opentelemetry.sdk",
            "opentelemetry.exporter.otlp.proto.http",
            "opentelemetry.instrumentation.fastapi",
            "opentelemetry.instrumentation.sqlalchemy",
            "opentelemetry.instrumentation.redis",
            "opentelemetry.instrumentation.httpx",
        ),
    ),
    "sentry_dsn": ("Sentry", ("sentry_sdk",)),
}


def _installed(module: str) -> bool:
    """Whether `module` can be imported, found without importing it (its parent packages
    are: namespace packages, or the small OpenTelemetry API that FastAPI imports anyway)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def missing_observability(settings: Settings) -> str | None:
    """Why a setting of tracing or error reporting cannot be served, or None: it is set
    but the packages it needs are not installed (a default install leaves them out)."""
    for field, (name, modules) in OBSERVABILITY_MODULES.items():
        if getattr(settings, field) and not all(map(_installed, modules)):  # str or SecretStr
            return f"{field.upper()} is set but {name} is not installed: {INSTALL_OBSERVABILITY}"
    return None


class ConfigurationError(Exception):
    """The settings cannot be used; the message says which one and why."""


class Settings(BaseSettings):
    """Every knob of the kit, with a safe local default for each."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    environment: Environment = "local"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)

    database_url: str = DEFAULT_DATABASE_URL
    # Connections kept open per process, and how many more a burst may open (each closed
    # again when it is returned: opening one per request under steady load costs more
    # than the pool's size, so size the pool for the steady load).
    database_pool_size: int = Field(default=20, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_timeout: float = Field(default=5.0, gt=0)
    # Ping each connection as it leaves the pool: a round trip per request. Off, a
    # connection the server closed meanwhile fails one request (503) and the pool reconnects.
    database_pool_pre_ping: bool = False
    database_connect_timeout: int = Field(default=5, ge=1)
    database_echo: bool = False
    retry_after_seconds: int = Field(default=5, ge=1)

    redis_url: RedisUrl = ""
    redis_timeout: float = Field(default=2.0, gt=0)
    # Seconds a request waits for Redis in the cache and the rate limiter before it goes on
    # without it; short, so an unreachable Redis does not stall every request.
    redis_request_timeout: float = Field(default=0.5, gt=0)
    # Connections per client and process; more concurrent commands wait for a free one.
    redis_max_connections: int = Field(default=100, ge=1)

    cache_version: str = "1"
    cache_ttl: float = Field(default=300.0, gt=0)
    cache_max_entries: int = Field(default=10_000, ge=1)
    # Seconds a Redis cache is trusted between two checks of the pending invalidations
    # (app/core/cache.py); a write during a Redis outage answers up to this much later.
    cache_trust_window: float = Field(default=1.0, gt=0)

    # Queue (taskiq): see the "Queue" block of `.sample.env`.
    queue_stream: str = "modulith:tasks"
    queue_maxlen: int = Field(default=100_000, ge=1)
    queue_idle_timeout: float = Field(default=600.0, gt=0)
    queue_unacknowledged_lock_timeout: float = Field(default=30.0, gt=0)
    queue_max_concurrent_tasks: int = Field(default=50, ge=1)
    queue_shutdown_timeout: float = Field(default=30.0, ge=0)
    queue_task_retries: int = Field(default=3, ge=0)
    queue_retry_delay: float = Field(default=1.0, ge=0)
    queue_retry_max_delay: float = Field(default=300.0, ge=0)
    queue_poll_interval: float = Field(default=1.0, gt=0)
    queue_reconnect_max_delay: float = Field(default=30.0, gt=0)
    queue_relay_batch_size: int = Field(default=100, ge=1)
    queue_outbox_retention_hours: float = Field(default=24.0, ge=0)
    queue_task_modules: str = ""

    rate_limit_enabled: bool = True
    rate_limit_default: LimitText = ""
    rate_limit_login: LimitText = "10/minute"
    rate_limit_credentials: LimitText = "5/minute"
    rate_limit_login_per_ip: LimitText = "30/minute"
    rate_limit_login_failures: LimitText = "100/hour"
    rate_limit_restore_per_address: LimitText = "3/hour"
    rate_limit_profile: LimitText = "10/minute"
    # Limits count an IPv6 client by its network of this many bits (a subscriber commonly
    # holds a whole /64); 128 counts every address apart (see app/core/client_address.py).
    rate_limit_ipv6_prefix: int = Field(default=64, ge=1, le=128)
    forwarded_allow_ips: str = "127.0.0.1"

    first_superuser_email: str = ""
    first_superuser_password: SecretStr = SecretStr("")
    registration_enabled: bool = True

    access_token_expire_minutes: int = Field(default=15, ge=1)
    refresh_token_expire_days: int = Field(default=7, ge=1)
    reset_token_expire_minutes: int = Field(default=15, ge=1)
    refresh_family_max_age_days: int = Field(default=30, ge=1)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "fastapi-modulith"
    jwt_audience: str = "fastapi-modulith"
    # argon2id cost: the library's strong defaults; tests lower them in `.test.env`.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    # Password hashes computed at once per process (each in a thread, off the event loop).
    password_hash_concurrency: int = Field(default=4, ge=1)
    # Hashes allowed to wait for a slot per process; more answer 503 with Retry-After.
    password_hash_queue_size: int = Field(default=32, ge=0)
    # The page of the front end that takes a reset token; the mail links to it with ?token=.
    password_reset_url: str = "http://localhost:8000/reset-password"  # noqa: S105 - a URL

    mail_backend: Literal["smtp", "file", "console"] = "file"
    mail_file_dir: Path = Path("./var/mail")
    mail_from: str = "Modulith <noreply@example.com>"
    smtp_host: str = "localhost"
    smtp_port: int = 1025
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout: float = Field(default=10.0, gt=0)

    log_format: Literal["console", "json"] = "console"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # `/metrics` needs `Authorization: Bearer <METRICS_TOKEN>` when set; open when empty,
    # except in production, where it is not served at all (404) until a token is set.
    metrics_token: SecretStr = SecretStr("")
    # A directory for prometheus-client's multiprocess files: set it when serving with
    # `--workers N` so that /metrics sums every worker (emptied by `serve` at start).
    metrics_multiproc_dir: str = ""
    # Tracing (OpenTelemetry, OTLP over HTTP) and error reporting (Sentry): off unless set.
    otel_exporter_otlp_endpoint: str = ""
    sentry_dsn: SecretStr = SecretStr("")

    docs_enabled: bool | None = None
    # Exact origins allowed by CORS, comma separated; none by default.
    cors_origins: str = ""
    cors_allow_credentials: bool = False
    # Host names the API answers for, comma separated (`*.example.com` for subdomains);
    # empty: any. Others get 400; /health/* and /metrics answer any (probes use the pod IP).
    allowed_hosts: str = ""
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # The HTTP server of `serve`, against slow and oversized clients (app/core/server.py);
    # the proxy in front applies the same limits first.
    server_max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    server_header_timeout: float = Field(default=10.0, gt=0)
    server_body_timeout: float = Field(default=30.0, gt=0)
    # Open connections and requests in flight per process; beyond it, new requests get 503.
    server_limit_concurrency: int = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "staging" and self.uses_public_secret_key:
            raise ConfigurationError(
                f"SECRET_KEY must not be a key published in the kit's sample files {_OUTSIDE}"
            )
        if self.environment != "production":
            return self
        if problem := _secret_key_problem(self.secret_key.get_secret_value()):
            raise ConfigurationError(
                f"SECRET_KEY {problem}: production needs a random value of at least "
                f"{MIN_SECRET_KEY_BYTES} bytes "
                '(generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        return self

    @model_validator(mode="after")
    def _refuse_observability_not_installed(self) -> Settings:
        if problem := missing_observability(self):
            raise ConfigurationError(problem)
        return self

    @property
    def uses_public_secret_key(self) -> bool:
        """One of the keys printed in the repository: anyone could sign a token with it."""
        return self.secret_key.get_secret_value() in PUBLIC_SECRET_KEYS

    def check_serving_on(self, host: str) -> None:
        """Refuse a published key once other machines can reach the API:
        anyone could sign a token with it."""
        local = self.environment == "local"  # testing may; staging and production never do
        if local and self.uses_public_secret_key and not _is_loopback(host):
            raise ConfigurationError(
                "SECRET_KEY must not be a key published in the kit's sample files when "
                f"serving on {host} {_OUTSIDE}"
            )

    @property
    def show_docs(self) -> bool:
        """Docs are on by default everywhere but production."""
        if self.docs_enabled is None:
            return self.environment != "production"
        return self.docs_enabled

    @property
    def serves_metrics(self) -> bool:
        """`/metrics` exists: anywhere but production, where it needs a token."""
        return self.environment != "production" or bool(self.metrics_token.get_secret_value())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def allowed_host_list(self) -> list[str]:
        return [host.strip() for host in self.allowed_hosts.split(",") if host.strip()]

    @property
    def trusted_proxies(self) -> list[str]:
        return [ip.strip() for ip in self.forwarded_allow_ips.split(",") if ip.strip()]
