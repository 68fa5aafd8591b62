"""The benchmark app on Starlette, written the Starlette way: ``async def``
endpoints; the hook middleware and the session middleware are mounted on
their own routes only, so the other routes do not pay for them."""

from __future__ import annotations

import asyncio
import typing as t

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import JSONResponse
from starlette.responses import PlainTextResponse
from starlette.routing import Mount
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from . import common
from .asgi_hooks import HookMiddleware

templates = Jinja2Templates(directory=common.TEMPLATE_DIR)
_PLAINTEXT = common.PLAINTEXT.decode()


async def plaintext(request: t.Any) -> t.Any:
    return PlainTextResponse(_PLAINTEXT)


async def json(request: t.Any) -> t.Any:
    return JSONResponse(common.JSON_BODY)


async def user(request: t.Any) -> t.Any:
    return PlainTextResponse(f"user {request.path_params['name']}")


async def async_view(request: t.Any) -> t.Any:
    await asyncio.sleep(0)
    return PlainTextResponse("async ok")


async def form(request: t.Any) -> t.Any:
    async with request.form() as data:
        return PlainTextResponse(f"{data['name']} likes {data['lang']}")


async def hooked(request: t.Any) -> t.Any:
    return PlainTextResponse(f"hooks {request.state.hook}")


async def session_view(request: t.Any) -> t.Any:
    count = request.session.get("count", 0)
    request.session["count"] = count + 1
    return PlainTextResponse(f"count={count}")


async def template(request: t.Any) -> t.Any:
    return templates.TemplateResponse(
        request,
        common.TEMPLATE_NAME,
        {"title": common.TEMPLATE_TITLE, "items": common.TEMPLATE_ITEMS},
    )


app = Starlette(
    routes=[
        Route("/plaintext", plaintext),
        Route("/json", json),
        Route("/users/{name}", user),
        Route("/async", async_view),
        Route("/form", form, methods=["POST"]),
        Mount(
            "/hooks",
            routes=[Route("/", hooked)],
            middleware=[Middleware(HookMiddleware)],
        ),
        Mount(
            "/session",
            routes=[Route("/", session_view)],
            middleware=[Middleware(SessionMiddleware, secret_key=common.SECRET_KEY)],
        ),
        Route("/template", template),
    ]
)
