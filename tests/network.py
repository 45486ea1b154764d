"""A test network of Linux network namespaces on this machine, for tests and benchmarks (no tests here).

Four namespaces, joined by veth pairs, with addresses only inside them::

    patient 10.201.1.2 ── 10.201.1.1 ┐
                                     router ── 10.201.3.1 ── 10.201.3.2 server (Visitt, coturn)
    clinic  10.201.2.2 ── 10.201.2.1 ┘

The *server* namespace is where a deployment puts Visitt and coturn: an address both sides reach
through the router (the hospital's DMZ, or a cloud host). Visitt stays in this process: the network
lends it a listening socket made inside the server namespace (:meth:`Network.listen`, served by
``LiveServer(extra_listeners=...)``) while its loopback socket keeps serving the test's own requests.
coturn and Chromium run inside their namespaces under ``ip netns exec`` (:meth:`Network.chromium`
writes the small wrapper Playwright launches as its ``executable_path``).

Impairments (:meth:`Network.impair`), all on the patient's access link, in the router:

- **loss**: nftables ``numgen random mod 100 < N drop`` on UDP (the media), each way;
- **rate**: ``tc tbf`` on both ends of the patient's link (up and down);
- **delay and jitter**: this kernel has no ``netem``, so the router sends the patient's packets (both
  ways) through a TUN device served by :func:`relay`, a small userspace program (this file run as a
  script) that holds each packet for the delay and writes it back. :meth:`Network.rtt` measures the
  round trip that really results (TCP handshakes from the patient to the server), so a test states
  the delay it imposed rather than the one it asked for;
- **UDP blocked on the clinic side** (``clinic_udp=False``): the clinic may reach only TCP 443 and the
  web port of Visitt, as behind a strict hospital firewall;
- **an outage** of the patient's link (:meth:`Network.cut`) and **a new address** for the patient
  (:meth:`Network.move_patient`), as when a phone moves from Wi-Fi to 4G.

Everything is torn down on leaving the ``with`` block, also when a test fails, and namespaces left by
a killed run (their owner's process gone) are removed at the next start. Needs root, ``iproute2``
and ``nftables``. Only the standard library here: ``bench/`` imports this file too.
"""

from __future__ import annotations

import base64
import ctypes
import fcntl
import heapq
import os
import random
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PREFIX = "vtnet"
PATIENT, CLINIC, SERVER = "10.201.1.2", "10.201.2.2", "10.201.3.2"
PATIENT_MOVED = "10.201.4.2"  # the patient's address after :meth:`Network.move_patient`
PRIVATE_PEERS = "10.201.0.0-10.201.255.255"  # what coturn must be allowed to relay to here
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def available() -> str | None:
    """Why the network cannot be built here, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nft", "tc"):
        if shutil.which(tool) is None:
            return f"{tool} is missing: apt-get install -y iproute2 nftables"
    if not Path("/dev/net/tun").exists():
        return "/dev/net/tun is missing (the delay relay needs it)"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def in_namespace(namespace: str, work: Callable[[], T]) -> T:
    """Run ``work`` in a thread that has entered ``namespace``: sockets it makes stay in that namespace."""
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {namespace}")
            result.append(work())
        except BaseException as error:  # handed to the caller's thread
            errors.append(error)
        finally:
            os.close(fd)

    thread = threading.Thread(target=target, name=f"netns {namespace}")  # a new thread: it dies in there
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def cleanup_leftovers() -> None:
    """Remove namespaces of earlier runs whose process is gone (a killed test leaves no finally)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(PREFIX):
            continue
        owner = name[len(PREFIX):].split("-")[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


@dataclass
class Impairment:
    """What the patient's link does; the defaults are a clean link."""

    loss: int = 0                 # % of UDP packets dropped, each way
    rate_kbit: int | None = None  # each way (up only, if ``down_kbit`` is given)
    down_kbit: int | None = None  # towards the patient, if it differs from ``rate_kbit``
    delay_ms: float = 0           # one way, each way: the round trip grows by twice this
    jitter_ms: float = 0          # uniform 0..jitter on top of the delay (order kept)
    clinic_udp: bool = True       # False: the clinic reaches only TCP 443 and the web port


def _rate(impairment: Impairment, down: bool) -> int | None:
    return impairment.down_kbit if down and impairment.down_kbit else impairment.rate_kbit


@dataclass
class Network:
    """The four namespaces; ``with Network() as net:`` builds and tears them down."""

    tag: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}-{random.randrange(16**4):04x}")
    web_port: int = 0  # the web port the clinic may reach when UDP is blocked (set by :meth:`listen`)
    current: Impairment = field(default_factory=Impairment)
    patient_address: str = PATIENT
    _relay: subprocess.Popen[bytes] | None = None
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _probe: socket.socket | None = None
    _cut: bool = False

    @property
    def patient(self) -> str:
        return f"{self.tag}-pat"

    @property
    def clinic(self) -> str:
        return f"{self.tag}-cli"

    @property
    def router(self) -> str:
        return f"{self.tag}-rtr"

    @property
    def server(self) -> str:
        return f"{self.tag}-srv"

    def __enter__(self) -> "Network":
        cleanup_leftovers()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self) -> None:
        for namespace in (self.patient, self.clinic, self.router, self.server):
            _ip("netns", "add", namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
        for (side, inner, outer, subnet) in ((self.patient, "pat0", "pat1", "1"), (self.clinic, "cli0", "cli1", "2"),
                                             (self.server, "srv0", "srv1", "3")):
            _ip("-n", side, "link", "add", inner, "type", "veth", "peer", "name", outer, "netns", self.router)
            _ip("-n", side, "addr", "add", f"10.201.{subnet}.2/24", "dev", inner)
            _ip("-n", self.router, "addr", "add", f"10.201.{subnet}.1/24", "dev", outer)
            _ip("-n", side, "link", "set", inner, "up")
            _ip("-n", self.router, "link", "set", outer, "up")
            _ip("-n", side, "route", "add", "default", "via", f"10.201.{subnet}.1")
        # the patient's second network (move_patient): the router already has its gateway address
        _ip("-n", self.router, "addr", "add", "10.201.4.1/24", "dev", "pat1")
        self.sysctl(self.router, "net.ipv4.ip_forward", "1")
        for conf in ("all", "default"):
            self.sysctl(self.router, f"net.ipv4.conf.{conf}.rp_filter", "0")
        # the delay path: a TUN device the relay serves, and table 100 that leads to it
        _ip("-n", self.router, "tuntap", "add", "dev", "delay0", "mode", "tun")
        _ip("-n", self.router, "link", "set", "delay0", "up")
        self.sysctl(self.router, "net.ipv4.conf.delay0.rp_filter", "0")
        _ip("-n", self.router, "route", "add", "default", "dev", "delay0", "table", "100")
        # a TCP listener in the server namespace to time handshakes against (rtt)
        self._probe = self.listen(self.server, SERVER, 0)
        threading.Thread(target=self._accept_probes, args=(self._probe,), daemon=True).start()

    @staticmethod
    def _accept_probes(listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.close()

    def sysctl(self, namespace: str, key: str, value: str) -> None:
        self.run(namespace, "sysctl", "-q", "-w", f"{key}={value}")

    def run(self, namespace: str, *command: str, input: str | None = None) -> None:
        completed = subprocess.run(["ip", "netns", "exec", namespace, *command], input=input, text=True,
                                   capture_output=True, timeout=30)
        if completed.returncode:
            raise RuntimeError(f"{' '.join(command)} in {namespace}: {completed.stderr.strip()}")

    def popen(self, namespace: str, *command: str, **options: Any) -> subprocess.Popen[bytes]:
        """A process inside ``namespace``, killed by :meth:`close`."""
        process = subprocess.Popen(["ip", "netns", "exec", namespace, *command], **options)
        self._processes.append(process)
        return process

    def listen(self, namespace: str, host: str, port: int) -> socket.socket:
        """A listening TCP socket inside ``namespace`` (``port`` 0: a free one)."""
        def make() -> socket.socket:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # see LiveServer.start
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(128)
            return listener
        listener = in_namespace(namespace, make)
        if namespace == self.server and not self.web_port and self._probe is not None:
            self.web_port = int(listener.getsockname()[1])
        return listener

    def connect(self, namespace: str, address: tuple[str, int], timeout: float = 2.0) -> socket.socket:
        """A TCP connection made from inside ``namespace``."""
        return in_namespace(namespace, lambda: socket.create_connection(address, timeout=timeout))

    def chromium(self, namespace: str, directory: Path, binary: str = "/usr/bin/chromium") -> Path:
        """A wrapper that runs Chromium inside ``namespace``: Playwright's ``executable_path``."""
        wrapper = directory / f"chromium-{namespace}"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {namespace} {binary} "$@"\n')
        wrapper.chmod(0o755)
        return wrapper

    # --- impairments -------------------------------------------------------------------------------

    def impair(self, impairment: Impairment | None = None, **changes: Any) -> Impairment:
        """Put the patient's link (and the clinic's filter) into this state, replacing the last one."""
        wanted = impairment or Impairment(**changes)
        self._filter(wanted, cut=self._cut)
        for namespace, device in ((self.patient, "pat0"), (self.router, "pat1")):
            down = device == "pat1"  # the router's side: what goes to the patient
            if _rate(self.current, down):
                self.run(namespace, "tc", "qdisc", "del", "dev", device, "root")
            if rate := _rate(wanted, down):
                # a queue of ~300 ms at the rate, like a mobile network's buffer
                burst = max(1600, rate * 1000 // 8 // 50)
                limit = max(3000, rate * 1000 // 8 * 3 // 10)
                self.run(namespace, "tc", "qdisc", "add", "dev", device, "root", "tbf", "rate",
                         f"{rate}kbit", "burst", str(burst), "limit", str(limit))
        if (wanted.delay_ms, wanted.jitter_ms) != (self.current.delay_ms, self.current.jitter_ms):
            self._stop_relay()
            if wanted.delay_ms or wanted.jitter_ms:
                self._relay = self.popen(self.router, sys.executable, str(Path(__file__).resolve()), "relay",
                                         "delay0", str(wanted.delay_ms), str(wanted.jitter_ms),
                                         stdout=subprocess.PIPE)
                assert self._relay.stdout is not None
                if self._relay.stdout.readline().strip() != b"ready":
                    raise RuntimeError("the delay relay did not start")
                for rule in (["iif", "pat1"], ["iif", "srv1", "to", "10.201.1.0/24"],
                             ["iif", "srv1", "to", "10.201.4.0/24"], ["iif", "cli1", "to", "10.201.1.0/24"],
                             ["iif", "cli1", "to", "10.201.4.0/24"]):
                    _ip("-n", self.router, "rule", "add", *rule, "lookup", "100", "priority", "100")
        self.current = wanted
        return wanted

    def _stop_relay(self) -> None:
        while subprocess.run(["ip", "-n", self.router, "rule", "del", "priority", "100"],
                             capture_output=True, timeout=30).returncode == 0:
            pass
        if self._relay is not None:
            self._relay.kill()
            self._relay.wait(10)
            if self._relay.stdout is not None:
                self._relay.stdout.close()
            self._processes.remove(self._relay)
            self._relay = None

    def _filter(self, wanted: Impairment, cut: bool) -> None:
        rules = []
        if cut:
            rules += ['iifname "pat1" drop', 'oifname "pat1" drop']
        if wanted.loss:
            rules += [f'iifname "pat1" meta l4proto udp numgen random mod 100 < {wanted.loss} drop',
                      f'oifname "pat1" meta l4proto udp numgen random mod 100 < {wanted.loss} drop']
        if not wanted.clinic_udp:
            allowed = "{ 443" + (f", {self.web_port}" if self.web_port else "") + " }"
            rules += ['iifname "cli1" meta l4proto udp drop', 'oifname "cli1" meta l4proto udp drop',
                      f'iifname "cli1" meta l4proto tcp tcp dport != {allowed} drop']
        script = "table inet visitt_net\ndelete table inet visitt_net\n"
        script += "table inet visitt_net {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n"
        script += "".join(f"  {rule}\n" for rule in rules) + " }\n}\n"
        self.run(self.router, "nft", "-f", "-", input=script)

    def cut(self, down: bool) -> None:
        """Cut the patient's link off entirely (``True``), or give it back (``False``)."""
        self._cut = down
        self._filter(self.current, cut=down)

    def move_patient(self, overlap: float = 0) -> str:
        """The patient's namespace gets a new address (the old one is gone), as on a move to 4G.
        ``overlap``: seconds the new address is up before the old one goes (a phone whose 4G is up
        before its Wi-Fi drops); 0: both at once (a Wi-Fi that vanishes)."""
        old, new = (PATIENT, PATIENT_MOVED) if self.patient_address == PATIENT else (PATIENT_MOVED, PATIENT)
        _ip("-n", self.patient, "addr", "add", f"{new}/24", "dev", "pat0")
        if overlap:
            time.sleep(overlap)
        _ip("-n", self.patient, "addr", "del", f"{old}/24", "dev", "pat0")
        _ip("-n", self.patient, "route", "replace", "default", "via", new.rsplit(".", 1)[0] + ".1")
        self.patient_address = new
        return new

    def rtt(self, samples: int = 5) -> float:
        """The round trip from the patient to the server in ms, as measured now (median TCP handshake)."""
        assert self._probe is not None
        address = self._probe.getsockname()
        times = []
        for _ in range(samples):
            started = time.monotonic()
            self.connect(self.patient, address, timeout=5).close()
            times.append((time.monotonic() - started) * 1000)
        return statistics.median(times)

    def close(self) -> None:
        if self._relay is not None:
            self._stop_relay()
        for process in self._processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        self._processes.clear()
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        for namespace in (self.patient, self.clinic, self.router, self.server):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)


# --- the delay relay: this file run as a script inside the router namespace ------------------------

TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000


def relay(device: str, delay_ms: float, jitter_ms: float) -> None:
    """Hold every packet the router routes into ``device`` for the delay (plus jitter, order kept),
    then write it back: the kernel forwards it on from there."""
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", device.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    queue: list[tuple[float, int, bytes]] = []
    count, last = 0, 0.0
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            os.write(fd, heapq.heappop(queue)[2])
        timeout = max(0.0, queue[0][0] - now) if queue else None
        if selector.select(timeout):
            while True:
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                due = max(last, time.monotonic() + (delay_ms + random.uniform(0, jitter_ms)) / 1000)
                last, count = due, count + 1
                heapq.heappush(queue, (due, count, packet))


if __name__ == "__main__" and sys.argv[1:2] == ["relay"]:
    relay(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))


# --- coturn in the server namespace ----------------------------------------------------------------

TURN_SECRET = "a shared secret only coturn and Visitt know"


@dataclass
class Certificate:
    """A self-signed certificate for coturn's TLS listener, and the hash a browser is told to trust."""

    cert: Path
    key: Path
    spki: str  # base64 SHA-256 of the public key: Chromium's --ignore-certificate-errors-spki-list


def self_signed(directory: Path, address: str = SERVER) -> Certificate:
    cert, key = directory / "turn.pem", directory / "turn.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", "/CN=turn.visitt.test", "-addext", f"subjectAltName=IP:{address}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    public = subprocess.run(["openssl", "x509", "-in", str(cert), "-pubkey", "-noout"], check=True,
                            capture_output=True, timeout=60).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=public, check=True,
                         capture_output=True, timeout=60).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der, check=True,
                            capture_output=True, timeout=60).stdout
    return Certificate(cert, key, base64.b64encode(digest).decode())


def start_coturn(net: Network, directory: Path) -> tuple[Certificate, list[str]]:
    """coturn in the server namespace as `visitt turn-config` configures it: TURN on 3478 (UDP and TCP)
    and TURN over TLS on 443 with a self-signed certificate. Returns the certificate and the TURN URLs
    Visitt hands out (``VISITT_TURN_URLS``)."""
    binary = shutil.which("turnserver")
    if binary is None:
        raise RuntimeError("coturn is missing: apt-get install -y coturn")
    certificate = self_signed(directory)
    generated = subprocess.run(
        [sys.executable, "-m", "visitt", "turn-config", "--port", "3478", "--tls-port", "443",
         "--cert", str(certificate.cert), "--pkey", str(certificate.key), "--allow-peer", PRIVATE_PEERS],
        env={**os.environ, "VISITT_DATA_DIR": str(directory), "VISITT_TURN_SECRET": TURN_SECRET},
        capture_output=True, text=True, timeout=60, check=True)
    config = directory / "turnserver.conf"
    config.write_text(generated.stdout)
    log = directory / "turn.log"
    process = net.popen(net.server, binary, "-c", str(config), "--listening-ip", SERVER, "--relay-ip", SERVER,
                        "--no-dtls", "--userdb", str(directory / "turndb"), "--pidfile", str(directory / "turn.pid"),
                        "--log-file", str(log), "--simple-log", "--min-port", "49152", "--max-port", "49999",
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    for port in (3478, 443):
        while True:
            try:
                net.connect(net.server, (SERVER, port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    text = log.read_text() if log.exists() else ""
                    raise RuntimeError(f"coturn did not start: {text[-2000:]}") from None
                time.sleep(0.05)
    return certificate, [f"turn:{SERVER}:3478?transport=udp", f"turns:{SERVER}:443?transport=tcp"]


# --- the whole site: the network, coturn, Visitt and a Chromium on each side ------------------------


@dataclass
class Site:
    """Visitt (``server``; its address on the network ``base``), coturn, and Playwright browsers
    launched inside the patient's and the clinic's namespaces."""

    net: Network
    server: Any
    base: str
    patient: Any
    clinic: Any
    certificate: Certificate


@contextmanager
def open_site(directory: Path) -> Iterator[Site]:
    """Build the network with everything on it; all of it torn down on leaving, also on failure."""
    from playwright.sync_api import sync_playwright

    from visitt.testing import LiveServer

    from .conftest import CHROMIUM, CHROMIUM_ARGS, make_settings

    with Network() as net:
        certificate, turn_urls = start_coturn(net, directory)
        listener = net.listen(net.server, SERVER, 0)
        base = f"http://{SERVER}:{listener.getsockname()[1]}"
        # every call books anew with the same phone number: a benchmark's hundred must not meet the SMS limit.
        # A place kept as long as in production (60 s; the tests' usual 0.3 s is for tests of its lapse): after an
        # outage the page's new socket may connect a second or more after the old one's close reaches the
        # server (TCP's SYN retries), and a lapsed place sent the patient back to knock (media never back).
        settings = make_settings(directory, turn_secret=TURN_SECRET, turn_urls=tuple(turn_urls), turn_ttl=600,
                                 public_url=base, sms_per_number=100_000, reconnect_grace=60.0)
        server = LiveServer(settings, extra_listeners=[listener]).start()
        # the pages come from a plain-http address: the browsers may treat it as secure (camera), and they
        # trust coturn's self-signed certificate by its public key's hash
        args = [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={base}",
                f"--ignore-certificate-errors-spki-list={certificate.spki}"]
        try:
            with sync_playwright() as playwright:
                patient = playwright.chromium.launch(
                    executable_path=str(net.chromium(net.patient, directory, CHROMIUM)), args=args, headless=True)
                try:
                    clinic = playwright.chromium.launch(
                        executable_path=str(net.chromium(net.clinic, directory, CHROMIUM)), args=args, headless=True)
                    try:
                        yield Site(net, server, base, patient, clinic, certificate)
                    finally:
                        clinic.close()
                finally:
                    patient.close()
        finally:
            server.stop()
