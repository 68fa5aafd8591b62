"""A small diota application.

Serve it with the development server::

    diota --app examples/hello/app.py run

or with gunicorn, from the repository root::

    gunicorn examples.hello.app:app

It shows a sync view, an ``async def`` view, a JSON view, a template and
a redirect; every one of them runs unchanged under Flask as well.
"""

from __future__ import annotations

import asyncio

from diota import Flask
from diota import redirect
from diota import render_template
from diota import request
from diota import url_for

app = Flask(__name__)


@app.get("/")
def index() -> str:
    """A sync view rendering a template."""
    name = request.args.get("name", "world")
    return render_template("hello.html", name=name)


@app.get("/async")
async def slow_hello() -> str:
    """An ``async def`` view: it may await, whichever server runs it."""
    await asyncio.sleep(0.01)
    return "hello from an async view"


@app.get("/api/greeting/<name>")
def greeting(name: str) -> dict[str, object]:
    """A JSON view: returning a dict makes a JSON response."""
    return {"greeting": f"hello {name}", "length": len(name)}


@app.get("/old")
def old_index() -> object:
    """A redirect to the index, built with ``url_for``."""
    return redirect(url_for("index", name="again"))
