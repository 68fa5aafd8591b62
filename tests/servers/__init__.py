"""Start real servers on 127.0.0.1 for tests, bounded in time, always stopped.

Each server runs in its own subprocess and process group. :func:`serve`
waits until it answers HTTP, yields a :class:`Server`, and on exit stops
the whole group (SIGTERM, then SIGKILL), whatever happened in between.
Command builders (:func:`gunicorn_command`, :func:`diota_run_command`, ...)
return argument lists for the venv's interpreter. ASGI servers (uvicorn,
hypercorn, granian) get builders here too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import httpx

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]


class ServerError(RuntimeError):
    """The server did not start, or died; the message includes its output."""


@dataclasses.dataclass
class Server:
    """A running server."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def output(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        return self.log_path.read_text(errors="replace")

    def client(self, timeout: float = 10.0) -> httpx.Client:
        """An httpx client for this server that never follows redirects."""
        return httpx.Client(
            base_url=self.base_url, timeout=timeout, follow_redirects=False
        )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def gunicorn_command(app: str, port: int, *, worker_class: str = "sync") -> list[str]:
    """Command serving the WSGI ``module:name`` with gunicorn (one worker)."""
    return [
        sys.executable, "-m", "gunicorn", app,
        "--bind", f"{HOST}:{port}", "--workers", "1",
        "--worker-class", worker_class, "--graceful-timeout", "2",
        "--access-logfile", "-", "--error-logfile", "-",
    ]  # fmt: skip


def diota_run_command(
    app: str, port: int, *, via_flask_alias: bool = False
) -> list[str]:
    """Command serving ``app`` with werkzeug's development server.

    :param app: What ``--app`` takes: ``module:name`` or a file path.
    :param via_flask_alias: Use ``python -m flask`` (needs
        ``DIOTA_FLASK_ALIAS=1`` in the environment) instead of ``python -m diota``.
    """
    module = "flask" if via_flask_alias else "diota"
    return [
        sys.executable, "-m", module, "--app", app,
        "run", "--host", HOST, "--port", str(port), "--no-reload",
    ]  # fmt: skip


def werkzeug_command(app: str, port: int) -> list[str]:
    """Command serving ``module:name`` with ``werkzeug.serving.run_simple``."""
    module, _, name = app.partition(":")
    code = (
        "import importlib, sys\n"
        "from werkzeug.serving import run_simple\n"
        f"app = getattr(importlib.import_module({module!r}), {name or 'app'!r})\n"
        f"run_simple({HOST!r}, {port}, app)\n"
    )
    return [sys.executable, "-c", code]


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # The group may hold workers even after the leader exited.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


@contextlib.contextmanager
def serve(
    argv: t.Sequence[str],
    port: int,
    *,
    cwd: Path = REPO_ROOT,
    env: t.Mapping[str, str] | None = None,
    ready_path: str = "/",
    startup_timeout: float = 20.0,
    stop_grace: float = 5.0,
) -> t.Iterator[Server]:
    """Run ``argv`` until the ``with`` block ends; yield once it answers HTTP.

    :param argv: The server command, listening on ``port``.
    :param port: The port it listens on (see :func:`free_port`).
    :param cwd: Working directory, the repository root by default.
    :param env: Extra environment variables.
    :param ready_path: Path requested until any HTTP response comes back.
    :param startup_timeout: Seconds to wait for that response.
    :param stop_grace: Seconds between SIGTERM and SIGKILL.
    :raises ServerError: If it exits or does not answer in time.
    """
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    full_env["PYTHONUNBUFFERED"] = "1"
    full_env.update(env or {})
    with tempfile.NamedTemporaryFile(
        prefix="server-", suffix=".log", delete=False
    ) as log:
        log_path = Path(log.name)
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process, port, log_path)
    try:
        _wait_ready(server, ready_path, startup_timeout)
        yield server
    finally:
        _stop(process, stop_grace)
        log_path.unlink(missing_ok=True)


def _wait_ready(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise ServerError(
                f"server exited with {server.process.returncode}:\n{server.output()}"
            )
        try:
            httpx.get(server.base_url + path, timeout=1.0)
            return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise ServerError(f"no HTTP answer within {timeout:g}s:\n{server.output()}")
        time.sleep(0.1)
