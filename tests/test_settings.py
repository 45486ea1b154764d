"""Every VISITT_* variable the configuration page documents is really read, and read right."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from visitt.settings import Settings

from .conftest import settings_from

CONFIGURATION = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
READ_ELSEWHERE = {"VISITT_NEW_PASSWORD", "VISITT_TEST_POSTGRES", "VISITT_TEST_REDIS", "VISITT_TEST_CHROMIUM"}


def _documented() -> set[str]:
    return set(re.findall(r"^\| `(VISITT_[A-Z_]+)`", CONFIGURATION.read_text(), re.M)) - READ_ELSEWHERE


@pytest.mark.parametrize("name", sorted(_documented()))
def test_each_documented_variable_changes_a_setting(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    default = Settings()
    samples = {"VISITT_QUIET_HOURS": "22-07", "VISITT_ICE_TRANSPORT_POLICY": "relay", "VISITT_LOG_FORMAT": "text",
               "VISITT_SECURE_COOKIES": "1", "VISITT_DEMO": "1", "VISITT_AUTO_LOCK": "0", "VISITT_PATIENTS_MAY_SHARE": "1",
               "VISITT_SMS_BACKEND": "file:/tmp/x.jsonl", "VISITT_DATA_DIR": "/tmp/visitt-x",
               "VISITT_PORTAL_PATH": "/besok", "VISITT_METRICS_OPEN": "1", "VISITT_SERVER": "hypercorn",
               "VISITT_SMTP_STARTTLS": "0", "VISITT_PASSWORD_HASHING": "cheapest",
               "VISITT_OIDC_CLIENT_AUTH": "client_secret_basic"}
    # variables that are read only together with others
    alongside = {"VISITT_OIDC_ISSUER": {"VISITT_OIDC_CLIENT_ID": "visitt", "VISITT_OIDC_CLIENT_SECRET": "s",
                                        "VISITT_OIDC_CLIENT_AUTH": "client_secret_basic"}}
    value = samples.get(name, "7")
    changed = settings_from(monkeypatch, **alongside.get(name, {}), **{name: value})
    differences = [field for field in Settings.model_fields if getattr(default, field) != getattr(changed, field)]
    assert differences, f"{name} is documented but the settings do not read it"


def test_quiet_hours_and_lists_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(monkeypatch, VISITT_QUIET_HOURS="22-07", VISITT_TURN_URLS="turn:a:3478, turns:b:443",
                             VISITT_TWILIO_ACCOUNT_SID="AC1", VISITT_RECONNECT_GRACE="30")
    assert settings.quiet_hours == (22, 7) and settings.turn_urls == ("turn:a:3478", "turns:b:443")
    assert settings.twilio_account_sid == "AC1" and settings.reconnect_grace == 30.0
    with pytest.raises(ValueError, match="VISITT_QUIET_HOURS"):
        settings_from(monkeypatch, VISITT_QUIET_HOURS="25-07")


def test_an_empty_flag_is_off_and_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_from(monkeypatch, VISITT_AUTO_LOCK="").auto_lock is False
    with pytest.raises(ValueError) as refused:
        settings_from(monkeypatch, VISITT_AUTO_LOCK="maybe", VISITT_MAX_PARTICIPANTS="five")
    assert str(refused.value).splitlines() == [
        "VISITT_AUTO_LOCK: Input should be a valid boolean, unable to interpret input",
        "VISITT_MAX_PARTICIPANTS: Input should be a valid integer, unable to parse string as an integer"]


def test_the_command_stops_at_a_bad_variable_with_one_line_for_it(tmp_path: Path) -> None:
    environment = {**os.environ, "VISITT_DATA_DIR": str(tmp_path), "VISITT_BODY_TIMEOUT": "-1"}
    done = subprocess.run([sys.executable, "-m", "visitt", "db", "upgrade"], env=environment, capture_output=True,
                          text=True, timeout=240)  # its imports alone took over 60 s at a load of 70 on two cores
    assert done.returncode == 2
    assert done.stderr.strip() == "visitt: VISITT_BODY_TIMEOUT: Input should be greater than or equal to 0"
