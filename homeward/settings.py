"""Runtime settings, read from ``HOMEWARD_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platformdirs import user_config_dir, user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SUPPORTED_LANGUAGES = ("en", "ro")


def default_database_url() -> str:
    """An SQLite file under the user's data directory, created on first use."""
    data_dir = Path(user_data_dir("homeward", appauthor=False))
    return f"sqlite:///{data_dir / 'homeward.db'}"


def default_key_file() -> str:
    """The keyring under the user's config directory (never beside the database)."""
    return str(Path(user_config_dir("homeward", appauthor=False)) / "keys.json")


class Settings(BaseSettings):
    """Everything Homeward reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="HOMEWARD_", env_file=".env", extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    timezone: str = "Europe/Bucharest"
    default_language: str = "en"
    sqlite_busy_timeout_ms: int = 15_000
    key_file: str = Field(default_factory=default_key_file)
    db_role: str | None = Field(
        default=None,
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="PostgreSQL role the app acts as (row security)",
    )
    report_k: int = Field(
        default=11, ge=3, description="smallest count a report publishes (small-cell suppression)"
    )
    retention_days: int = Field(default=1825, ge=30, description="purge closed cases after this")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}; use an IANA name") from exc
        return value

    @field_validator("default_language")
    @classmethod
    def _supported_language(cls, value: str) -> str:
        if value not in SUPPORTED_LANGUAGES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LANGUAGES)}")
        return value

    @property
    def tz(self) -> ZoneInfo:
        """The configured display timezone."""
        return ZoneInfo(self.timezone)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache after changing the env)."""
    return Settings()
