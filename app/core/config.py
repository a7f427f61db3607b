"""Settings: the only reader of the environment and of `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-only-secret-key-change-me-before-deploying-0000"  # noqa: S105 - refused in production
MIN_SECRET_KEY_BYTES = 32

Environment = Literal["local", "testing", "staging", "production"]


class ConfigurationError(Exception):
    """The settings cannot be used; the message says which one and why."""


class Settings(BaseSettings):
    """Every knob of the kit, with a safe local default for each."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    environment: Environment = "local"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    debug: bool = False

    database_url: str = "sqlite+aiosqlite:///./var/app.db"
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_timeout: float = Field(default=5.0, gt=0)
    database_connect_timeout: int = Field(default=5, ge=1)
    database_echo: bool = False
    retry_after_seconds: int = Field(default=5, ge=1)

    redis_url: str = ""
    redis_timeout: float = Field(default=2.0, gt=0)

    rate_limit_enabled: bool = True
    rate_limit_default: str = ""
    forwarded_allow_ips: str = "127.0.0.1"

    first_superuser_email: str = ""
    first_superuser_password: SecretStr = SecretStr("")
    registration_enabled: bool = True

    access_token_expire_minutes: int = Field(default=15, ge=1)
    refresh_token_expire_days: int = Field(default=7, ge=1)
    reset_token_expire_minutes: int = Field(default=15, ge=1)

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

    docs_enabled: bool | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment != "production":
            return self
        secret = self.secret_key.get_secret_value()
        if secret == DEV_SECRET_KEY or len(secret.encode()) < MIN_SECRET_KEY_BYTES:
            raise ConfigurationError(
                "SECRET_KEY must be a random value of at least "
                f"{MIN_SECRET_KEY_BYTES} bytes in production "
                '(generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        if self.debug:
            raise ConfigurationError("DEBUG must be off in production")
        return self

    @property
    def show_docs(self) -> bool:
        """Docs are on by default everywhere but production."""
        if self.docs_enabled is None:
            return self.environment != "production"
        return self.docs_enabled

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def trusted_proxies(self) -> list[str]:
        return [ip.strip() for ip in self.forwarded_allow_ips.split(",") if ip.strip()]
