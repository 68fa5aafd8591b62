"""Application and request contexts.

A context is pushed by setting a :class:`~contextvars.ContextVar`
(:data:`diota.globals._cv_app`, :data:`diota.globals._cv_request`); the
globals read it. Popping runs the teardown callables through the call seam,
so ``async def`` teardown functions work under either driver.
"""

from __future__ import annotations

import contextvars
import sys
import typing as t
from functools import update_wrapper
from types import TracebackType

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request as RequestBase

from . import typing as ft
from .concurrency import Caller
from .concurrency import drive
from .globals import _cv_app
from .globals import _cv_request
from .sessions import request_has_cookies
from .sessions import SecureCookieSession
from .sessions import SecureCookieSessionInterface
from .signals import appcontext_popped
from .signals import appcontext_pushed
from .signals import appcontext_tearing_down
from .signals import request_tearing_down

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIEnvironment
    from werkzeug.routing import MapAdapter

    from .app import Flask
    from .background import Task
    from .sessions import SessionInterface
    from .sessions import SessionMixin
    from .wrappers import Request


# Marks "no exception was passed": pop() then looks at sys.exc_info().
_sentinel = object()
# Marks a value not worked out yet.
_unset = object()


def _session_waits(interface: SessionInterface, request: Request) -> bool:
    """Whether the session of ``request`` can be opened on first use: the
    standard cookie session, for a request without cookies (its session is
    empty, and saved only if changed)."""
    cls = type(interface)
    standard = _standard_interfaces.get(cls)
    if standard is None:
        standard = _standard_interfaces[cls] = (
            cls.open_session is SecureCookieSessionInterface.open_session
            and cls.save_session is SecureCookieSessionInterface.save_session
        )
    if not standard or getattr(interface, "session_class", None) is not (
        SecureCookieSession
    ):
        return False
    source = getattr(request, "_source", None)
    if source is not None and request._headers is None:
        return not source.cookie  # PERF: the scope's Cookie header, as read
    return not request_has_cookies(request)


# Request class -> whether its constructor is werkzeug's, so that
# Request._from_environ builds the same request directly.
_builds_directly: dict[type, bool] = {}
# Session interface class -> whether it opens and saves as the standard one.
_standard_interfaces: dict[type, bool] = {}


class _AppCtxGlobals:
    """The type of :data:`g`: a plain namespace for data during a context.

    Works like an object with a few dict-like helpers. Replace it through
    :attr:`Flask.app_ctx_globals_class`.
    """

    # Declared so type checkers accept any attribute.
    def __getattr__(self, name: str) -> t.Any:
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: t.Any) -> None:
        self.__dict__[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self.__dict__[name]
        except KeyError:
            raise AttributeError(name) from None

    def get(self, name: str, default: t.Any | None = None) -> t.Any:
        """Return attribute ``name``, or ``default`` if it is not set."""
        return self.__dict__.get(name, default)

    def pop(self, name: str, default: t.Any = _sentinel) -> t.Any:
        """Remove and return attribute ``name``.

        :param default: returned when the attribute is missing; without it a
            missing attribute raises :exc:`KeyError`.
        """
        if default is _sentinel:
            return self.__dict__.pop(name)
        return self.__dict__.pop(name, default)

    def setdefault(self, name: str, default: t.Any = None) -> t.Any:
        """Return attribute ``name``, setting it to ``default`` first if missing."""
        return self.__dict__.setdefault(name, default)

    def __contains__(self, item: str) -> bool:
        return item in self.__dict__

    def __iter__(self) -> t.Iterator[str]:
        return iter(self.__dict__)

    def __repr__(self) -> str:
        ctx = _cv_app.get(None)
        if ctx is not None:
            return f"<diota.g of '{ctx.app.name}'>"
        return object.__repr__(self)


def after_this_request(
    f: ft.AfterRequestCallable[t.Any],
) -> ft.AfterRequestCallable[t.Any]:
    """Register ``f`` to run on this request's response only.

    It runs before the app's and blueprints' ``after_request`` functions,
    receives the response and must return one.
    """
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "'after_this_request' can only be used when a request"
            " context is active, such as in a view function."
        )
    ctx._after_request_functions.append(f)
    return f


F = t.TypeVar("F", bound=t.Callable[..., t.Any])


def copy_current_request_context(f: F) -> F:
    """Decorate ``f`` so it runs inside a copy of the current request context.

    Use it for work handed to another thread or greenlet that still needs
    ``request`` and ``session``. The copy is made when the decorator is
    applied, so apply it inside the view.
    """
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "'copy_current_request_context' can only be used when a"
            " request context is active, such as in a view function."
        )
    ctx = ctx.copy()

    def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
        with ctx:
            return ctx.app.ensure_sync(f)(*args, **kwargs)

    return update_wrapper(wrapper, f)  # type: ignore[return-value]


def has_request_context() -> bool:
    """Whether a request context is active (so ``request`` is usable)."""
    return _cv_request.get(None) is not None


def has_app_context() -> bool:
    """Whether an application context is active (so ``current_app`` is usable)."""
    return _cv_app.get(None) is not None


class AppContext:
    """The application context: makes :data:`current_app` and :data:`g` available.

    Pushed for every request, CLI command and ``with app.app_context():``.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.g: _AppCtxGlobals = app.app_ctx_globals_class()
        self._cv_tokens: list[contextvars.Token[AppContext]] = []

    # PERF: defaults shared by every context until one sets its own.
    _url_adapter: MapAdapter | None | object = _unset
    # stream_with_context streams still using this context: while any does,
    # the last pop leaves the teardown to the last stream's end.
    _stream_holds = 0

    @property
    def url_adapter(self) -> MapAdapter | None:
        """The URL map bound to ``SERVER_NAME`` (see
        :meth:`Flask.create_url_adapter`), for building URLs outside a
        request; ``None`` without ``SERVER_NAME``."""
        adapter = self._url_adapter
        if adapter is _unset:
            # PERF: made when first used; a request builds URLs with its own.
            adapter = self._url_adapter = self.app.create_url_adapter(None)
        return adapter  # type: ignore[return-value]

    @url_adapter.setter
    def url_adapter(self, value: MapAdapter | None) -> None:
        self._url_adapter = value

    def push(self) -> None:
        """Make this the current application context."""
        self._cv_tokens.append(_cv_app.set(self))
        if appcontext_pushed.receivers:
            appcontext_pushed.send(self.app, _async_wrapper=self.app.ensure_sync)

    def pop(self, exc: BaseException | None = _sentinel) -> None:  # type: ignore[assignment]
        """Pop this context, running teardown functions on the last pop."""
        drive(self._pop(exc, self.app._sync_call))

    def _pops_quietly(self) -> bool:
        """Whether popping this context runs nothing: no teardown function,
        no signal receiver, :meth:`_pop` not replaced."""
        app = self.app
        return not (
            app.teardown_appcontext_funcs
            or appcontext_tearing_down.receivers
            or appcontext_popped.receivers
            or type(self)._pop is not AppContext._pop
            or "do_teardown_appcontext" in app._step_overrides
        )

    def _pop_quietly(self) -> bool:
        """Pop this context if that runs nothing (see :meth:`_pops_quietly`):
        PERF, no coroutine. ``False`` if :meth:`_pop` must run."""
        if not self._pops_quietly():
            return False
        self._unset()
        return True

    def _unset(self) -> None:
        """Unset this context, which runs nothing when popped."""
        ctx = _cv_app.get()
        _cv_app.reset(self._cv_tokens.pop())
        if ctx is not self:
            raise AssertionError(
                f"Popped the wrong app context ({ctx!r} instead of {self!r})"
            )

    async def _pop(self, exc: BaseException | None, call: Caller) -> None:
        try:
            if (
                len(self._cv_tokens) == 1
                and not self._stream_holds
                and (
                    self.app.teardown_appcontext_funcs
                    or appcontext_tearing_down.receivers
                    or "do_teardown_appcontext" in self.app._step_overrides
                )
            ):
                if exc is _sentinel:
                    exc = sys.exc_info()[1]
                await self.app._steps["do_teardown_appcontext"](
                    call,
                    exc,
                )
        finally:
            ctx = _cv_app.get()
            _cv_app.reset(self._cv_tokens.pop())

        if ctx is not self:
            raise AssertionError(
                f"Popped the wrong app context ({ctx!r} instead of {self!r})"
            )
        if appcontext_popped.receivers:
            appcontext_popped.send(self.app, _async_wrapper=self.app.ensure_sync)

    def __enter__(self) -> AppContext:
        self.push()
        return self

    def __exit__(
        self,
        exc_type: type | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.pop(exc_value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of '{self.app.name}'>"


class RequestContext:
    """The request context: makes :data:`request` and :data:`session` available.

    Created by the adapters from the incoming request, and by
    :meth:`Flask.test_request_context`. Pushing it also pushes an
    application context when none for this app is active.
    """

    def __init__(
        self,
        app: Flask,
        environ: WSGIEnvironment,
        request: Request | None = None,
        session: SessionMixin | None = None,
    ) -> None:
        self.app = app
        if request is None:
            request_class = app.request_class
            direct = _builds_directly.get(request_class)
            if direct is None:
                direct = _builds_directly[request_class] = (
                    hasattr(request_class, "_from_environ")
                    and request_class.__init__ is RequestBase.__init__
                )
            if direct:
                request = request_class._from_environ(environ)
            else:
                request = request_class(environ)
        self.request: Request = request
        self._matched = False
        self._url_adapter: MapAdapter | None | object = None
        try:
            if app._match_remembered(self):
                # PERF: bound when first used (to build a URL), if ever.
                self._matched = True
                self._url_adapter = _unset
                if app._has_websocket_rules:
                    from .websockets import check_route_kind

                    check_route_kind(self)
            else:
                self._url_adapter = app.create_url_adapter(request)
        except HTTPException as e:
            request.routing_exception = e
        if session is not None:
            self._opened_session = session
        # Functions registered with after_this_request for this request only.
        self._after_request_functions: list[ft.AfterRequestCallable[t.Any]] = []
        self._cv_tokens: list[
            tuple[contextvars.Token[RequestContext], AppContext | None]
        ] = []

    # PERF: defaults shared by every context until one sets its own.
    flashes: list[tuple[str, str]] | None = None
    _opened_session: SessionMixin | None = None
    # Tasks from add_background_task, started once the response is sent;
    # then _responded is set and later tasks start at once.
    _background_tasks: list[Task] | None = None
    _responded = False
    # The body the WSGI adapter handed the server as it stood (its fast
    # path): a task queued after that must hook the body's close.
    _sent_body: t.Any = None
    # stream_with_context streams still using this request: while any does,
    # the last pop leaves the teardown to the last stream's end.
    _stream_holds = 0

    #: Whether this is a WebSocket connection's context.
    is_websocket = False

    @property
    def url_adapter(self) -> MapAdapter | None:
        """The URL map bound to this request (see
        :meth:`Flask.create_url_adapter`); ``None`` if binding failed."""
        adapter = self._url_adapter
        if adapter is _unset:
            adapter = self._url_adapter = self.app.create_url_adapter(self.request)
        return adapter  # type: ignore[return-value]

    @url_adapter.setter
    def url_adapter(self, value: MapAdapter | None) -> None:
        self._url_adapter = value

    def copy(self) -> RequestContext:
        """A new context for the same request object and session.

        Used to hand the request to another thread or greenlet; the request
        object is shared, not copied.
        """
        return self.__class__(
            self.app,
            environ=self.request.environ,
            request=self.request,
            session=self._session,  # opened now: the copy shares the object
        )

    def match_request(self) -> None:
        """Match the request against the URL map, storing the rule and arguments.

        A routing failure is stored in ``request.routing_exception`` and
        raised later, by :meth:`Flask.raise_routing_exception`.
        """
        self._matched = True
        try:
            result = self.url_adapter.match(return_rule=True)  # type: ignore[union-attr]
            self.request.url_rule, self.request.view_args = result  # type: ignore[assignment]
        except HTTPException as e:
            self.request.routing_exception = e
        if self.app._has_websocket_rules:
            from .websockets import check_route_kind

            check_route_kind(self)

    @property
    def session(self) -> SessionMixin:
        """The request's session, opened when the context was pushed (or,
        for a request without cookies and the standard cookie session, on
        first use: see :meth:`push`).

        Reading it (as the :data:`~diota.session` proxy does) marks the
        session accessed, so the response gets ``Vary: Cookie``.
        """
        session = self._session
        assert session is not None, "The session has not yet been opened."
        session.accessed = True
        return session

    @session.setter
    def session(self, value: SessionMixin) -> None:
        self._opened_session = value

    @property
    def _session(self) -> SessionMixin | None:
        """The session without marking it accessed (opened now if its
        opening was deferred); ``None`` before the context is pushed."""
        session = self._opened_session
        if session is None and self._session_deferred:
            session = self._open_session()
        return session

    @_session.setter
    def _session(self, value: SessionMixin | None) -> None:
        self._opened_session = value

    def push(self) -> None:
        """Make this the current request context, opening the session."""
        app_ctx = _cv_app.get(None)
        if app_ctx is None or app_ctx.app is not self.app:
            app_ctx = self.app.app_context()
            app_ctx.push()
        else:
            app_ctx = None

        self._cv_tokens.append((_cv_request.set(self), app_ctx))

        # Opened after the context is pushed so a custom session interface
        # can use request and current_app; only on the first push, so that
        # stream_with_context re-pushing keeps the same session.
        if self._opened_session is None:
            if _session_waits(self.app.session_interface, self.request):
                # PERF: the standard cookie session of a request without
                # cookies is empty, and stays unsaved unless used: opened
                # only if something reads it (the session property).
                self._session_deferred = True
            else:
                self._open_session()

        # Matched after the session is open so a custom URL map can use it,
        # unless the ASGI driver already matched to plan the request.
        if not self._matched and self.url_adapter is not None:
            self.match_request()

    # Set by push() when opening the session waits for its first use.
    _session_deferred = False

    def _open_session(self) -> SessionMixin:
        session_interface = self.app.session_interface
        session = session_interface.open_session(self.app, self.request)
        if session is None:
            session = session_interface.make_null_session(self.app)
        self._opened_session = session
        return session

    def _has_teardown(self) -> bool:
        """Whether :meth:`_teardown` has anything to run (PERF: else it is
        not called, and costs no coroutine)."""
        app = self.app
        if request_tearing_down.receivers or (
            app.teardown_request_funcs  # PERF: most apps have none at all
            and app._has_step_code(
                "do_teardown_request", self.request, app.teardown_request_funcs
            )
        ):
            return True
        return "do_teardown_request" in app._step_overrides

    async def _teardown(self, exc: BaseException | None, call: Caller) -> None:
        """The teardown functions of this kind of context."""
        await self.app._steps["do_teardown_request"](call, exc)

    def pop(self, exc: BaseException | None = _sentinel) -> None:  # type: ignore[assignment]
        """Pop this context; on the last pop run teardown and close the request."""
        drive(self._pop(exc, self.app._sync_call))

    def _pop_quietly(self) -> bool:
        """Pop this context if that runs no teardown, here or in the
        application context it pops: PERF, no coroutine. ``False`` if
        :meth:`_pop` must run."""
        clear_request = len(self._cv_tokens) == 1 and not self._stream_holds
        if (
            not self._cv_tokens
            or type(self)._pop is not RequestContext._pop
            or (clear_request and self._has_teardown())
        ):
            return False
        app_ctx = self._cv_tokens[-1][1]
        if app_ctx is not None and not app_ctx._pops_quietly():
            return False
        ctx = self._reset(clear_request)
        if app_ctx is not None:
            app_ctx._unset()
        self._check_popped(ctx)
        return True

    async def _pop(self, exc: BaseException | None, call: Caller) -> None:
        clear_request = len(self._cv_tokens) == 1 and not self._stream_holds
        try:
            if clear_request:
                if exc is _sentinel:
                    exc = sys.exc_info()[1]
                if self._has_teardown():
                    await self._teardown(exc, call)
        finally:
            app_ctx = self._cv_tokens[-1][1] if self._cv_tokens else None
            ctx = self._reset(clear_request)
            if app_ctx is not None and not app_ctx._pop_quietly():
                await app_ctx._pop(exc, call)
            self._check_popped(ctx)

    def _reset(self, clear_request: bool) -> RequestContext:
        """Unset this context, closing its request on the last pop; returns
        the context that was current. The application context pushed with
        this one is left to the caller."""
        if clear_request:
            request = self.request
            if type(request).close is not RequestBase.close or (
                request.__dict__.get("files")
            ):
                # PERF: werkzeug's close has nothing to do without files.
                request.close()
        ctx = _cv_request.get()
        _cv_request.reset(self._cv_tokens.pop()[0])
        # Break the request <-> environ cycle so both are freed promptly.
        if clear_request:
            # PERF: an environ not made yet (ASGI) holds no reference.
            attributes = ctx.request.__dict__
            environ = attributes.get("_environ", attributes.get("environ"))
            if environ is not None:
                environ["werkzeug.request"] = None
        return ctx

    def _check_popped(self, ctx: RequestContext) -> None:
        if ctx is not self:
            raise AssertionError(
                f"Popped the wrong request context ({ctx!r} instead of {self!r})"
            )

    def __enter__(self) -> RequestContext:
        self.push()
        return self

    def __exit__(
        self,
        exc_type: type | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.pop(exc_value)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.request.url!r}"
            f" [{self.request.method}] of {self.app.name}>"
        )
