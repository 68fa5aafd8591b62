"""The benchmark app written once against Flask's API.

``diota_app`` builds it with :mod:`diota`, ``flask_app`` with real Flask: the
code is the same, which is the point of diota. Views are plain ``def`` except
the ``async`` scenario, as in a typical Flask app. ``async_views=True`` makes
every view and hook ``async def`` instead, the way an app written for an ASGI
server looks (and the way the Starlette and Quart apps are written).
"""

from __future__ import annotations

import asyncio
import functools
import types
import typing as t

from . import common


def _as_coroutine(func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
    @functools.wraps(func)
    async def coroutine(*args: t.Any, **kwargs: t.Any) -> t.Any:
        return func(*args, **kwargs)

    return coroutine


def build(
    flask: types.ModuleType, import_name: str, *, async_views: bool = False
) -> t.Any:
    """Return the benchmark app made with ``flask`` (real Flask or diota)."""
    written = _as_coroutine if async_views else (lambda func: func)
    app = flask.Flask(import_name, template_folder=common.TEMPLATE_DIR)
    app.secret_key = common.SECRET_KEY
    request = flask.request
    session = flask.session
    g = flask.g
    plaintext_body = common.PLAINTEXT.decode()

    @app.route("/plaintext")
    @written
    def plaintext() -> t.Any:
        return plaintext_body

    @app.route("/json")
    @written
    def json() -> t.Any:
        return common.JSON_BODY

    @app.route("/users/<name>")
    @written
    def user(name: str) -> t.Any:
        return f"user {name}"

    @app.route("/async")
    async def async_view() -> t.Any:
        await asyncio.sleep(0)
        return "async ok"

    @app.route("/form", methods=["POST"])
    @written
    def form() -> t.Any:
        return f"{request.form['name']} likes {request.form['lang']}"

    # The hooks belong to a blueprint so only its route pays for them.
    hooks = flask.Blueprint("hooks", import_name, url_prefix="/hooks")

    @hooks.before_request
    @written
    def before() -> None:
        g.hook = common.HOOK_VALUE

    @hooks.after_request
    @written
    def after(response: t.Any) -> t.Any:
        response.headers[common.HOOK_HEADER] = "after"
        return response

    @hooks.route("/")
    @written
    def hooked() -> t.Any:
        return f"hooks {g.hook}"

    app.register_blueprint(hooks)

    @app.route("/session/")
    @written
    def session_view() -> t.Any:
        count = session.get("count", 0)
        session["count"] = count + 1
        return f"count={count}"

    @app.route("/template")
    @written
    def template() -> t.Any:
        return flask.render_template(
            common.TEMPLATE_NAME,
            title=common.TEMPLATE_TITLE,
            items=common.TEMPLATE_ITEMS,
        )

    return app
