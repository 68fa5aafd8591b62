"""The WSGI adapter: environ in, the core pipeline, ``start_response`` out.

Protocol only: it builds the request context from the environ, drives the
pipeline with the sync caller (one ``send(None)``; no event loop for sync
apps) and hands werkzeug's response back to the server.
"""

from __future__ import annotations

import collections.abc as cabc
import functools
import typing as t

from werkzeug.datastructures import Headers
from werkzeug.wsgi import ClosingIterator

from .concurrency import _in_asgi_worker
from .concurrency import drive
from .concurrency import process_loop
from .concurrency import run_coroutine_sync
from .globals import _cv_app
from .mounts import routes_elsewhere
from .wrappers import _sent_as_is

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIEnvironment

    from .app import Flask
    from .ctx import RequestContext
    from .wrappers import Response

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

    if app._mounts:
        path_info = environ.get("PATH_INFO", "")
        for mount in app._mounts:  # longest prefix first
            if mount.matches_wsgi(path_info):
                return mount.serve_wsgi(app, environ, start_response)

    ctx = app.request_context(environ)
    if app._fallback is not None and routes_elsewhere(ctx):
        return app._fallback.serve_wsgi(app, environ, start_response)

    def respond(response: Response) -> cabc.Iterable[bytes]:
        # Called by the pipeline while the request context is pushed: as on
        # Flask, start_response sees ``request`` (tracers record the status
        # on the request's span there).
        return _start(app, ctx, response, environ, start_response)

    body = drive(app._run_request(ctx, app._sync_call, on_finish, respond))
    if ctx._background_tasks is not None and body is ctx._sent_body:
        # Started on the fast path, then a teardown function queued a task:
        # it starts once the server closes the body, as on the other path.
        return ClosingIterator(
            body, functools.partial(app._start_background_tasks, ctx)
        )
    return body


def _start(
    app: Flask,
    ctx: RequestContext,
    response: Response,
    environ: WSGIEnvironment,
    start_response: StartResponse,
) -> cabc.Iterable[bytes]:
    """Start ``response`` and return the body iterable for the server."""
    body = response.response
    if ctx._background_tasks is None and _sent_as_is(
        response, environ["REQUEST_METHOD"]
    ):
        # PERF: what werkzeug's get_wsgi_response would produce for this
        # response, without copying and rescanning its headers.
        ctx._sent_body = body
        headers = response.headers
        start_response(
            response.status,
            # PERF: what to_wsgi_list gives, without iterating the object.
            list(headers._list) if type(headers) is Headers else headers.to_wsgi_list(),
        )
        return body  # type: ignore[return-value]  # a list of bytes: checked
    if not isinstance(body, (cabc.Iterable, str, bytes)) and isinstance(
        body, cabc.AsyncIterable
    ):
        response.response = _SyncIterator(body)
    # Background tasks (queued so far, or while the body streams) start
    # once the server has sent the response and closes the body.
    response.call_on_close(functools.partial(app._start_background_tasks, ctx))
    return response(environ, start_response)


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
