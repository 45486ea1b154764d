"""One settings class, read from ``VISITT_*`` environment variables.

Every variable is documented in ``docs/configuration.md``; keep the two in step.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

# VISITT_SERVER: the ASGI server and, for uvicorn, its WebSocket implementation (visitt.serving)
SERVERS = ("uvicorn-websockets-sansio", "uvicorn-websockets", "uvicorn-wsproto", "hypercorn", "granian")


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _hours(value: str) -> tuple[int, int]:
    """``"21-08"`` → (21, 8); ``""`` → no quiet hours."""
    if not value.strip():
        return (0, 0)
    start, _, end = value.partition("-")
    hours = (int(start), int(end))
    if not all(0 <= hour <= 23 for hour in hours):
        raise ValueError("VISITT_QUIET_HOURS must look like 21-08")
    return hours


# First path segments other pages own: a portal there would hide them, or be hidden.
_TAKEN = frozenset({"staff", "v", "ws", "api", "static", "test", "metrics", "healthz", "readyz", "openapi.json",
                    "scripts-off"})


def _portal_path(value: str) -> str:
    """``"/besok/"`` → ``"/besok"``; ``""`` → no portal. Refuses paths that other pages own."""
    path = value.strip().rstrip("/")
    if not path:
        return ""
    if not re.fullmatch(r"(/[a-z0-9][a-z0-9_-]*)+", path) or path.split("/")[1] in _TAKEN:
        raise ValueError("VISITT_PORTAL_PATH must look like /portal (lower-case letters, digits, - and _), "
                         "and not start with a path Visitt already uses")
    return path


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./visitt-data")
    database_url: str = ""
    redis_url: str = ""  # several nodes: the bus between them (visitt.bus); empty: one node, in-process
    redis_prefix: str = "visitt"
    sms_backend: str = "console"
    public_url: str = ""
    clinic_name: str = "Visitt"
    clinic_phone: str = "+47 69 86 00 00"
    default_region: str = "NO"
    timezone: str = "Europe/Oslo"
    secure_cookies: bool = False
    allowed_origins: tuple[str, ...] = ()
    auto_lock: bool = True
    patients_may_share: bool = False  # guests may share a window too, not only the clinician and co-hosts
    demo: bool = False
    outbox_interval: float = 1.0
    max_message_bytes: int = 64 * 1024
    messages_per_second: int = 50
    ping_interval: float = 20.0
    ping_timeout: float = 40.0
    session_hours: int = 12
    max_participants: int = 5
    metrics_token: str = ""
    metrics_open: bool = False  # /metrics without a token: only for a node whose port is private
    log_format: str = ""  # json or text; empty: the command's own (json for serve, text for demo)
    server: str = "uvicorn-websockets-sansio"  # the ASGI server and its WebSocket implementation (visitt.serving)
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = ""
    turn_ttl: int = 3600
    ice_transport_policy: str = "all"
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
    smtp_starttls: bool = True
    smtp_from: str = ""
    reminder_days: int = 3
    reconnect_grace: float = 60.0
    max_wait_minutes: float = 15.0
    no_show_minutes: float = 5.0
    quiet_hours: tuple[int, int] = (21, 8)
    link_opens_minutes: int = 30
    link_closes_hours: float = 4.0
    code_attempts_per_address: int = 10
    code_attempts_per_code: int = 10
    code_attempt_minutes: int = 15
    trusted_proxies: str = "127.0.0.1"
    portal_path: str = "/portal"  # empty: no portal
    portal_visits_per_address: int = 5
    portal_visit_minutes: int = 30
    body_timeout: float = 10.0  # seconds for a request's whole body to arrive after its headers; 0: no limit
    keep_alive_timeout: int = 5  # seconds an idle connection stays open after a response (uvicorn)
    # the rest of the limits (visitt/limiter.py has the table; docs/configuration.md documents it)
    sockets_per_link: int = 8
    sockets_per_address: int = 50
    sockets_per_staff: int = 20
    login_failures_per_account: int = 5
    login_account_seconds: int = 60
    login_failures_per_address: int = 30
    login_address_minutes: int = 15
    password_checks_at_once: int = 4
    password_check_wait: float = 2.0
    password_hashing: str = "standard"  # argon2 profile (visitt.accounts.HASHING); "cheapest" only for tests
    test_calls_per_address: int = 10
    test_call_minutes: int = 10
    test_room_places: int = 10
    test_room_places_per_address: int = 2
    test_room_media_seconds: float = 8.0
    sms_per_number: int = 20
    sms_per_staff: int = 300
    sms_hours: int = 1

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'visitt.sqlite3').resolve()}"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> "Settings":
        env = dict(os.environ if environ is None else environ)
        get = env.get
        settings = cls(
            data_dir=Path(get("VISITT_DATA_DIR", "./visitt-data")),
            database_url=get("VISITT_DATABASE_URL", ""),
            redis_url=get("VISITT_REDIS_URL", ""),
            redis_prefix=get("VISITT_REDIS_PREFIX", "visitt"),
            sms_backend=get("VISITT_SMS_BACKEND", "console"),
            public_url=get("VISITT_PUBLIC_URL", "").rstrip("/"),
            clinic_name=get("VISITT_CLINIC_NAME", "Visitt"),
            clinic_phone=get("VISITT_CLINIC_PHONE", "+47 69 86 00 00"),
            default_region=get("VISITT_DEFAULT_REGION", "NO"),
            timezone=get("VISITT_TIMEZONE", "Europe/Oslo"),
            secure_cookies=_bool(get("VISITT_SECURE_COOKIES", "0")),
            allowed_origins=tuple(origin.rstrip("/") for origin in _list(get("VISITT_ALLOWED_ORIGINS", ""))),
            auto_lock=_bool(get("VISITT_AUTO_LOCK", "1")),
            patients_may_share=_bool(get("VISITT_PATIENTS_MAY_SHARE", "0")),
            demo=_bool(get("VISITT_DEMO", "0")),
            outbox_interval=float(get("VISITT_OUTBOX_INTERVAL", "1.0")),
            ping_interval=float(get("VISITT_PING_INTERVAL", "20")),
            ping_timeout=float(get("VISITT_PING_TIMEOUT", "40")),
            session_hours=int(get("VISITT_SESSION_HOURS", "12")),
            max_participants=int(get("VISITT_MAX_PARTICIPANTS", "5")),
            metrics_token=get("VISITT_METRICS_TOKEN", ""),
            metrics_open=_bool(get("VISITT_METRICS_OPEN", "0")),
            log_format=get("VISITT_LOG_FORMAT", "").strip().lower(),
            server=get("VISITT_SERVER", "uvicorn-websockets-sansio").strip().lower(),
            stun_urls=_list(get("VISITT_STUN_URLS", "")),
            turn_urls=_list(get("VISITT_TURN_URLS", "")),
            turn_secret=get("VISITT_TURN_SECRET", ""),
            turn_ttl=int(get("VISITT_TURN_TTL", "3600")),
            ice_transport_policy=get("VISITT_ICE_TRANSPORT_POLICY", "all"),
            link_opens_minutes=int(get("VISITT_LINK_OPENS_MINUTES", "30")),
            link_closes_hours=float(get("VISITT_LINK_CLOSES_HOURS", "4")),
            code_attempts_per_address=int(get("VISITT_CODE_ATTEMPTS_PER_ADDRESS", "10")),
            code_attempts_per_code=int(get("VISITT_CODE_ATTEMPTS_PER_CODE", "10")),
            code_attempt_minutes=int(get("VISITT_CODE_ATTEMPT_MINUTES", "15")),
            trusted_proxies=get("VISITT_TRUSTED_PROXIES", "127.0.0.1"),
            portal_path=_portal_path(get("VISITT_PORTAL_PATH", "/portal")),
            portal_visits_per_address=int(get("VISITT_PORTAL_VISITS_PER_ADDRESS", "5")),
            portal_visit_minutes=int(get("VISITT_PORTAL_VISIT_MINUTES", "30")),
            body_timeout=float(get("VISITT_BODY_TIMEOUT", "10")),
            keep_alive_timeout=int(get("VISITT_KEEP_ALIVE_TIMEOUT", "5")),
            sockets_per_link=int(get("VISITT_SOCKETS_PER_LINK", "8")),
            sockets_per_address=int(get("VISITT_SOCKETS_PER_ADDRESS", "50")),
            sockets_per_staff=int(get("VISITT_SOCKETS_PER_STAFF", "20")),
            login_failures_per_account=int(get("VISITT_LOGIN_FAILURES_PER_ACCOUNT", "5")),
            login_account_seconds=int(get("VISITT_LOGIN_ACCOUNT_SECONDS", "60")),
            login_failures_per_address=int(get("VISITT_LOGIN_FAILURES_PER_ADDRESS", "30")),
            login_address_minutes=int(get("VISITT_LOGIN_ADDRESS_MINUTES", "15")),
            password_checks_at_once=int(get("VISITT_PASSWORD_CHECKS_AT_ONCE", "4")),
            password_check_wait=float(get("VISITT_PASSWORD_CHECK_WAIT", "2")),
            password_hashing=get("VISITT_PASSWORD_HASHING", "standard").strip().lower(),
            test_calls_per_address=int(get("VISITT_TEST_CALLS_PER_ADDRESS", "10")),
            test_call_minutes=int(get("VISITT_TEST_CALL_MINUTES", "10")),
            test_room_places=int(get("VISITT_TEST_ROOM_PLACES", "10")),
            test_room_places_per_address=int(get("VISITT_TEST_ROOM_PLACES_PER_ADDRESS", "2")),
            test_room_media_seconds=float(get("VISITT_TEST_ROOM_MEDIA_SECONDS", "8")),
            sms_per_number=int(get("VISITT_SMS_PER_NUMBER", "20")),
            sms_per_staff=int(get("VISITT_SMS_PER_STAFF", "300")),
            sms_hours=int(get("VISITT_SMS_HOURS", "1")),
            sms_sender=get("VISITT_SMS_SENDER", "Visitt"),
            twilio_account_sid=get("VISITT_TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token=get("VISITT_TWILIO_AUTH_TOKEN", ""),
            twilio_base_url=get("VISITT_TWILIO_BASE_URL", "https://api.twilio.com"),
            sveve_user=get("VISITT_SVEVE_USER", ""),
            sveve_password=get("VISITT_SVEVE_PASSWORD", ""),
            sveve_base_url=get("VISITT_SVEVE_BASE_URL", "https://sveve.no"),
            webhook_secret=get("VISITT_WEBHOOK_SECRET", ""),
            sveve_report_token=get("VISITT_SVEVE_REPORT_TOKEN", ""),
            smtp_host=get("VISITT_SMTP_HOST", ""),
            smtp_port=int(get("VISITT_SMTP_PORT", "587")),
            smtp_user=get("VISITT_SMTP_USER", ""),
            smtp_password=get("VISITT_SMTP_PASSWORD", ""),
            smtp_starttls=_bool(get("VISITT_SMTP_STARTTLS", "1")),
            smtp_from=get("VISITT_SMTP_FROM", ""),
            reminder_days=int(get("VISITT_REMINDER_DAYS", "3")),
            quiet_hours=_hours(get("VISITT_QUIET_HOURS", "21-08")),
            reconnect_grace=float(get("VISITT_RECONNECT_GRACE", "60")),
            max_wait_minutes=float(get("VISITT_MAX_WAIT_MINUTES", "15")),
            no_show_minutes=float(get("VISITT_NO_SHOW_MINUTES", "5")),
        )
        if settings.ice_transport_policy not in ("all", "relay"):
            raise ValueError("VISITT_ICE_TRANSPORT_POLICY must be 'all' or 'relay'")
        if settings.body_timeout < 0 or settings.keep_alive_timeout < 1:
            raise ValueError("VISITT_BODY_TIMEOUT must be 0 or more, VISITT_KEEP_ALIVE_TIMEOUT 1 or more (seconds)")
        if settings.log_format not in ("", "json", "text"):
            raise ValueError("VISITT_LOG_FORMAT must be 'json' or 'text'")
        if settings.password_hashing not in ("standard", "cheapest"):
            raise ValueError("VISITT_PASSWORD_HASHING must be 'standard' or 'cheapest' (cheapest only for tests)")
        if settings.server not in SERVERS:
            raise ValueError(f"VISITT_SERVER must be one of {', '.join(SERVERS)}")
        return replace(settings, **overrides)  # type: ignore[arg-type]
