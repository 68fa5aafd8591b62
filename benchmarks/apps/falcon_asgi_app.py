"""The benchmark app on Falcon (ASGI): coroutine responders and hooks.
Falcon has no sessions: that scenario is n/a."""

from __future__ import annotations

import asyncio
import typing as t

import falcon
import falcon.asgi
import jinja2

from . import common

#: Scenarios this framework cannot express.
UNSUPPORTED = frozenset({"session"})

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(common.TEMPLATE_DIR), autoescape=True
)
_PLAINTEXT = common.PLAINTEXT.decode()


async def _before(req: t.Any, resp: t.Any, resource: t.Any, params: t.Any) -> None:
    req.context.hook = common.HOOK_VALUE


async def _after(req: t.Any, resp: t.Any, resource: t.Any) -> None:
    resp.set_header(common.HOOK_HEADER, "after")


class Plaintext:
    async def on_get(self, req: t.Any, resp: t.Any) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = _PLAINTEXT


class Json:
    async def on_get(self, req: t.Any, resp: t.Any) -> None:
        resp.media = common.JSON_BODY


class User:
    async def on_get(self, req: t.Any, resp: t.Any, name: str) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"user {name}"


class Async:
    async def on_get(self, req: t.Any, resp: t.Any) -> None:
        await asyncio.sleep(0)
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "async ok"


class Form:
    async def on_post(self, req: t.Any, resp: t.Any) -> None:
        data = await req.get_media()
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"{data['name']} likes {data['lang']}"


class Hooked:
    @falcon.before(_before)
    @falcon.after(_after)
    async def on_get(self, req: t.Any, resp: t.Any) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = f"hooks {req.context.hook}"


class Template:
    async def on_get(self, req: t.Any, resp: t.Any) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = _env.get_template(common.TEMPLATE_NAME).render(
            title=common.TEMPLATE_TITLE, items=common.TEMPLATE_ITEMS
        )


app = falcon.asgi.App()
app.add_route("/plaintext", Plaintext())
app.add_route("/json", Json())
app.add_route("/users/{name}", User())
app.add_route("/async", Async())
app.add_route("/form", Form())
app.add_route("/hooks/", Hooked())
app.add_route("/template", Template())
