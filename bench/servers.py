"""The ASGI servers side by side: ``bench/signaling_load.py`` under each, on SQLite and PostgreSQL.

    python bench/servers.py [--repeat 2] [--servers a,b] [--databases sqlite,postgresql] [--no-write]

Each run is one ``bench/signaling_load.py`` (10,000 patient sockets held, knocks at 1,000 a second
for 10 s), bounded by ``--timeout`` seconds; runs take turns server by server, so a burst of load
from others on the machine lands on one run of each rather than on all runs of one. The table gives
each figure's range over the repeats, and the share of the machine's cores that was busy while
knocking (the clients run on the same machine; other people's work shows there too).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section  # noqa: E402
from visitt.settings import SERVERS  # noqa: E402

LOAD = Path(__file__).resolve().parent / "signaling_load.py"


def run(server: str, database: str, timeout: float, extra: list[str]) -> dict[str, Any] | str:
    """One benchmark run's figures, or why there are none."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, str(LOAD), "--server", server, "--no-write", "--json", out.name, *extra]
        if database == "postgresql":
            command.append("--postgres")
        # a process group of its own: a run stopped at the timeout takes its server and clients with it
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        try:
            _out, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return f"did not finish in {timeout:.0f} s"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # anything of the run's still alive
        if process.returncode != 0:
            return (stderr.strip().splitlines() or ["failed"])[-1][:200]
        figures: dict[str, Any] = json.loads(Path(out.name).read_text())
        return figures


def spread(values: list[float], fmt: str = "{:.1f}") -> str:
    if not values:
        return "-"
    low, high = min(values), max(values)
    return fmt.format(low) if fmt.format(low) == fmt.format(high) else f"{fmt.format(low)}-{fmt.format(high)}"


def table(results: dict[tuple[str, str], list[dict[str, Any] | str]], servers: list[str],
          databases: list[str]) -> str:
    lines = ["| server | database | runs | knock → notified p99 (ms) | p50 (ms) | rate (/s) | KiB per socket "
             "| sockets held | worker CPU knocking (%) | machine busy knocking (%) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for server in servers:
        for database in databases:
            runs = results.get((server, database), [])
            good = [figures for figures in runs if isinstance(figures, dict)]
            failures = [why for why in runs if isinstance(why, str)]

            def values(key: str) -> list[float]:
                return [float(figures[key]) for figures in good]

            held = spread(values("held"), "{:.0f}")
            note = f" ({len(failures)} failed: {failures[0]})" if failures else ""
            lines.append(f"| `{server}` | {database} | {len(good)}{note} | {spread(values('p99_ms'))} "
                         f"| {spread(values('p50_ms'))} | {spread(values('rate'), '{:.0f}')} "
                         f"| {spread(values('per_socket_kib'))} | {held} | {spread(values('cpu_knocking'), '{:.0f}')} "
                         f"| {spread(values('machine_busy'), '{:.0f}')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one run may take")
    parser.add_argument("--results", help="a JSON file to keep every run's figures in (added to, if it exists)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args, extra = parser.parse_known_args()  # anything else goes to signaling_load.py
    servers, databases = args.servers.split(","), args.databases.split(",")
    kept = Path(args.results) if args.results else None
    results: dict[tuple[str, str], list[dict[str, Any] | str]] = {}
    if kept is not None and kept.exists():
        for entry in json.loads(kept.read_text()):
            results.setdefault((entry["server"], entry["database"]), []).append(entry["figures"])
    for _ in range(args.repeat):
        for database in databases:
            for server in servers:
                figures = run(server, database, args.timeout, extra)
                results.setdefault((server, database), []).append(figures)
                print(server, database, json.dumps(figures), flush=True)
                if kept is not None:
                    kept.write_text(json.dumps([{"server": s, "database": d, "figures": f}
                                                for (s, d), runs in results.items() for f in runs]))
    body = f"""## The ASGI servers side by side (`bench/servers.py`)

`bench/signaling_load.py` under each server (`VISITT_SERVER`), the same load each time: 10,000 patient sockets
held, knocks at 1,000 a second for 10 s; ranges over the runs. The clients offer permessage-deflate, as browsers
do; "machine busy" is the share of both cores in use while knocking, the benchmark's clients and other people's
work included.

{table(results, servers, databases)}
"""
    print(body)
    if not args.no_write:
        write_section("servers", body)


if __name__ == "__main__":
    main()
