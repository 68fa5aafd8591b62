"""The benchmark app on Quart (ASGI), written the Quart way: ``async def``."""

from __future__ import annotations

import asyncio
import typing as t

from quart import Blueprint
from quart import g
from quart import Quart
from quart import render_template
from quart import request
from quart import session

from . import common

app = Quart(__name__, template_folder=common.TEMPLATE_DIR)
app.secret_key = common.SECRET_KEY
_PLAINTEXT = common.PLAINTEXT.decode()


@app.route("/plaintext")
async def plaintext() -> t.Any:
    return _PLAINTEXT


@app.route("/json")
async def json() -> t.Any:
    return common.JSON_BODY


@app.route("/users/<name>")
async def user(name: str) -> t.Any:
    return f"user {name}"


@app.route("/async")
async def async_view() -> t.Any:
    await asyncio.sleep(0)
    return "async ok"


@app.route("/form", methods=["POST"])
async def form() -> t.Any:
    data = await request.form
    return f"{data['name']} likes {data['lang']}"


hooks = Blueprint("hooks", __name__, url_prefix="/hooks")


@hooks.before_request
async def before() -> None:
    g.hook = common.HOOK_VALUE


@hooks.after_request
async def after(response: t.Any) -> t.Any:
    response.headers[common.HOOK_HEADER] = "after"
    return response


@hooks.route("/")
async def hooked() -> t.Any:
    return f"hooks {g.hook}"


app.register_blueprint(hooks)


@app.route("/session/")
async def session_view() -> t.Any:
    count = session.get("count", 0)
    session["count"] = count + 1
    return f"count={count}"


@app.route("/template")
async def template() -> t.Any:
    return await render_template(
        common.TEMPLATE_NAME,
        title=common.TEMPLATE_TITLE,
        items=common.TEMPLATE_ITEMS,
    )
