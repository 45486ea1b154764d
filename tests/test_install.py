"""``make demo`` on a fresh machine: a new virtual environment with exactly what the Makefile's
``.base`` target installs (``pip install -e '.[testroom]'``), and ``visitt demo`` started from it.

The test extras bring more than the service needs, so a runtime dependency missing from
``pyproject.toml`` hides from every other test (``greenlet`` did: ``visitt`` died at import). This
one builds the environment from the package index (pip's cache makes it quick after the first
time), so it is marked ``install``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from .eventually import eventually
from .serve import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.install


def test_make_demo_installs_all_that_visitt_demo_needs(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # Nothing of the environment running the tests may leak in: not its packages, nor its settings.
    environ = {name: value for name, value in os.environ.items()
               if name not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME") and not name.startswith("VISITT_")}
    environ["PATH"] = os.pathsep.join(part for part in environ.get("PATH", "").split(os.pathsep)
                                      if not part.startswith(str(ROOT / ".venv")))
    built = subprocess.run(["make", "-C", str(ROOT), f"VENV={venv}", f"{venv}/.base"], env=environ,
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert subprocess.run([venv / "bin" / "python", "-c", "import pytest"], capture_output=True).returncode != 0, \
        "the test extras are in the new environment: it is not what make demo installs"

    port = free_port()
    environ["VISITT_DATA_DIR"] = str(tmp_path / "data")
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        demo = subprocess.Popen([venv / "bin" / "visitt", "demo", "--host", "127.0.0.1", "--port", str(port)],
                                env=environ, stdout=output, stderr=subprocess.STDOUT)
    try:
        def login_page() -> httpx.Response | None:
            assert demo.poll() is None, f"visitt demo exited with {demo.returncode}:\n{log.read_text()}"
            return httpx.get(f"http://127.0.0.1:{port}/staff/login", timeout=5)

        page = eventually(login_page, "visitt demo answers on /staff/login", timeout=60,
                          ignoring=(httpx.TransportError,))
        assert page.status_code == 200 and 'name="password"' in page.text
        assert "lege@demo.visitt.no" in log.read_text()  # the logins, printed for the person at the terminal
    finally:
        demo.terminate()
        status = demo.wait(20)
    assert status == 0, log.read_text()
