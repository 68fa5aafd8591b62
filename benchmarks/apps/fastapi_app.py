"""The benchmark app on FastAPI, written the FastAPI way: ``async def``
path operations with typed parameters; the hook and session middleware sit
on mounted sub-applications, so the other routes do not pay for them."""

import asyncio
import typing as t

from fastapi import FastAPI
from fastapi import Form
from fastapi import Request
from fastapi.responses import PlainTextResponse
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from . import common
from .asgi_hooks import HookMiddleware

templates = Jinja2Templates(directory=common.TEMPLATE_DIR)
_PLAINTEXT = common.PLAINTEXT.decode()

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return _PLAINTEXT


@app.get("/json")
async def json() -> dict[str, str]:
    return common.JSON_BODY


@app.get("/users/{name}", response_class=PlainTextResponse)
async def user(name: str) -> str:
    return f"user {name}"


@app.get("/async", response_class=PlainTextResponse)
async def async_view() -> str:
    await asyncio.sleep(0)
    return "async ok"


@app.post("/form", response_class=PlainTextResponse)
async def form(name: t.Annotated[str, Form()], lang: t.Annotated[str, Form()]) -> str:
    return f"{name} likes {lang}"


@app.get("/template")
async def template(request: Request) -> t.Any:
    return templates.TemplateResponse(
        request,
        common.TEMPLATE_NAME,
        {"title": common.TEMPLATE_TITLE, "items": common.TEMPLATE_ITEMS},
    )


hooks_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
hooks_app.add_middleware(HookMiddleware)


@hooks_app.get("/", response_class=PlainTextResponse)
async def hooked(request: Request) -> str:
    return f"hooks {request.state.hook}"


session_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
session_app.add_middleware(SessionMiddleware, secret_key=common.SECRET_KEY)


@session_app.get("/", response_class=PlainTextResponse)
async def session_view(request: Request) -> str:
    count = request.session.get("count", 0)
    request.session["count"] = count + 1
    return f"count={count}"


app.mount("/hooks", hooks_app)
app.mount("/session", session_app)
