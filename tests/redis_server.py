"""Run a real ``redis-server`` on 127.0.0.1 for tests, bounded in time.

:func:`running_redis` starts one on a free port, with nothing written to
disk (``--save '' --appendonly no``, a temporary working directory), waits
until it answers ``PING`` and always stops it. Speaks RESP over a plain
socket, so it works without redis-py. A missing ``redis-server`` is an
error, never a skip: the project's test command installs it.
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import dataclasses
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from servers import free_port
from servers import HOST


class RedisServerError(RuntimeError):
    """redis-server is missing, did not start, or died."""


@dataclasses.dataclass
class RedisServer:
    """A running redis-server."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ping(self, timeout: float = 1.0) -> bool:
        """Whether the server answers ``PING`` right now."""
        try:
            with socket.create_connection((HOST, self.port), timeout=timeout) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL; idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def redis_server_path() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise RedisServerError(
            "redis-server is not installed; the broadcast tests need a real one"
            " (Debian/Ubuntu: apt-get install -y redis-server)."
        )
    return path


@contextlib.contextmanager
def running_redis(
    port: int | None = None, *, startup_timeout: float = 10.0
) -> cabc.Iterator[RedisServer]:
    """Run redis-server until the ``with`` block ends.

    :param port: The port to listen on; a free one by default.
    :param startup_timeout: Seconds to wait for it to answer ``PING``.
    :raises RedisServerError: If it is missing, exits or does not answer.
    """
    executable = redis_server_path()
    with tempfile.TemporaryDirectory(prefix="redis-") as workdir:
        # A port that was free a moment ago may be taken by the time the
        # server binds it: try a few.
        for attempt in range(3):
            server = _start(executable, port or free_port(), Path(workdir))
            try:
                _wait_ready(server, startup_timeout)
            except RedisServerError:
                server.stop()
                if port is not None or attempt == 2:
                    raise
                continue
            break
        try:
            yield server
        finally:
            server.stop()


def _start(executable: str, port: int, workdir: Path) -> RedisServer:
    log_path = workdir / f"redis-{port}.log"
    argv = [
        executable,
        "--bind", HOST, "--port", str(port),
        "--save", "", "--appendonly", "no",
        "--dir", str(workdir), "--daemonize", "no",
        "--logfile", "",  # to stdout, that is log_path
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return RedisServer(process, port, log_path)


def _wait_ready(server: RedisServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not server.ping(timeout=0.5):
        if server.process.poll() is not None:
            raise RedisServerError(
                f"redis-server exited with {server.process.returncode}:\n"
                + server.output()
            )
        if time.monotonic() > deadline:
            raise RedisServerError(
                f"redis-server did not answer PING within {timeout:g}s:\n"
                + server.output()
            )
        time.sleep(0.05)
