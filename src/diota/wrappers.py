"""The request and response classes diota uses by default.

Both extend werkzeug's wrappers with what the application knows: limits from
the config, the matched URL rule, and the blueprint of the endpoint.
"""

from __future__ import annotations

import io
import typing as t
from urllib.parse import parse_qsl

from werkzeug._internal import _wsgi_decoding_dance
from werkzeug.datastructures import EnvironHeaders
from werkzeug.datastructures import Headers
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import ClientDisconnected
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header
from werkzeug.sansio.utils import get_content_length as _content_length
from werkzeug.utils import cached_property
from werkzeug.wrappers import Request as RequestBase
from werkzeug.wrappers import Response as ResponseBase
from werkzeug.wsgi import _get_server
from werkzeug.wsgi import get_content_length
from werkzeug.wsgi import LimitedStream

from . import json
from ._cookies import parse_cookie_header
from .globals import _cv_app
from .globals import current_app
from .helpers import _split_blueprint_path

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIEnvironment
    from werkzeug.datastructures import Headers
    from werkzeug.routing import Rule


class RequestSource(t.Protocol):
    """Where a request built without an environ takes its values from (the
    ASGI adapter's scope)."""

    method: str
    scheme: str
    server: tuple[str, int | None] | None
    root_path: str
    path_info: str
    query_string: bytes
    remote_addr: str | None
    host: str | None
    cookie: str | None
    content_length: str | None
    content_type: str | None
    transfer_encoding: str | None
    input: t.IO[bytes]

    def make_environ(self) -> WSGIEnvironment: ...

    def make_headers(self) -> Headers: ...


# Endpoint -> its blueprints, innermost first (shared lists, as
# _split_blueprint_path's; endpoints come from the app's rules).
_endpoint_blueprints: dict[str, list[str]] = {}
# Request class -> whether it parses form data as werkzeug's Request does
# (see Request._load_urlencoded_form).
_plain_form_parsing: dict[type, bool] = {}


class Request(RequestBase):
    """The request object behind :data:`diota.request`.

    A :class:`werkzeug.wrappers.Request` that also knows the URL rule it
    matched and reads its size limits from the application's config. Set
    :attr:`Flask.request_class` to use a subclass.
    """

    #: Module or provider used to parse JSON bodies.
    json_module: t.Any = json

    #: The matched :class:`~werkzeug.routing.Rule`, or ``None`` before matching
    #: or when matching failed.
    url_rule: Rule | None = None

    #: The URL arguments of the matched rule, or ``None``.
    view_args: dict[str, t.Any] | None = None

    #: The routing error (404, 405, redirect) if matching failed; raised
    #: when the request is dispatched.
    routing_exception: HTTPException | None = None

    # Set by the ASGI adapter when the view streams its body.
    _body_stream: t.AsyncIterator[bytes] | None = None

    _max_content_length: int | None = None
    _max_form_memory_size: int | None = None
    _max_form_parts: int | None = None

    # Under ASGI the request is built from the scope (``_source``), and the
    # environ and headers only when first read: PERF, most requests never
    # read the environ, and many never look past the Host header.
    _environ: WSGIEnvironment | None = None
    _headers: Headers | None = None
    _source: RequestSource | None = None

    @classmethod
    def _from_source(cls, source: RequestSource) -> Request:
        """The request ``source`` describes, built without an environ: what
        ``cls(environ)`` would be for the environ the source can make."""
        self = cls.__new__(cls)
        self.method = source.method
        self.scheme = source.scheme
        self.server = source.server
        self.root_path = source.root_path.rstrip("/")
        self.path = "/" + source.path_info.lstrip("/")
        self.query_string = source.query_string
        self.remote_addr = source.remote_addr
        self.shallow = False
        self._source = source
        return self

    @classmethod
    def _from_environ(cls, environ: WSGIEnvironment) -> Request:
        """``cls(environ)`` for a class whose constructor is werkzeug's: the
        same attributes, set directly (PERF: without werkzeug's two
        constructors and the headers and environ setters)."""
        self = cls.__new__(cls)
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        self.scheme = environ.get("wsgi.url_scheme", "http")
        self.server = _get_server(environ)
        self.root_path = _wsgi_decoding_dance(environ.get("SCRIPT_NAME") or "").rstrip(
            "/"
        )
        self.path = "/" + _wsgi_decoding_dance(environ.get("PATH_INFO") or "").lstrip(
            "/"
        )
        self.query_string = environ.get("QUERY_STRING", "").encode("latin1")
        self._headers = EnvironHeaders(environ)
        self.remote_addr = environ.get("REMOTE_ADDR")
        self._environ = environ
        self.shallow = False
        environ["werkzeug.request"] = self
        return self

    @property
    def environ(self) -> WSGIEnvironment:
        """The WSGI environ of the request (under ASGI, one made from the
        scope, which it keeps as ``environ["asgi.scope"]``)."""
        environ = self._environ
        if environ is None:
            assert self._source is not None
            environ = self._environ = self._source.make_environ()
            environ["werkzeug.request"] = self
        return environ

    @environ.setter
    def environ(self, value: WSGIEnvironment) -> None:
        self._environ = value

    @property
    def headers(self) -> Headers:
        """The request headers."""
        headers = self._headers
        if headers is None:
            assert self._source is not None
            headers = self._headers = self._source.make_headers()
        return headers

    @headers.setter
    def headers(self, value: Headers) -> None:
        self._headers = value

    def _cookie_header(self) -> str:
        """The ``Cookie`` headers, joined as werkzeug joins them."""
        headers = self._headers
        if headers is None and self._source is not None:
            return self._source.cookie or ""
        if type(headers) is EnvironHeaders and headers.environ is self._environ:
            # PERF: werkzeug would scan the whole environ for it.
            return self._environ.get("HTTP_COOKIE", "")  # type: ignore[no-any-return]
        return ";".join(self.headers.getlist("Cookie"))

    def _has_cookies(self) -> bool:
        """Whether the request sent any cookie (PERF: without parsing them)."""
        return bool(self._cookie_header())

    @cached_property
    def cookies(self) -> ImmutableMultiDict[str, str]:
        """The cookies the request sent, by name."""
        return parse_cookie_header(self._cookie_header(), self.dict_storage_class)  # type: ignore[no-any-return]

    def _host_header(self) -> str | None:
        """The ``Host`` header, read without building :attr:`headers`."""
        source = self._source
        headers = self._headers
        if source is not None and headers is None:
            return source.host
        if type(headers) is EnvironHeaders and headers.environ is self._environ:
            # PERF: werkzeug would work out the environ key for it.
            return self._environ.get("HTTP_HOST")
        return self.headers.get("Host")

    @property
    def max_content_length(self) -> int | None:
        """The largest body to read, in bytes; above it the request gets a 413.

        Set on the request to override ``MAX_CONTENT_LENGTH`` for this
        request only (for example in a view, before reading the body).
        """
        if self._max_content_length is not None:
            return self._max_content_length
        app_ctx = _cv_app.get(None)  # PERF: the context variable, not the proxy
        if app_ctx is None:
            return super().max_content_length
        return app_ctx.app.config["MAX_CONTENT_LENGTH"]  # type: ignore[no-any-return]

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    @property
    def max_form_memory_size(self) -> int | None:
        """The largest non-file form field, in bytes (``MAX_FORM_MEMORY_SIZE``)."""
        if self._max_form_memory_size is not None:
            return self._max_form_memory_size
        app_ctx = _cv_app.get(None)  # PERF: the context variable, not the proxy
        if app_ctx is None:
            return super().max_form_memory_size
        return app_ctx.app.config["MAX_FORM_MEMORY_SIZE"]  # type: ignore[no-any-return]

    @max_form_memory_size.setter
    def max_form_memory_size(self, value: int | None) -> None:
        self._max_form_memory_size = value

    @property  # type: ignore[override]
    def max_form_parts(self) -> int | None:
        """The most multipart parts to parse (``MAX_FORM_PARTS``)."""
        if self._max_form_parts is not None:
            return self._max_form_parts
        app_ctx = _cv_app.get(None)  # PERF: the context variable, not the proxy
        if app_ctx is None:
            return super().max_form_parts
        return app_ctx.app.config["MAX_FORM_PARTS"]  # type: ignore[no-any-return]

    @max_form_parts.setter
    def max_form_parts(self, value: int | None) -> None:
        self._max_form_parts = value

    @property
    def endpoint(self) -> str | None:
        """The endpoint of the matched rule, or ``None``."""
        if self.url_rule is not None:
            return self.url_rule.endpoint  # type: ignore[no-any-return]
        return None

    @property
    def blueprint(self) -> str | None:
        """The full dotted name of the current blueprint, or ``None``."""
        # PERF: read per pipeline step; the rule directly, not self.endpoint.
        rule = self.url_rule
        if rule is not None and "." in (endpoint := rule.endpoint):
            return endpoint.rpartition(".")[0]  # type: ignore[no-any-return]
        return None

    @property
    def blueprints(self) -> list[str]:
        """The current blueprint and its parents, innermost first."""
        # PERF: read several times per request; no detour through blueprint.
        rule = self.url_rule
        if rule is None:
            return []
        endpoint = rule.endpoint
        found = _endpoint_blueprints.get(endpoint)
        if found is None:
            if "." not in endpoint:
                return []
            found = _split_blueprint_path(endpoint.rpartition(".")[0])
            if len(_endpoint_blueprints) < 4096:
                _endpoint_blueprints[endpoint] = found
        return found

    @cached_property
    def stream(self) -> t.IO[bytes]:
        """The body stream, guarded so that malformed framing is a 4xx.

        - With a ``Content-Length``, exactly that many bytes are read: a
          body that ends early is a 400 (werkzeug would accept the short
          body whenever the server sets ``wsgi.input_terminated``).
        - Without one (chunked), the body may not go past
          ``max_content_length``: a 413 instead of a silently cut body.
        - A read error raised by the server (its own chunk-framing errors,
          for one) is a 400, not a 500.
        """
        if self.shallow:
            raise RuntimeError(
                "This request was created with 'shallow=True', reading"
                " from the input stream is disabled."
            )
        source = self._source
        if source is not None and self._environ is None:
            # PERF: the body the ASGI adapter read (in memory or spooled: no
            # server read errors to guard against), without an environ.
            raw = source.input
            length = _content_length(source.content_length, source.transfer_encoding)
            terminated = True
        else:
            environ = self.environ
            raw = t.cast(t.IO[bytes], _GuardedInput(environ["wsgi.input"]))
            length = get_content_length(environ)
            terminated = "wsgi.input_terminated" in environ
        max_length = self.max_content_length
        if length is not None:
            if max_length is not None and length > max_length:
                raise RequestEntityTooLarge()
            return LimitedStream(raw, length)  # type: ignore[return-value]
        if terminated:
            if max_length is None:
                return raw
            return _MaxLengthStream(raw, max_length)  # type: ignore[return-value]
        # No length and no server-terminated stream: nothing safe to read.
        return io.BytesIO()

    def _parse_content_type(self) -> None:
        if not hasattr(self, "_parsed_content_type"):
            source = self._source
            if source is not None and self._headers is None:
                value = source.content_type or ""  # PERF: no headers made
            else:
                value = self.headers.get("Content-Type", "")
            self._parsed_content_type = _options_header(value)

    @property
    def content_length(self) -> int | None:
        """The ``Content-Length`` header as a number; ``None`` when absent or
        with a chunked ``Transfer-Encoding``."""
        source = self._source
        if source is not None and self._headers is None:
            # PERF: from the scope, without making the headers.
            return _content_length(source.content_length, source.transfer_encoding)
        return _content_length(
            self.headers.get("Content-Length"), self.headers.get("Transfer-Encoding")
        )

    @property
    def want_form_data_parsed(self) -> bool:
        """Whether the body is parsed as form data: when a ``Content-Type``
        was sent."""
        source = self._source
        if source is not None and self._environ is None:
            return bool(source.content_type)  # PERF: no environ made for it
        return bool(self.environ.get("CONTENT_TYPE"))

    def get_json(
        self, force: bool = False, silent: bool = False, cache: bool = True
    ) -> t.Any:
        """Parse the body as JSON; see :meth:`werkzeug.wrappers.Request.get_json`.

        A document nested too deeply for the parser is a 400 like any other
        invalid JSON (the parser raises ``RecursionError`` for it).
        """
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            if silent:
                return None
            return self.on_json_loading_failed(
                ValueError("The JSON document is nested too deeply.")
            )

    @cached_property
    def state(self) -> dict[str, t.Any]:
        """Values shared from serving startup: under ASGI the lifespan
        ``state`` the server copies into each request (what the app put in
        :attr:`Flask.serving_state` during ``before_serving``); under WSGI a
        copy of :attr:`Flask.serving_state` itself.

        .. versionadded:: 0.2
        """
        scope = self.environ.get("asgi.scope")
        if scope is not None and "state" in scope:
            return scope["state"]  # type: ignore[no-any-return]
        from .globals import current_app

        return dict(current_app.serving_state) if current_app else {}

    @property
    def body(self) -> t.AsyncIterator[bytes]:
        """The request body as an async iterator of byte chunks::

            @app.post("/upload")
            @stream_request_body
            async def upload():
                async for chunk in request.body:
                    ...

        For a view marked with :func:`~diota.stream_request_body` served
        over ASGI, chunks arrive as the client sends them (with
        ``MAX_CONTENT_LENGTH`` enforced: 413); otherwise they come from the
        body already received. Iterate it once.

        .. versionadded:: 0.2
        """
        if self._body_stream is None:
            self._body_stream = _iter_stream(self.stream)
        return self._body_stream

    def _load_form_data(self) -> None:
        if "form" in self.__dict__:
            return
        if not self._load_urlencoded_form():
            super()._load_form_data()
        # In debug mode, make a missing file in request.files explain that
        # the form probably lacked enctype="multipart/form-data".
        app_ctx = _cv_app.get(None)
        if (
            app_ctx is not None
            and app_ctx.app.debug
            and self.mimetype != "multipart/form-data"
            and not self.files
        ):
            from .debughelpers import attach_enctype_error_multidict

            attach_enctype_error_multidict(self)

    def _load_urlencoded_form(self) -> bool:
        """Parse an urlencoded body as werkzeug's form parser does, without
        making the parser; ``False`` (nothing done) for any other body, or a
        request class that changes how form data is parsed.

        PERF: making the parser reads three limits from the app's config,
        none of which applies to an urlencoded body (read whole, as the
        stream is already limited to ``max_content_length``).
        """
        cls = type(self)
        plain = _plain_form_parsing.get(cls)
        if plain is None:
            plain = _plain_form_parsing[cls] = (
                cls.form_data_parser_class is FormDataParser
                and cls.make_form_data_parser is RequestBase.make_form_data_parser
                and cls._get_stream_for_parsing is RequestBase._get_stream_for_parsing
                and cls.want_form_data_parsed is Request.want_form_data_parsed
            )
        if not plain or self.mimetype != "application/x-www-form-urlencoded":
            return False
        storage = self.parameter_storage_class
        stream = self._get_stream_for_parsing()
        try:
            form = storage(
                parse_qsl(
                    stream.read().decode(),
                    keep_blank_values=True,
                    errors="werkzeug.url_quote",
                )
            )
        except ValueError:
            # werkzeug's parser is silent about a body it cannot decode.
            form = storage()
        attributes = self.__dict__
        attributes["stream"] = stream
        attributes["form"] = form
        attributes["files"] = storage()
        return True

    def on_json_loading_failed(self, e: ValueError | None) -> t.Any:
        try:
            return super().on_json_loading_failed(e)
        except BadRequest as ebr:
            # Show the parser's message only in debug mode.
            if current_app and current_app.debug:
                raise
            raise BadRequest() from ebr


# Content-Type value -> werkzeug's parse of it. PERF: a handful of values
# repeat; bounded, since clients choose them.
_parsed_options: dict[str, tuple[str, dict[str, str]]] = {}


def _options_header(value: str) -> tuple[str, dict[str, str]]:
    """``parse_options_header(value)``, with the parameters copied so that a
    request changing its own cannot reach another."""
    parsed = _parsed_options.get(value)
    if parsed is None:
        parsed = parse_options_header(value)
        if len(_parsed_options) >= 256:
            _parsed_options.clear()
        _parsed_options[value] = parsed
    return parsed[0], dict(parsed[1])


class _GuardedInput(io.RawIOBase):
    """The server's input stream, with its read errors turned into a 400.

    Servers raise their own exceptions for malformed bodies (gunicorn's
    ``InvalidChunkSize``, ...); unhandled they would end as a 500.
    """

    def __init__(self, stream: t.Any) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def _call(self, method: str, *args: t.Any) -> t.Any:
        try:
            return getattr(self._stream, method)(*args)
        except (HTTPException, RuntimeError):
            # HTTP errors are already answers; RuntimeError is diota's own
            # "read this body with async for" message.
            raise
        except Exception as e:
            raise ClientDisconnected() from e

    def readinto(self, buffer: t.Any) -> int:
        data = self._call("read", len(buffer))
        size = len(data)
        buffer[:size] = data
        return size

    def read(self, size: int | None = -1) -> bytes:
        return self._call("read", -1 if size is None else size)  # type: ignore[no-any-return]

    def readline(self, size: int | None = -1) -> bytes:
        return self._call("readline", -1 if size is None else size)  # type: ignore[no-any-return]


class _MaxLengthStream(LimitedStream):
    """A body of unknown length limited by ``max_content_length``.

    werkzeug stops such a stream at the limit without an error, so a body
    that is too long would be read truncated. Reaching the limit here looks
    one byte further: if the body goes on, it is a 413.
    """

    def __init__(self, stream: t.IO[bytes], limit: int) -> None:
        super().__init__(stream, limit, is_max=True)

    def on_exhausted(self) -> None:
        try:
            more = self._stream.read(1)
        except (OSError, ValueError):
            more = b""
        if more:
            raise RequestEntityTooLarge()

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted:
            self.on_exhausted()
        return data


async def _iter_stream(
    stream: t.IO[bytes], size: int = 64 * 1024
) -> t.AsyncIterator[bytes]:
    # In-memory bodies are read in place; others (a socket under WSGI, a
    # spooled file) in a worker thread, so the loop never blocks on them.
    in_memory = isinstance(stream, io.BytesIO)
    while True:
        if in_memory:
            chunk = stream.read(size)
        else:
            import anyio.to_thread

            chunk = await anyio.to_thread.run_sync(stream.read, size)
        if not chunk:
            return
        yield chunk


class Response(ResponseBase):
    """The response class diota builds by default: HTML unless told otherwise.

    Set :attr:`Flask.response_class` to use a subclass.
    """

    default_mimetype: str | None = "text/html"

    json_module = json

    autocorrect_location_header = False

    @property
    def max_cookie_size(self) -> int:  # type: ignore[override]
        """``MAX_COOKIE_SIZE`` from the config, werkzeug's default outside an app."""
        app_ctx = _cv_app.get(None)  # PERF: the context variable, not the proxy
        if app_ctx is not None:
            return app_ctx.app.config["MAX_COOKIE_SIZE"]  # type: ignore[no-any-return]
        return super().max_cookie_size


# werkzeug's members that turn a response into the WSGI triple; a response
# class overriding any of them takes werkzeug's full path.
_WSGI_METHODS = (
    "__call__",
    "get_wsgi_response",
    "get_wsgi_headers",
    "get_app_iter",
    "status_code",
)
_plain_classes: dict[type, bool] = {}


def _plain_body(response: t.Any, method: str) -> list[bytes] | None:
    """The body of ``response`` if werkzeug would send it exactly as it
    stands, headers aside (see :func:`_sent_as_is`): a status that carries
    a body (not 1xx, 204 or 304), a list body of bytes, nothing to call on
    close, and not a HEAD request. ``None`` otherwise."""
    cls = type(response)
    plain = _plain_classes.get(cls)
    if plain is None:
        plain = _plain_classes[cls] = all(
            getattr(cls, name) is getattr(ResponseBase, name) for name in _WSGI_METHODS
        )
    if not plain or response._on_close:
        return None
    status = response._status_code
    if status < 200 or status == 204 or status == 304:
        return None  # werkzeug drops the body and some headers
    if method == "HEAD" or response.direct_passthrough:
        return None
    body = response.response
    if type(body) is not list:
        return None
    for chunk in body:
        if type(chunk) is not bytes:
            return None  # werkzeug encodes str items on the way out
    return body


def _sent_as_is(response: t.Any, method: str) -> bool:
    """Whether werkzeug would send ``response`` exactly as it stands: a
    plain body (see :func:`_plain_body`), a known length, and no URL
    headers to rewrite.

    The WSGI adapter then sends its status, headers and body directly
    (PERF: werkzeug's ``get_wsgi_response`` copies and rescans the headers).
    """
    if _plain_body(response, method) is None:
        return False
    has_length = False
    headers = response.headers
    for key, _ in headers._list if type(headers) is Headers else headers:
        lower = key.lower()
        if lower == "content-length":
            has_length = True
        elif lower == "location" or lower == "content-location":
            return False
    return has_length
