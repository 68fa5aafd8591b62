"""A legacy WSGI application, written without diota or any framework.

A small book catalogue in the style of many long-lived internal tools: one
WSGI callable, a hand-rolled router over regular expressions, HTML built
from strings, nothing but the standard library. ``examples/migration/app.py``
moves it to diota route by route; ``docs/migrating-wsgi.md`` walks through
that.

Every link, redirect and cookie path it makes starts with ``SCRIPT_NAME``,
so it works at the root of a server and mounted under a prefix alike.

Serve it alone with any WSGI server, from the repository root::

    gunicorn examples.migration.legacy:application
"""

from __future__ import annotations

import collections.abc as cabc
import csv
import dataclasses
import html
import io
import itertools
import json
import re
import typing as t
from urllib.parse import parse_qs
from urllib.parse import quote
from urllib.parse import urlencode

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIEnvironment


class Book(t.TypedDict):
    id: int
    title: str
    author: str
    year: int


# The data layer. Read-only here; a real application would have a database
# that both the legacy code and the new diota views use during the move.
BOOKS: dict[int, Book] = {
    1: {
        "id": 1,
        "title": "Structure and Interpretation of Computer Programs",
        "author": "Harold Abelson & Gerald Jay Sussman",
        "year": 1985,
    },
    2: {
        "id": 2,
        "title": "Gödel, Escher, Bach",
        "author": "Douglas Hofstadter",
        "year": 1979,
    },
    3: {
        "id": 3,
        "title": "The Art of Computer Programming <Volume 1>",
        "author": "Donald Knuth",
        "year": 1968,
    },
}


@dataclasses.dataclass
class Reply:
    """What a handler returns: the parts of a WSGI response."""

    status: str
    headers: list[tuple[str, str]]
    body: cabc.Iterable[bytes]


Handler = t.Callable[["WSGIEnvironment", dict[str, str]], Reply]


def _root(environ: WSGIEnvironment) -> str:
    """Where this application is mounted: the start of every URL it makes."""
    return str(environ.get("SCRIPT_NAME", "")).rstrip("/")


def _page(title: str, body: str) -> str:
    return "\n".join(
        [
            "<!doctype html>",
            f"<title>{html.escape(title)} - Catalogue</title>",
            body,
        ]
    )


def _html(text: str, status: str = "200 OK", *extra: tuple[str, str]) -> Reply:
    data = text.encode()
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(data))),
        *extra,
    ]
    return Reply(status, headers, [data])


def _json(value: object, status: str = "200 OK") -> Reply:
    # Compact, keys sorted, a trailing newline: the format this API's
    # clients have always had. diota's JSON responses are written the same
    # way, so a route moved to diota answers byte for byte the same.
    data = (json.dumps(value, sort_keys=True, separators=(",", ":")) + "\n").encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
    ]
    return Reply(status, headers, [data])


def _redirect(location: str, status: str, *extra: tuple[str, str]) -> Reply:
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", "0"),
        ("Location", location),
        *extra,
    ]
    return Reply(status, headers, [])


def _not_found(environ: WSGIEnvironment) -> Reply:
    path = _root(environ) + str(environ.get("PATH_INFO", ""))
    body = (
        "<h1>Not found</h1>\n"
        f"<p>The catalogue has no page at <code>{html.escape(path)}</code>.</p>"
    )
    return _html(_page("Not found", body), "404 Not Found")


def _method_not_allowed(allowed: cabc.Iterable[str]) -> Reply:
    methods = ", ".join(sorted(allowed))
    body = f"<h1>Method not allowed</h1>\n<p>Use {html.escape(methods)}.</p>"
    return _html(
        _page("Method not allowed", body), "405 Method Not Allowed", ("Allow", methods)
    )


def index(environ: WSGIEnvironment, params: dict[str, str]) -> Reply:
    root = html.escape(_root(environ))
    items = "\n".join(
        f'<li><a href="{root}/books/{book["id"]}">{html.escape(book["title"])}</a>'
        f" ({book['year']})</li>"
        for book in BOOKS.values()
    )
    body = (
        f"<h1>Catalogue</h1>\n<ul>\n{items}\n</ul>\n"
        f'<p><a href="{root}/feedback">Send feedback</a>'
        f' | <a href="{root}/catalogue.csv">Download the catalogue</a></p>'
    )
    return _html(_page("Books", body))


def book_page(environ: WSGIEnvironment, params: dict[str, str]) -> Reply:
    book = BOOKS.get(int(params["book_id"]))
    if book is None:
        return _not_found(environ)
    body = (
        f"<h1>{html.escape(book['title'])}</h1>\n"
        f"<p>By {html.escape(book['author'])}, {book['year']}.</p>\n"
        f'<p><a href="{html.escape(_root(environ))}/">All books</a></p>'
    )
    return _html(_page(book["title"], body))


def api_books(environ: WSGIEnvironment, params: dict[str, str]) -> Reply:
    return _json({"books": list(BOOKS.values())})


def api_book(environ: WSGIEnvironment, params: dict[str, str]) -> Reply:
    book = BOOKS.get(int(params["book_id"]))
    if book is None:
        return _json({"error": "no such book"}, "404 Not Found")
    return _json(book)


def feedback_form(
    root: str, *, name: str = "", message: str = "", error: str = ""
) -> str:
    """The feedback page, with what was typed and why it was refused."""
    root = html.escape(root)
    lines = ["<h1>Feedback</h1>"]
    if error:
        lines.append(f'<p class="error">{html.escape(error)}</p>')
    lines += [
        f'<form method="post" action="{root}/feedback">',
        f'<p><label>Name <input name="name" value="{html.escape(name)}"></label></p>',
        "<p><label>Message"
        f' <textarea name="message">{html.escape(message)}</textarea></label></p>',
        "<p><button>Send</button></p>",
        "</form>",
        f'<p><a href="{root}/">Back to the catalogue</a></p>',
    ]
    return _page("Feedback", "\n".join(lines))


def feedback_get(environ: WSGIEnvironment, params: dict[str, str]) -> Reply:
    return _html(feedback_form(_root(environ)))


def feedback_post(environ: WSGIEnvironment, params: dict[str, str]) -> Reply:
    # As such code usually does: trust CONTENT_LENGTH, read it all at once.
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    form = parse_qs(raw.decode("utf-8", "replace"))
    name = form.get("name", [""])[0].strip() or "anonymous"
    message = form.get("message", [""])[0].strip()
    root = _root(environ)
    if not message:
        page = feedback_form(root, name=name, error="Please write a message.")
        return _html(page, "400 Bad Request")
    # Storing the message is left out: the point is the round trip.
    cookie = f"feedback_name={quote(name, safe='')}; Path={root or '/'}; HttpOnly"
    return _redirect(
        f"{root}/feedback/thanks?{urlencode({'name': name})}",
        "303 See Other",
        ("Set-Cookie", cookie),
    )


def feedback_thanks(environ: WSGIEnvironment, params: dict[str, str]) -> Reply:
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    name = query.get("name", ["anonymous"])[0]
    body = (
        f"<h1>Thank you, {html.escape(name)}!</h1>\n"
        f'<p><a href="{html.escape(_root(environ))}/">Back to the catalogue</a></p>'
    )
    return _html(_page("Thank you", body))


def _csv_lines() -> cabc.Iterator[bytes]:
    # One line per chunk: the server sends each as it comes, the whole file
    # is never built in memory.
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header: list[object] = ["id", "title", "author", "year"]
    rows = ([b["id"], b["title"], b["author"], b["year"]] for b in BOOKS.values())
    for row in itertools.chain([header], rows):
        writer.writerow(row)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()


def catalogue_csv(environ: WSGIEnvironment, params: dict[str, str]) -> Reply:
    headers = [
        ("Content-Type", "text/csv; charset=utf-8"),
        ("Content-Disposition", 'attachment; filename="catalogue.csv"'),
    ]
    return Reply("200 OK", headers, _csv_lines())


def old_home(environ: WSGIEnvironment, params: dict[str, str]) -> Reply:
    return _redirect(f"{_root(environ)}/", "301 Moved Permanently")


# Tried in order; a path matches a pattern in full.
ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (re.compile(r"/"), {"GET": index}),
    (re.compile(r"/home"), {"GET": old_home}),
    (re.compile(r"/books/(?P<book_id>\d+)"), {"GET": book_page}),
    (re.compile(r"/api/books"), {"GET": api_books}),
    (re.compile(r"/api/books/(?P<book_id>\d+)"), {"GET": api_book}),
    (re.compile(r"/feedback"), {"GET": feedback_get, "POST": feedback_post}),
    (re.compile(r"/feedback/thanks"), {"GET": feedback_thanks}),
    (re.compile(r"/catalogue\.csv"), {"GET": catalogue_csv}),
]


def application(
    environ: WSGIEnvironment, start_response: StartResponse
) -> cabc.Iterable[bytes]:
    """The WSGI entry point: route by ``PATH_INFO`` and method."""
    path = str(environ.get("PATH_INFO") or "/")
    method = str(environ["REQUEST_METHOD"]).upper()
    for pattern, handlers in ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        handler = handlers.get(method)
        if handler is None:
            reply = _method_not_allowed(handlers)
        else:
            reply = handler(environ, match.groupdict())
        break
    else:
        reply = _not_found(environ)
    start_response(reply.status, reply.headers)
    return reply.body
