"""The WSGI adapter: environ in, the core pipeline, ``start_response`` out.

Protocol only: it builds the request context from the environ, drives the
pipeline with the sync caller (one ``send(None)``; no event loop for sync
apps) and hands werkzeug's response back to the server.
"""

from __future__ import annotations

import collections.abc as cabc
import typing as t

from werkzeug.wrappers import Response as BaseResponse

from .concurrency import _in_asgi_worker
from .concurrency import drive
from .concurrency import process_loop
from .concurrency import run_coroutine_sync
from .globals import _cv_app

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIEnvironment

    from .app import Flask
    from .ctx import RequestContext

# werkzeug's test client passes this to keep contexts alive after a request.
_PRESERVE_CONTEXT = "werkzeug.debug.preserve_context"


def handle(
    app: Flask, environ: WSGIEnvironment, start_response: StartResponse
) -> cabc.Iterable[bytes]:
    """Serve one WSGI request with ``app``."""
    if (
        environ.get("wsgi.multithread")
        and not process_loop.threaded
        and not _in_asgi_worker.get()
    ):
        # A threaded server: async views must not take turns on one thread
        # running the loop in place, so the loop gets a thread of its own.
        process_loop.use_thread()

    if not app._serving_started:
        app._ensure_serving_sync()

    on_finish = None
    preserve = environ.get(_PRESERVE_CONTEXT)
    if preserve is not None:

        def on_finish(ctx: RequestContext) -> None:
            preserve(_cv_app.get())
            preserve(ctx)

    ctx = app.request_context(environ)
    response = drive(app._run_request(ctx, app._sync_call, on_finish))
    body = response.response
    if type(body) is list and _plain_response(response, environ):
        # PERF: what werkzeug's get_wsgi_response would produce for this
        # response, without copying and rescanning its headers.
        start_response(response.status, response.headers.to_wsgi_list())
        return body
    if not isinstance(body, (cabc.Iterable, str, bytes)) and isinstance(
        body, cabc.AsyncIterable
    ):
        response.response = _SyncIterator(body)
    return response(environ, start_response)


# werkzeug's methods that turn a response into the WSGI triple; a response
# class overriding any of them takes werkzeug's full path.
_WSGI_METHODS = ("__call__", "get_wsgi_response", "get_wsgi_headers", "get_app_iter")
_plain_classes: dict[type, bool] = {}


def _plain_response(response: t.Any, environ: WSGIEnvironment) -> bool:
    """Whether werkzeug would send ``response`` exactly as it stands: a 200
    with a known length, no URL headers to rewrite, nothing to call on
    close, and not a HEAD request."""
    cls = type(response)
    plain = _plain_classes.get(cls)
    if plain is None:
        plain = _plain_classes[cls] = all(
            getattr(cls, name) is getattr(BaseResponse, name) for name in _WSGI_METHODS
        )
    if not plain or response.status_code != 200 or response._on_close:
        return False
    if environ["REQUEST_METHOD"] == "HEAD" or response.direct_passthrough:
        return False
    if not all(type(chunk) is bytes for chunk in response.response):
        return False  # werkzeug encodes str items on the way out
    has_length = False
    for key, _ in response.headers:
        lower = key.lower()
        if lower == "content-length":
            has_length = True
        elif lower in ("location", "content-location"):
            return False
    return has_length


class _SyncIterator:
    """Iterate an async body from a sync server, one step at a time on the
    process loop; ``close`` closes the async generator (runs its cleanup)."""

    def __init__(self, body: cabc.AsyncIterable[t.Any]) -> None:
        self._iterator = body.__aiter__()

    def __iter__(self) -> _SyncIterator:
        return self

    def __next__(self) -> t.Any:
        try:
            return run_coroutine_sync(_anext(self._iterator))
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            run_coroutine_sync(aclose())


async def _anext(iterator: cabc.AsyncIterator[t.Any]) -> t.Any:
    return await iterator.__anext__()
