"""coturn from Debian on a loopback port, as the tests and the benchmarks run it: configured by
``visitt turn-config --allow-loopback``, started, and killed and started again to cut the relayed
media off."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from .commands import visitt

SECRET = "a shared secret only coturn and Visitt know"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Coturn:
    """One coturn process; its files live in ``directory``."""

    def __init__(self, directory: Path, *, min_port: int = 49152, max_port: int = 49999) -> None:
        binary = shutil.which("turnserver")
        if binary is None:
            raise RuntimeError("coturn is missing: apt-get install -y coturn")
        self.port = free_port()
        self.log = directory / "turn.log"
        config = directory / "turnserver.conf"
        # the configuration `visitt turn-config` writes, the command run in this process (tests/commands.py)
        generated = visitt(directory, "turn-config", "--port", str(self.port), "--allow-loopback",
                           VISITT_TURN_SECRET=SECRET)
        assert generated.returncode == 0, generated.stderr
        config.write_text(generated.stdout)
        self.command = [binary, "-c", str(config), "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
                        "--no-tls", "--no-dtls", "--userdb", str(directory / "turndb"), "--pidfile",
                        str(directory / "turn.pid"), "--log-file", str(self.log), "--simple-log",
                        "--min-port", str(min_port), "--max-port", str(max_port),
                        # coturn also listens on an alternative port, its own plus one unless told: a free one
                        # of its own, so that two suites (or benchmarks) running at once never collide there
                        "--alt-listening-port", str(free_port())]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def start(self) -> None:
        """Start coturn and wait until it listens (its TCP listener comes up last)."""
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.log.read_text() if self.log.exists() else ""
                    raise RuntimeError(f"coturn did not start: {log[-2000:]}") from None
                time.sleep(0.02)

    def kill(self) -> None:
        """Gone at once, with every allocation: what it was relaying is lost."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None
