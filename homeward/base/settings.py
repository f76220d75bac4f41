"""Runtime settings, read from ``HOMEWARD_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

from email.utils import parseaddr
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platformdirs import user_config_dir, user_data_dir
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from homeward.base.countries import check_country

SUPPORTED_LANGUAGES = ("en", "ro")
DEFAULT_WORKSPACE_URL = "http://127.0.0.1:4300"  # `homeward web` and `homeward up` serve here
LINE_BREAKS = frozenset("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029")  # what str.splitlines splits on


class TlsMode(StrEnum):
    """How the SMTP connection is protected: implicit TLS (port 465), STARTTLS required (587),
    or none, which Homeward allows only to a server on this machine (loopback)."""

    IMPLICIT = "implicit"
    STARTTLS = "starttls"
    NONE = "none"


DEFAULT_PORTS = {TlsMode.IMPLICIT: 465, TlsMode.STARTTLS: 587, TlsMode.NONE: 25}


def default_database_url() -> str:
    """An SQLite file under the user's data directory, created on first use."""
    data_dir = Path(user_data_dir("homeward", appauthor=False))
    return f"sqlite:///{data_dir / 'homeward.db'}"


def default_audit_anchor_file() -> str:
    """The audit checkpoints, beside the data directory (put them on another machine's share,
    or a write-once mount, so whoever holds the database cannot rewrite them too)."""
    return str(Path(user_data_dir("homeward", appauthor=False)) / "audit-checkpoints.log")


def default_prefect_home() -> str:
    """Where ``homeward up`` keeps its own Prefect server's database and logs."""
    return str(Path(user_data_dir("homeward", appauthor=False)) / "prefect")


def default_key_file() -> str:
    """The keyring under the user's config directory (never beside the database)."""
    return str(Path(user_config_dir("homeward", appauthor=False)) / "keys.json")


def default_backup_key_file() -> str:
    """The backup keyring, apart from the keyring (it is copied and expires differently)."""
    return str(Path(user_config_dir("homeward", appauthor=False)) / "backup-keys.json")


class Settings(BaseSettings):
    """Everything Homeward reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="HOMEWARD_", env_file=".env", extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    timezone: str = "Europe/Bucharest"
    default_language: str = "en"
    sqlite_busy_timeout_ms: int = 15_000
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="FULL: a commit survives a power cut (one fsync per commit); NORMAL: "
        "survives a crash of Homeward but maybe not of the machine, and commits ~2 ms faster",
    )
    key_file: str = Field(default_factory=default_key_file)
    audit_anchor_file: str = Field(
        default_factory=default_audit_anchor_file,
        description="append-only file of signed audit checkpoints, outside the database",
    )
    db_role: str | None = Field(
        default=None,
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="PostgreSQL role the app acts as (row security)",
    )
    report_k: int = Field(
        default=11, ge=3, description="smallest count a report publishes (small-cell suppression)"
    )
    retention_days: int = Field(default=1825, ge=30, description="purge closed cases after this")

    # Backups are sealed under a backup key per period, destroyed once the period's backups
    # are past their retention: a purge reaches every backup by then (``homeward backup``).
    backup_key_file: str = Field(default_factory=default_backup_key_file)
    backup_key_days: int = Field(
        default=7, ge=1, le=31, description="one backup key per this many days (from Mondays)"
    )
    backup_retention_days: int = Field(
        default=35,
        ge=1,
        le=3660,
        description="a backup key is destroyed this long after its period ends: keep backups "
        "no longer, for none older can be read",
    )

    # Signing in (``homeward login``): one-time codes by email, sessions, run assertions.
    session_file: str = Field(
        default_factory=lambda: str(Path(user_config_dir("homeward", appauthor=False)) / "session"),
        description="where `homeward login` keeps this user's session token (mode 0600)",
    )
    session_hours: int = Field(default=12, ge=1, le=24 * 30, description="a session's lifetime")
    login_code_minutes: int = Field(default=10, ge=1, le=60, description="a sign-in code's life")
    login_codes_per_hour: int = Field(
        default=5,
        ge=1,
        le=10,  # PostgreSQL sends no staff member more than 10 an hour (migration 0028)
        description="per address typed, staff or not",
    )
    login_answer_seconds: float = Field(
        default=1.0,
        ge=0,
        le=10,
        description="`homeward login` answers a code request after at least this long, whether "
        "or not an email went out (the wait does not tell staff addresses from others)",
    )
    assertion_minutes: int = Field(
        default=15, ge=1, le=24 * 60, description="a run assertion must be used within this"
    )

    # ``homeward up``: the embedded Prefect server (its runs name cases only by case_ref).
    prefect_home: str = Field(default_factory=default_prefect_home)
    prefect_retention_days: int = Field(
        default=90, ge=1, description="the embedded server deletes flow runs and events after this"
    )

    # Email (notifications): the SMTP server, the sender, and how reminders behave.
    smtp_host: str = "localhost"
    smtp_port: int | None = Field(default=None, ge=1, le=65535, description="default by TLS")
    smtp_tls: TlsMode = TlsMode.STARTTLS
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_ca_file: str | None = Field(default=None, description="extra CA bundle to trust")
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    smtp_pool_size: int = Field(default=4, ge=1, le=64, description="connections kept open")
    mail_from: str = "Homeward <no-reply@homeward.invalid>"
    mail_base_url: str | None = Field(
        default=None,
        description="the web workspace's public address, which emails link to (BASE/items/ID, "
        f"BASE/cases/CASE_REF); unset: {DEFAULT_WORKSPACE_URL}",
    )
    mail_digest_hour: int = Field(default=8, ge=0, le=23, description="local hour of digests")
    # Quiet hours (``notifications.workdays``): mail that can wait goes on the recipient
    # organisation's working days, from its morning to its evening, in its own time zone.
    mail_morning_hour: int = Field(
        default=8,
        ge=0,
        le=23,
        description="recipients' local hour from which mail that can wait goes",
    )
    mail_evening_hour: int = Field(
        default=20,
        ge=1,
        le=24,
        description="recipients' local hour from which mail that can wait waits for the next "
        "working morning (24: none)",
    )
    mail_quiet_days: bool = Field(
        default=True,
        description="weekends and public holidays are quiet days (false: every day is a "
        "working day, for programmes staffed every day)",
    )
    mail_home_country: str = Field(
        default="RO",
        description="the country whose public holidays are quiet days for every organisation, "
        "besides its own country's",
    )
    mail_max_attempts: int = Field(default=8, ge=1, le=50)
    mail_retry_base_seconds: int = Field(default=60, ge=0, le=86_400)

    # Health alerts to managers (``homeward health``, the watch of ``homeward up``).
    health_late_minutes: int = Field(
        default=10, ge=1, le=24 * 60, description="a scheduled run not started this long after"
    )
    health_mail_stuck_minutes: int = Field(
        default=90, ge=5, le=7 * 24 * 60, description="mail queued this long, none sent: stuck"
    )
    health_check_seconds: int = Field(
        default=300, ge=5, le=3600, description="how often `homeward up` checks health"
    )

    # The staff web workspace (``homeward web``, ``homeward up``).
    web_idle_minutes: int = Field(
        default=30, ge=1, le=24 * 60, description="a web session ends after this long unused"
    )

    # The case journal's documents (``tasks.journal``): stored encrypted in the database.
    document_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        le=100 * 1024 * 1024,
        description="largest document a case may attach, in bytes (default 10 MB)",
    )

    # Prefect flows (workflows/): human approvals inside a paused run.
    approval_timeout_seconds: int = Field(
        default=7 * 86_400, ge=1, description="how long a paused flow waits for a supervisor"
    )
    approval_poll_seconds: int = Field(
        default=10, ge=1, le=300, description="how often a paused flow checks for the answer"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}; use an IANA name") from exc
        return value

    @field_validator("mail_home_country")
    @classmethod
    def _country_code(cls, value: str) -> str:
        return check_country(value)

    @model_validator(mode="after")
    def _morning_before_evening(self) -> Settings:
        if self.mail_evening_hour <= self.mail_morning_hour:
            raise ValueError(
                "HOMEWARD_MAIL_EVENING_HOUR: give an hour after HOMEWARD_MAIL_MORNING_HOUR "
                f"({self.mail_morning_hour}), e.g. 20"
            )
        return self

    @field_validator("default_language")
    @classmethod
    def _supported_language(cls, value: str) -> str:
        if value not in SUPPORTED_LANGUAGES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LANGUAGES)}")
        return value

    @field_validator("mail_from")
    @classmethod
    def _single_address(cls, value: str) -> str:
        _, address = parseaddr(value)
        local, _, domain = address.rpartition("@")
        if any(c in LINE_BREAKS for c in value) or not local or "." not in domain:
            raise ValueError("use one address, e.g. 'Homeward <no-reply@iom.example.org>'")
        return value

    @field_validator("mail_base_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if (
            parts.scheme not in ("https", "http")
            or not parts.netloc
            or parts.query
            or parts.fragment
        ):
            raise ValueError(
                "use an https:// address without query or fragment, e.g. https://homeward.org"
            )
        if not value.isascii() or any(not c.isprintable() or c in " <>\"'" for c in value):
            raise ValueError("use printable ASCII without spaces, quotes or angle brackets")
        return value.rstrip("/")

    @property
    def smtp_port_or_default(self) -> int:
        """The configured SMTP port, or the usual one for the TLS mode."""
        return self.smtp_port or DEFAULT_PORTS[self.smtp_tls]

    @property
    def tz(self) -> ZoneInfo:
        """The configured display timezone."""
        return ZoneInfo(self.timezone)


def workspace_url(settings: Settings | None = None) -> str:
    """The web workspace's address, without a trailing slash: ``mail_base_url`` when set (the
    public address staff reach it at), else where ``homeward web`` serves by default. Emails
    link to its pages; a link alone grants nothing (the page asks to sign in)."""
    return (settings or get_settings()).mail_base_url or DEFAULT_WORKSPACE_URL


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests clear the cache after changing the env)."""
    return Settings()
