"""The ``visitt`` command as an operator types it, run in this test process: ``visitt.cli.main`` with the
arguments, ``VISITT_*`` settings in the environment, and its output and exit status caught.

A ``python -m visitt`` subprocess costs two seconds of CPU before it does anything (the imports), more
than most commands take; the command line's own code is the same either way. What only a process shows
(the entry point, logging set up for ``serve``, signals, the exit of a server) stays tested with real
processes: ``tests/test_cli.py``'s ``visitt_process``, ``tests/serve.py`` and ``tests/test_install.py``.
"""

from __future__ import annotations

import io
import os
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from visitt import cli


def visitt(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``visitt *args`` with its data in ``data_dir`` and ``env`` (``VISITT_*`` names) set: its exit
    status, stdout and stderr, as ``subprocess.run(..., capture_output=True, text=True)`` returns them."""
    # the cheapest password hashing, as in the other tests (conftest.make_settings); no database URL
    # of the shell's: the data directory's SQLite database
    environment: dict[str, str | None] = {"VISITT_DATA_DIR": str(data_dir), "VISITT_PASSWORD_HASHING": "cheapest",
                                          "VISITT_DATABASE_URL": None, **env}
    before = {name: os.environ.get(name) for name in environment}
    out, err = io.StringIO(), io.StringIO()
    try:
        for name, value in environment.items():
            _set(name, value)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                cli.main(list(args))
                status = 0
            except SystemExit as stop:  # as the interpreter turns it into an exit status
                if isinstance(stop.code, str):
                    print(stop.code, file=err)
                status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        for name, value in before.items():
            _set(name, value)
    return subprocess.CompletedProcess(["visitt", *args], status, out.getvalue(), err.getvalue())


def _set(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
