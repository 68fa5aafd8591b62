"""A request as an ASGI scope describes it, and the WSGI environ for it.

The ASGI adapter builds diota's request straight from the scope
(:class:`ScopeSource`); the WSGI environ, which werkzeug and extensions
read, is made from the same scope only when something asks for it. The
inverse, a scope for an environ, serves the test client and ASGI
applications mounted under WSGI.
"""

from __future__ import annotations

import io
import sys
import typing as t

from werkzeug.datastructures import Headers

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIEnvironment

Scope = t.MutableMapping[str, t.Any]


class ScopeSource:
    """The values of a request read from its ASGI HTTP (or WebSocket) scope.

    :class:`diota.wrappers.Request` is built from these without an
    environ; :meth:`make_environ` and :meth:`make_headers` give the rest
    when first asked. The adapter sets :attr:`input` (and, for a body
    without a length, :attr:`body_size`) once the body is read.
    """

    __slots__ = (
        "scope",
        "method",
        "scheme",
        "server",
        "root_path",
        "path_info",
        "query_string",
        "remote_addr",
        "host",
        "upgrade",
        "content_length",
        "content_type",
        "transfer_encoding",
        "may_have_body",
        "cookie",
        "input",
        "body_size",
    )

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        # A websocket scope has no method: its handshake is a GET.
        self.method: str = scope.get("method", "GET")
        self.scheme: str = scope.get("scheme", "http")
        server = scope.get("server")
        if not server or server[1] is None:
            self.server = _server(scope)
        else:
            self.server = server if type(server) is tuple else tuple(server)
        root_path: str = scope.get("root_path", "")
        if root_path:
            self.root_path, self.path_info = _split_path(scope)
        else:
            self.root_path, self.path_info = "", scope["path"]
        self.query_string: bytes = scope.get("query_string", b"")
        client = scope.get("client")
        self.remote_addr: str | None = client[0] if client else None
        # PERF: the headers routing needs, found in one pass; repeated ones
        # joined as the environ would have them.
        host = upgrade = length = None
        cookie = content_type = transfer_encoding = None
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = (
                    value.decode("latin-1")
                    if host is None
                    else (_join(host, value, ","))
                )
            elif name not in _READ_HEADERS:
                continue
            elif name == b"upgrade":
                upgrade = value
            elif name == b"content-length":
                length = _join(length, value, ",")
            elif name == b"transfer-encoding":
                transfer_encoding = _join(transfer_encoding, value, ",")
            elif name == b"content-type":
                content_type = _join(content_type, value, ",")
            else:
                cookie = _join(cookie, value, "; ")
        self.host: str | None = host
        self.upgrade = upgrade is not None
        self.content_length: str | None = length
        self.content_type: str | None = content_type
        self.transfer_encoding: str | None = transfer_encoding
        #: The ``Cookie`` headers, joined.
        self.cookie: str | None = cookie
        #: Whether a body can follow: HTTP/1 frames one with either header
        #: (HTTP/2 and later frame bodies without them).
        self.may_have_body = (
            length is not None
            or transfer_encoding is not None
            or scope.get("http_version", "1.1") not in ("1.1", "1.0")
        )
        self.input: t.IO[bytes] = _EMPTY_INPUT
        self.body_size: int | None = None

    def make_environ(self) -> dict[str, t.Any]:
        """The WSGI environ for this request, its body included."""
        environ = build_environ(self.scope)
        environ["wsgi.input"] = self.input
        if self.body_size and "CONTENT_LENGTH" not in environ:
            # A chunked body: tell werkzeug its length so form parsing works.
            environ["CONTENT_LENGTH"] = str(self.body_size)
        return environ

    def make_headers(self) -> Headers:
        """The request headers, named and joined as the environ has them."""
        joined = _joined_headers(self.scope)
        if self.body_size and "content-length" not in joined:
            joined["content-length"] = str(self.body_size)
        headers = Headers()
        # Names title-cased, as werkzeug's EnvironHeaders gives them.
        headers._list.extend((name.title(), value) for name, value in joined.items())
        return headers


# The headers ScopeSource reads besides Host.
_READ_HEADERS = frozenset(
    {b"upgrade", b"content-length", b"transfer-encoding", b"content-type", b"cookie"}
)


def build_environ(scope: Scope) -> dict[str, t.Any]:
    """A WSGI environ for an ASGI HTTP scope (the body is added later).

    werkzeug's request object, and every extension reading
    ``request.environ``, then work unchanged. The scope stays reachable as
    ``environ["asgi.scope"]``.
    """
    root_path, path = _split_path(scope)
    server_name, server_port = _server(scope)
    environ: dict[str, t.Any] = {
        # A websocket scope has no method: its handshake is a GET.
        "REQUEST_METHOD": scope.get("method", "GET"),
        "SCRIPT_NAME": root_path.encode().decode("latin-1"),
        "PATH_INFO": path.encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": _EMPTY_INPUT,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        # The whole body is buffered: read to its end even without a length.
        "wsgi.input_terminated": True,
        "asgi.scope": scope,
    }
    extra = scope.get("diota.environ")
    if extra:
        # Environ-only values from diota's in-process test client
        # (wsgi.errors, environ_overrides); real servers never set this.
        environ.update(extra)
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    for name, value in _joined_headers(scope).items():
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name == "content-length":
            environ["CONTENT_LENGTH"] = value
        else:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _split_path(scope: Scope) -> tuple[str, str]:
    """The scope's root path, and its path below it."""
    root_path: str = scope.get("root_path", "")
    path: str = scope["path"]
    # The spec has ``path`` include ``root_path``; some servers leave it out.
    if root_path and (path == root_path or path.startswith(root_path + "/")):
        path = path[len(root_path) :]
    return root_path, path


def _server(scope: Scope) -> tuple[str, int]:
    """The server's name and port (``localhost:80`` when the server tells
    neither, or no port)."""
    server = scope.get("server") or ("localhost", 80)
    return server[0], server[1] if server[1] is not None else 80


def _joined_headers(scope: Scope) -> dict[str, str]:
    """The scope's headers by lowercase name, repeated ones joined as WSGI
    servers join them (with commas; cookies with ``"; "``).

    Names with ``_`` are dropped, as gunicorn and nginx do: in an environ
    ``X_Forwarded_For`` would alias ``X-Forwarded-For``.
    """
    joined: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1")
        if "_" in name:
            continue
        joined[name] = _join(
            joined.get(name), raw_value, "; " if name == "cookie" else ","
        )
    return joined


def _join(known: str | None, value: bytes, separator: str) -> str:
    """``value`` as text, after ``known`` when a header repeats."""
    text = value.decode("latin-1")
    return text if known is None else f"{known}{separator}{text}"


# Environ keys an ASGI scope carries itself; the rest (wsgi.errors, keys a
# test put in environ_overrides) travel in scope["diota.environ"].
_SCOPE_KEYS = frozenset(
    {
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "wsgi.version",
        "wsgi.url_scheme",
        "wsgi.input",
        "wsgi.multithread",
        "wsgi.multiprocess",
        "wsgi.run_once",
        "wsgi.input_terminated",
        "werkzeug.debug.preserve_context",
    }
)


def scope_from_environ(environ: WSGIEnvironment) -> dict[str, t.Any]:
    """An ASGI HTTP scope carrying the same request as a WSGI environ (the
    inverse of :func:`build_environ`): for the in-process test client, and
    for ASGI applications mounted under a WSGI server."""
    headers: list[tuple[bytes, bytes]] = []
    extra: dict[str, t.Any] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if not value:
                continue
            name = key.replace("_", "-").lower()
        else:
            if key not in _SCOPE_KEYS:
                extra[key] = value
            continue
        headers.append((name.encode("latin-1"), str(value).encode("latin-1")))

    root_path = environ.get("SCRIPT_NAME", "").encode("latin-1").decode()
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    server_port = environ.get("SERVER_PORT")
    protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    scope: dict[str, t.Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": protocol.partition("/")[2] or "1.1",
        "method": environ["REQUEST_METHOD"],
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "root_path": root_path,
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "headers": headers,
        "server": (
            environ.get("SERVER_NAME", "localhost"),
            int(server_port) if server_port else None,
        ),
        "extensions": {},
        "diota.environ": extra,
    }
    if "REMOTE_ADDR" in environ:
        scope["client"] = (environ["REMOTE_ADDR"], int(environ.get("REMOTE_PORT", 0)))
    preserve = environ.get("werkzeug.debug.preserve_context")
    if preserve is not None:
        scope["diota.preserve_context"] = preserve
    return scope


class _EmptyInput(io.BytesIO):
    """The shared body of requests without one: never written nor closed."""

    def write(self, data: t.Any) -> int:
        raise io.UnsupportedOperation("read-only")

    def close(self) -> None:
        pass


_EMPTY_INPUT = _EmptyInput()
