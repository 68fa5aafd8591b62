"""A raw-socket HTTP/1.1 client for sending malformed requests to real servers.

Clients such as httpx refuse to send broken framing, bad bytes or half a
request; these helpers write exactly the bytes given. Every socket operation
has a timeout, so a server that hangs fails the test instead of hanging it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import select
import socket
import struct
import time
import typing as t

HOST = "127.0.0.1"
#: Seconds any single socket operation may take before the server counts as hung.
TIMEOUT = 5.0


class ServerHung(AssertionError):
    """The server neither answered nor closed the connection in time."""


@dataclasses.dataclass
class RawResponse:
    """What came back on a connection.

    ``status`` is ``None`` when the server closed the connection without
    answering (a legitimate reaction to some garbage).
    """

    status: int | None
    reason: str = ""
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), if any."""
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def json(self) -> t.Any:
        return json.loads(self.body)

    def __str__(self) -> str:
        return f"{self.status} {self.reason} {self.body[:300]!r}"


def connect(port: int, timeout: float = TIMEOUT) -> socket.socket:
    """A connected TCP socket whose every operation times out."""
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def build(
    method: str,
    target: str | bytes,
    headers: t.Sequence[tuple[str | bytes, str | bytes]] = (),
    *,
    host: str | bytes | None = HOST,
    close: bool = True,
) -> bytes:
    """The head of a request, byte for byte as given (no validation).

    :param target: The request target, sent as is (bytes for raw bytes).
    :param headers: Extra header lines, in order; duplicates are kept.
    :param host: The ``Host`` header, or ``None`` for none.
    :param close: Add ``Connection: close``, so the server ends the
        connection after answering.
    """
    lines = [_b(method) + b" " + _b(target) + b" HTTP/1.1"]
    if host is not None:
        lines.append(b"Host: " + _b(host))
    lines.extend(_b(name) + b": " + _b(value) for name, value in headers)
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _b(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


def chunked(data: bytes, size: int = 8192, *, last: bool = True) -> list[bytes]:
    """``data`` in chunked transfer coding, one list item per chunk."""
    parts = [
        b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size])
        for i in range(0, len(data), size)
    ]
    if last:
        parts.append(b"0\r\n\r\n")
    return parts


def exchange(
    port: int,
    head: bytes,
    body: bytes | t.Iterable[bytes] = b"",
    *,
    half_close: bool = False,
    timeout: float = TIMEOUT,
) -> RawResponse:
    """Send one request on a new connection and read the answer.

    The body goes out piece by piece; once the server has answered (it may
    refuse a body early, a 413 say) the rest is not sent, as a real client
    would stop on an early response.

    :param body: Bytes, or an iterable of pieces to send one at a time.
    :param half_close: Shut down the sending side afterwards (the client is
        done, e.g. after a body shorter than its ``Content-Length``).
    :raises ServerHung: No answer and no close within ``timeout``.
    """
    pieces = [body] if isinstance(body, bytes) else list(body)
    with contextlib.closing(connect(port, timeout)) as sock:
        sock.sendall(head)
        for piece in pieces:
            if _readable(sock):
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # The server stopped reading: its answer may be waiting.
        if half_close:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        return read_response(sock, timeout=timeout)


def _readable(sock: socket.socket) -> bool:
    ready, _, _ = select.select([sock], [], [], 0)
    return bool(ready)


def read_response(sock: socket.socket, *, timeout: float = TIMEOUT) -> RawResponse:
    """Read one final response (skipping 1xx) from ``sock``.

    A connection reset after data arrived ends the body, like a close does.

    :raises ServerHung: No complete answer and no close within ``timeout``.
    """
    reader = _Reader(sock, time.monotonic() + timeout)
    while True:
        head = reader.read_until(b"\r\n\r\n")
        if head is None:
            return RawResponse(status=None)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = [
            (name.strip(), value.strip())
            for name, _, value in (line.partition(":") for line in header_lines)
        ]
        if status >= 200:
            break
    response = RawResponse(status, reason, headers)
    length = response.header("content-length")
    if status in (204, 304):
        return response
    if (response.header("transfer-encoding") or "").lower() == "chunked":
        response.body = reader.read_chunked()
    elif length is not None:
        response.body = reader.read_exactly(int(length))
    else:
        response.body = reader.read_to_close()
    return response


class _Reader:
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""
        self.eof = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise ServerHung(f"no answer in time; got {self.buffer[:200]!r}")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise ServerHung(f"no answer in time; got {self.buffer[:200]!r}") from None
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def read_until(self, marker: bytes) -> bytes | None:
        while marker not in self.buffer:
            if not self._fill():
                if self.buffer:
                    raise AssertionError(f"truncated response: {self.buffer[:200]!r}")
                return None
        data, _, self.buffer = self.buffer.partition(marker)
        return data

    def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise AssertionError(f"body cut short: {len(self.buffer)} of {size}")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_to_close(self) -> bytes:
        while self._fill():
            pass
        data, self.buffer = self.buffer, b""
        return data

    def read_chunked(self) -> bytes:
        body = b""
        while True:
            line = self.read_until(b"\r\n")
            if line is None:
                raise AssertionError("chunked body cut short")
            size = int(line.split(b";")[0], 16)
            if size == 0:
                # Trailers, then the blank line.
                while self.read_until(b"\r\n"):
                    pass
                return body
            body += self.read_exactly(size)
            self.read_exactly(2)


def abort(sock: socket.socket) -> None:
    """Close ``sock`` with a reset (RST) instead of an orderly close: a client
    that vanishes (crashed, network gone)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_closed(sock: socket.socket, timeout: float) -> RawResponse:
    """Wait up to ``timeout`` for the server to answer or close ``sock``.

    :raises ServerHung: It did neither.
    """
    return read_response(sock, timeout=timeout)
