"""One settings class, read from ``VISITT_*`` environment variables by pydantic-settings.

Each default is written once, on its field below. Every variable is documented in
``docs/configuration.md``; keep the two in step (``tests/test_settings.py`` checks that each
documented variable is read). A value that cannot be read stops the start with an error naming the
variable (:func:`load`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PREFIX = "VISITT_"
# VISITT_SERVER: the ASGI server and, for uvicorn, its WebSocket implementation (visitt.ops.serving)
Server = Literal["uvicorn-websockets-sansio", "uvicorn-websockets", "uvicorn-wsproto", "hypercorn", "granian"]
SERVERS: tuple[str, ...] = get_args(Server)


def _list(value: Any) -> Any:
    """``"a, b"`` → ("a", "b"): lists are written comma-separated in the environment."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _origins(value: Any) -> Any:
    return tuple(origin.rstrip("/") for origin in _list(value))


def _no_trailing_slash(value: Any) -> Any:
    return value.rstrip("/") if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _hours(value: Any) -> Any:
    """``"21-08"`` → (21, 8); ``""`` → no quiet hours."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return (0, 0)
    start, _, end = value.partition("-")
    try:
        hours = (int(start), int(end))
    except ValueError:
        raise ValueError("VISITT_QUIET_HOURS must look like 21-08") from None
    if not all(0 <= hour <= 23 for hour in hours):
        raise ValueError("VISITT_QUIET_HOURS must look like 21-08")
    return hours


def _flag(value: Any) -> Any:
    """An empty variable is off, as if unset."""
    return False if isinstance(value, str) and not value.strip() else value


Flag = Annotated[bool, BeforeValidator(_flag)]


# First path segments other pages own: a portal there would hide them, or be hidden.
_TAKEN = frozenset({"staff", "v", "ws", "api", "static", "test", "metrics", "healthz", "readyz", "openapi.json",
                    "scripts-off", "help"})


def _portal_path(value: Any) -> Any:
    """``"/besok/"`` → ``"/besok"``; ``""`` → no portal. Refuses paths that other pages own."""
    if not isinstance(value, str):
        return value
    path = value.strip().rstrip("/")
    if not path:
        return ""
    if not re.fullmatch(r"(/[a-z0-9][a-z0-9_-]*)+", path) or path.split("/")[1] in _TAKEN:
        raise ValueError("VISITT_PORTAL_PATH must look like /portal (lower-case letters, digits, - and _), "
                         "and not start with a path Visitt already uses")
    return path


class Settings(BaseSettings):
    """Read from the environment when created (``Settings()``), or given in full (the tests); frozen.
    ``VISITT_<FIELD NAME>`` sets each field; booleans take 1/0, true/false, yes/no, on/off."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="forbid")

    data_dir: Path = Path("./visitt-data")
    database_url: str = ""
    redis_url: str = ""  # several nodes: the bus between them (visitt.live.bus); empty: one node, in-process
    redis_prefix: str = "visitt"
    sms_backend: str = "console"
    public_url: Annotated[str, BeforeValidator(_no_trailing_slash)] = ""
    clinic_name: str = "Visitt"
    clinic_phone: str = "+47 69 86 00 00"
    helpdesk_phone: str = ""  # the IT helpdesk for technical trouble; empty: the help page names the clinic only
    default_region: str = "NO"
    timezone: str = "Europe/Oslo"
    secure_cookies: Flag = False
    allowed_origins: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_origins)] = ()
    auto_lock: Flag = True
    patients_may_share: Flag = False  # guests may share a window too, not only the clinician and co-hosts
    demo: Flag = False
    outbox_interval: float = 1.0
    max_message_bytes: int = 64 * 1024
    messages_per_second: int = 50
    ping_interval: float = 20.0
    ping_timeout: float = 40.0
    session_hours: int = 12  # the absolute time-out of a staff session
    session_idle_minutes: int = Field(default=30, ge=1)  # a staff session unused this long ends
    reset_link_hours: int = Field(default=24, ge=1)  # how long an administrator's password-reset link works
    max_participants: int = 5
    metrics_token: str = ""
    metrics_open: Flag = False  # /metrics without a token: only for a node whose port is private
    # json or text; empty: the command's own (json for serve, text for demo)
    log_format: Annotated[Literal["", "json", "text"], BeforeValidator(_lower)] = ""
    # the ASGI server and its WebSocket implementation (visitt.ops.serving)
    server: Annotated[Server, BeforeValidator(_lower)] = "uvicorn-websockets-sansio"
    stun_urls: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_list)] = ()
    turn_urls: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_list)] = ()
    turn_secret: str = ""
    turn_ttl: int = 3600
    ice_transport_policy: Literal["all", "relay"] = "all"
    # Janus, the media server for group calls and staff meetings (visitt.live.janus); empty: mesh only
    janus_url: Annotated[str, BeforeValidator(_no_trailing_slash)] = ""
    janus_api_secret: str = ""
    max_group_participants: int = Field(default=12, ge=1, le=32)  # people besides the hosts in a group consultation
    max_video_streams: int = Field(default=4, ge=1, le=32)  # pictures a page shows at most in a call through Janus
    sms_sender: str = "Visitt"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_base_url: str = "https://api.twilio.com"
    sveve_user: str = ""
    sveve_password: str = ""
    sveve_base_url: str = "https://sveve.no"
    webhook_secret: str = ""
    sveve_report_token: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: Flag = True
    smtp_from: str = ""
    # the consultation's record to the hospital's FHIR server (visitt/messaging/fhir.py); empty: download only
    fhir_url: Annotated[str, BeforeValidator(_no_trailing_slash)] = ""
    fhir_token: str = ""  # a static bearer token; or OAuth 2.0 client credentials:
    fhir_token_url: str = ""
    fhir_client_id: str = ""
    fhir_client_secret: str = ""
    reminder_days: int = 3
    retention_days: int = Field(default=90, ge=1)  # personal data of a consultation is removed this long after it
    reconnect_grace: float = 60.0
    max_wait_minutes: float = 15.0
    no_show_minutes: float = 5.0
    quiet_hours: Annotated[tuple[int, int], NoDecode, BeforeValidator(_hours)] = (21, 8)
    link_opens_minutes: int = 30
    link_closes_hours: float = 4.0
    code_attempts_per_address: int = 10
    code_attempts_per_code: int = 10
    code_attempt_minutes: int = 15
    trusted_proxies: str = "127.0.0.1"
    portal_path: Annotated[str, BeforeValidator(_portal_path)] = "/portal"  # empty: no portal
    portal_visits_per_address: int = 5
    portal_visit_minutes: int = 30
    body_timeout: float = Field(default=10.0, ge=0)  # seconds for a request's whole body to arrive after its headers; 0: no limit
    keep_alive_timeout: int = Field(default=5, ge=1)  # seconds an idle connection stays open after a response (uvicorn)
    # the rest of the limits (visitt/limiter.py has the table; docs/configuration.md documents it)
    sockets_per_link: int = 8
    sockets_per_address: int = 50
    sockets_per_staff: int = 20
    login_failures_per_account: int = 5
    login_account_seconds: int = 30  # the first lock-out of an account; doubled for each further one
    login_account_max_minutes: int = 15  # the longest lock-out, and the look-back of the failures counted
    login_failures_per_address: int = 30
    login_address_minutes: int = 15
    password_checks_at_once: int = 4
    password_check_wait: float = 2.0
    password_hashing: Literal["standard", "cheapest"] = "standard"  # argon2 profile (visitt.accounts.HASHING); "cheapest" only for tests
    test_calls_per_address: int = 10
    test_call_minutes: int = 10
    test_room_places: int = 10
    test_room_places_per_address: int = 2
    test_room_media_seconds: float = 8.0
    sms_per_number: int = 20
    sms_per_staff: int = 300
    sms_hours: int = 1
    # single sign-on by OpenID Connect (visitt/sso.py; docs/administration.md): empty issuer = off
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_auth: Literal["private_key_jwt", "client_secret_basic"] = "private_key_jwt"
    oidc_private_key_file: str = ""  # PEM, RSA or EC: the key private_key_jwt signs with
    oidc_client_secret: str = ""
    oidc_claim: str = "email"  # "email" matches Staff.email; any other claim matches Staff.sso_id
    oidc_scopes: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_list)] = ("openid", "email", "profile")
    oidc_department_claim: str = ""  # names the department of someone unknown (accounts made only where allowed)

    @model_validator(mode="after")
    def _sso_complete(self) -> "Settings":
        """Single sign-on needs a client id and the client's key or secret."""
        if not self.oidc_issuer:
            return self
        if not self.oidc_client_id:
            raise ValueError("VISITT_OIDC_CLIENT_ID must be set when VISITT_OIDC_ISSUER is")
        if self.oidc_client_auth == "private_key_jwt" and not Path(self.oidc_private_key_file).is_file():
            raise ValueError("VISITT_OIDC_PRIVATE_KEY_FILE must name a PEM file for private_key_jwt")
        if self.oidc_client_auth == "client_secret_basic" and not self.oidc_client_secret:
            raise ValueError("VISITT_OIDC_CLIENT_SECRET must be set for client_secret_basic")
        if "openid" not in self.oidc_scopes:
            raise ValueError("VISITT_OIDC_SCOPES must include openid")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'visitt.sqlite3').resolve()}"

    def but(self, **changes: Any) -> "Settings":
        """A copy with ``changes`` (values of the fields' own types: they are not parsed again)."""
        return self.model_copy(update=changes)


class SettingsInvalid(ValueError):
    """A ``VISITT_*`` variable that cannot be read; the message names each, one a line."""


def load() -> Settings:
    """The settings from the process's environment, or :class:`SettingsInvalid` saying what is wrong."""
    try:
        return Settings()
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            name = PREFIX + "_".join(str(part) for part in problem["loc"][:1]).upper()
            message = str(problem["msg"]).removeprefix("Value error, ")
            lines.append(message if message.startswith(PREFIX) else f"{name}: {message}")
        raise SettingsInvalid("\n".join(lines)) from None
