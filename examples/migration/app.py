"""A diota application taking over ``legacy.py`` route by route.

Two of the legacy catalogue's routes now live here, answering exactly as
before: the feedback form (a ``def`` view rendering a template) and the
book list of the JSON API (an ``async def`` view, the hot route). Every
other request, including a POST to the feedback form, which only the
legacy code handles so far, goes to the legacy WSGI application through
:meth:`~diota.Flask.mount_fallback`. The whole legacy application is also
mounted under ``/old``, as it was before the move.

Serve it from the repository root with a WSGI server or an ASGI server;
both give the same answers::

    gunicorn examples.migration.app:app
    uvicorn examples.migration.app:app

``docs/migrating-wsgi.md`` walks through the steps that led here.
"""

from __future__ import annotations

import anyio

from diota import Flask
from diota import render_template

from .legacy import application as legacy_app
from .legacy import Book
from .legacy import BOOKS

app = Flask(__name__)
# The legacy code reads a POST body whole, trusting Content-Length; with
# apply_limits below, diota refuses bodies over this size (413) before the
# legacy code sees them.
app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024


async def fetch_books() -> list[Book]:
    """The books, as an async database driver would return them."""
    await anyio.sleep(0)  # where the query would be awaited
    return list(BOOKS.values())


@app.get("/feedback")
def feedback_form() -> str:
    """The feedback form, moved here; posting it is still legacy code."""
    return render_template("feedback.html")


@app.get("/api/books")
async def list_books() -> dict[str, object]:
    """The book list: the same JSON the legacy API gave, from an async view."""
    return {"books": await fetch_books()}


# Requests for "/old" and under it go to the legacy application, which sees
# SCRIPT_NAME "/old" and builds its links under it.
app.mount("/old", legacy_app, apply_limits=True)
# Everything diota's own routes do not answer (404 or 405 from routing) goes
# to the legacy application, unchanged.
app.mount_fallback(legacy_app, apply_limits=True)
