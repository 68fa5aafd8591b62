"""The floor: a bare ASGI callable answering every scenario by hand.

No framework: a dict lookup on the path, the body read from ``receive``,
two ``send`` calls. The session is an unsigned counter cookie.
"""

from __future__ import annotations

import asyncio
import json
import typing as t
from urllib.parse import parse_qs

import jinja2

from . import common

_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_template = jinja2.Environment(
    loader=jinja2.FileSystemLoader(common.TEMPLATE_DIR), autoescape=True
).get_template(common.TEMPLATE_NAME)


async def _respond(
    send: t.Any,
    body: bytes,
    status: int = 200,
    content_type: tuple[bytes, bytes] = _TEXT,
    extra: t.Any = (),
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                content_type,
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: t.Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def plaintext(scope: t.Any, receive: t.Any, send: t.Any) -> None:
    await _respond(send, common.PLAINTEXT)


async def json_view(scope: t.Any, receive: t.Any, send: t.Any) -> None:
    body = json.dumps(common.JSON_BODY).encode()
    await _respond(send, body, content_type=(b"content-type", b"application/json"))


async def async_view(scope: t.Any, receive: t.Any, send: t.Any) -> None:
    await asyncio.sleep(0)
    await _respond(send, b"async ok")


async def form(scope: t.Any, receive: t.Any, send: t.Any) -> None:
    data = parse_qs((await _read_body(receive)).decode())
    await _respond(send, f"{data['name'][0]} likes {data['lang'][0]}".encode())


async def hooked(scope: t.Any, receive: t.Any, send: t.Any) -> None:
    scope["bench.hook"] = common.HOOK_VALUE  # before
    body = f"hooks {scope['bench.hook']}".encode()
    await _respond(send, body, extra=[(common.HOOK_HEADER.encode(), b"after")])


async def session(scope: t.Any, receive: t.Any, send: t.Any) -> None:
    count = 0
    for name, value in scope["headers"]:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == common.BARE_SESSION_COOKIE and val.isdigit():
                    count = int(val)
    cookie = f"{common.BARE_SESSION_COOKIE}={count + 1}; Path=/; HttpOnly".encode()
    await _respond(send, f"count={count}".encode(), extra=[(b"set-cookie", cookie)])


async def template(scope: t.Any, receive: t.Any, send: t.Any) -> None:
    body = _template.render(
        title=common.TEMPLATE_TITLE, items=common.TEMPLATE_ITEMS
    ).encode()
    await _respond(
        send, body, content_type=(b"content-type", b"text/html; charset=utf-8")
    )


_ROUTES = {
    "/plaintext": plaintext,
    "/json": json_view,
    "/async": async_view,
    "/form": form,
    "/hooks/": hooked,
    "/session/": session,
    "/template": template,
}


async def app(scope: t.Any, receive: t.Any, send: t.Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    view = _ROUTES.get(path)
    if view is not None:
        await view(scope, receive, send)
    elif path.startswith("/users/") and path.count("/") == 2:
        await _respond(send, f"user {path[7:]}".encode())
    else:
        await _respond(send, b"Not Found", status=404)
