"""Real servers for ``test_real_servers``: their commands, started and stopped.

Each :class:`ServerSpec` holds the exact command line documented in
``docs/deploying.md`` (the venv's console scripts, run in this directory so
``app_under_test:app`` imports). :func:`running` starts one in its own process
group, waits for it with a deadline and always stops it: SIGTERM (SIGINT for
the development server) to the server's main process, so it shuts down as it
would in production, running the ASGI lifespan shutdown; then SIGKILL to the
whole group.
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from . import free_port
from . import HOST
from . import ServerError

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
APP = "app_under_test:app"


@dataclasses.dataclass(frozen=True)
class ServerSpec:
    """A server and how to start it.

    :param name: The test id.
    :param interface: ``"wsgi"`` or ``"asgi"``: what the server calls.
    :param args: The command line, with ``{host}``, ``{port}`` and ``{app}``
        placeholders; the first item is a console script of the venv.
    :param stop_signal: How an operator stops it: SIGTERM for production
        servers, SIGINT (Ctrl+C) for the development server, which leaves
        SIGTERM to Python's default (exit without any cleanup).
    """

    name: str
    interface: str
    args: tuple[str, ...]
    stop_signal: signal.Signals = signal.SIGTERM

    def argv(self, port: int) -> list[str]:
        executable, *rest = self.args
        values = {"host": HOST, "port": port, "app": APP}
        return [str(BIN / executable), *(a.format(**values) for a in rest)]

    def shell_command(self, app: str = APP, port: int = 8000) -> str:
        """The command line as a shell command, for ``app`` on ``port``."""
        return " ".join(self.args).format(host=HOST, port=port, app=app)


SERVERS = [
    ServerSpec(
        "gunicorn-sync",
        "wsgi",
        ("gunicorn", "--bind", "{host}:{port}", "--workers", "1", "{app}"),
    ),
    ServerSpec(
        "gunicorn-uvicorn-worker",
        "asgi",
        (
            "gunicorn",
            "--bind",
            "{host}:{port}",
            "--workers",
            "1",
            "-k",
            "uvicorn_worker.UvicornWorker",
            "{app}",
        ),
    ),  # fmt: skip
    ServerSpec(
        "uvicorn", "asgi", ("uvicorn", "--host", "{host}", "--port", "{port}", "{app}")
    ),  # fmt: skip
    ServerSpec(
        "hypercorn", "asgi", ("hypercorn", "--bind", "{host}:{port}", "asgi:{app}")
    ),  # fmt: skip
    ServerSpec(
        "granian-asgi",
        "asgi",
        (
            "granian",
            "--interface",
            "asgi",
            "--host",
            "{host}",
            "--port",
            "{port}",
            "{app}",
        ),
    ),  # fmt: skip
    ServerSpec(
        "granian-wsgi",
        "wsgi",
        (
            "granian",
            "--interface",
            "wsgi",
            "--host",
            "{host}",
            "--port",
            "{port}",
            "{app}",
        ),
    ),  # fmt: skip
    ServerSpec(
        "diota-run",
        "wsgi",
        ("diota", "--app", "{app}", "run", "--host", "{host}", "--port", "{port}"),
        signal.SIGINT,
    ),  # fmt: skip
]


@dataclasses.dataclass
class RunningServer:
    """A started server; :meth:`stop` is idempotent."""

    spec: ServerSpec
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    lifecycle_path: Path
    stop_grace: float = 8.0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, timeout=timeout, follow_redirects=False
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lifecycle(self) -> list[str]:
        """Events the app recorded (``startup``, ``shutdown``), pids dropped."""
        try:
            text = self.lifecycle_path.read_text()
        except FileNotFoundError:
            return []
        return [line.split()[0] for line in text.splitlines() if line.strip()]

    def stop(self) -> int | None:
        """Stop gracefully, then kill the group; return the exit status
        (``None`` if it had to be killed)."""
        process = self.process
        graceful: int | None = None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, self.spec.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                graceful = process.wait(timeout=self.stop_grace)
        else:
            graceful = process.returncode
        # Workers may outlive their parent: end the whole group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        return graceful


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


@contextlib.contextmanager
def running(
    spec: ServerSpec,
    lifecycle_path: Path,
    *,
    startup_timeout: float = 20.0,
) -> cabc.Iterator[RunningServer]:
    """Run ``spec`` on a free port until the ``with`` block ends.

    Ready means: for an ASGI server, the lifespan startup has run (the app
    wrote ``startup`` before any HTTP request was made) and the port
    accepts connections; for a WSGI server, the port accepts connections.
    No HTTP request is made here.

    :raises ServerError: If it exits or is not ready in time.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env.update(PYTHONUNBUFFERED="1", DIOTA_LIFECYCLE_FILE=str(lifecycle_path))
    with tempfile.NamedTemporaryFile(
        prefix=f"{spec.name}-", suffix=".log", delete=False
    ) as log:
        log_path = Path(log.name)
        process = subprocess.Popen(
            spec.argv(port),
            cwd=HERE,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer(spec, process, port, log_path, lifecycle_path)
    try:
        deadline = time.monotonic() + startup_timeout
        while not (
            (spec.interface == "wsgi" or "startup" in server.lifecycle())
            and _port_open(port)
        ):
            if process.poll() is not None:
                raise ServerError(
                    f"{spec.name} exited with {process.returncode}:\n{server.output()}"
                )
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{spec.name} not ready within {startup_timeout:g}s"
                    f" (lifecycle: {server.lifecycle()}):\n{server.output()}"
                )
            time.sleep(0.05)
        yield server
    finally:
        server.stop()
        log_path.unlink(missing_ok=True)
