"""The `visitt` command as an operator uses it, in a fresh data directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from .commands import visitt as _visitt
from .eventually import eventually


def visitt_process(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m visitt *args`` as a process of its own (``_visitt`` runs the same command in this one)."""
    # the cheapest password hashing, as in the other tests (conftest.make_settings)
    environ = {**os.environ, "VISITT_DATA_DIR": str(tmp_path), "VISITT_PASSWORD_HASHING": "cheapest", **env}
    environ.pop("VISITT_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "visitt", *args], env=environ, capture_output=True, text=True,
                          timeout=240)  # its imports alone took over 60 s at a load of 70 on two cores


def test_db_upgrade_users_add_and_tokens_create(tmp_path: Path) -> None:
    assert _visitt(tmp_path, "db", "upgrade").stdout.strip() == "database is up to date"
    added = _visitt(tmp_path, "users", "add", "Lege@Example.no", "--name", "Kari Lege", "--role", "clinician",
                    "--department", "Hud", VISITT_NEW_PASSWORD="a long enough password")
    assert added.returncode == 0 and added.stdout.strip() == "created clinician lege@example.no"
    again = _visitt(tmp_path, "users", "add", "lege@example.no", "--name", "X",
                    VISITT_NEW_PASSWORD="a long enough password")
    assert again.returncode == 2 and "already exists" in again.stderr
    short = _visitt(tmp_path, "users", "add", "b@example.no", "--name", "B", VISITT_NEW_PASSWORD="short")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr

    token = _visitt(tmp_path, "tokens", "create", "lege@example.no").stdout.strip()
    assert len(token) >= 43
    unknown = _visitt(tmp_path, "tokens", "create", "nobody@example.no")
    assert unknown.returncode == 2 and "No staff account" in unknown.stderr


def test_turn_config_needs_the_secret_and_denies_private_peers(tmp_path: Path) -> None:
    missing = _visitt(tmp_path, "turn-config", VISITT_TURN_SECRET="")
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.strip() == "visitt: set VISITT_TURN_SECRET first: coturn and Visitt must share it"

    printed = _visitt(tmp_path, "turn-config", VISITT_TURN_SECRET="s3cret")
    assert printed.returncode == 0
    lines = printed.stdout.splitlines()
    assert {"listening-port=3478", "tls-listening-port=443", "use-auth-secret", "static-auth-secret=s3cret",
            "no-loopback-peers", "denied-peer-ip=127.0.0.0-127.255.255.255",
            "denied-peer-ip=10.0.0.0-10.255.255.255", "denied-peer-ip=192.168.0.0-192.168.255.255"} <= set(lines)
    assert "allow-loopback-peers" not in lines

    loopback = _visitt(tmp_path, "turn-config", "--port", "3479", "--allow-loopback", VISITT_TURN_SECRET="s3cret")
    lines = loopback.stdout.splitlines()
    assert {"listening-port=3479", "allow-loopback-peers", "denied-peer-ip=10.0.0.0-10.255.255.255"} <= set(lines)
    assert "denied-peer-ip=127.0.0.0-127.255.255.255" not in lines


def test_demo_prints_logins_and_serves(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environ = {**os.environ, "VISITT_DATA_DIR": str(tmp_path)}
    process = subprocess.Popen([sys.executable, "-m", "visitt", "demo", "--port", str(port)], env=environ,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(7)]
        text = "".join(lines)
        assert f"http://localhost:{port}/staff" in text
        assert "lege@demo.visitt.no" in text and "sekretaer@demo.visitt.no" in text
        response = eventually(lambda: httpx.get(f"http://127.0.0.1:{port}/staff/login", timeout=30),
                              "the demo server answers", timeout=120, ignoring=(httpx.ConnectError,))
        assert response.status_code == 200 and 'name="password"' in response.text
        assert (tmp_path / "visitt.sqlite3").exists()
    finally:
        process.terminate()
        try:
            process.wait(120)  # a loaded machine (a load of 70 on two cores) stops it slowly
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_users_on_the_portal(tmp_path: Path) -> None:
    password = {"VISITT_NEW_PASSWORD": "a long enough password"}
    listed = _visitt(tmp_path, "users", "add", "lege@example.no", "--name", "Kari Lege", "--department", "Hud",
                     "--portal", **password)
    assert listed.returncode == 0 and listed.stdout.strip() == "created clinician lege@example.no (on the portal)"
    secretary = _visitt(tmp_path, "users", "add", "sek@example.no", "--name", "Sara Sek", "--role", "secretary",
                        "--department", "Hud", "--portal", **password)
    assert secretary.returncode == 2 and "Only clinicians take video visitors" in secretary.stderr
    homeless = _visitt(tmp_path, "users", "add", "b@example.no", "--name", "B", "--portal", **password)
    assert homeless.returncode == 2 and "needs a department" in homeless.stderr

    other = _visitt(tmp_path, "users", "add", "psy@example.no", "--name", "Per Psy", "--department", "Hud", **password)
    assert other.stdout.strip() == "created clinician psy@example.no"
    assert _visitt(tmp_path, "users", "portal", "psy@example.no", "on").stdout.strip() == "psy@example.no is on the portal"
    assert _visitt(tmp_path, "users", "portal", "lege@example.no", "off").stdout.strip() == (
        "lege@example.no is off the portal")
    unknown = _visitt(tmp_path, "users", "portal", "nobody@example.no", "on")
    assert unknown.returncode == 2 and "No staff account" in unknown.stderr


def test_serve_refuses_to_start_without_a_public_url(tmp_path: Path) -> None:
    """Links in SMS would otherwise have to come from somewhere: never from a request's Host header."""
    for value in ("", "video.sykehuset.example", "ftp://video.sykehuset.example"):
        # the first as the operator's process sees it (its stderr holds that one line, nothing logged
        # before it); the others in this process
        run = visitt_process if value == "" else _visitt
        refused = run(tmp_path, "serve", "--port", "1", VISITT_PUBLIC_URL=value)
        assert refused.returncode == 2, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("visitt: VISITT_PUBLIC_URL "), refused.stderr
    assert not (tmp_path / "visitt.sqlite3").exists()  # refused before anything was done
