"""Test helpers: an application-aware test client and CLI runner.

:class:`FlaskClient` is what ``app.test_client()`` returns and
:class:`FlaskCliRunner` is what ``app.test_cli_runner()`` returns. Both
mirror ``flask.testing``.
"""

from __future__ import annotations

import importlib.metadata
import os
import typing as t
from contextlib import contextmanager
from contextlib import ExitStack
from copy import copy
from types import TracebackType
from urllib.parse import urlsplit

import werkzeug.test
from click.testing import CliRunner
from click.testing import Result
from werkzeug.test import Client
from werkzeug.wrappers import Request as BaseRequest
from werkzeug.wsgi import get_current_url

from .cli import ScriptInfo
from .sessions import SessionMixin

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIEnvironment
    from werkzeug.datastructures import Headers
    from werkzeug.test import TestResponse

    from ._websocket_testing import WebSocketTestSession
    from .app import Flask


class EnvironBuilder(werkzeug.test.EnvironBuilder):
    """A :class:`werkzeug.test.EnvironBuilder` that takes its defaults from
    an application's config.

    :param app: The application whose config supplies the defaults.
    :param path: The URL path requested. May be a full URL, whose scheme
        and host then override the defaults.
    :param base_url: Base URL the app is served under, which ``path`` is
        relative to. When not given it is built from
        :data:`PREFERRED_URL_SCHEME`, ``subdomain``, :data:`SERVER_NAME`
        and :data:`APPLICATION_ROOT`.
    :param subdomain: Subdomain prepended to :data:`SERVER_NAME`.
    :param url_scheme: Scheme used instead of :data:`PREFERRED_URL_SCHEME`.
    :param args: Other positional arguments for the Werkzeug builder.
    :param kwargs: Other keyword arguments for the Werkzeug builder. A
        ``json`` argument is serialized with the app's JSON provider.
    """

    def __init__(
        self,
        app: Flask,
        path: str = "/",
        base_url: str | None = None,
        subdomain: str | None = None,
        url_scheme: str | None = None,
        *args: t.Any,
        **kwargs: t.Any,
    ) -> None:
        if base_url is not None and (subdomain or url_scheme):
            # An AssertionError, as in Flask, but raised even under -O.
            raise AssertionError(
                'Cannot pass "subdomain" or "url_scheme" with "base_url".'
            )

        if base_url is None:
            base_url, path = self._base_url_from_config(
                app, path, subdomain, url_scheme
            )

        self.app = app
        super().__init__(path, base_url, *args, **kwargs)

    @staticmethod
    def _base_url_from_config(
        app: Flask, path: str, subdomain: str | None, url_scheme: str | None
    ) -> tuple[str, str]:
        """Build the base URL from config; return it and the path with any
        scheme and host stripped off.
        """
        host = app.config.get("SERVER_NAME") or "localhost"

        if subdomain:
            host = f"{subdomain}.{host}"

        if url_scheme is None:
            url_scheme = app.config["PREFERRED_URL_SCHEME"]

        root = app.config["APPLICATION_ROOT"].lstrip("/")
        url = urlsplit(path)
        base_url = f"{url.scheme or url_scheme}://{url.netloc or host}/{root}"
        path = f"{url.path}?{url.query}" if url.query else url.path
        return base_url, path

    def json_dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        """Serialize ``obj`` to JSON with the app's JSON provider, so the
        app's JSON settings apply to request data.
        """
        return self.app.json.dumps(obj, **kwargs)


_werkzeug_version = ""


def _get_werkzeug_version() -> str:
    """The installed Werkzeug version, looked up once."""
    global _werkzeug_version

    if not _werkzeug_version:
        _werkzeug_version = importlib.metadata.version("werkzeug")

    return _werkzeug_version


class FlaskClient(Client):
    """A Werkzeug test client that knows about the app's contexts.

    Inside ``with client:``, the app and request contexts of the last
    request stay pushed until the next request or the end of the block,
    so ``request``, ``session`` and ``g`` can be inspected after a call.
    Default environ values are in :attr:`environ_base` and may be changed
    after the client is created.

    Requests are executed by :meth:`_run_app`, the single place that
    drives the application: through its WSGI interface, or (with
    ``interface="asgi"``) through its ASGI interface, in-process.

    :param interface: ``"wsgi"`` or ``"asgi"``; defaults to the
        ``DIOTA_TEST_CLIENT`` environment variable, else ``"wsgi"``. The
        same tests then check either interface unchanged.
    :param asgi_backend: the async library of the ASGI mode, ``"asyncio"``
        or ``"trio"``; defaults to ``DIOTA_TEST_BACKEND``, else asyncio.

    .. versionchanged:: 0.2
        Added ``interface`` and ``asgi_backend``.
    """

    application: Flask

    def __init__(
        self,
        *args: t.Any,
        interface: str | None = None,
        asgi_backend: str | None = None,
        **kwargs: t.Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if interface is None:
            interface = os.environ.get("DIOTA_TEST_CLIENT") or "wsgi"
        if interface not in ("wsgi", "asgi"):
            raise ValueError(f"interface must be 'wsgi' or 'asgi', not {interface!r}")
        #: Which of the app's interfaces requests go through.
        self.interface = interface
        #: The async library the ASGI interface runs on.
        self.asgi_backend = (
            asgi_backend or os.environ.get("DIOTA_TEST_BACKEND") or "asyncio"
        )
        #: Whether the contexts of the next request are kept; set inside
        #: a ``with`` block.
        self.preserve_context = False
        # Filled by the app (via the environ) with contexts to keep.
        self._new_contexts: list[t.ContextManager[t.Any]] = []
        # Holds the kept contexts pushed until the next request or exit.
        self._context_stack = ExitStack()
        #: Values added to every request's environ.
        self.environ_base = {
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_USER_AGENT": f"Werkzeug/{_get_werkzeug_version()}",
        }

    @contextmanager
    def session_transaction(
        self, *args: t.Any, **kwargs: t.Any
    ) -> t.Iterator[SessionMixin]:
        """Open the client's session for modification in a ``with`` block;
        the changed session is saved to the client's cookies at the end.

        ::

            with client.session_transaction() as session:
                session["user_id"] = 1

        The session is loaded in a temporary request context created with
        :meth:`~diota.Flask.test_request_context`, which receives the
        arguments given here.

        :raises TypeError: If the client was created without cookies.
        :raises RuntimeError: If the session interface opened no session.
        """
        if self._cookies is None:
            raise TypeError(
                "Cookies are disabled. Create a client with 'use_cookies=True'."
            )

        app = self.application
        ctx = app.test_request_context(*args, **kwargs)
        self._add_cookies_to_wsgi(ctx.request.environ)

        with ctx:
            session = app.session_interface.open_session(app, ctx.request)

        if session is None:
            raise RuntimeError("Session backend did not open a session.")

        yield session

        if app.session_interface.is_null_session(session):
            return

        response = app.response_class()

        with ctx:
            app.session_interface.save_session(app, session, response)

        self._update_cookies_from_response(
            ctx.request.host.partition(":")[0],
            ctx.request.path,
            response.headers.getlist("Set-Cookie"),
        )

    def _copy_environ(self, other: WSGIEnvironment) -> WSGIEnvironment:
        """Merge :attr:`environ_base` under ``other``, adding the hook the
        app uses to hand over contexts when they are being preserved.
        """
        environ = {**self.environ_base, **other}

        if self.preserve_context:
            environ["werkzeug.debug.preserve_context"] = self._new_contexts.append

        return environ

    def _request_from_builder_args(
        self, args: tuple[t.Any, ...], kwargs: dict[str, t.Any]
    ) -> BaseRequest:
        """Build a request from :meth:`open`'s arguments with an
        app-aware :class:`EnvironBuilder`.
        """
        kwargs["environ_base"] = self._copy_environ(kwargs.get("environ_base", {}))
        builder = EnvironBuilder(self.application, *args, **kwargs)

        try:
            return builder.get_request()
        finally:
            builder.close()

    def _request_from_object(self, obj: t.Any) -> BaseRequest:
        """Build a request from an existing builder, environ or request."""
        if isinstance(obj, werkzeug.test.EnvironBuilder):
            builder = copy(obj)
            builder.environ_base = self._copy_environ(builder.environ_base or {})  # type: ignore[arg-type]
            return builder.get_request()

        if isinstance(obj, dict):
            return EnvironBuilder.from_environ(
                obj, app=self.application, environ_base=self._copy_environ({})
            ).get_request()

        request = copy(obj)
        request.environ = self._copy_environ(request.environ)
        return t.cast(BaseRequest, request)

    def open(
        self,
        *args: t.Any,
        buffered: bool = False,
        follow_redirects: bool = False,
        **kwargs: t.Any,
    ) -> TestResponse:
        """Make a request and return the response.

        The first argument may be an :class:`~werkzeug.test.EnvironBuilder`,
        a WSGI environ dict or a request object; otherwise the arguments
        are passed to :class:`EnvironBuilder`. See
        :meth:`werkzeug.test.Client.open`.
        """
        if args and isinstance(
            args[0], (werkzeug.test.EnvironBuilder, dict, BaseRequest)
        ):
            request = self._request_from_object(args[0])
        else:
            request = self._request_from_builder_args(args, kwargs)

        # Contexts kept from a previous request (or from a redirect's
        # earlier hop) are popped before the next one runs.
        self._context_stack.close()

        queued = self._background_tasks_queued()
        response = super().open(
            request, buffered=buffered, follow_redirects=follow_redirects
        )
        if self._background_tasks_queued() > queued:
            # The request queued background tasks: read the body so they
            # start (as after a server sent it) and let them finish, so the
            # test sees their effects.
            response.get_data()
            response.close()
            self.application._background.wait(timeout=30)
        response.json_module = self.application.json  # type: ignore[assignment]

        # Push the contexts the app handed over for this request again.
        for cm in self._new_contexts:
            self._context_stack.enter_context(cm)

        self._new_contexts.clear()
        return response

    def _background_tasks_queued(self) -> int:
        background = self.application.__dict__.get("_background")
        return background.queued if background is not None else 0

    def run_wsgi_app(
        self, environ: WSGIEnvironment, buffered: bool = False
    ) -> tuple[t.Iterable[bytes], str, Headers]:
        """Send cookies with the request, run it, and store the cookies the
        response sets.

        :meta private:
        """
        self._add_cookies_to_wsgi(environ)
        rv = self._run_app(environ, buffered)
        url = urlsplit(get_current_url(environ))
        self._update_cookies_from_response(
            url.hostname or "localhost", url.path, rv[2].getlist("Set-Cookie")
        )
        return rv

    def _run_app(
        self, environ: WSGIEnvironment, buffered: bool
    ) -> tuple[t.Iterable[bytes], str, Headers]:
        """Execute one request against the application.

        This is the only place the application is called. It uses the
        WSGI interface; it can be replaced to drive the app some other
        way (such as its ASGI interface) as long as it returns the
        response body iterable, status line and headers.
        """
        if self.interface == "asgi":
            from ._asgi_testing import run_asgi_app

            # The app object, as ASGI servers call it: whatever patches its
            # class (instrumentation) is driven too.
            return run_asgi_app(self.application, environ, self.asgi_backend, buffered)
        app_iter, status, headers = werkzeug.test.run_wsgi_app(
            self.application, environ, buffered=buffered
        )
        if not buffered:
            # Closed once read to its end, as a server closes it after the
            # last chunk (so background tasks start); the ASGI driver's
            # body does the same.
            app_iter = _ClosedAtEnd(app_iter)
        return app_iter, status, headers

    def websocket(
        self,
        path: str,
        *args: t.Any,
        subprotocols: t.Sequence[str] = (),
        timeout: float = 10.0,
        **kwargs: t.Any,
    ) -> WebSocketTestSession:
        """Open a WebSocket to the app, in-process, for a ``with`` block::

            with client.websocket("/echo") as ws:
                ws.send("hi")
                assert ws.receive() == "hi"

        The handshake is built like a request (``query_string``,
        ``headers``, the client's cookies) and served by the app's ASGI
        interface, whatever :attr:`interface` is: WebSockets need ASGI. It
        runs on :attr:`asgi_backend`.

        :param subprotocols: subprotocols the client offers.
        :param timeout: seconds to wait for each message from the app.

        .. versionadded:: 0.3
        """
        from ._websocket_testing import WebSocketTestSession

        request = self._request_from_builder_args((path, *args), kwargs)
        environ = request.environ
        self._add_cookies_to_wsgi(environ)
        return WebSocketTestSession(
            self.application.asgi_app,
            environ,
            self.asgi_backend,
            subprotocols=subprotocols,
            timeout=timeout,
        )

    def __enter__(self) -> FlaskClient:
        if self.preserve_context:
            raise RuntimeError("Cannot nest client invocations")

        self.preserve_context = True
        return self

    def __exit__(
        self,
        exc_type: type | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.preserve_context = False
        self._context_stack.close()


class _ClosedAtEnd:
    """A WSGI response iterable that closes itself once exhausted."""

    def __init__(self, app_iter: t.Iterable[bytes]) -> None:
        self._app_iter = app_iter
        self._iterator = iter(app_iter)
        self._closed = False

    def __iter__(self) -> _ClosedAtEnd:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._iterator)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            close = getattr(self._app_iter, "close", None)
            if close is not None:
                close()


class FlaskCliRunner(CliRunner):
    """A :class:`click.testing.CliRunner` for an application's commands,
    usually created with :meth:`~diota.Flask.test_cli_runner`.

    :param app: The application under test.
    :param kwargs: Passed to :class:`~click.testing.CliRunner`.
    """

    def __init__(self, app: Flask, **kwargs: t.Any) -> None:
        self.app = app
        super().__init__(**kwargs)

    def invoke(  # type: ignore[override]
        self, cli: t.Any = None, args: t.Any = None, **kwargs: t.Any
    ) -> Result:
        """Invoke a command in an isolated environment, like
        :meth:`click.testing.CliRunner.invoke`.

        :param cli: The command to invoke; defaults to ``app.cli``.
        :param args: The command line arguments, as a list of strings.
        :param kwargs: Passed on. Unless ``obj`` is given, a
            :class:`~diota.cli.ScriptInfo` that returns the app is used.
        :return: The :class:`~click.testing.Result`.
        """
        if cli is None:
            cli = self.app.cli

        if "obj" not in kwargs:
            kwargs["obj"] = ScriptInfo(create_app=lambda: self.app)

        return super().invoke(cli, args, **kwargs)
