"""The application object: :class:`Flask`.

The request pipeline (before-request hooks, view, make_response,
after-request hooks, error handlers, teardown, signals) is written once, as
``async def`` methods whose only awaits go through the call seam
(:mod:`diota.concurrency`). Flask's sync methods (:meth:`Flask.preprocess_request`,
:meth:`Flask.full_dispatch_request`, ...) drive the same coroutines with the
sync caller, so they keep Flask's behaviour for code that calls them.
"""

from __future__ import annotations

import collections.abc as cabc
import functools
import os
import sys
import typing as t
import weakref
from datetime import timedelta
from inspect import iscoroutinefunction as iscoroutinefunction
from itertools import chain
from types import TracebackType
from urllib.parse import quote as _url_quote

import click
from werkzeug.datastructures import Headers
from werkzeug.datastructures import ImmutableDict
from werkzeug.exceptions import BadRequestKeyError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import InternalServerError
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound
from werkzeug.routing import BuildError
from werkzeug.routing import Map
from werkzeug.routing import MapAdapter
from werkzeug.routing import RequestRedirect
from werkzeug.routing import RoutingException
from werkzeug.routing import Rule as Rule
from werkzeug.serving import is_running_from_reloader
from werkzeug.wrappers import Response as BaseResponse
from werkzeug.wsgi import get_host as get_host

from . import cli
from . import typing as ft
from ._flask_api import check_imported as check_real_flask_imported
from ._interfaces import AppType
from ._interfaces import mark_serves_both
from ._responses import plain_response
from ._routing import bind_to_host
from ._routing import check_host_header
from ._routing import remembered_match
from ._routing import request_host
from ._routing import routing_host
from .asgi import handle as _handle_asgi
from .asgi import serve_http as _serve_http
from .background import BackgroundTasks
from .blueprints import _FileServing
from .concurrency import Caller
from .concurrency import drive
from .concurrency import is_async_callable
from .concurrency import ROUTE_ASYNC
from .concurrency import ROUTE_NO_USER_CODE
from .concurrency import ROUTE_SYNC
from .concurrency import run_coroutine_sync
from .concurrency import sync_caller
from .ctx import AppContext
from .ctx import RequestContext
from .globals import _cv_app
from .globals import _cv_request
from .globals import current_app as current_app
from .globals import g
from .globals import request
from .globals import request_ctx
from .globals import session
from .helpers import _split_blueprint_path
from .helpers import get_debug_flag
from .helpers import get_flashed_messages
from .helpers import get_load_dotenv
from .helpers import send_from_directory as send_from_directory
from .mounts import Mount
from .sansio.app import _make_timedelta as _make_timedelta
from .sansio.app import App
from .sansio.app import T_shell_context_processor as T_shell_context_processor
from .sansio.app import T_teardown as T_teardown
from .sansio.app import T_template_filter as T_template_filter
from .sansio.app import T_template_global as T_template_global
from .sansio.app import T_template_test as T_template_test
from .sansio.scaffold import _sentinel
from .sansio.scaffold import setupmethod
from .serving import ServingHooks
from .sessions import SecureCookieSessionInterface
from .sessions import SessionInterface
from .signals import appcontext_popped
from .signals import appcontext_pushed
from .signals import appcontext_tearing_down
from .signals import got_request_exception
from .signals import request_finished
from .signals import request_started
from .signals import request_tearing_down
from .templating import Environment
from .wrappers import Request
from .wrappers import Response
from .wsgi import handle as _handle_wsgi

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIEnvironment

    from .testing import FlaskClient
    from .testing import FlaskCliRunner
    from .typing import HeadersValue

# Flask's sync pipeline methods. A subclass or an instance (extensions such as
# Flask-RESTful assign ``app.handle_user_exception``) may replace them; the
# async pipeline then calls the replacement through the seam instead of its
# own step, so the override is honoured in every mode.
_OVERRIDABLE_STEPS = (
    "full_dispatch_request",
    "preprocess_request",
    "dispatch_request",
    "finalize_request",
    "process_response",
    "handle_exception",
    "handle_user_exception",
    "handle_http_exception",
    "do_teardown_request",
    "do_teardown_appcontext",
)
_STEP_NAMES = frozenset(_OVERRIDABLE_STEPS)
# The steps a raised routing error goes through.
_STEPS_SEEING_ROUTING_ERRORS = frozenset(
    ("dispatch_request", "handle_user_exception", "handle_http_exception")
)


def _plain_http_exception(e: HTTPException) -> bool:
    """Whether ``e`` answers as werkzeug's HTTPException does (its WSGI call
    returns ``get_response``), so the response can be built directly."""
    return type(e).__call__ is HTTPException.__call__


# werkzeug's HTTPException members that shape its default error page; a
# class overriding none of them answers with a page that depends only on its
# code and description.
_ERROR_PAGE_MEMBERS = (
    "__call__",
    "get_response",
    "get_body",
    "get_headers",
    "get_description",
    "name",
)
_standard_error_classes: dict[type, bool] = {}
# (class, code, description) -> page. Bounded: abort() descriptions may
# carry request data.
_error_pages: dict[tuple[type, int | None, str | None], str] = {}


def _standard_error_page(e: HTTPException) -> str | None:
    """werkzeug's HTML page for ``e`` if its class and instance are standard
    (no response attached), made once per class, code and description."""
    cls = type(e)
    standard = _standard_error_classes.get(cls)
    if standard is None:
        standard = _standard_error_classes[cls] = all(
            getattr(cls, name) is getattr(HTTPException, name)
            for name in _ERROR_PAGE_MEMBERS
        )
    description = e.description
    if not standard or e.response is not None or not isinstance(description, str):
        return None
    key = (cls, e.code, description)
    page = _error_pages.get(key)
    if page is None:
        if len(_error_pages) >= 256:
            _error_pages.clear()
        page = _error_pages[key] = e.get_body()
    return page


def _host_header(request: Request) -> str | None:
    """The request's ``Host`` header (without building the headers of a
    request made from an ASGI scope)."""
    read = getattr(request, "_host_header", None)
    if read is not None:
        return read()  # type: ignore[no-any-return]
    return request.headers.get("Host")


def _wsgi_str(value: str | None) -> str | None:
    """A WSGI environ string (latin-1 code points) as the text it encodes."""
    if value is None or value.isascii():
        return value  # PERF: the common case, already the text it encodes
    return value.encode("latin-1").decode("utf-8", "replace")


def _routing_values(
    request: Request,
) -> tuple[str | None, str | None, str | None] | None:
    """Script name, path and query string to bind the URL map with, as
    ``bind_to_environ`` would take them; ``None`` for a WebSocket upgrade,
    which bind_to_environ must see (it changes the URL scheme)."""
    source = getattr(request, "_source", None)
    if source is not None:
        if source.upgrade:
            return None
        return (
            source.root_path,
            source.path_info,
            source.query_string.decode("utf-8", "replace"),
        )
    environ = request.environ
    if "HTTP_UPGRADE" in environ:
        return None
    return (
        _wsgi_str(environ.get("SCRIPT_NAME")),
        _wsgi_str(environ.get("PATH_INFO")),
        _wsgi_str(environ.get("QUERY_STRING")),
    )


def _call_replacement(
    app: Flask, name: str, call: Caller, *args: t.Any
) -> t.Awaitable[t.Any]:
    """Run the replacement of Flask's pipeline method ``name`` (looked up
    now) through the seam."""
    return call(getattr(app, name), *args)


_T = t.TypeVar("_T")


async def _ready(value: _T) -> _T:
    """An awaitable of ``value``, for a step that has its result at once."""
    return value


# Signals sent while a request is handled: their receivers are user code.
_REQUEST_SIGNALS = (
    appcontext_pushed,
    appcontext_popped,
    appcontext_tearing_down,
    request_started,
    request_finished,
    request_tearing_down,
    got_request_exception,
)


class Flask(ServingHooks, _FileServing, App, metaclass=AppType):
    """The application: a WSGI application and (from diota 0.2) an ASGI one.

    Create one in your main module or package's ``__init__``::

        from diota import Flask
        app = Flask(__name__)

    :param import_name: the application package or module, usually ``__name__``.
    :param static_url_path: URL path of the static folder; defaults to its name.
    :param static_folder: static files folder relative to ``root_path``
        (``"static"``); ``None`` serves no static files.
    :param static_host: host of the static route, with ``host_matching``.
    :param host_matching: match rules by host (``url_map.host_matching``).
    :param subdomain_matching: match rules by subdomain against ``SERVER_NAME``.
    :param template_folder: templates folder relative to ``root_path``.
    :param instance_path: absolute path of the instance folder.
    :param instance_relative_config: load config files relative to the
        instance folder instead of the root path.
    :param root_path: the app's folder, when ``import_name`` cannot tell it.
    """

    default_config = ImmutableDict(
        {
            "DEBUG": None,
            "TESTING": False,
            "PROPAGATE_EXCEPTIONS": None,
            "SECRET_KEY": None,
            "SECRET_KEY_FALLBACKS": None,
            "PERMANENT_SESSION_LIFETIME": timedelta(days=31),
            "USE_X_SENDFILE": False,
            "TRUSTED_HOSTS": None,
            "SERVER_NAME": None,
            "APPLICATION_ROOT": "/",
            "SESSION_COOKIE_NAME": "session",
            "SESSION_COOKIE_DOMAIN": None,
            "SESSION_COOKIE_PATH": None,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SECURE": False,
            "SESSION_COOKIE_PARTITIONED": False,
            "SESSION_COOKIE_SAMESITE": None,
            "SESSION_REFRESH_EACH_REQUEST": True,
            "MAX_CONTENT_LENGTH": None,
            "MAX_FORM_MEMORY_SIZE": 500_000,
            "MAX_FORM_PARTS": 1_000,
            "SEND_FILE_MAX_AGE_DEFAULT": None,
            "TRAP_BAD_REQUEST_ERRORS": None,
            "TRAP_HTTP_EXCEPTIONS": False,
            "EXPLAIN_TEMPLATE_LOADING": False,
            "PREFERRED_URL_SCHEME": "http",
            "TEMPLATES_AUTO_RELOAD": None,
            "MAX_COOKIE_SIZE": 4093,
            "PROVIDE_AUTOMATIC_OPTIONS": True,
            # diota: most sync callables run at once in worker threads under
            # ASGI (anyio's default limit).
            "WORKER_THREAD_LIMIT": 40,
            # diota: request bodies up to this size stay in memory under
            # ASGI; larger ones are spooled to a temporary file.
            "BODY_SPOOL_MEMORY": 1024 * 1024,
        }
    )

    #: Class of the request objects.
    request_class: type[Request] = Request

    #: Class of the response objects built by :meth:`make_response`.
    response_class: type[Response] = Response

    #: Opens and saves sessions; signed cookies by default.
    session_interface: SessionInterface = SecureCookieSessionInterface()

    # Names of _OVERRIDABLE_STEPS a subclass replaces; see __init_subclass__.
    _class_overrides: frozenset[str] = frozenset()
    # Those replaced by the class or on the instance (extensions wrap
    # handle_exception so); see __setattr__. PERF: while it is empty, the
    # pipeline runs its own steps after one test.
    _step_overrides: frozenset[str] = frozenset()
    # Whether wsgi_app / asgi_app are replaced on the class or in a subclass
    # (set by the metaclass; see diota._interfaces).
    _wsgi_app_replaced = False
    _asgi_app_replaced = False
    # Whether a subclass replaces create_url_adapter.
    _binds_itself = False

    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._class_overrides = cls._step_overrides = frozenset(
            name
            for name in _OVERRIDABLE_STEPS
            if getattr(cls, name) is not getattr(Flask, name)
        )
        cls._binds_itself = cls.create_url_adapter is not Flask.create_url_adapter

    def __setattr__(self, name: str, value: t.Any) -> None:
        object.__setattr__(self, name, value)
        if name in _STEP_NAMES:
            self._note_step_overrides()

    def __delattr__(self, name: str) -> None:
        object.__delattr__(self, name)
        if name in _STEP_NAMES:
            self._note_step_overrides()

    def _note_step_overrides(self) -> None:
        overrides = self._class_overrides | _STEP_NAMES.intersection(self.__dict__)
        object.__setattr__(self, "_step_overrides", overrides)
        self.__dict__.pop("_steps", None)  # made again on next use

    def __init__(
        self,
        import_name: str,
        static_url_path: str | None = None,
        static_folder: str | os.PathLike[str] | None = "static",
        static_host: str | None = None,
        host_matching: bool = False,
        subdomain_matching: bool = False,
        template_folder: str | os.PathLike[str] | None = "templates",
        instance_path: str | None = None,
        instance_relative_config: bool = False,
        root_path: str | None = None,
    ) -> None:
        # An extension imported before the app may have brought real Flask.
        check_real_flask_imported()
        super().__init__(
            import_name=import_name,
            static_url_path=static_url_path,
            static_folder=static_folder,
            static_host=static_host,
            host_matching=host_matching,
            subdomain_matching=subdomain_matching,
            template_folder=template_folder,
            instance_path=instance_path,
            instance_relative_config=instance_relative_config,
            root_path=root_path,
        )

        self._init_serving()

        # The app's own commands show under its name in ``diota --help``.
        self.cli.name = self.name

        # The static route is added here rather than on first request so
        # that url_for("static") works right away. A weak reference keeps
        # the lambda from holding the app alive.
        if self.has_static_folder:
            assert bool(static_host) == host_matching, (
                "Invalid static_host/host_matching combination"
            )
            self_ref = weakref.ref(self)
            self.add_url_rule(
                f"{self.static_url_path}/<path:filename>",
                endpoint="static",
                host=static_host,
                view_func=lambda **kw: self_ref().send_static_file(**kw),  # type: ignore[union-attr]
            )

    # -- resources and templates ---------------------------------------------

    def open_instance_resource(
        self, resource: str, mode: str = "rb", encoding: str | None = "utf-8"
    ) -> t.IO[t.AnyStr]:
        """Open a file relative to :attr:`instance_path`; writing is allowed."""
        path = os.path.join(self.instance_path, resource)
        if "b" in mode:
            return open(path, mode)
        return open(path, mode, encoding=encoding)

    def create_jinja_environment(self) -> Environment:
        """Create :attr:`jinja_env` from :attr:`jinja_options`, with diota's
        globals (url_for, get_flashed_messages, config, request, session, g)."""
        options = dict(self.jinja_options)
        if "autoescape" not in options:
            options["autoescape"] = self.select_jinja_autoescape
        if "auto_reload" not in options:
            auto_reload = self.config["TEMPLATES_AUTO_RELOAD"]
            if auto_reload is None:
                auto_reload = self.debug
            options["auto_reload"] = auto_reload

        rv = self.jinja_environment(self, **options)
        rv.globals.update(
            url_for=self.url_for,
            get_flashed_messages=get_flashed_messages,
            config=self.config,
            # request, session and g are proxies: in the globals so imported
            # templates and macros see them without context processors.
            request=request,
            session=session,
            g=g,
        )
        rv.policies["json.dumps_function"] = self.json.dumps
        return rv

    def update_template_context(self, context: dict[str, t.Any]) -> None:
        """Add the context processors' values to ``context``; values the
        caller passed win."""
        names: t.Iterable[str | None] = (None,)
        req_ctx = _cv_request.get(None)  # PERF: the variable, not the proxy
        if req_ctx is not None and (blueprints := req_ctx.request.blueprints):
            names = chain(names, reversed(blueprints))

        orig_ctx = context.copy()
        processors = self.template_context_processors
        for name in names:
            if name in processors:
                for func in processors[name]:
                    context.update(self.ensure_sync(func)())
        context.update(orig_ctx)

    def make_shell_context(self) -> dict[str, t.Any]:
        """The names ``diota shell`` starts with: ``app``, ``g`` and the
        shell context processors' values."""
        rv = {"app": self, "g": g}
        for processor in self.shell_context_processors:
            rv.update(processor())
        return rv

    # -- serving and testing ---------------------------------------------------

    def run(
        self,
        host: str | None = None,
        port: int | None = None,
        debug: bool | None = None,
        load_dotenv: bool = True,
        **options: t.Any,
    ) -> None:
        """Serve the app with werkzeug's development server.

        Not for production: use gunicorn (WSGI) or uvicorn (ASGI). Under the
        ``diota run`` / ``flask run`` command this call does nothing.

        :param host: interface to listen on; ``SERVER_NAME``'s host or
            ``127.0.0.1`` by default.
        :param port: port; ``SERVER_NAME``'s port or 5000 by default.
        :param debug: turn debug mode (reloader, debugger) on or off.
        :param load_dotenv: load ``.env`` and ``.flaskenv`` first.
        :param options: passed to :func:`werkzeug.serving.run_simple`.
        """
        if os.environ.get("FLASK_RUN_FROM_CLI") == "true":
            if not is_running_from_reloader():
                click.secho(
                    " * Ignoring a call to 'app.run()' that would block"
                    " the current 'flask' CLI command.\n"
                    "   Only call 'app.run()' in an 'if __name__ =="
                    ' "__main__"\' guard.',
                    fg="red",
                )
            return

        if get_load_dotenv(load_dotenv):
            cli.load_dotenv()
            if "FLASK_DEBUG" in os.environ:
                self.debug = get_debug_flag()

        if debug is not None:
            self.debug = bool(debug)

        server_name = self.config.get("SERVER_NAME")
        sn_host = sn_port = None
        if server_name:
            sn_host, _, sn_port = server_name.partition(":")

        if not host:
            host = sn_host or "127.0.0.1"

        if port or port == 0:
            port = int(port)
        elif sn_port:
            port = int(sn_port)
        else:
            port = 5000

        options.setdefault("use_reloader", self.debug)
        options.setdefault("use_debugger", self.debug)
        options.setdefault("threaded", True)

        cli.show_server_banner(self.debug, self.name)

        from werkzeug.serving import run_simple

        try:
            run_simple(t.cast(str, host), port, self, **options)
        finally:
            # Allow setup methods again after the server stops (interactive use).
            self._got_first_request = False

    def test_client(self, use_cookies: bool = True, **kwargs: t.Any) -> FlaskClient:
        """A test client for the app; see :class:`diota.testing.FlaskClient`."""
        from .testing import FlaskClient

        cls = self.test_client_class or FlaskClient
        return cls(self, self.response_class, use_cookies=use_cookies, **kwargs)

    def test_cli_runner(self, **kwargs: t.Any) -> FlaskCliRunner:
        """A CLI runner for the app's commands; see
        :class:`diota.testing.FlaskCliRunner`."""
        from .testing import FlaskCliRunner

        cls = self.test_cli_runner_class or FlaskCliRunner
        return cls(self, **kwargs)

    # -- contexts ----------------------------------------------------------------

    # Set by mount() and mount_fallback().
    _mounts: tuple[Mount, ...] = ()
    _fallback: Mount | None = None

    @setupmethod
    def mount(
        self,
        prefix: str,
        application: t.Any,
        *,
        interface: str | None = None,
        apply_limits: bool = False,
    ) -> None:
        """Serve every request under ``prefix`` with another application.

        ``application`` is a WSGI or an ASGI callable (told apart by whether
        calling it is ``async``; ``interface="wsgi"`` or ``"asgi"`` says
        so explicitly), served under either kind of server: a WSGI
        application under ASGI runs in worker threads with its body and
        response streamed (:class:`diota.mounts.WSGIMiddleware`); an ASGI
        application under WSGI runs on the process's event loop
        (:class:`diota.mounts.ASGIMiddleware`).

        A request for ``prefix`` or anything below ``prefix/`` goes to the
        mounted application, as werkzeug's ``DispatcherMiddleware`` sends
        it: under WSGI ``SCRIPT_NAME`` gains the prefix and ``PATH_INFO``
        keeps the rest; under ASGI ``root_path`` gains it (``path`` stays
        whole, as the ASGI spec has it). The longest matching prefix wins.
        WebSocket connections reach a mounted ASGI application too, and the
        ASGI lifespan is forwarded to it.

        diota's hooks, error handlers and limits do not apply to mounted
        paths; ``apply_limits=True`` applies ``MAX_CONTENT_LENGTH`` (413)
        and ``TRUSTED_HOSTS`` (400).

        .. versionadded:: 0.4
        """
        mount = Mount(prefix, application, interface, apply_limits)
        if not mount.prefix:
            raise ValueError(
                "Mounting at '/' would hide every route: use mount_fallback()"
                " for the application that serves what diota does not."
            )
        self._mounts = tuple(
            sorted((*self._mounts, mount), key=lambda m: len(m.prefix), reverse=True)
        )

    @setupmethod
    def mount_fallback(
        self,
        application: t.Any,
        *,
        interface: str | None = None,
        apply_limits: bool = False,
    ) -> None:
        """Serve every request the URL map does not route with another
        application (the "strangler" pattern: new routes in diota, the
        rest still served by the old application).

        A request goes to the fallback when routing it would give a 404, or
        a 405 for its method. It reaches the application unchanged. See
        :meth:`mount` for the kinds of application and ``apply_limits``;
        ``TRUSTED_HOSTS``, when set, always applies, because diota reads the
        host to route the request.

        .. versionadded:: 0.4
        """
        self._fallback = Mount("", application, interface, apply_limits)

    @functools.cached_property
    def _background(self) -> BackgroundTasks:
        return BackgroundTasks(self)

    def add_background_task(
        self, func: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any
    ) -> None:
        """Run ``func(*args, **kwargs)`` (``def`` or ``async def``) in the
        background, once the current response has been sent (at once when
        called outside a request, or from a WebSocket handler).

        It runs in a new application context with a copy of ``g``: the
        request is over by then, so ``request`` and ``session`` are not
        available; pass what the task needs as arguments. Under ASGI it runs
        on the server's loop (a ``def`` task in a worker thread); under WSGI
        on the process's event loop thread or in a worker thread. Errors are
        logged with :attr:`logger`. Shutdown waits for running tasks before
        the ``after_serving`` hooks.

        .. versionadded:: 0.3
        """
        task = self._background.bind(func, args, kwargs)
        ctx = _cv_request.get(None)
        if ctx is None or ctx.app is not self or ctx._responded or ctx.is_websocket:
            self._background.start_detached([task])
            return
        if ctx._background_tasks is None:
            ctx._background_tasks = []
        ctx._background_tasks.append(task)
        self._background.queued += 1

    def _start_background_tasks(self, ctx: RequestContext) -> None:
        """The response of ``ctx`` is sent: start its tasks, detached."""
        ctx._responded = True
        if ctx._background_tasks:
            self._background.start_detached(ctx._background_tasks)

    def app_context(self) -> AppContext:
        """A new application context; use it in a ``with`` block."""
        return AppContext(self)

    def request_context(self, environ: WSGIEnvironment) -> RequestContext:
        """A new request context for a WSGI environ."""
        return RequestContext(self, environ)

    def test_request_context(self, *args: t.Any, **kwargs: t.Any) -> RequestContext:
        """A request context for a request built from the arguments, as
        :class:`diota.testing.EnvironBuilder` takes them (path, base_url,
        method, headers, data, json, ...)."""
        from .testing import EnvironBuilder

        builder = EnvironBuilder(self, *args, **kwargs)
        try:
            return self.request_context(builder.get_environ())
        finally:
            builder.close()

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        """Bind :attr:`url_map` to a request, or (without one) to
        ``SERVER_NAME`` for building URLs outside requests.

        Also enforces ``TRUSTED_HOSTS``: an untrusted ``Host`` raises a 400.
        """
        if request is not None:
            if (trusted_hosts := self.config["TRUSTED_HOSTS"]) is not None:
                request.trusted_hosts = trusted_hosts

            # Validated here so an untrusted host fails the request early.
            host_header = _host_header(request)
            host = request_host(
                request.scheme, host_header, request.server, request.trusted_hosts
            )
            if not host and host_header:
                check_host_header(request.scheme, host_header)
            request.host = host
            subdomain = None
            server_name = self.config["SERVER_NAME"]
            url_map = self.url_map

            if (
                server_name is None
                and not url_map.host_matching
                and not self.subdomain_matching
                and type(url_map) is Map
            ):
                # PERF: the common case, bound from what is already known,
                # without bind_to_environ working out the host again. The
                # same values bind_to_environ would pass to Map.bind.
                routing = _routing_values(request)
                if routing is not None:
                    return bind_to_host(
                        url_map,
                        host,
                        routing[0],
                        url_map.default_subdomain or "",
                        request.scheme,
                        request.method,
                        routing[1],
                        routing[2],
                    )

            if self.url_map.host_matching:
                # Rules name their hosts; SERVER_NAME does not restrict.
                server_name = None
            elif not self.subdomain_matching:
                # Match every host, using only the default subdomain.
                subdomain = self.url_map.default_subdomain or ""

            return self.url_map.bind_to_environ(
                request.environ, server_name=server_name, subdomain=subdomain
            )

        if self.config["SERVER_NAME"] is not None:
            return self.url_map.bind(
                self.config["SERVER_NAME"],
                script_name=self.config["APPLICATION_ROOT"],
                url_scheme=self.config["PREFERRED_URL_SCHEME"],
            )
        return None

    def _match_remembered(self, ctx: RequestContext) -> bool:
        """Match the request of ``ctx`` from the matches the URL map
        remembers, without binding the map: ``True`` if that was possible
        (the context binds only when it builds a URL), ``False`` when the
        app binds in a way of its own, or the path and method were not
        matched before.

        PERF: binding costs as much as matching a remembered path. The Host
        header is still checked as binding checks it.
        """
        url_map = self.url_map
        if (
            self._binds_itself
            or type(url_map) is not Map
            or url_map.host_matching
            or self.subdomain_matching
            or "create_url_adapter" in self.__dict__
        ):
            return False
        config = self.config
        if config["SERVER_NAME"] is not None or config["TRUSTED_HOSTS"] is not None:
            return False
        request = ctx.request
        source = getattr(request, "_source", None)
        if source is not None:
            # PERF: read straight from the ASGI scope's values.
            if source.upgrade:
                return False
            path: str | None = source.path_info
            headers_made = request._headers is not None
            host_header = request.headers.get("Host") if headers_made else source.host
        else:
            environ = request.environ
            if "HTTP_UPGRADE" in environ:
                return False  # bind_to_environ must see it
            path = _wsgi_str(environ.get("PATH_INFO"))
            host_header = _host_header(request)
        if path is None:
            return False
        found = remembered_match(
            url_map, url_map.default_subdomain or "", path, request.method
        )
        if found is None:
            return False
        # PERF: what setting werkzeug's cached property stores, without
        # calling its descriptor.
        request.__dict__["host"] = routing_host(
            request.scheme, host_header, request.server
        )
        rule, values = found
        if rule is not None:
            request.url_rule = rule
            request.view_args = dict(values)
        elif values is None:
            request.routing_exception = NotFound()
        else:
            request.routing_exception = MethodNotAllowed(valid_methods=list(values))
        return True

    def raise_routing_exception(self, request: Request) -> t.NoReturn:
        """Raise the request's routing error.

        In debug mode, a redirect that would turn a form POST into a GET
        raises :exc:`~diota.debughelpers.FormDataRoutingRedirect`, which
        explains the trailing-slash redirect instead.
        """
        if (
            not self.debug
            or not isinstance(request.routing_exception, RequestRedirect)
            or request.routing_exception.code in {307, 308}
            or request.method in {"GET", "HEAD", "OPTIONS"}
        ):
            raise request.routing_exception  # type: ignore[misc]

        from .debughelpers import FormDataRoutingRedirect

        raise FormDataRoutingRedirect(request)

    def url_for(
        self,
        /,
        endpoint: str,
        *,
        _anchor: str | None = None,
        _method: str | None = None,
        _scheme: str | None = None,
        _external: bool | None = None,
        **values: t.Any,
    ) -> str:
        """Build the URL of ``endpoint``; see :func:`diota.url_for`."""
        req_ctx = _cv_request.get(None)

        if req_ctx is not None:
            url_adapter = req_ctx.url_adapter
            blueprint_name = req_ctx.request.blueprint

            # ".name" is relative to the current blueprint.
            if endpoint[:1] == ".":
                if blueprint_name is not None:
                    endpoint = f"{blueprint_name}{endpoint}"
                else:
                    endpoint = endpoint[1:]

            # In a request, URLs are relative unless a scheme is asked for.
            if _external is None:
                _external = _scheme is not None
        else:
            app_ctx = _cv_app.get(None)
            if app_ctx is not None:
                url_adapter = app_ctx.url_adapter
            else:
                url_adapter = self.create_url_adapter(None)

            if url_adapter is None:
                raise RuntimeError(
                    "Unable to build URLs outside an active request"
                    " without 'SERVER_NAME' configured. Also configure"
                    " 'APPLICATION_ROOT' and 'PREFERRED_URL_SCHEME' as"
                    " needed."
                )

            # Outside a request, URLs are external by default.
            if _external is None:
                _external = True

        if _scheme is not None and not _external:
            raise ValueError("When specifying '_scheme', '_external' must be True.")

        self.inject_url_defaults(endpoint, values)

        try:
            rv = url_adapter.build(  # type: ignore[union-attr]
                endpoint,
                values,
                method=_method,
                url_scheme=_scheme,
                force_external=_external,
            )
        except BuildError as error:
            values.update(
                _anchor=_anchor, _method=_method, _scheme=_scheme, _external=_external
            )
            return self.handle_url_build_error(error, endpoint, values)

        if _anchor is not None:
            _anchor = _url_quote(_anchor, safe="%!#$&'()*+,/:;=?@")
            rv = f"{rv}#{_anchor}"

        return rv

    # -- responses ---------------------------------------------------------------

    def make_response(self, rv: ft.ResponseReturnValue) -> Response:
        """Turn a view's return value into a :attr:`response_class` instance.

        Accepted: a response object; ``str``/``bytes`` (the body); a ``dict``
        or ``list`` (JSON); a sync or async iterator of ``str``/``bytes`` (a
        streamed body); a WSGI callable; or a tuple ``(body, status)``,
        ``(body, headers)`` or ``(body, status, headers)``.
        """
        rv_type = type(rv)
        if rv_type is str or rv_type is bytes:
            # PERF: the most common value, answered before any other test.
            response_class = self.response_class
            return plain_response(
                response_class,
                rv,  # type: ignore[arg-type]
                None,
                response_class.default_mimetype,
            )
        status: int | str | None = None
        headers: HeadersValue | None = None

        if isinstance(rv, tuple):
            len_rv = len(rv)
            if len_rv == 3:
                rv, status, headers = rv  # type: ignore[misc]
            elif len_rv == 2:
                if isinstance(rv[1], (Headers, dict, tuple, list)):
                    rv, headers = rv
                else:
                    rv, status = rv  # type: ignore[assignment,misc]
            else:
                raise TypeError(
                    "The view function did not return a valid response tuple."
                    " The tuple must have the form (body, status, headers),"
                    " (body, status), or (body, headers)."
                )

        if rv is None:
            raise TypeError(
                f"The view function for {request.endpoint!r} did not"
                " return a valid response. The function either returned"
                " None or ended without a return statement."
            )

        if not isinstance(rv, self.response_class):
            rv_type = type(rv)
            if rv_type is dict or rv_type is list:
                # PERF: a plain dict or list is JSON; no ABC checks first.
                rv = self.json.response(rv)
            elif isinstance(rv, (str, bytes, bytearray)) or isinstance(
                rv, (cabc.Iterator, cabc.AsyncIterable)
            ):
                # Status and headers go to the constructor so a streamed
                # body gets them before it is consumed.
                response_class = self.response_class
                if headers is None and (rv_type is str or rv_type is bytes):
                    rv = plain_response(
                        response_class,
                        rv,  # type: ignore[arg-type]
                        status,  # type: ignore[arg-type]
                        response_class.default_mimetype,
                    )
                elif headers is None:
                    # PERF: werkzeug would look for a Content-Type header
                    # (raising and catching a KeyError) only to find none.
                    rv = response_class(
                        rv,  # type: ignore[arg-type]
                        status=status,
                        mimetype=response_class.default_mimetype,
                    )
                else:
                    rv = response_class(
                        rv,  # type: ignore[arg-type]
                        status=status,
                        headers=headers,  # type: ignore[arg-type]
                    )
                status = headers = None
            elif isinstance(rv, (dict, list)):
                rv = self.json.response(rv)
            elif isinstance(rv, HTTPException) and _plain_http_exception(rv):
                # PERF: the response the exception would produce as a WSGI
                # app, built directly: a body in memory rather than a
                # streamed iterator (which under ASGI costs thread hops).
                page = _standard_error_page(rv)
                if page is not None:
                    # werkzeug's page and headers, without building it again.
                    rv = plain_response(self.response_class, page, rv.code, "text/html")
                else:
                    rv = self.response_class.force_type(
                        rv.get_response(request.environ), request.environ
                    )
            elif isinstance(rv, BaseResponse) or callable(rv):
                # Another response class, or a WSGI application.
                try:
                    rv = self.response_class.force_type(
                        rv,  # type: ignore[arg-type]
                        request.environ,
                    )
                except TypeError as e:
                    raise TypeError(
                        f"{e}\nThe view function did not return a valid"
                        " response. The return type must be a string,"
                        " dict, list, tuple with headers or status,"
                        " Response instance, or WSGI callable, but it"
                        f" was a {type(rv).__name__}."
                    ).with_traceback(sys.exc_info()[2]) from None
            else:
                raise TypeError(
                    "The view function did not return a valid"
                    " response. The return type must be a string,"
                    " dict, list, tuple with headers or status,"
                    " Response instance, or WSGI callable, but it was a"
                    f" {type(rv).__name__}."
                )

        # rv is a response_class instance now (no t.cast: a runtime call).
        if status is not None:
            if isinstance(status, (str, bytes, bytearray)):
                rv.status = status
            else:
                rv.status_code = status

        if headers:
            rv.headers.update(headers)

        return rv  # type: ignore[return-value]

    def make_default_options_response(self) -> Response:
        """The automatic answer to ``OPTIONS``: an empty response whose
        ``Allow`` header lists the URL's methods."""
        adapter = request_ctx.url_adapter
        methods = adapter.allowed_methods()  # type: ignore[union-attr]
        rv = self.response_class()
        rv.allow.update(methods)
        return rv

    # -- running callables ---------------------------------------------------------

    def ensure_sync(self, func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        """Return a sync callable for ``func``: itself when it is sync, else
        :meth:`async_to_sync` of it. Override to change how diota runs
        coroutines from sync code."""
        if is_async_callable(func):
            return self.async_to_sync(func)
        return func

    def async_to_sync(
        self, func: t.Callable[..., t.Coroutine[t.Any, t.Any, t.Any]]
    ) -> t.Callable[..., t.Any]:
        """Wrap an ``async def`` callable to be called from sync code.

        The coroutine runs on the process's one event loop (see
        :mod:`diota.concurrency`), never on a loop made for the call.
        """

        def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
            return run_coroutine_sync(func(*args, **kwargs))

        return wrapper

    @functools.cached_property  # PERF: a plain attribute once made
    def _sync_call(self) -> Caller:
        """The seam used when the pipeline is driven synchronously."""
        return sync_caller(self)

    def _processes_response(self, ctx: RequestContext) -> bool:
        """Whether the process-response step has anything to do for ``ctx``:
        after-request functions, or a session to save."""
        return bool(
            ctx._after_request_functions
            or ctx._opened_session is not None
            or self._has_step_code(
                "process_response", ctx.request, self.after_request_funcs
            )
        )

    def _has_step_code(
        self,
        name: str,
        req: Request,
        *registries: dict[t.Any, list[t.Any]],
    ) -> bool:
        """Whether pipeline step ``name`` can run user code for ``req``: its
        method is replaced, or a registry holds a function for the app or
        one of the request's blueprints.

        PERF: a step with nothing to run costs no coroutine.
        """
        if name in self._step_overrides:
            return True
        rule = req.url_rule
        if rule is None or "." not in rule.endpoint:
            for registry in registries:
                if registry.get(None):
                    return True
            return False
        names = (None, *req.blueprints)
        for registry in registries:
            for key in names:
                if registry.get(key):
                    return True
        return False

    @functools.cached_property
    def _steps(self) -> dict[str, t.Callable[..., t.Awaitable[t.Any]]]:
        """Pipeline step name -> what runs it, called as ``step(call,
        *args)``: diota's own coroutine function, or, for a step whose Flask
        method is replaced (by a subclass or on the app), a call of the
        replacement through the seam.

        PERF: decided once, not per request; remade when a step is replaced
        or restored on the app (see :meth:`_note_step_overrides`).
        """
        return {
            name: (
                functools.partial(_call_replacement, self, name)
                if name in self._step_overrides
                else getattr(self, f"_{name}")
            )
            for name in _OVERRIDABLE_STEPS
        }

    # -- the pipeline (written once) ---------------------------------------------------

    @t.overload
    async def _run_request(
        self,
        ctx: RequestContext,
        call: Caller,
        on_finish: t.Callable[[RequestContext], None] | None = None,
        respond: None = None,
    ) -> Response: ...
    @t.overload
    async def _run_request(
        self,
        ctx: RequestContext,
        call: Caller,
        on_finish: t.Callable[[RequestContext], None] | None,
        respond: t.Callable[[Response], _T],
    ) -> _T: ...
    async def _run_request(
        self,
        ctx: RequestContext,
        call: Caller,
        on_finish: t.Callable[[RequestContext], None] | None = None,
        respond: t.Callable[[Response], _T] | None = None,
    ) -> Response | _T:
        """Handle one request from push to pop; the drivers' single entry point.

        :param ctx: the request's context, not pushed yet.
        :param call: the seam of the driving mode.
        :param on_finish: called with the context just before it is popped
            (the test client uses it to keep the context alive).
        :param respond: called with the response while the context is
            still pushed, as Flask calls ``start_response`` (tracers and
            error trackers read ``request`` there); what it returns is
            returned instead of the response.
        """
        error: BaseException | None = None
        try:
            try:
                ctx.push()
                response = await self._steps["full_dispatch_request"](call)
            except Exception as e:
                error = e
                response = await self._steps["handle_exception"](call, e)
            except BaseException:
                error = sys.exc_info()[1]
                raise
            if respond is not None:
                return respond(response)
            return response  # type: ignore[no-any-return]
        finally:
            if on_finish is not None:
                on_finish(ctx)
            if error is not None and self.should_ignore_error(error):
                error = None
            try:
                if not ctx._pop_quietly():
                    await ctx._pop(error, call)
            finally:
                # The error's traceback holds this frame: no cycle through it.
                error = None

    async def _full_dispatch_request(self, call: Caller) -> Response:
        if not self._got_first_request:
            self._got_first_request = True
            # Or one set up on the app after it was made (init_app).
            check_real_flask_imported()

        ctx = _cv_request.get()
        try:
            if request_started.receivers:
                request_started.send(self, _async_wrapper=self.ensure_sync)
            rv = None
            if self._has_step_code(
                "preprocess_request",
                ctx.request,
                self.url_value_preprocessors,
                self.before_request_funcs,
            ):
                rv = await self._steps["preprocess_request"](call)
            if rv is None and ctx.request.routing_exception is not None:
                rv = self._unhandled_routing_error(ctx.request)
            if rv is None:
                rv = await self._steps["dispatch_request"](call)
        except Exception as e:
            rv = await self._steps["handle_user_exception"](call, e)
        try:
            if "finalize_request" in self._step_overrides:
                return await self._steps["finalize_request"](call, rv)  # type: ignore[no-any-return]
            processes = self._processes_response(ctx)
            if processes or request_finished.receivers:
                return await self._finalize_request(call, rv, False, processes)
            # PERF: with nothing to process, finalizing is making the response.
            return self.make_response(rv)
        finally:
            # An HTTP error raised by the view is its own answer; the frames
            # of its traceback include this one, so holding it here would
            # make a cycle that only the garbage collector frees.
            rv = None

    def _unhandled_routing_error(self, req: Request) -> HTTPException | None:
        """The request's routing error when no code of the app's would see it
        raised: no handler for it, no pipeline step replaced. It is then the
        request's answer as it stands.

        PERF: raising it would give it a traceback whose frames hold the
        request, which holds the error: a cycle per 404 that only the garbage
        collector frees, besides the cost of raising and catching.
        """
        e = req.routing_exception
        if (
            not isinstance(e, HTTPException)
            or not self._step_overrides.isdisjoint(_STEPS_SEEING_ROUTING_ERRORS)
            or type(self).raise_routing_exception is not Flask.raise_routing_exception
            or "raise_routing_exception" in self.__dict__
            or (self.debug and isinstance(e, RequestRedirect))
            or self.trap_http_exception(e)
        ):
            return None
        if (
            e.code is not None
            and not isinstance(e, RoutingException)
            and self._find_error_handler(e, req.blueprints) is not None
        ):
            return None
        return e

    async def _preprocess_request(self, call: Caller) -> ft.ResponseReturnValue | None:
        req = _cv_request.get().request
        names = (None, *reversed(req.blueprints))

        for name in names:
            if name in self.url_value_preprocessors:
                for url_func in self.url_value_preprocessors[name]:
                    url_func(req.endpoint, req.view_args)

        for name in names:
            if name in self.before_request_funcs:
                for before_func in self.before_request_funcs[name]:
                    rv = await call(before_func)
                    if rv is not None:
                        return rv  # type: ignore[no-any-return]

        return None

    def _dispatch_request(
        self, call: Caller
    ) -> cabc.Coroutine[t.Any, t.Any, ft.ResponseReturnValue]:
        """The view's call through the seam. PERF: not a coroutine itself,
        so dispatching costs no extra frame (routing errors raise here)."""
        req = _cv_request.get().request
        if req.routing_exception is not None:
            self.raise_routing_exception(req)
        rule = req.url_rule
        # Answer OPTIONS for rules that did not ask to handle it themselves.
        if req.method == "OPTIONS" and getattr(
            rule, "provide_automatic_options", False
        ):
            return _ready(self.make_default_options_response())
        view_args: dict[str, t.Any] = req.view_args  # type: ignore[assignment]
        return call(self.view_functions[rule.endpoint], **view_args)  # type: ignore[union-attr,return-value]

    async def _finalize_request(
        self,
        call: Caller,
        rv: ft.ResponseReturnValue | HTTPException,
        from_error_handler: bool = False,
        processes: bool | None = None,
    ) -> Response:
        """:param processes: whether :meth:`_processes_response`, if the
        caller knows."""
        response = self.make_response(rv)
        try:
            if processes is None:
                processes = self._processes_response(_cv_request.get())
            if processes:
                response = await self._steps["process_response"](call, response)
            if request_finished.receivers:
                request_finished.send(
                    self, _async_wrapper=self.ensure_sync, response=response
                )
        except Exception:
            if not from_error_handler:
                raise
            self.logger.exception(
                "Request finalizing failed with an error while handling an error"
            )
        return response

    async def _process_response(self, call: Caller, response: Response) -> Response:
        ctx = _cv_request.get()

        for func in ctx._after_request_functions:
            response = await call(func, response)

        for name in chain(ctx.request.blueprints, (None,)):
            if name in self.after_request_funcs:
                for func in reversed(self.after_request_funcs[name]):
                    response = await call(func, response)

        # A session never opened (see RequestContext.push) has nothing to save.
        session = ctx._opened_session
        if session is not None and not self.session_interface.is_null_session(session):
            self.session_interface.save_session(self, session, response)

        return response

    async def _handle_user_exception(
        self, call: Caller, e: Exception
    ) -> HTTPException | ft.ResponseReturnValue:
        if isinstance(e, BadRequestKeyError) and (
            self.debug or self.config["TRAP_BAD_REQUEST_ERRORS"]
        ):
            e.show_exception = True

        if isinstance(e, HTTPException) and not self.trap_http_exception(e):
            return t.cast(
                "HTTPException | ft.ResponseReturnValue",
                await self._steps["handle_http_exception"](call, e),
            )

        handler = self._find_error_handler(e, _cv_request.get().request.blueprints)
        if handler is None:
            try:
                raise e
            finally:
                # The traceback now holds this frame: no cycle through it.
                del e
        return await call(handler, e)  # type: ignore[no-any-return]

    async def _handle_http_exception(
        self, call: Caller, e: HTTPException
    ) -> HTTPException | ft.ResponseReturnValue:
        # Exceptions without a code (proxy exceptions) pass through as they are.
        if e.code is None:
            return e

        # Routing redirects and 405s are not errors to handle.
        if isinstance(e, RoutingException):
            return e

        handler = self._find_error_handler(e, _cv_request.get().request.blueprints)
        if handler is None:
            return e
        return await call(handler, e)  # type: ignore[no-any-return]

    async def _handle_exception(self, call: Caller, e: Exception) -> Response:
        exc_info = sys.exc_info()
        if got_request_exception.receivers:
            got_request_exception.send(
                self, _async_wrapper=self.ensure_sync, exception=e
            )
        propagate = self.config["PROPAGATE_EXCEPTIONS"]
        if propagate is None:
            propagate = self.testing or self.debug

        if propagate:
            # Keep the original traceback when re-raising the active exception.
            if exc_info[1] is e:
                raise
            raise e

        self.log_exception(exc_info)
        server_error: InternalServerError | ft.ResponseReturnValue
        server_error = InternalServerError(original_exception=e)
        handler = self._find_error_handler(
            server_error, _cv_request.get().request.blueprints
        )
        if handler is not None:
            server_error = await call(handler, server_error)
        return t.cast(
            Response,
            await self._steps["finalize_request"](call, server_error, True),
        )

    async def _do_teardown_request(
        self, call: Caller, exc: BaseException | None
    ) -> None:
        ctx = _cv_request.get()
        for name in chain(ctx.request.blueprints, (None,)):
            if name in self.teardown_request_funcs:
                for func in reversed(self.teardown_request_funcs[name]):
                    await call(func, exc)
        if request_tearing_down.receivers:
            request_tearing_down.send(self, _async_wrapper=self.ensure_sync, exc=exc)

    async def _do_teardown_appcontext(
        self, call: Caller, exc: BaseException | None
    ) -> None:
        for func in reversed(self.teardown_appcontext_funcs):
            await call(func, exc)
        if appcontext_tearing_down.receivers:
            appcontext_tearing_down.send(self, _async_wrapper=self.ensure_sync, exc=exc)

    # -- Flask's sync pipeline methods: each drives its coroutine above ----------

    def full_dispatch_request(self) -> Response:
        """Run the request's hooks, view and response processing, handling
        user exceptions. Needs an active request context."""
        return drive(self._full_dispatch_request(self._sync_call))

    def preprocess_request(self) -> ft.ResponseReturnValue | None:
        """Run URL value preprocessors and before-request functions (app,
        then blueprints outermost first); return the first non-None value."""
        return drive(self._preprocess_request(self._sync_call))

    def dispatch_request(self) -> ft.ResponseReturnValue:
        """Call the matched view and return its value (not a response yet).

        Raises the routing error if matching failed and answers automatic
        ``OPTIONS`` requests.
        """
        return drive(self._dispatch_request(self._sync_call))

    def finalize_request(
        self,
        rv: ft.ResponseReturnValue | HTTPException,
        from_error_handler: bool = False,
    ) -> Response:
        """Make a response from ``rv``, run after-request processing and send
        ``request_finished``. With ``from_error_handler``, errors there are
        logged rather than raised."""
        return drive(self._finalize_request(self._sync_call, rv, from_error_handler))

    def process_response(self, response: Response) -> Response:
        """Run after-this-request functions, then after-request functions
        (blueprints innermost first, then the app), then save the session."""
        return drive(self._process_response(self._sync_call, response))

    def handle_user_exception(
        self, e: Exception
    ) -> HTTPException | ft.ResponseReturnValue:
        """Find and run the handler for an exception raised while handling a
        request; re-raise when there is none (HTTP errors are returned)."""
        return drive(self._handle_user_exception(self._sync_call, e))

    def handle_http_exception(
        self, e: HTTPException
    ) -> HTTPException | ft.ResponseReturnValue:
        """Run the handler registered for an HTTP error, or return the error
        itself (it is a response). Routing exceptions are returned as-is."""
        return drive(self._handle_http_exception(self._sync_call, e))

    def handle_exception(self, e: Exception) -> Response:
        """Handle an exception no handler caught: send
        ``got_request_exception``, then re-raise (testing, debug,
        ``PROPAGATE_EXCEPTIONS``) or log it and answer 500 (through a 500
        handler if registered)."""
        return drive(self._handle_exception(self._sync_call, e))

    def log_exception(
        self,
        exc_info: tuple[type, BaseException, TracebackType] | tuple[None, None, None],
    ) -> None:
        """Log an unhandled exception with :attr:`logger` (when not propagated)."""
        self.logger.error(
            f"Exception on {request.path} [{request.method}]", exc_info=exc_info
        )

    def do_teardown_request(
        self,
        exc: BaseException | None = _sentinel,  # type: ignore[assignment]
    ) -> None:
        """Run teardown-request functions (blueprints innermost first, then
        the app, each in reverse registration order) and send
        ``request_tearing_down``."""
        if exc is _sentinel:
            exc = sys.exc_info()[1]
        drive(self._do_teardown_request(self._sync_call, exc))

    def do_teardown_appcontext(
        self,
        exc: BaseException | None = _sentinel,  # type: ignore[assignment]
    ) -> None:
        """Run teardown-appcontext functions in reverse order and send
        ``appcontext_tearing_down``."""
        if exc is _sentinel:
            exc = sys.exc_info()[1]
        drive(self._do_teardown_appcontext(self._sync_call, exc))

    # -- the two interfaces ------------------------------------------------------

    def wsgi_app(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> cabc.Iterable[bytes]:
        """The WSGI application; wrap it (not the app) in WSGI middleware::

            app.wsgi_app = ProxyFix(app.wsgi_app)

        Under ASGI such a wrapped stack still runs, in a worker thread.
        """
        return _handle_wsgi(self, environ, start_response)

    async def asgi_app(self, scope: t.Any, receive: t.Any, send: t.Any) -> None:
        """The ASGI 3 application; wrap it (not the app) in ASGI middleware::

            app.asgi_app = SomeASGIMiddleware(app.asgi_app)

        ASGI servers call the app object itself, which hands over here.

        .. versionadded:: 0.2
        """
        await _handle_asgi(self, scope, receive, send)

    @mark_serves_both
    def _serve_either(self, *args: t.Any) -> t.Any:
        """Serve either interface: WSGI calls with ``(environ,
        start_response)`` go to :meth:`wsgi_app`; ASGI calls with ``(scope,
        receive, send)`` return the :meth:`asgi_app` coroutine.

        Marked for ASGI servers that inspect the app (uvicorn's
        auto-detection); WSGI servers just call it. A ``__call__`` that
        instrumentation assigns to the class later keeps both interfaces
        (see :mod:`diota._interfaces`).
        """
        if len(args) == 2:
            return self.wsgi_app(*args)
        if len(args) == 3:
            if "asgi_app" in self.__dict__ or self._asgi_app_replaced:
                return self.asgi_app(*args)
            # PERF: Flask.asgi_app would only await this.
            if args[0]["type"] == "http":
                return _serve_http(self, *args)
            return _handle_asgi(self, *args)
        raise TypeError(
            "A diota app is called as WSGI (environ, start_response) or ASGI"
            f" (scope, receive, send); got {len(args)} arguments."
        )

    __call__ = _serve_either

    @functools.cached_property
    def _route_kinds(self) -> dict[str | None, int]:
        """Endpoint -> what :meth:`_route_kind` decided for it."""
        return {}

    def _route_kind(self, endpoint: str | None) -> int:
        """How the ASGI driver runs a request to ``endpoint``:
        :data:`ROUTE_NO_USER_CODE` when no view, hook, handler or signal
        receiver can run (a 404 in an app without hooks: no worker thread
        needed), :data:`ROUTE_SYNC` when every callable is sync (the whole
        request in one worker thread: one hop, not one per callable), else
        :data:`ROUTE_ASYNC` (on the loop).

        Decided once per endpoint: setup is closed after the first request.
        """
        kinds = self._route_kinds
        kind = kinds.get(endpoint)
        if kind is None:
            callables = list(self._callables_for(endpoint))
            if not callables:
                kind = ROUTE_NO_USER_CODE
            elif any(is_async_callable(f) for f in callables):
                kind = ROUTE_ASYNC
            else:
                kind = ROUTE_SYNC
            kinds[endpoint] = kind
        if kind == ROUTE_NO_USER_CODE:
            # Signal receivers are user code too, and connect at any time.
            for signal in _REQUEST_SIGNALS:
                if signal.receivers:
                    return ROUTE_SYNC
        return kind

    def _callables_for(
        self, endpoint: str | None
    ) -> t.Iterator[t.Callable[..., t.Any]]:
        """Every view, hook and handler that can run for a request to ``endpoint``."""
        names: list[str | None] = [None]
        if endpoint is not None:
            view = self.view_functions.get(endpoint)
            if view is not None:
                yield view
            if "." in endpoint:
                names.extend(_split_blueprint_path(endpoint.rpartition(".")[0]))
        for name in names:
            for funcs in (
                self.before_request_funcs,
                self.after_request_funcs,
                self.teardown_request_funcs,
            ):
                yield from funcs.get(name, ())
            for handlers in self.error_handler_spec.get(name, {}).values():
                yield from handlers.values()
        yield from self.teardown_appcontext_funcs
