"""The servers tests/servers/test_bad_input.py runs the bad-input app under.

Each entry says how to start one server (through :func:`tests.servers.serve`)
and which of its own timeouts ends a stalled client, so that a test can wait
for that bound rather than for ever.
"""

from __future__ import annotations

import dataclasses
import sys
import typing as t

from . import gunicorn_command
from . import HOST

APP = "tests.servers.bad_input_app:app"

#: Seconds gunicorn lets a sync worker sit on one request before killing it,
#: and hypercorn waits for a read; short, so stall tests stay quick.
STALL_TIMEOUT = 3


@dataclasses.dataclass(frozen=True)
class ServerKind:
    """How to run one server."""

    name: str
    mode: str  # "wsgi" or "asgi"
    command: t.Callable[[int], list[str]]
    #: Seconds after which the server itself drops a stalled client, or
    #: ``None`` if it never does (uvicorn has no read timeout).
    stall_timeout: float | None


def _gunicorn(port: int) -> list[str]:
    # Two sync workers: one may sit on a stalled client while the other
    # serves; a stalled worker is killed (and replaced) after --timeout.
    return gunicorn_command(APP, port) + [
        "--workers", "2", "--timeout", str(STALL_TIMEOUT),
    ]  # fmt: skip


def _uvicorn(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", APP,
        "--host", HOST, "--port", str(port),
        "--http", "h11", "--interface", "asgi3", "--lifespan", "on",
        "--timeout-keep-alive", "2", "--log-level", "warning",
    ]  # fmt: skip


def _hypercorn(port: int) -> list[str]:
    # "asgi:" forces ASGI: on Python < 3.12 hypercorn's auto-detection
    # (inspect.iscoroutinefunction) does not see diota's coroutine marker.
    return [
        sys.executable, "-m", "hypercorn", f"asgi:{APP}",
        "--bind", f"{HOST}:{port}", "--workers", "1",
        "--read-timeout", str(STALL_TIMEOUT), "--keep-alive", "2",
    ]  # fmt: skip


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


KINDS: dict[str, ServerKind] = {
    "gunicorn": ServerKind("gunicorn", "wsgi", _gunicorn, STALL_TIMEOUT + 1.5),
    "uvicorn": ServerKind("uvicorn", "asgi", _uvicorn, None),
}
if _installed("hypercorn"):
    KINDS["hypercorn"] = ServerKind("hypercorn", "asgi", _hypercorn, STALL_TIMEOUT)
