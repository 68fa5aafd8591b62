"""Helper functions used by views and extensions: responses, URLs, flashing,
file sending and streaming with the request context kept alive.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import typing as t
from datetime import datetime
from functools import cache
from functools import update_wrapper

import werkzeug.utils
from werkzeug.exceptions import abort as _wz_abort
from werkzeug.utils import redirect as _wz_redirect
from werkzeug.wrappers import Response as BaseResponse

from .concurrency import async_caller
from .globals import _cv_app
from .globals import _cv_request
from .globals import current_app
from .globals import request
from .globals import request_ctx
from .globals import session
from .signals import message_flashed

if t.TYPE_CHECKING:  # pragma: no cover
    from .ctx import AppContext
    from .ctx import RequestContext
    from .wrappers import Response


def get_debug_flag() -> bool:
    """Tell whether debug mode was asked for through the :envvar:`FLASK_DEBUG`
    environment variable. Unset, empty, ``0``, ``false`` and ``no`` (any case)
    mean off.
    """
    value = os.environ.get("FLASK_DEBUG")

    if not value:
        return False

    return value.lower() not in {"0", "false", "no"}


def get_load_dotenv(default: bool = True) -> bool:
    """Tell whether the default dotenv files should be loaded. Setting
    :envvar:`FLASK_SKIP_DOTENV` to anything but ``0``, ``false`` or ``no``
    turns loading off.

    :param default: The answer when the variable is unset or empty.
    """
    value = os.environ.get("FLASK_SKIP_DOTENV")

    if not value:
        return default

    return value.lower() in ("0", "false", "no")


def _current_contexts() -> tuple[AppContext, RequestContext]:
    """Return the active app and request contexts, or fail with the message
    :func:`stream_with_context` documents.
    """
    req_ctx = _cv_request.get(None)

    if req_ctx is None:
        raise RuntimeError(
            "'stream_with_context' can only be used when a request"
            " context is active, such as in a view function."
        )

    return _cv_app.get(), req_ctx


@contextlib.contextmanager
def _bind_contexts(app_ctx: AppContext, req_ctx: RequestContext) -> t.Iterator[None]:
    """Make ``app_ctx`` and ``req_ctx`` current for the duration of the block
    without pushing them.

    Pushing would open the session, match the URL and send signals again, and
    popping the last push runs teardown; for an async stream that is resumed
    once per item, that would happen on every item. Binding the context
    variables only gives the code inside the stream the same view of
    ``request``, ``session`` and ``g`` that the view had.
    """
    app_token = _cv_app.set(app_ctx)
    req_token = _cv_request.set(req_ctx)

    try:
        yield
    finally:
        _cv_request.reset(req_token)
        _cv_app.reset(app_token)


def _hold(app_ctx: AppContext, req_ctx: RequestContext, count: int) -> None:
    """Add ``count`` to the streams that still need the request: while any
    does, popping the contexts leaves their teardown to the last stream."""
    app_ctx._stream_holds += count
    req_ctx._stream_holds += count


def _close(iterator: t.Any) -> None:
    # A WSGI iterator may need ``close`` even when exhausted.
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def _stream_sync(
    iterator: t.Iterator[t.Any], app_ctx: AppContext, req_ctx: RequestContext
) -> t.Iterator[t.Any]:
    started = False

    try:
        # Stop here once so the caller gets a generator whose frame already
        # exists: closing it before iteration then still reaches ``finally``.
        yield None
        started = True

        # Push the app context first so the request context reuses it rather
        # than creating a fresh one.
        app_ctx.push()
        req_ctx.push()
        error: BaseException | None = None

        try:
            # A plain loop, not ``yield from``: ``yield from`` would close
            # the iterator itself on early close, and ``finally`` below
            # would close it a second time.
            for item in iterator:  # noqa: UP028
                yield item
        except GeneratorExit:
            raise  # closed early (the client left): not an error of the app
        except BaseException as e:
            error = e
            raise
        finally:
            try:
                _close(iterator)
            finally:
                # The last stream to end tears the request down, once: these
                # pops run the teardown the view's own pop left to it.
                _hold(app_ctx, req_ctx, -1)
                try:
                    req_ctx.pop(error)
                finally:
                    app_ctx.pop(error)
    finally:
        if not started:
            try:
                _close(iterator)
            finally:
                _hold(app_ctx, req_ctx, -1)
                # Closed before it ran (a HEAD request, a replaced response):
                # run the held teardown now, unless the request is still on.
                with app_ctx, req_ctx:
                    pass


class _AsyncStream:
    """An async iterator over ``iterable`` with the request's contexts made
    current around each step (each ``__anext__``) rather than pushed once:
    the consumer may resume it from another task, and a context variable set
    in one task cannot be reset from another.

    Its end (exhausted, failed or closed, even before it started) runs the
    request's teardown if the view's pop left it to this stream.
    """

    def __init__(
        self,
        iterable: t.AsyncIterable[t.Any],
        app_ctx: AppContext,
        req_ctx: RequestContext,
    ) -> None:
        self._iterator = iterable.__aiter__()
        self._app_ctx = app_ctx
        self._req_ctx = req_ctx
        self._open = True

    def __aiter__(self) -> _AsyncStream:
        return self

    async def __anext__(self) -> t.Any:
        if not self._open:
            raise StopAsyncIteration

        try:
            with _bind_contexts(self._app_ctx, self._req_ctx):
                return await self._iterator.__anext__()
        except StopAsyncIteration:
            await self._end(None)
            raise
        except Exception as e:
            await self._end(e)
            raise
        # Cancellation is left to ``aclose``, which the server calls
        # shielded; awaiting here while cancelled would be cancelled too.

    async def aclose(self) -> None:
        if self._open:
            await self._end(None)

    async def _end(self, error: BaseException | None) -> None:
        self._open = False
        app_ctx, req_ctx = self._app_ctx, self._req_ctx

        try:
            aclose = getattr(self._iterator, "aclose", None)

            if aclose is not None:
                with _bind_contexts(app_ctx, req_ctx):
                    await aclose()
        finally:
            _hold(app_ctx, req_ctx, -1)
            # Pushed, then popped through the async seam (sync teardown
            # functions in a worker thread, async ones on this loop): the
            # last pop runs the teardown the view's pop left to this stream.
            call = async_caller(None)
            app_ctx.push()
            req_ctx.push()
            try:
                await req_ctx._pop(error, call)
            finally:
                await app_ctx._pop(error, call)


@t.overload
def stream_with_context(
    generator_or_function: t.Iterator[t.AnyStr],
) -> t.Iterator[t.AnyStr]: ...


@t.overload
def stream_with_context(
    generator_or_function: t.AsyncIterable[t.AnyStr],
) -> t.AsyncIterator[t.AnyStr]: ...


@t.overload
def stream_with_context(
    generator_or_function: t.Callable[..., t.Iterator[t.AnyStr]],
) -> t.Callable[..., t.Iterator[t.AnyStr]]: ...


@t.overload
def stream_with_context(
    generator_or_function: t.Callable[..., t.AsyncIterable[t.AnyStr]],
) -> t.Callable[..., t.AsyncIterator[t.AnyStr]]: ...


def stream_with_context(generator_or_function: t.Any) -> t.Any:
    """Keep the current request context (and so :data:`request`,
    :data:`session` and :data:`g`) available to a response stream that is
    consumed after the view has returned.

    Wrap a generator (or any iterator) that the view created::

        @app.get("/stream")
        def stream():
            def generate():
                yield "Hello "
                yield request.args["name"]

            return Response(stream_with_context(generate()))

    or decorate the generator function, in which case each call returns a
    wrapped generator::

        @stream_with_context
        def generate():
            yield request.args["name"]

    The contexts are captured when the stream is created, so this must be
    called while a request context is active; otherwise
    :exc:`RuntimeError` is raised. A sync iterator runs with both contexts
    pushed, and its ``close`` method is called when the stream ends or is
    closed.

    Async generators and other async iterables are accepted too, returning
    an async iterator: the captured contexts are made current around each
    step (each ``__anext__``) instead of being pushed once, so the stream can
    be driven from any task. An object that is both sync and async iterable
    is treated as sync.

    :param generator_or_function: An iterator or async iterable to wrap, or a
        function returning one.
    """
    if not hasattr(generator_or_function, "__aiter__"):
        try:
            iterator = iter(generator_or_function)
        except TypeError:
            # Not iterable: it is a function that creates the stream.
            func = generator_or_function

            def decorator(*args: t.Any, **kwargs: t.Any) -> t.Any:
                return stream_with_context(func(*args, **kwargs))

            return update_wrapper(decorator, func)

        app_ctx, req_ctx = _current_contexts()
        wrapped = _stream_sync(iterator, app_ctx, req_ctx)
        # Run to the sentinel so the ``finally`` is armed from now on.
        next(wrapped)
        _hold(app_ctx, req_ctx, 1)
        return wrapped

    app_ctx, req_ctx = _current_contexts()
    stream = _AsyncStream(generator_or_function, app_ctx, req_ctx)
    _hold(app_ctx, req_ctx, 1)
    return stream


def make_response(*args: t.Any) -> Response:
    """Turn the arguments into a response object, the same way a view's
    return value is converted, so headers can be set on it before returning.

    With no arguments, an empty ``app.response_class()`` is returned. With
    one argument, it is passed to :meth:`~diota.Flask.make_response`. With
    several, they are passed on as one tuple, as if the view had returned
    ``(body, status, headers)``::

        response = make_response(render_template("missing.html"), 404)
        response.headers["X-Reason"] = "gone"

    :param args: What a view may return, as one value or as a tuple's items.
    """
    if not args:
        return current_app.response_class()

    if len(args) == 1:
        return current_app.make_response(args[0])

    return current_app.make_response(args)


def url_for(
    endpoint: str,
    *,
    _anchor: str | None = None,
    _method: str | None = None,
    _scheme: str | None = None,
    _external: bool | None = None,
    **values: t.Any,
) -> str:
    """Build the URL for an endpoint by calling
    :meth:`current_app.url_for() <diota.Flask.url_for>`, which has the full
    documentation. Needs an active app or request context.

    :param endpoint: The endpoint to build. A leading ``.`` means the current
        request's blueprint.
    :param _anchor: Appended as ``#anchor``.
    :param _method: Build the rule that accepts this method.
    :param _scheme: The scheme of an external URL.
    :param _external: Force an external (``True``) or internal (``False``)
        URL. Outside a request, URLs are external by default.
    :param values: The rule's variables; unknown keys become the query
        string.
    """
    return current_app.url_for(
        endpoint,
        _anchor=_anchor,
        _method=_method,
        _scheme=_scheme,
        _external=_external,
        **values,
    )


def redirect(
    location: str, code: int = 302, Response: type[BaseResponse] | None = None
) -> BaseResponse:
    """Return a response that redirects the client to ``location``.

    In an app context this calls :meth:`current_app.redirect()
    <diota.Flask.redirect>`; otherwise :func:`werkzeug.utils.redirect`.

    :param location: The URL to redirect to.
    :param code: The redirect status code.
    :param Response: The response class to use outside an app context. In
        one, ``app.response_class`` is used.
    """
    if current_app:
        return current_app.redirect(location, code=code)

    return _wz_redirect(location, code=code, Response=Response)


def abort(code: int | BaseResponse, *args: t.Any, **kwargs: t.Any) -> t.NoReturn:
    """Raise the :exc:`~werkzeug.exceptions.HTTPException` for a status code,
    or raise with a given response.

    In an app context this uses :attr:`current_app.aborter
    <diota.Flask.aborter>`, so codes the app registered work; otherwise
    :func:`werkzeug.exceptions.abort`.

    :param code: The status code, or a response to abort with.
    :param args: Passed to the exception.
    :param kwargs: Passed to the exception.
    """
    if current_app:
        current_app.aborter(code, *args, **kwargs)

    # Also reached if a custom aborter returns instead of raising.
    _wz_abort(code, *args, **kwargs)


def get_template_attribute(template_name: str, attribute: str) -> t.Any:
    """Return a macro or variable that a template exports, to call or read it
    from Python::

        greet = get_template_attribute("_macros.html", "greet")
        greet("World")

    :param template_name: The template to load.
    :param attribute: The name of the macro or variable.
    """
    module = current_app.jinja_env.get_template(template_name).module
    return getattr(module, attribute)


def flash(message: str, category: str = "message") -> None:
    """Store a message in the session for a later request to show with
    :func:`get_flashed_messages`, and send :data:`~diota.message_flashed`.

    :param message: The message text.
    :param category: A free-form category, such as ``"message"``,
        ``"error"``, ``"info"`` or ``"warning"``.
    """
    # Read, append and assign back instead of mutating in place: a session
    # backed by external storage only notices assignments.
    flashes = session.get("_flashes", [])
    flashes.append((category, message))
    session["_flashes"] = flashes
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    message_flashed.send(
        app,
        _async_wrapper=app.ensure_sync,
        message=message,
        category=category,
    )


def get_flashed_messages(
    with_categories: bool = False, category_filter: t.Iterable[str] = ()
) -> list[str] | list[tuple[str, str]]:
    """Remove the flashed messages from the session and return them. Later
    calls during the same request return the same messages.

    :param with_categories: Return ``(category, message)`` tuples instead of
        only the message texts.
    :param category_filter: Only return messages in these categories. This
        is independent of ``with_categories``.
    """
    flashes = request_ctx.flashes

    if flashes is None:
        flashes = session.pop("_flashes") if "_flashes" in session else []
        # Cache on the request so every call in this request agrees, even
        # though the session no longer holds them.
        request_ctx.flashes = flashes

    if category_filter:
        wanted = set(category_filter)
        flashes = [item for item in flashes if item[0] in wanted]

    if not with_categories:
        return [item[1] for item in flashes]

    return flashes


def _prepare_send_file_kwargs(**kwargs: t.Any) -> dict[str, t.Any]:
    """Fill in the app- and request-specific arguments of Werkzeug's
    ``send_file`` and ``send_from_directory``.
    """
    if kwargs.get("max_age") is None:
        # Werkzeug calls this with the file's name once it knows it.
        kwargs["max_age"] = current_app.get_send_file_max_age

    kwargs.update(
        environ=request.environ,
        use_x_sendfile=current_app.config["USE_X_SENDFILE"],
        response_class=current_app.response_class,
        _root_path=current_app.root_path,
    )
    return kwargs


def send_file(
    path_or_file: os.PathLike[t.AnyStr] | str | t.IO[bytes],
    mimetype: str | None = None,
    as_attachment: bool = False,
    download_name: str | None = None,
    conditional: bool = True,
    etag: bool | str = True,
    last_modified: datetime | int | float | None = None,
    max_age: None | (int | t.Callable[[str | None], int | None]) = None,
) -> Response:
    """Send a file's contents to the client, using
    :func:`werkzeug.utils.send_file` with the app's settings.

    Never pass a path that came from the client; use
    :func:`send_from_directory` for that.

    :param path_or_file: A path, relative to the current working directory
        if relative, or a file object opened in binary mode and positioned
        at the start of the data.
    :param mimetype: The MIME type. Guessed from the file name if not given.
    :param as_attachment: Ask the browser to save the file rather than show
        it.
    :param download_name: The file name the browser should use. Defaults to
        the path's name.
    :param conditional: Answer conditional (``If-None-Match``,
        ``If-Modified-Since``) and range requests.
    :param etag: Compute an ETag from the path, or use this string.
    :param last_modified: The modification time to send. Read from the path
        if not given.
    :param max_age: Seconds the client may cache the file, or a function of
        the file name returning that. Defaults to
        :meth:`~diota.Flask.get_send_file_max_age`. ``None`` sends
        ``Cache-Control: no-cache``.
    """
    return werkzeug.utils.send_file(  # type: ignore[return-value]
        **_prepare_send_file_kwargs(
            path_or_file=path_or_file,
            environ=request.environ,
            mimetype=mimetype,
            as_attachment=as_attachment,
            download_name=download_name,
            conditional=conditional,
            etag=etag,
            last_modified=last_modified,
            max_age=max_age,
        )
    )


def send_from_directory(
    directory: os.PathLike[str] | str,
    path: os.PathLike[str] | str,
    **kwargs: t.Any,
) -> Response:
    """Send a file from inside ``directory``, safely even when ``path``
    comes from the client::

        @app.get("/uploads/<path:name>")
        def download(name):
            return send_from_directory(app.config["UPLOAD_FOLDER"], name)

    The path is joined with :func:`werkzeug.security.safe_join`, so it
    cannot escape the directory. A path that escapes it, or that is not an
    existing regular file, raises :exc:`~werkzeug.exceptions.NotFound`.

    :param directory: The directory to serve from, relative to the app's
        root path if relative. Never a value from the client.
    :param path: The file's path inside ``directory``.
    :param kwargs: Passed on as for :func:`send_file`.
    """
    return werkzeug.utils.send_from_directory(  # type: ignore[return-value]
        directory, path, **_prepare_send_file_kwargs(**kwargs)
    )


def get_root_path(import_name: str) -> str:
    """Return the directory holding a module or package, for use as an app's
    or blueprint's root path. Falls back to the current working directory
    when the module cannot be located (e.g. ``__main__`` in an interactive
    session).

    :param import_name: The module's import name.
    :meta private:
    """
    module = sys.modules.get(import_name)
    module_file: str | None = getattr(module, "__file__", None)

    # An imported module with a file is the cheap and common case.
    if module_file is not None:
        return os.path.dirname(os.path.abspath(module_file))

    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        spec = None

    loader = spec.loader if spec is not None else None

    if loader is None:
        return os.getcwd()

    get_filename = getattr(loader, "get_filename", None)

    filepath: str | None

    if get_filename is not None:
        filepath = get_filename(import_name)
    else:
        # The loader cannot tell the file; import the module and ask it.
        __import__(import_name)
        filepath = getattr(sys.modules[import_name], "__file__", None)

        if filepath is None:
            raise RuntimeError(
                "No root path can be found for the provided module"
                f" {import_name!r}. This can happen because the module"
                " came from an import hook that does not provide file"
                " name information or because it's a namespace package."
                " In this case the root path needs to be explicitly"
                " provided."
            )

    # The file is the module itself, or a package's __init__.py.
    return os.path.dirname(os.path.abspath(filepath))


@cache
def _split_blueprint_path(name: str) -> list[str]:
    """Return a dotted blueprint name and each of its parents, innermost
    first: ``"a.b.c"`` gives ``["a.b.c", "a.b", "a"]``.

    The result is cached and shared; callers must not mutate it.
    """
    parts = [name]

    if "." in name:
        parts.extend(_split_blueprint_path(name.rpartition(".")[0]))

    return parts


_View = t.TypeVar("_View", bound=t.Callable[..., t.Any])


def stream_request_body(view: _View) -> _View:
    """Mark an ``async def`` view as reading its body as it arrives.

    Under ASGI the adapter then does not buffer the body before the view
    runs; the view reads it with ``async for chunk in request.body``, with
    ``MAX_CONTENT_LENGTH`` enforced while reading (413). Sync accessors
    (``request.data``, ``request.form``) are refused for such a request.
    Under WSGI the view works the same, reading from the server's input.

    .. versionadded:: 0.2
    """
    from .concurrency import is_async_callable

    if not is_async_callable(view):
        raise TypeError(
            f"stream_request_body needs an 'async def' view; {view!r} is sync."
        )
    view.stream_request_body = True  # type: ignore[attr-defined]
    return view
