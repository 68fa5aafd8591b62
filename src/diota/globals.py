"""The context-bound globals: ``current_app``, ``g``, ``request``, ``session``.

Each is a :class:`werkzeug.local.LocalProxy` over a :class:`~contextvars.ContextVar`
holding the active context, so they follow the request across threads and
event loops wherever diota copies the context.
"""

from __future__ import annotations

import typing as t
from contextvars import ContextVar

from werkzeug.local import LocalProxy

if t.TYPE_CHECKING:  # pragma: no cover
    from .app import Flask
    from .ctx import _AppCtxGlobals
    from .ctx import AppContext
    from .ctx import RequestContext
    from .sessions import SessionMixin
    from .websockets import WebSocket
    from .wrappers import Request


_no_app_msg = """\
Working outside of application context.

Something needed the current application (current_app, g, url_for, ...)
but no application context is active. Push one with app.app_context(),
or run the code from a request, a CLI command or a test client call.\
"""
_cv_app: ContextVar[AppContext] = ContextVar("diota.app_ctx")
app_ctx: AppContext = LocalProxy(  # type: ignore[assignment]
    _cv_app, unbound_message=_no_app_msg
)
current_app: Flask = LocalProxy(  # type: ignore[assignment]
    _cv_app, "app", unbound_message=_no_app_msg
)
g: _AppCtxGlobals = LocalProxy(  # type: ignore[assignment]
    _cv_app, "g", unbound_message=_no_app_msg
)

_no_req_msg = """\
Working outside of request context.

Something needed the current request (request, session, ...) but no
request context is active. In tests, use app.test_request_context() or
make the call through app.test_client().\
"""
_cv_request: ContextVar[RequestContext] = ContextVar("diota.request_ctx")
request_ctx: RequestContext = LocalProxy(  # type: ignore[assignment]
    _cv_request, unbound_message=_no_req_msg
)
request: Request = LocalProxy(  # type: ignore[assignment]
    _cv_request, "request", unbound_message=_no_req_msg
)
session: SessionMixin = LocalProxy(  # type: ignore[assignment]
    _cv_request, "session", unbound_message=_no_req_msg
)

_no_websocket_msg = """\
Working outside of WebSocket context.

Something needed the current WebSocket, which exists only while a handler
registered with @app.websocket runs (under an ASGI server, or through
client.websocket() in tests).\
"""
_cv_websocket: ContextVar[WebSocket] = ContextVar("diota.websocket")
websocket: WebSocket = LocalProxy(  # type: ignore[assignment]
    _cv_websocket, unbound_message=_no_websocket_msg
)
