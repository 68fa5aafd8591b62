"""An app instrumented the way APM agents, error trackers and tracers do it.

Three instruments, each recording what it sees to ``$DIOTA_TRACE_FILE``
(one JSON line per request: the instrument, the status, and the path of
``flask.request`` read inside ``start_response``):

- ``agent``: patches ``Flask.wsgi_app`` on the class (APM agents);
- ``tracker``: patches ``Flask.__call__`` on the class with a two-argument
  WSGI function (error trackers);
- ``middleware``: wraps ``app.wsgi_app`` on the instance (tracers).

Served by real WSGI and ASGI servers (``test_instrumented_servers``), every
instrument must see every HTTP request, and the ASGI servers must still see
an ASGI app (lifespan, WebSockets).
"""

from __future__ import annotations

import json
import os
import typing as t

import diota
from diota import Flask
from diota import request

_TRACE = os.environ.get("DIOTA_TRACE_FILE")


def _record(instrument: str, status: str) -> None:
    path = request.path if diota.has_request_context() else None
    if _TRACE:
        with open(_TRACE, "a", encoding="utf-8") as f:
            f.write(json.dumps([instrument, status, path]) + "\n")


def _traced(instrument: str, start_response: t.Any) -> t.Any:
    def start(status: str, headers: list[t.Any], *args: t.Any) -> t.Any:
        _record(instrument, status)
        return start_response(status, headers, *args)

    return start


_original_wsgi_app = Flask.wsgi_app
_original_call = Flask.__call__


def _agent_wsgi_app(self: Flask, environ: t.Any, start_response: t.Any) -> t.Any:
    return _original_wsgi_app(self, environ, _traced("agent", start_response))


def _tracker_call(self: Flask, environ: t.Any, start_response: t.Any) -> t.Any:
    return _original_call(self, environ, _traced("tracker", start_response))


Flask.wsgi_app = _agent_wsgi_app  # type: ignore[method-assign]
Flask.__call__ = _tracker_call  # type: ignore[method-assign]

app = Flask(__name__)


def _middleware(wsgi_app: t.Any) -> t.Any:
    def traced(environ: t.Any, start_response: t.Any) -> t.Any:
        return wsgi_app(environ, _traced("middleware", start_response))

    return traced


app.wsgi_app = _middleware(app.wsgi_app)  # type: ignore[method-assign]


@app.before_serving
def _startup() -> None:
    lifecycle = os.environ.get("DIOTA_LIFECYCLE_FILE")
    if lifecycle:
        with open(lifecycle, "a", encoding="utf-8") as f:
            f.write(f"startup {os.getpid()}\n")


@app.get("/")
def index() -> str:
    return "hello"


@app.get("/async")
async def async_view() -> tuple[str, int]:
    return "created", 201


@app.get("/boom")
def boom() -> str:
    raise RuntimeError("boom")


@app.websocket("/ws")
async def echo() -> None:
    await diota.websocket.send(await diota.websocket.receive())
