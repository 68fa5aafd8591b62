"""The floor: a bare WSGI callable answering every scenario by hand.

No framework, no request object: a dict lookup on the path and direct
``start_response`` calls. The session is an unsigned counter cookie and the
``async def`` view is finished by sending into the coroutine until it stops
(what a sync driver that never starts a loop can do at best).
"""

from __future__ import annotations

import asyncio
import json
import typing as t
from urllib.parse import parse_qs

import jinja2

from . import common

_TEXT = [("Content-Type", "text/plain; charset=utf-8")]
_template = jinja2.Environment(
    loader=jinja2.FileSystemLoader(common.TEMPLATE_DIR), autoescape=True
).get_template(common.TEMPLATE_NAME)


def _text(start_response: t.Any, body: bytes, extra: t.Any = ()) -> list[bytes]:
    start_response("200 OK", [*_TEXT, ("Content-Length", str(len(body))), *extra])
    return [body]


def plaintext(environ: t.Any, start_response: t.Any) -> list[bytes]:
    return _text(start_response, common.PLAINTEXT)


def json_view(environ: t.Any, start_response: t.Any) -> list[bytes]:
    body = json.dumps(common.JSON_BODY).encode()
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


async def _wait_once() -> bytes:
    await asyncio.sleep(0)
    return b"async ok"


def async_view(environ: t.Any, start_response: t.Any) -> list[bytes]:
    coro = _wait_once()
    try:
        while True:
            coro.send(None)
    except StopIteration as stop:
        return _text(start_response, stop.value)


def form(environ: t.Any, start_response: t.Any) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    data = parse_qs(environ["wsgi.input"].read(length).decode())
    return _text(start_response, f"{data['name'][0]} likes {data['lang'][0]}".encode())


def hooked(environ: t.Any, start_response: t.Any) -> list[bytes]:
    environ["bench.hook"] = common.HOOK_VALUE  # before
    body = f"hooks {environ['bench.hook']}".encode()
    return _text(start_response, body, [(common.HOOK_HEADER, "after")])  # after


def session(environ: t.Any, start_response: t.Any) -> list[bytes]:
    count = 0
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == common.BARE_SESSION_COOKIE and value.isdigit():
            count = int(value)
    cookie = f"{common.BARE_SESSION_COOKIE}={count + 1}; Path=/; HttpOnly"
    return _text(start_response, f"count={count}".encode(), [("Set-Cookie", cookie)])


def template(environ: t.Any, start_response: t.Any) -> list[bytes]:
    body = _template.render(
        title=common.TEMPLATE_TITLE, items=common.TEMPLATE_ITEMS
    ).encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]


_ROUTES = {
    "/plaintext": plaintext,
    "/json": json_view,
    "/async": async_view,
    "/form": form,
    "/hooks/": hooked,
    "/session/": session,
    "/template": template,
}


def app(environ: t.Any, start_response: t.Any) -> list[bytes]:
    path = environ["PATH_INFO"]
    view = _ROUTES.get(path)
    if view is not None:
        return view(environ, start_response)
    if path.startswith("/users/") and path.count("/") == 2:
        return _text(start_response, f"user {path[7:]}".encode())
    start_response("404 Not Found", [*_TEXT, ("Content-Length", "9")])
    return [b"Not Found"]
