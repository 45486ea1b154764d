"""A real OpenID provider on a loopback port: panva's certified ``oidc-provider`` from the npm registry,
run with Debian's Node.js and configured by ``tests/oidc/provider.mjs`` (``make test`` installs the package
into ``tests/oidc/node_modules``). The tests switch on its few faults (:meth:`Provider.rotate`,
:meth:`Provider.clock`, :meth:`Provider.fault`) and drive its login form over HTTP (:func:`sign_in_over_http`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from .services import free_port

HERE = Path(__file__).parent / "oidc"
NODE = shutil.which("node") or "/usr/bin/node"
START_TIMEOUT = 30.0
HPR = "helseid://claims/hpr/hpr_number"


@dataclass
class Provider:
    issuer: str
    process: subprocess.Popen[str]
    faulty: bool = False

    def _control(self, path: str, **params: str) -> dict[str, Any]:
        answer = httpx.post(f"{self.issuer}/-/{path}", params=params, timeout=30)
        answer.raise_for_status()
        return answer.json()  # type: ignore[no-any-return]

    def rotate(self) -> str:
        """A new signing key, published and used from now on; its ``kid``."""
        return str(self._control("rotate")["kid"])

    def clock(self, offset: int) -> None:
        """Run the provider's clock ``offset`` seconds off (0: right again)."""
        self._control("clock", offset=str(offset))
        self.faulty = True

    def fault(self, token: str) -> None:
        """``tamper`` or ``forge`` every ID token from now on; ``""``: issue them as they are."""
        self._control("fault", token=token)
        self.faulty = True

    def mend(self) -> None:
        """Undo :meth:`clock` and :meth:`fault`."""
        if self.faulty:
            self._control("clock", offset="0")
            self._control("fault", token="")
            self.faulty = False


@contextmanager
def running(directory: Path, *, clients: list[dict[str, Any]], users: dict[str, dict[str, Any]]) -> Iterator[Provider]:
    """The provider with these clients (oidc-provider's client metadata) and users (login → claims)."""
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("oidc-provider is not installed: run `make test` (npm install --prefix tests/oidc)")
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    config = directory / "provider.json"
    config.write_text(json.dumps({"issuer": issuer, "port": port, "clients": clients, "users": users}))
    process = subprocess.Popen([NODE, str(HERE / "provider.mjs"), str(config)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=HERE)
    try:
        ready = threading.Event()
        lines: list[str] = []

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if line.startswith("ready "):
                    ready.set()
        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=lambda: process.stderr and process.stderr.read(), daemon=True).start()
        if not ready.wait(START_TIMEOUT):
            raise RuntimeError(f"oidc-provider did not start: {''.join(lines)}")
        yield Provider(issuer, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def follow_to(at_provider: httpx.Client, location: str, back_to: str, *, login: str = "") -> str:
    """Follow the provider's redirects from ``location``, signing in as ``login`` on its login form and
    confirming its sign-out form, until it sends the browser back to ``back_to``; that address."""
    for _ in range(20):
        if location.startswith(back_to):
            return location
        answer = at_provider.get(location)
        if answer.is_redirect:
            location = str(answer.url.join(answer.headers["location"]))
            continue
        assert answer.status_code == 200, f"{answer.status_code} at the provider: {answer.text[:500]}"
        form = re.search(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', answer.text, re.S)
        assert form is not None, answer.text[:500]
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2)))
        if 'name="login"' in form.group(2):
            fields.update({"prompt": "login", "login": login, "password": "any"})
        else:  # the sign-out confirmation: "Yes, sign me out"
            fields["logout"] = "yes"
        posted = at_provider.post(str(answer.url.join(form.group(1))), data=fields)
        assert posted.is_redirect, f"{posted.status_code} at the provider: {posted.text[:500]}"
        location = str(posted.url.join(posted.headers["location"]))
    raise AssertionError(f"the provider never sent the browser back to {back_to}")
