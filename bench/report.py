"""Shared by the benchmarks: percentiles, the machine's description, and docs/performance.md sections."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
from pathlib import Path

PERFORMANCE = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
HEADER = "# Performance\n\nMeasured by the scripts in `bench/`; each run rewrites its own section below.\n"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def print_steps(traces: list[list[tuple[str, float]]], heading: str, counted: str, after: str) -> None:
    """The steps of traced runs (``(step, ms after the start)`` each) as a table, in the order of their p50s: how
    many ``counted`` had each step, its p50, min and max in ms after ``after``; ``heading`` and the load above."""
    steps: dict[str, list[float]] = {}
    for trace in traces:
        for step, at in trace:
            steps.setdefault(step, []).append(at)
    print(f"{heading}; load average (1 min) {os.getloadavg()[0]:.1f}")
    print(f"| step | {counted} | p50 ms after {after} | min | max |\n|---|---|---|---|---|")
    for step, values in sorted(steps.items(), key=lambda item: percentile(item[1], 0.5)):
        print(f"| {step} | {len(values)} | {percentile(values, 0.5):.0f} | {min(values):.0f} | {max(values):.0f} |")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        chromium = subprocess.run(["chromium", "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        chromium = "chromium not found"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, {chromium}")


def write_section(name: str, body: str) -> None:
    """Replace (or add) the section between ``<!-- name -->`` markers in docs/performance.md."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    section = (f"<!-- {name} -->\n{body.strip()}\n\n_Measured {stamp} on {machine()}; load average {load} "
               f"(1/5/15 min) when it finished._\n<!-- /{name} -->")
    text = PERFORMANCE.read_text() if PERFORMANCE.exists() else HEADER
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _m: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section + "\n"
    PERFORMANCE.parent.mkdir(exist_ok=True)
    PERFORMANCE.write_text(text)
