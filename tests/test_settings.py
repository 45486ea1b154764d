"""Every VISITT_* variable the configuration page documents is really read, and read right."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from visitt.settings import Settings

CONFIGURATION = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
READ_ELSEWHERE = {"VISITT_NEW_PASSWORD", "VISITT_TEST_POSTGRES", "VISITT_TEST_REDIS", "VISITT_TEST_CHROMIUM"}


def _documented() -> set[str]:
    return set(re.findall(r"^\| `(VISITT_[A-Z_]+)`", CONFIGURATION.read_text(), re.M)) - READ_ELSEWHERE


@pytest.mark.parametrize("name", sorted(_documented()))
def test_each_documented_variable_changes_a_setting(name: str) -> None:
    default = Settings.from_env({})
    samples = {"VISITT_QUIET_HOURS": "22-07", "VISITT_ICE_TRANSPORT_POLICY": "relay", "VISITT_LOG_FORMAT": "text",
               "VISITT_SECURE_COOKIES": "1", "VISITT_DEMO": "1", "VISITT_AUTO_LOCK": "0", "VISITT_PATIENTS_MAY_SHARE": "1",
               "VISITT_SMS_BACKEND": "file:/tmp/x.jsonl", "VISITT_DATA_DIR": "/tmp/visitt-x",
               "VISITT_PORTAL_PATH": "/besok", "VISITT_METRICS_OPEN": "1", "VISITT_SERVER": "hypercorn",
               "VISITT_PASSWORD_HASHING": "cheapest"}
    value = samples.get(name, "7")
    changed = Settings.from_env({name: value})
    differences = [field.name for field in dataclasses.fields(Settings)
                   if getattr(default, field.name) != getattr(changed, field.name)]
    assert differences, f"{name} is documented but Settings.from_env does not read it"


def test_quiet_hours_and_lists_parse() -> None:
    settings = Settings.from_env({"VISITT_QUIET_HOURS": "22-07", "VISITT_TURN_URLS": "turn:a:3478, turns:b:443",
                                  "VISITT_TWILIO_ACCOUNT_SID": "AC1", "VISITT_RECONNECT_GRACE": "30"})
    assert settings.quiet_hours == (22, 7) and settings.turn_urls == ("turn:a:3478", "turns:b:443")
    assert settings.twilio_account_sid == "AC1" and settings.reconnect_grace == 30.0
    with pytest.raises(ValueError, match="VISITT_QUIET_HOURS"):
        Settings.from_env({"VISITT_QUIET_HOURS": "25-07"})
