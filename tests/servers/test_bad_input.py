"""Hostile and malformed HTTP, over raw sockets, to real servers.

The same diota app object (tests/servers/bad_input_app.py) runs under
gunicorn's sync worker (WSGI), uvicorn (ASGI) and hypercorn (ASGI). The rule
under test, from DESIGN.md's "Errors and limits": bad input gets a clear 4xx,
never a 500, a hang or lost data, and the server keeps serving afterwards.
Where the server itself refuses the bytes (bad framing), its 4xx, or closing
the connection, is fine: what matters is the status class and that the next
request gets a 200. Limits hold the same in both modes, chunked bodies included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import socket
import time
import typing as t

import pytest

from . import free_port
from . import serve
from . import Server
from .bad_input_app import MAX_CONTENT_LENGTH
from .bad_input_app import MAX_FORM_MEMORY_SIZE
from .bad_input_app import MAX_FORM_PARTS
from .bad_input_servers import KINDS
from .bad_input_servers import ServerKind
from .rawhttp import abort
from .rawhttp import build
from .rawhttp import chunked
from .rawhttp import connect
from .rawhttp import exchange
from .rawhttp import RawResponse
from .rawhttp import TIMEOUT
from .rawhttp import wait_closed

pytestmark = pytest.mark.servers


@dataclasses.dataclass
class Running:
    kind: ServerKind
    server: Server
    #: Length of the server's output when the current test started.
    log_mark: int = 0

    @property
    def port(self) -> int:
        return self.server.port

    def output(self) -> str:
        return self.server.output()


@pytest.fixture(scope="module", params=list(KINDS))
def running_server(request: pytest.FixtureRequest) -> t.Iterator[Running]:
    kind = KINDS[request.param]
    port = free_port()
    with serve(kind.command(port), port, startup_timeout=15, stop_grace=3) as srv:
        yield Running(kind, srv)


@pytest.fixture(autouse=True)
def _mark_log(running_server: Running) -> None:
    running_server.log_mark = len(running_server.output())


def assert_serving(running: Running) -> None:
    """The app logged no unhandled exception during this test, and a normal
    request, on a fresh connection, gets a 200 promptly."""
    # diota logs "Exception on <path>" before answering 500: this catches a
    # 500 even where the test accepted a closed connection.
    new = running.output()[running.log_mark :]
    assert "Exception on " not in new, f"the app raised:\n{new[-3000:]}"
    response = exchange(running.port, build("GET", "/"))
    assert response.status == 200, _explain(running, response)
    assert response.body == b"ok"


def assert_client_error(
    running: Running,
    response: RawResponse,
    *expected: int,
    server_may_refuse: bool = False,
) -> None:
    """``response`` is one of ``expected`` (any 4xx if none given).

    :param server_may_refuse: Bad framing the server itself rejects: any
        4xx, or closing the connection without an answer, will do.
    """
    if server_may_refuse and response.status is None:
        return
    if server_may_refuse or not expected:
        assert response.status is not None and 400 <= response.status < 500, _explain(
            running, response
        )
    else:
        assert response.status in expected, _explain(running, response)


def _explain(running: Running, response: RawResponse) -> str:
    return (
        f"{running.kind.name}: got {response}\n"
        f"server output (end):\n{running.output()[-2500:]}"
    )


def post(path: str, body: bytes, content_type: str, **kwargs: t.Any) -> bytes:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    return build("POST", path, headers, **kwargs) + body


def post_chunked(path: str, content_type: str) -> bytes:
    return build(
        "POST",
        path,
        [("Content-Type", content_type), ("Transfer-Encoding", "chunked")],
    )


def digest(data: bytes) -> dict[str, t.Any]:
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def send_body(
    server: Running,
    path: str,
    body: bytes,
    content_type: str,
    framing: str,
    chunk_size: int,
) -> t.Any:
    """POST ``body`` with a Content-Length, or chunked in ``chunk_size`` pieces."""
    if framing == "chunked":
        return exchange(
            server.port, post_chunked(path, content_type), chunked(body, chunk_size)
        )
    return exchange(server.port, post(path, body, content_type))


# -- request bodies and MAX_CONTENT_LENGTH --------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_at_the_limit_arrives_whole(running_server: Running, framing: str) -> None:
    data = os.urandom(MAX_CONTENT_LENGTH)
    response = send_body(
        running_server, "/echo", data, "application/octet-stream", framing, 10_000
    )
    assert response.status == 200, _explain(running_server, response)
    assert response.json() == digest(data)


@pytest.mark.parametrize("path", ["/echo", "/form"])
def test_chunked_body_over_limit_is_413(running_server: Running, path: str) -> None:
    data = b"a" * (MAX_CONTENT_LENGTH + 20_000)
    response = exchange(
        running_server.port,
        post_chunked(path, "application/x-www-form-urlencoded"),
        chunked(data, 8192),
    )
    assert_client_error(running_server, response, 413)
    assert_serving(running_server)


@pytest.mark.parametrize("path", ["/echo", "/form"])
def test_content_length_over_limit_is_413(running_server: Running, path: str) -> None:
    size = MAX_CONTENT_LENGTH + 1
    head = build(
        "POST",
        path,
        [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", str(size)),
        ],
    )
    # The body goes out in pieces; sending stops once the server answers.
    response = exchange(running_server.port, head, [b"a" * 8192] * 17)
    assert_client_error(running_server, response, 413)
    assert_serving(running_server)


def test_huge_content_length_is_413(running_server: Running) -> None:
    head = build("POST", "/echo", [("Content-Length", str(10**30))])
    response = exchange(running_server.port, head, b"abc", half_close=True)
    assert_client_error(running_server, response, 413, server_may_refuse=True)
    assert_serving(running_server)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_cut_short_then_close(running_server: Running, framing: str) -> None:
    # The client announces 1000 bytes (or a 1000-byte chunk), sends 10 and
    # is done: a 4xx, or the server drops the request. Never a 500, a hang,
    # or the view handed 10 bytes as if they were the whole body.
    if framing == "chunked":
        head = post_chunked("/echo", "application/octet-stream")
        body = b"3e8\r\n0123456789"
    else:
        head = build("POST", "/echo", [("Content-Length", "1000")])
        body = b"0123456789"
    response = exchange(running_server.port, head, body, half_close=True)
    assert_client_error(running_server, response, server_may_refuse=True)
    assert_serving(running_server)


def test_body_shorter_than_content_length_then_stall(running_server: Running) -> None:
    head = build("POST", "/echo", [("Content-Length", "1000")])
    with contextlib.closing(connect(running_server.port)) as stalled:
        stalled.sendall(head + b"0123456789")
        # Others are served while this client sits on its request.
        assert_serving(running_server)
        assert_serving(running_server)
    assert_serving(running_server)


# -- framing the server must refuse ---------------------------------------------


@pytest.mark.parametrize(
    "lengths",
    [["5", "6"], ["5, 6"], ["-1"], ["abc"], ["+5"], ["0x5"], ["5 5"]],
    ids=["two-headers", "list", "negative", "letters", "plus", "hex", "space"],
)
def test_bad_content_length_is_refused(
    running_server: Running, lengths: list[str]
) -> None:
    headers = [("Content-Length", value) for value in lengths]
    head = build("POST", "/echo", headers)
    response = exchange(running_server.port, head, b"hello", half_close=True)
    assert_client_error(running_server, response, server_may_refuse=True)
    assert_serving(running_server)


@pytest.mark.parametrize("declared", ["3", "11", "500"])
def test_content_length_and_chunked_together(
    running_server: Running, declared: str
) -> None:
    # Refusing is fine; if the server accepts, chunked framing wins
    # (RFC 9112, 6.3) and the app must see exactly the chunked body: not
    # the first Content-Length bytes of it, not a 400 for a short read.
    data = b"hello world"
    head = build(
        "POST",
        "/echo",
        [("Content-Length", declared), ("Transfer-Encoding", "chunked")],
    )
    response = exchange(running_server.port, head, chunked(data, 4))
    if response.status == 200:
        assert response.json() == digest(data), _explain(running_server, response)
    else:
        assert_client_error(running_server, response, server_may_refuse=True)
    assert_serving(running_server)


def test_unknown_transfer_encoding_is_refused(running_server: Running) -> None:
    head = build("POST", "/echo", [("Transfer-Encoding", "gzip, zork")])
    response = exchange(running_server.port, head, b"hello", half_close=True)
    # RFC 9112 6.1: 501 for a transfer coding the server does not know.
    if response.status != 501:
        assert_client_error(running_server, response, server_may_refuse=True)
    assert_serving(running_server)


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"5;\x00\r\nhello\r\n0\r\n\r\n",
    ],
    ids=["bad-size", "no-terminator", "negative-size", "bad-extension"],
)
def test_chunked_framing_garbage_is_refused(
    running_server: Running, body: bytes
) -> None:
    head = post_chunked("/echo", "application/octet-stream")
    response = exchange(running_server.port, head, body, half_close=True)
    if response.status == 200 and b";" in body:
        # Chunk extensions may be ignored (RFC 9112, 7.1.1): then the body
        # must arrive intact.
        assert response.json() == digest(b"hello")
    else:
        assert_client_error(running_server, response, server_may_refuse=True)
    assert_serving(running_server)


# -- multipart and urlencoded forms ---------------------------------------------

BOUNDARY = "diota-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        + value
        + b"\r\n"
    )


def multipart(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def test_multipart_control(running_server: Running) -> None:
    # A file above MAX_FORM_MEMORY_SIZE is fine: that limit is for fields.
    upload = os.urandom(MAX_FORM_MEMORY_SIZE + 50_000)
    body = multipart(part("name", b"x"), part("up", upload, "up.bin"))
    response = exchange(running_server.port, post("/form", body, MULTIPART))
    assert response.status == 200, _explain(running_server, response)
    assert response.json() == {
        "name": "x",
        "fields": 1,
        "files": {"up": len(upload)},
    }


def test_chunked_multipart_control(running_server: Running) -> None:
    body = multipart(part("name", b"chunked"), part("up", b"z" * 5000, "z.txt"))
    response = exchange(
        running_server.port, post_chunked("/form", MULTIPART), chunked(body, 1000)
    )
    assert response.status == 200, _explain(running_server, response)
    assert response.json()["files"] == {"up": 5000}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (
            "multipart/form-data; boundary=other",
            multipart(part("name", b"x")),
        ),
        ("multipart/form-data", multipart(part("name", b"x"))),
        ('multipart/form-data; boundary=""', multipart(part("name", b"x"))),
        (MULTIPART, f"--{BOUNDARY}\r\nContent-Disposition: form-data".encode()),
        (MULTIPART, part("name", b"x") + f"--{BOUNDARY}\r\n".encode()),
        (MULTIPART, f"--{BOUNDARY}\r\n\r\nno disposition\r\n--{BOUNDARY}--".encode()),
        (MULTIPART, b"\x00\xff" * 100),
    ],
    ids=[
        "boundary-mismatch",
        "no-boundary",
        "empty-boundary",
        "unterminated-headers",
        "unterminated-part",
        "no-disposition",
        "binary-garbage",
    ],
)
def test_malformed_multipart_is_400(
    running_server: Running, content_type: str, body: bytes
) -> None:
    # werkzeug parses bad forms as empty: the required field is missing.
    response = exchange(running_server.port, post("/form", body, content_type))
    assert_client_error(running_server, response, 400)
    assert_serving(running_server)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_too_many_parts_is_413(running_server: Running, framing: str) -> None:
    body = multipart(*(part(f"f{i}", b"v") for i in range(MAX_FORM_PARTS + 5)))
    response = send_body(running_server, "/form", body, MULTIPART, framing, 50)
    assert_client_error(running_server, response, 413)
    assert_serving(running_server)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_multipart_field_over_memory_limit_is_413(
    running_server: Running, framing: str
) -> None:
    body = multipart(part("name", b"n" * (MAX_FORM_MEMORY_SIZE + 1)))
    response = send_body(running_server, "/form", body, MULTIPART, framing, 4000)
    assert_client_error(running_server, response, 413)
    assert_serving(running_server)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_long_urlencoded_field_arrives_whole(
    running_server: Running, framing: str
) -> None:
    # MAX_FORM_MEMORY_SIZE is for multipart fields (as in Flask): an
    # urlencoded body is bounded by MAX_CONTENT_LENGTH alone.
    name = "n" * (MAX_FORM_MEMORY_SIZE + 1000)
    body = b"name=" + name.encode()
    urlencoded = "application/x-www-form-urlencoded"
    response = send_body(running_server, "/form", body, urlencoded, framing, 5000)
    assert response.status == 200, _explain(running_server, response)
    assert response.json() == {"name": name, "fields": 1, "files": {}}


# -- JSON -----------------------------------------------------------------------


def test_json_control(running_server: Running) -> None:
    body = json.dumps({"a": [1, 2, {"b": None}]}).encode()
    response = exchange(running_server.port, post("/json", body, "application/json"))
    assert response.status == 200, _explain(running_server, response)
    assert response.json() == {"type": "dict"}


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b'{"a": "\xff\xfe"}',
        b"\xef\xbb\xbf\xff",
        b"[" * 100_000,
        b"[" * 50_000 + b"]" * 50_000,
        b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    ],
    ids=[
        "syntax",
        "empty",
        "invalid-utf8",
        "bom-garbage",
        "deep-open",
        "deep-closed",
        "deep-objects",
    ],
)
def test_bad_json_is_400(running_server: Running, body: bytes) -> None:
    assert len(body) <= MAX_CONTENT_LENGTH
    response = exchange(running_server.port, post("/json", body, "application/json"))
    assert_client_error(running_server, response, 400)
    assert_serving(running_server)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-json-ish", ""])
def test_json_with_wrong_content_type_is_415(
    running_server: Running, content_type: str
) -> None:
    response = exchange(running_server.port, post("/json", b"{}", content_type))
    assert_client_error(running_server, response, 415)
    assert_serving(running_server)


# -- path, query and cookies ----------------------------------------------------


@pytest.mark.parametrize(
    ("target", "rest"),
    [
        ("/path/%zz%", "%zz%"),
        ("/path/a%2", "a%2"),
        ("/path/%ff%fe", "\ufffd\ufffd"),
        ("/path/%c3%28", "\ufffd("),
        ("/path/%ed%a0%80", "\ufffd\ufffd\ufffd"),
        ("/path/a%00b", "a\x00b"),
    ],
)
def test_bad_percent_encoding_in_path(
    running_server: Running, target: str, rest: str
) -> None:
    # Same answer in both modes: bad escapes kept, bad UTF-8 replaced.
    response = exchange(running_server.port, build("GET", target))
    assert response.status == 200, _explain(running_server, response)
    assert response.json() == {"rest": rest}
    assert_serving(running_server)


@pytest.mark.parametrize(
    "target", [b"/path/\xff\xfe", b"/path/caf\xc3\xa9", b"/args?q=\xff", b"/pa th"]
)
def test_raw_bytes_in_request_target(running_server: Running, target: bytes) -> None:
    # h11 refuses non-ASCII targets with a 400; a server that passes them on
    # must see them served (decoded leniently), never a 500.
    response = exchange(running_server.port, build("GET", target))
    if response.status != 200:
        assert_client_error(running_server, response, server_may_refuse=True)
    assert_serving(running_server)


def test_bad_encoding_in_query(running_server: Running) -> None:
    # werkzeug keeps invalid UTF-8 in a query value percent-encoded.
    target = "/args?a=%ff&b=%zz&c=%&d=%e2%82&e=ok&=empty&f"
    response = exchange(running_server.port, build("GET", target))
    assert response.status == 200, _explain(running_server, response)
    assert response.json() == {
        "args": {
            "a": ["%FF"],
            "b": ["%zz"],
            "c": ["%"],
            "d": ["%E2%82"],
            "e": ["ok"],
            "": ["empty"],
            "f": [""],
        }
    }


@pytest.mark.parametrize(
    "cookie",
    [
        b"a=%ff%fe; b=%zz",
        b"a=\xff\xfe; b=ok",
        b'a="\\xff\\q"; b="unterminated',
        b";;; =; ==; a",
        b"a=" + b"x" * 3000,
    ],
    ids=["percent", "raw-bytes", "quoting", "separators", "long"],
)
def test_bad_cookies(running_server: Running, cookie: bytes) -> None:
    response = exchange(
        running_server.port, build("GET", "/cookies", [("Cookie", cookie)])
    )
    assert response.status == 200, _explain(running_server, response)
    assert isinstance(response.json()["cookies"], dict)
    assert_serving(running_server)


# -- Host and TRUSTED_HOSTS -----------------------------------------------------


def test_trusted_subdomain_control(running_server: Running) -> None:
    response = exchange(running_server.port, build("GET", "/", host="api.example.com"))
    assert response.status == 200, _explain(running_server, response)


@pytest.mark.parametrize(
    "host",
    [
        b"evil.test",
        b"example.com.evil.test",
        b"bad<host>.example.com",
        b"a b.example.com",
        b"a..example.com",
        b"\xff.example.com",
        b"x" * 64 + b".example.com",
        b"127.0.0.1:99999",
        b"127.0.0.1:port",
        b"127.0.0.1@evil.test",
        b"",
    ],
    ids=[
        "untrusted",
        "untrusted-suffix",
        "angle-brackets",
        "space",
        "empty-label",
        "non-ascii",
        "long-label",
        "port-range",
        "port-letters",
        "userinfo",
        "empty",
    ],
)
def test_bad_host_is_400(running_server: Running, host: bytes) -> None:
    response = exchange(running_server.port, build("GET", "/", host=host))
    assert_client_error(running_server, response, 400)
    assert_serving(running_server)


def test_two_hosts_is_400(running_server: Running) -> None:
    head = build("GET", "/", [("Host", "evil.test")], host="127.0.0.1")
    response = exchange(running_server.port, head)
    assert_client_error(running_server, response, 400)
    assert_serving(running_server)


# -- the session cookie ---------------------------------------------------------


def _login(running: Running) -> str:
    response = exchange(running.port, build("GET", "/session/login"))
    assert response.status == 200, _explain(running, response)
    cookie = response.header("set-cookie")
    assert cookie is not None and cookie.startswith("session=")
    return cookie.split(";", 1)[0].partition("=")[2]


def _session_user(running: Running, cookie: bytes) -> RawResponse:
    return exchange(
        running.port, build("GET", "/session", [("Cookie", b"session=" + cookie)])
    )


def test_session_cookie_control(running_server: Running) -> None:
    response = _session_user(running_server, _login(running_server).encode())
    assert response.status == 200, _explain(running_server, response)
    assert response.json() == {"user": "alice"}


def _tampered(value: str) -> list[bytes]:
    payload, _, rest = value.partition(".")
    flipped = ("B" if payload[0] != "B" else "C") + payload[1:]
    return [
        f"{flipped}.{rest}".encode(),  # payload changed
        value[:-2].encode() + (b"AA" if value[-2:] != "AA" else b"BB"),  # signature
        value.rsplit(".", 1)[0].encode(),  # signature removed
        b".".join(value.encode().split(b".")[::-1]),
        b"!!!.@@@.###",
        b"....",
        b"\xff\xfe.\x80",
        b"e30." + b"A" * 5000,
    ]


def test_tampered_session_cookie_is_an_empty_session(running_server: Running) -> None:
    for cookie in _tampered(_login(running_server)):
        response = _session_user(running_server, cookie)
        assert response.status == 200, (cookie, _explain(running_server, response))
        assert response.json() == {"user": None}, cookie
    assert_serving(running_server)


# -- clients that stall or vanish -----------------------------------------------


@pytest.mark.parametrize(
    "partial",
    [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: abc",
        b"GET /pa",
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\nabc",
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked"
        b"\r\n\r\n10\r\nabc",
    ],
    ids=["mid-headers", "mid-request-line", "mid-body", "mid-chunk"],
)
def test_stalled_client_does_not_block_others(
    running_server: Running, partial: bytes
) -> None:
    with contextlib.closing(connect(running_server.port)) as stalled:
        stalled.sendall(partial)
        time.sleep(0.2)
        assert_serving(running_server)
    assert_serving(running_server)


@pytest.mark.parametrize(
    "partial",
    [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: abc",
        b"POST /form HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
        b"Content-Type: " + MULTIPART.encode() + b"\r\n\r\n" + part("name", b"x"),
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked"
        b"\r\n\r\n" + b"".join(chunked(b"x" * 50_000, last=False)),
    ],
    ids=["mid-headers", "mid-multipart", "mid-chunked"],
)
def test_vanishing_client_does_not_break_the_server(
    running_server: Running, partial: bytes
) -> None:
    sock = connect(running_server.port)
    sock.sendall(partial)
    time.sleep(0.1)
    abort(sock)
    assert_serving(running_server)
    assert_serving(running_server)


def test_client_vanishing_during_a_streamed_response(running_server: Running) -> None:
    sock = connect(running_server.port)
    try:
        sock.sendall(build("GET", "/stream"))
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        abort(sock)
    time.sleep(0.2)
    assert_serving(running_server)
    assert_serving(running_server)


def test_many_bad_clients_at_once(running_server: Running) -> None:
    # A burst of garbage, half-requests and resets, then normal service.
    socks: list[socket.socket] = []
    try:
        for i in range(20):
            sock = connect(running_server.port)
            socks.append(sock)
            sock.sendall([b"\x16\x03\x01\x00garbage\r\n\r\n", b"GET /", b"POST"][i % 3])
        for sock in socks[::2]:
            abort(sock)
    finally:
        for sock in socks:
            sock.close()
    assert_serving(running_server)


@pytest.mark.parametrize(
    "running_server",
    [name for name, kind in KINDS.items() if kind.stall_timeout is not None],
    indirect=True,
)
def test_stalled_clients_are_cut_off_by_the_server_timeout(
    running_server: Running,
) -> None:
    # Where the server has a read (gunicorn: worker) timeout, a client that
    # stops mid-headers or mid-body is dropped within it, and service goes on.
    timeout = running_server.kind.stall_timeout
    assert timeout is not None
    head = build("POST", "/echo", [("Content-Length", "1000")])
    with (
        contextlib.closing(connect(running_server.port)) as mid_body,
        contextlib.closing(connect(running_server.port)) as mid_headers,
    ):
        mid_body.sendall(head + b"0123456789")
        mid_headers.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: a")
        started = time.monotonic()
        for sock in (mid_body, mid_headers):
            response = wait_closed(sock, timeout + TIMEOUT)
            if response.status == 500 and running_server.kind.name == "gunicorn":
                # gunicorn's own page when it aborts a timed-out worker
                # (SystemExit in the worker); the app never answered.
                assert b"<h1><p>Internal Server Error</p></h1>" in response.body
            elif response.status is not None:
                assert_client_error(running_server, response, server_may_refuse=True)
        assert time.monotonic() - started < timeout + TIMEOUT
    assert_serving(running_server)
