"""WSGI under ASGI: diota's bridge against asgiref's and a2wsgi's.

Run from the repository root with the benchmarks extra installed (and
``wrk`` for the over-the-wire part, e.g. ``apt-get install -y wrk``)::

    .venv-bench/bin/python -m benchmarks.bridge

Every bridge wraps the same legacy WSGI app (``benchmarks/apps/legacy_wsgi.py``):

- ``diota``: ``diota.mounts.WSGIMiddleware(legacy)``.
- ``asgiref``: ``asgiref.wsgi.WsgiToAsgi(legacy)``.
- ``a2wsgi``: ``a2wsgi.WSGIMiddleware(legacy)`` (its defaults: 10 threads).
- ``diota-mount``: a diota app with ``app.mount_fallback(legacy)``, to show
  what routing through a diota app costs. Not part of the comparison.

Three parts, each skippable:

In process
    An asyncio driver calls each ASGI app directly with ``C`` concurrent
    client tasks (``--concurrency``, 1, 32 and 64 by default), each sending
    requests back to back for ``--round-time`` seconds. Rounds alternate
    between the bridges; the median requests/s of ``--rounds`` rounds is
    reported, with the ratio diota / max(asgiref, a2wsgi).
Over the wire
    uvicorn (one worker) serves each bridge on 127.0.0.1; wrk loads it with
    ``--connections`` connections for ``--duration`` seconds per scenario
    (after a 1 s warm-up). Without wrk a bounded Python client is used.
Upload
    A fresh uvicorn per bridge and framing receives a ``--upload-mib`` body
    (1 GiB by default) on ``/upload``; the answer's size and sha256 are
    checked and the serving process's peak RSS growth is reported.

The ``/slow`` scenario (a 20 ms blocking call) tells concurrent bridges from
serial ones: the legacy app counts how many calls are in flight at once.
Prints markdown and writes ``benchmarks/results/bridge.{md,json}``.
``--quick`` is the smoke mode: a few requests, tiny upload.
"""

from __future__ import annotations

import argparse
import asyncio
import collections.abc as cabc
import contextlib
import dataclasses
import datetime
import functools
import hashlib
import http.client
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t

from .apps import Framework
from .apps import legacy_wsgi
from .apps.common import Scenario
from .driver import check
from .driver import Response
from .inprocess import _loadavg
from .inprocess import _split
from .inprocess import DEFAULT_OUT
from .wire import _read_status
from .wire import _serving_pid
from .wire import _wrk_script
from .wire import HOST
from .wire import http_request
from .wire import run_python_load
from .wire import Server

Scope = dict[str, t.Any]
Message = dict[str, t.Any]
Receive = t.Callable[[], cabc.Awaitable[Message]]
Send = t.Callable[[Message], cabc.Awaitable[None]]
ASGIApp = t.Callable[[Scope, Receive, Send], cabc.Awaitable[None]]
WSGIApp = t.Callable[..., cabc.Iterable[bytes]]

MiB = 1024 * 1024
#: What the issue asks of diota's bridge against the faster of the other two.
TARGET_RATIO = 1.5
#: The most the serving process may grow while it receives the upload.
TARGET_UPLOAD_GROWTH_MIB = 32.0
#: The bridges diota is compared with.
PEERS = ("asgiref", "a2wsgi")


# -- the bridges ----------------------------------------------------------------


def _diota(app: WSGIApp) -> ASGIApp:
    from diota.mounts import WSGIMiddleware

    return t.cast(ASGIApp, WSGIMiddleware(app))


def _asgiref(app: WSGIApp) -> ASGIApp:
    from asgiref.wsgi import WsgiToAsgi

    return t.cast(ASGIApp, WsgiToAsgi(app))  # type: ignore[no-untyped-call]


def _a2wsgi(app: WSGIApp) -> ASGIApp:
    from a2wsgi import WSGIMiddleware

    return t.cast(ASGIApp, WSGIMiddleware(app))


def _diota_mount(app: WSGIApp) -> ASGIApp:
    import diota

    front = diota.Flask("legacy_bridge")
    front.mount_fallback(app)
    return t.cast(ASGIApp, front)


@dataclasses.dataclass(frozen=True)
class Bridge:
    """One row: how to wrap the legacy app, and what it needs."""

    name: str
    build: t.Callable[[WSGIApp], ASGIApp]
    requires: str  # a module that must import
    note: str

    @property
    def attribute(self) -> str:
        """The module attribute uvicorn is pointed at (see ``__getattr__``)."""
        return "asgi_" + self.name.replace("-", "_")

    def installed(self) -> bool:
        module, _, name = self.requires.partition(":")
        try:
            found = importlib.import_module(module)
        except ImportError:
            return False
        if name and found is not None:
            # The diota-mount row needs the API, not just the package.
            return hasattr(getattr(found, "Flask", None), name)
        return True


BRIDGES: dict[str, Bridge] = {
    b.name: b
    for b in (
        Bridge("diota", _diota, "diota.mounts", "diota.mounts.WSGIMiddleware"),
        Bridge("asgiref", _asgiref, "asgiref.wsgi", "asgiref.wsgi.WsgiToAsgi"),
        Bridge("a2wsgi", _a2wsgi, "a2wsgi", "a2wsgi.WSGIMiddleware (10 threads)"),
        Bridge(
            "diota-mount",
            _diota_mount,
            "diota:mount_fallback",
            "a diota app with app.mount_fallback(legacy)",
        ),
    )
}
_BY_ATTRIBUTE = {b.attribute: b for b in BRIDGES.values()}


@functools.cache
def bridged(name: str) -> ASGIApp:
    """The legacy app wrapped in bridge ``name`` (one instance per process)."""
    return BRIDGES[name].build(legacy_wsgi.app)


def __getattr__(name: str) -> ASGIApp:
    # uvicorn is given ``benchmarks.bridge:asgi_<bridge>``; building on
    # demand keeps this module importable without every bridge installed.
    bridge = _BY_ATTRIBUTE.get(name)
    if bridge is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return bridged(bridge.name)


# -- the scenarios --------------------------------------------------------------

#: A few KiB for ``/echo``: printable, so wrk's Lua script can carry it.
ECHO_BODY = (b"0123456789abcdef" * 256)[:4000]
DOWNLOAD_SIZE = MiB

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("hello", "GET", "/hello", expect=legacy_wsgi.HELLO),
    Scenario("json", "GET", "/json", expect=b'"legacy": true'),
    Scenario(
        "echo",
        "POST",
        "/echo",
        expect=ECHO_BODY[-100:],
        body=ECHO_BODY,
        content_type="application/octet-stream",
    ),
    Scenario("slow", "GET", "/slow", expect=b"slept"),
    Scenario("download", "GET", f"/download?size={DOWNLOAD_SIZE}", expect=b"x" * 1000),
)
SCENARIO_NAMES = tuple(s.name for s in SCENARIOS)
BY_NAME = {s.name: s for s in SCENARIOS}
#: The scenarios the 1.5x target is judged on (download is reported only).
TARGET_SCENARIOS = ("hello", "json", "echo", "slow")


# -- in process -----------------------------------------------------------------


def http_scope(
    method: str, target: str, headers: cabc.Iterable[tuple[str, str]] = ()
) -> Scope:
    """The scope uvicorn would build for ``method target``."""
    path, _, query = target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": (HOST, 8000),
        "client": (HOST, 50000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [
            (b"host", f"{HOST}:8000".encode()),
            *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers),
        ],
    }


class Exchange:
    """One request's ``receive``/``send``, behaving like uvicorn's.

    The body goes out as the given chunks (``more_body`` on all but the
    last); ``http.disconnect`` comes only once the response is complete.
    """

    __slots__ = ("chunks", "index", "complete", "waiter", "status", "headers", "body")

    def __init__(self, chunks: cabc.Sequence[bytes], keep: bool = False) -> None:
        self.chunks = chunks or (b"",)
        self.index = 0
        self.complete = False
        self.waiter: asyncio.Future[None] | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] | None = [] if keep else None

    async def receive(self) -> Message:
        index = self.index
        if index < len(self.chunks):
            self.index = index + 1
            return {
                "type": "http.request",
                "body": self.chunks[index],
                "more_body": index + 1 < len(self.chunks),
            }
        if not self.complete:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", ()))
        elif kind == "http.response.body":
            if self.body is not None:
                self.body.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
                if self.waiter is not None and not self.waiter.done():
                    self.waiter.set_result(None)


def _request_headers(scenario: Scenario) -> list[tuple[str, str]]:
    headers = []
    if scenario.content_type:
        headers.append(("content-type", scenario.content_type))
    if scenario.method == "POST":
        headers.append(("content-length", str(len(scenario.body))))
    return headers


async def call(
    app: ASGIApp,
    method: str,
    target: str,
    chunks: cabc.Sequence[bytes] = (),
    headers: cabc.Iterable[tuple[str, str]] = (),
) -> Response:
    """One request through ``app``, the whole response kept."""
    exchange = Exchange(chunks, keep=True)
    await app(http_scope(method, target, headers), exchange.receive, exchange.send)
    return Response(
        exchange.status,
        [(k.decode("latin-1"), v.decode("latin-1")) for k, v in exchange.headers],
        b"".join(exchange.body or ()),
    )


async def _round(
    app: ASGIApp, scenario: Scenario, concurrency: int, seconds: float
) -> float:
    """Requests/s of ``concurrency`` clients sending back to back."""
    template = http_scope(scenario.method, scenario.path, _request_headers(scenario))
    chunks = (scenario.body,)
    expected = scenario.status
    done = 0
    failed = 0
    clock = time.perf_counter
    deadline = clock() + seconds

    async def client() -> None:
        nonlocal done, failed
        while clock() < deadline:
            exchange = Exchange(chunks)
            await app(template.copy(), exchange.receive, exchange.send)
            if exchange.status != expected:
                failed += 1
            done += 1

    start = clock()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = clock() - start
    if failed:
        raise AssertionError(f"{failed} of {done} requests had the wrong status")
    return done / elapsed


async def _inprocess(
    bridges: list[str],
    scenarios: list[str],
    levels: list[int],
    rounds: int,
    round_time: float,
) -> dict[str, t.Any]:
    apps = {name: bridged(name) for name in bridges}
    rows: dict[str, dict[str, dict[str, t.Any]]] = {n: {} for n in bridges}
    for scenario_name in scenarios:
        scenario = BY_NAME[scenario_name]
        for name, app in apps.items():
            check(
                scenario,
                await call(
                    app,
                    scenario.method,
                    scenario.path,
                    (scenario.body,),
                    _request_headers(scenario),
                ),
                name,
            )
        for level in levels:
            values: dict[str, list[float]] = {n: [] for n in bridges}
            peaks: dict[str, int] = dict.fromkeys(bridges, 0)
            for app in apps.values():  # warm-up: threads, caches
                await _round(app, scenario, level, min(round_time, 0.2))
            for index in range(rounds):
                # Alternating the order spreads any drift over every bridge.
                order = (
                    bridges[index % len(bridges) :] + bridges[: index % len(bridges)]
                )
                for name in order:
                    legacy_wsgi.stats.reset()
                    values[name].append(
                        await _round(apps[name], scenario, level, round_time)
                    )
                    peaks[name] = max(peaks[name], legacy_wsgi.stats.slow_peak)
            for name in bridges:
                cell: dict[str, t.Any] = {
                    "rps": statistics.median(values[name]),
                    "rounds": values[name],
                }
                if scenario_name == "slow":
                    cell["in_flight"] = peaks[name]
                rows[name].setdefault(scenario_name, {})[str(level)] = cell
                print(
                    f"  in-process {scenario_name} C={level} {name}:"
                    f" {cell['rps']:,.0f} req/s",
                    file=sys.stderr,
                )
    return rows


# -- over the wire --------------------------------------------------------------


def _framework(bridge: Bridge) -> Framework:
    # Not __name__: that is "__main__" under ``python -m``.
    return Framework(
        f"bridge-{bridge.name}", "asgi", f"benchmarks.bridge:{bridge.attribute}"
    )


def _get_json(port: int, target: str) -> dict[str, t.Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", target)
        value: dict[str, t.Any] = json.loads(conn.getresponse().read())
        return value
    finally:
        conn.close()


def _load(
    port: int,
    scenario: Scenario,
    duration: float,
    connections: int,
    use_wrk: bool,
    tmp: str,
) -> tuple[float, str]:
    """Successful requests/s (status as expected) under load, and a note on
    failures. wrk's own Requests/sec counts failed answers too: a bridge
    that fails requests fast must not look fast."""
    if not use_wrk:
        value, note = run_python_load(port, scenario, None, duration, connections)
        failed = re.match(r"(\d+) failed", note)
        return value - (int(failed.group(1)) / duration if failed else 0), note
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
        "--timeout", "5s", "-s", _wrk_script(scenario, None, tmp),
        f"http://{HOST}:{port}{scenario.path}",
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 30
    )
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    total = re.search(r"(\d+) requests in", done.stdout)
    if done.returncode != 0 or not found or not total:
        raise RuntimeError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    rps, requests = float(found.group(1)), int(total.group(1))
    notes = []
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    bad = int(non2xx.group(1)) if non2xx else 0
    if bad:
        notes.append(f"{bad} of {requests} answers were errors (not counted)")
    errors = re.search(r"Socket errors: (.*)", done.stdout)
    if errors:
        notes.append(f"socket errors: {errors.group(1)}")
    return rps * (requests - bad) / max(requests, 1), "; ".join(notes)


def _wire_bridge(
    bridge: Bridge,
    scenarios: list[str],
    duration: float,
    connections: int,
    use_wrk: bool,
    warmup: bool,
    log_dir: str,
) -> dict[str, t.Any]:
    rps: dict[str, float] = {}
    notes: dict[str, str] = {}
    in_flight: int | None = None
    log_path = os.path.join(log_dir, f"bridge-{bridge.name}.log")
    with (
        open(log_path, "wb") as log,
        Server(_framework(bridge), log) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        server.wait_ready()
        for name in scenarios:
            scenario = BY_NAME[name]
            check(scenario, http_request(server.port, scenario), bridge.name)
            if warmup:
                _load(server.port, scenario, 1, connections, use_wrk, tmp)
            _get_json(server.port, "/stats?reset=1")
            value, note = _load(
                server.port, scenario, duration, connections, use_wrk, tmp
            )
            if name == "slow":
                in_flight = int(_get_json(server.port, "/stats")["slow_peak"])
            rps[name] = value
            if note:
                notes[name] = note
            print(
                f"  wire {name} {bridge.name}: {value:,.0f} req/s {note}",
                file=sys.stderr,
            )
        peak = server.peak_rss_mib()
    return {
        "status": "ok",
        "rps": rps,
        "in_flight": in_flight,
        "peak_rss_mib": peak,
        "notes": notes,
    }


# -- the upload -----------------------------------------------------------------

UPLOAD_BLOCK = 1 * MiB


def upload_blocks(total: int) -> cabc.Iterator[bytes]:
    """``total`` bytes in 1 MiB blocks, each different (its index first), so
    a lost, repeated or reordered block changes the sha256."""
    base = bytes(range(256)) * (UPLOAD_BLOCK // 256)
    sent = 0
    index = 0
    while sent < total:
        size = min(UPLOAD_BLOCK, total - sent)
        yield (index.to_bytes(8, "big") + base[8:])[:size]
        sent += size
        index += 1


@functools.cache
def upload_digest(total: int) -> str:
    """The sha256 of :func:`upload_blocks` ``(total)``."""
    digest = hashlib.sha256()
    for block in upload_blocks(total):
        digest.update(block)
    return digest.hexdigest()


def upload(
    port: int,
    total: int,
    framing: str = "length",
    path: str = "/upload",
    timeout: float = 120.0,
) -> tuple[int, bytes]:
    """POST ``total`` bytes of :func:`upload_blocks` to ``path`` on a raw
    socket, framed by ``Content-Length`` (``"length"``) or by
    ``Transfer-Encoding: chunked`` (``"chunked"``); return the status and
    body. Nothing but one block is ever held in memory here.
    """
    if framing not in ("length", "chunked"):
        raise ValueError(f"unknown framing {framing!r}")
    deadline = time.monotonic() + timeout
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        framing_header = (
            f"Content-Length: {total}"
            if framing == "length"
            else "Transfer-Encoding: chunked"
        )
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: application/octet-stream\r\n{framing_header}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        for block in upload_blocks(total):
            if time.monotonic() > deadline:
                raise TimeoutError(f"upload not sent within {timeout:g} s")
            if framing == "chunked":
                sock.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
            else:
                sock.sendall(block)
        if framing == "chunked":
            sock.sendall(b"0\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def rss_kib(pid: int) -> tuple[int, int]:
    """``(VmRSS, VmHWM)`` of process ``pid``, in KiB."""
    rss = _read_status(pid, "VmRSS")
    hwm = _read_status(pid, "VmHWM")
    if rss is None or hwm is None:
        raise RuntimeError(f"cannot read /proc/{pid}/status")
    return rss, hwm


def _upload_bridge(
    bridge: Bridge, total: int, framing: str, log_dir: str
) -> dict[str, t.Any]:
    log_path = os.path.join(log_dir, f"bridge-upload-{bridge.name}.log")
    with open(log_path, "wb") as log, Server(_framework(bridge), log) as server:
        server.wait_ready()
        pid = _serving_pid(server.proc)
        # Warm up first: the worker threads and the first-request imports
        # are not what the upload costs.
        status, body = upload(server.port, 4 * MiB, framing)
        if status != 200:
            raise RuntimeError(f"warm-up upload: {status} {body[:200]!r}")
        rss_before, _ = rss_kib(pid)
        start = time.perf_counter()
        status, body = upload(server.port, total, framing)
        seconds = time.perf_counter() - start
        _, hwm_after = rss_kib(pid)
    got = json.loads(body) if status == 200 else {}
    ok = got == {"size": total, "sha256": upload_digest(total)}
    return {
        "status": "ok" if ok else f"wrong answer: {status} {body[:200]!r}",
        "seconds": seconds,
        "mib_per_s": total / MiB / seconds,
        "growth_mib": (hwm_after - rss_before) / 1024,
    }


# -- the report -----------------------------------------------------------------


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(
    cells: dict[str, float | None], peers: tuple[str, ...] = PEERS
) -> float | None:
    ours = cells.get("diota")
    best = max((v for p in peers if (v := cells.get(p)) is not None), default=None)
    if ours is None or not best:
        return None
    return ours / best


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "met" if ok else "MISSED"


def markdown(results: dict[str, t.Any]) -> str:
    """The report: tables, then the targets."""
    meta = results["meta"]
    bridges: list[str] = meta["bridges"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    lines = [
        "# WSGI under ASGI: diota vs asgiref vs a2wsgi",
        "",
        f"Python {meta['python']}, {meta['cpus']} CPUs, {meta['date']}. {versions}.",
        "",
        f"Command: `{meta['command']}`",
        "",
        "Bridges: " + "; ".join(f"`{b}`: {BRIDGES[b].note}" for b in bridges) + ".",
        "The ratio is diota / max(asgiref, a2wsgi): the target is"
        f" {TARGET_RATIO:g}x. `diota-mount` is shown for reference only.",
    ]
    targets: list[list[str]] = []

    inproc = results.get("inprocess")
    if inproc:
        rows = inproc["rows"]
        lines += ["", "## In process (requests/s)", "", inproc["how"], ""]
        body = []
        for scenario in inproc["scenarios"]:
            for level in inproc["concurrency"]:
                cells = {
                    b: rows.get(b, {}).get(scenario, {}).get(str(level), {}).get("rps")
                    for b in bridges
                }
                ratio = _ratio(cells)
                body.append(
                    [scenario, str(level), *(_fmt(cells[b]) for b in bridges)]
                    + [_fmt(ratio, 2) + ("x" if ratio is not None else "")]
                )
                if scenario in TARGET_SCENARIOS and level == max(inproc["concurrency"]):
                    targets.append(
                        [
                            f"in process, {scenario}, C={level}",
                            f">= {TARGET_RATIO:g}x",
                            _fmt(ratio, 2) + "x" if ratio is not None else "-",
                            _verdict(None if ratio is None else ratio >= TARGET_RATIO),
                        ]
                    )
        lines += _table(["scenario", "C", *bridges, "diota / best peer"], body)
        if "slow" in inproc["scenarios"]:
            lines += [
                "",
                "Most `/slow` calls in flight at once inside the legacy app"
                " (1 = the bridge serves one request at a time):",
                "",
            ]
            lines += _table(
                ["bridge", *(f"C={c}" for c in inproc["concurrency"])],
                [
                    [
                        b,
                        *(
                            str(rows[b]["slow"][str(c)].get("in_flight", "-"))
                            for c in inproc["concurrency"]
                        ),
                    ]
                    for b in bridges
                    if "slow" in rows.get(b, {})
                ],
            )
            level = str(max(inproc["concurrency"]))
            diota_slow = rows.get("diota", {}).get("slow", {}).get(level, {})
            if diota_slow:
                targets.append(
                    [
                        f"in process, /slow served concurrently, C={level}",
                        "> 1 in flight",
                        str(diota_slow["in_flight"]),
                        _verdict(diota_slow["in_flight"] > 1),
                    ]
                )

    wire = results.get("wire")
    if wire:
        rows = wire["rows"]
        lines += ["", "## Over the wire: uvicorn, 1 worker (successful requests/s)", ""]
        lines += [wire["how"], ""]
        body = []
        for scenario in wire["scenarios"]:
            cells = {b: rows.get(b, {}).get("rps", {}).get(scenario) for b in bridges}
            ratio = _ratio(cells)
            body.append(
                [scenario, *(_fmt(cells[b]) for b in bridges)]
                + [_fmt(ratio, 2) + ("x" if ratio is not None else "")]
            )
            if scenario in TARGET_SCENARIOS:
                targets.append(
                    [
                        f"uvicorn, {scenario}, -c{wire['connections']}",
                        f">= {TARGET_RATIO:g}x",
                        _fmt(ratio, 2) + "x" if ratio is not None else "-",
                        _verdict(None if ratio is None else ratio >= TARGET_RATIO),
                    ]
                )
        body.append(
            [
                "`/slow` in flight",
                *(str(rows.get(b, {}).get("in_flight", "-")) for b in bridges),
                "",
            ]
        )
        body.append(
            [
                "peak RSS (MiB)",
                *(_fmt(rows.get(b, {}).get("peak_rss_mib"), 1) for b in bridges),
                "",
            ]
        )
        lines += _table(["scenario", *bridges, "diota / best peer"], body)
        problems = [
            f"{b}: {row['status']}" for b, row in rows.items() if row["status"] != "ok"
        ] + [
            f"{b} {s}: {note}"
            for b, row in rows.items()
            for s, note in row.get("notes", {}).items()
        ]
        if problems:
            lines += ["", *(f"- {p}" for p in problems)]

    uploads = results.get("upload")
    if uploads:
        lines += [
            "",
            f"## Upload: {uploads['mib']:g} MiB through uvicorn",
            "",
            uploads["how"],
            "",
        ]
        body = []
        for b in bridges:
            for framing, row in uploads["rows"].get(b, {}).items():
                body.append(
                    [
                        b,
                        framing,
                        row["status"],
                        _fmt(row.get("seconds"), 1),
                        _fmt(row.get("mib_per_s")),
                        _fmt(row.get("growth_mib"), 1),
                    ]
                )
                if b == "diota":
                    growth = row.get("growth_mib")
                    targets.append(
                        [
                            f"upload {uploads['mib']:g} MiB ({framing}): RSS growth",
                            f"< {TARGET_UPLOAD_GROWTH_MIB:g} MiB",
                            _fmt(growth, 1) + " MiB" if growth is not None else "-",
                            _verdict(
                                row["status"] == "ok"
                                and growth is not None
                                and growth < TARGET_UPLOAD_GROWTH_MIB
                            ),
                        ]
                    )
        lines += _table(
            ["bridge", "framing", "answer", "seconds", "MiB/s", "RSS growth (MiB)"],
            body,
        )

    if targets:
        lines += ["", "## Targets", ""]
        lines += _table(["what", "goal", "measured", "verdict"], targets)
    notes = meta.get("notes") or []
    if notes:
        lines += ["", "## Notes", "", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"


def _versions() -> dict[str, str]:
    found = {}
    for name in ("diota", "asgiref", "a2wsgi", "uvicorn", "h11", "httptools", "uvloop"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


# -- main -----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bridge", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--bridges", default="", help="comma-separated bridges (default: all)"
    )
    parser.add_argument(
        "--scenarios", default="", help="comma-separated scenarios (default: all)"
    )
    parser.add_argument(
        "--concurrency",
        default="1,32,64",
        help="in process: concurrent clients, comma-separated",
    )
    parser.add_argument("--rounds", type=int, default=5, help="in process: rounds")
    parser.add_argument(
        "--round-time", type=float, default=1.0, help="in process: seconds per round"
    )
    parser.add_argument(
        "--duration", type=float, default=5, help="wire: seconds of load per scenario"
    )
    parser.add_argument(
        "--connections", type=int, default=64, help="wire: open connections"
    )
    parser.add_argument(
        "--python-client",
        action="store_true",
        help="wire: use the Python load generator even if wrk exists",
    )
    parser.add_argument(
        "--upload-mib", type=float, default=1024, help="upload size in MiB"
    )
    parser.add_argument(
        "--upload-framing",
        default="length,chunked",
        help="upload framings: length, chunked",
    )
    parser.add_argument("--no-inprocess", action="store_true")
    parser.add_argument("--no-wire", action="store_true")
    parser.add_argument("--no-upload", action="store_true")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke mode: 1 round of 0.05 s, C=1,8, 1 s of load, 8 MiB upload",
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help="results directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.round_time = 1, 0.05
        args.concurrency = "1,8"
        args.duration, args.connections = 1, 8
        args.upload_mib = min(args.upload_mib, 8)
    bridges = _split(args.bridges, BRIDGES)
    scenarios = _split(args.scenarios, SCENARIO_NAMES)
    framings = _split(args.upload_framing, ("length", "chunked"))
    levels = [int(c) for c in args.concurrency.split(",")]
    missing = [b for b in bridges if not BRIDGES[b].installed()]
    for name in missing:
        print(f"{name}: not installed, skipped", file=sys.stderr)
    bridges = [b for b in bridges if b not in missing]
    os.makedirs(args.out, exist_ok=True)
    load_before = os.getloadavg()
    notes = [
        "asgiref's WsgiToAsgi reads the whole body first (into a"
        " SpooledTemporaryFile) and runs the app through sync_to_async with"
        " thread_sensitive=True: one shared thread, so one request at a time.",
        "a2wsgi's WSGIMiddleware streams the body through a ThreadPoolExecutor"
        " of 10 threads by default.",
    ]
    results: dict[str, t.Any] = {
        "kind": "bridge",
        "meta": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "versions": _versions(),
            "bridges": bridges,
            "missing": missing,
            "command": " ".join(
                [
                    "python -m benchmarks.bridge",
                    *(sys.argv[1:] if argv is None else argv),
                ]
            ),
            "notes": notes,
        },
    }

    if not args.no_inprocess:
        print("in process:", file=sys.stderr)
        rows = asyncio.run(
            _inprocess(bridges, scenarios, levels, args.rounds, args.round_time)
        )
        results["inprocess"] = {
            "how": (
                f"C asyncio client tasks call each ASGI app directly, back to back;"
                f" median of {args.rounds} rounds of {args.round_time:g} s, rounds"
                " alternating between the bridges, after a warm-up round."
            ),
            "scenarios": scenarios,
            "concurrency": levels,
            "rows": rows,
        }

    use_wrk = shutil.which("wrk") is not None and not args.python_client
    if not args.no_wire:
        print("over the wire:", file=sys.stderr)
        wire_rows: dict[str, t.Any] = {}
        for name in bridges:
            try:
                wire_rows[name] = _wire_bridge(
                    BRIDGES[name],
                    scenarios,
                    args.duration,
                    args.connections,
                    use_wrk,
                    not args.quick,
                    args.out,
                )
            except Exception as e:  # one broken row must not lose the others
                wire_rows[name] = {"status": f"error: {e}", "rps": {}}
                print(f"  {name}: failed: {e}", file=sys.stderr)
        client = (
            f"wrk -t1 -c{args.connections} -d{args.duration:g}s"
            + ("" if args.quick else " after a 1 s warm-up")
            if use_wrk
            else f"the Python load generator ({args.connections} threads,"
            f" {args.duration:g} s; wrk not used, so the client is likely the"
            " bottleneck)"
        )
        results["wire"] = {
            "how": (
                f"uvicorn --workers 1 --interface asgi3 (h11 unless httptools is"
                f" installed) serving each bridge; load: {client}. Peak RSS is the"
                " serving process's VmHWM after all scenarios."
            ),
            "scenarios": scenarios,
            "connections": args.connections,
            "client": "wrk" if use_wrk else "python",
            "rows": wire_rows,
        }

    if not args.no_upload:
        total = int(args.upload_mib * MiB)
        print(f"upload {args.upload_mib:g} MiB:", file=sys.stderr)
        upload_digest(total)  # once, outside the timing
        upload_rows: dict[str, dict[str, t.Any]] = {}
        for name in bridges:
            for framing in framings:
                try:
                    row = _upload_bridge(BRIDGES[name], total, framing, args.out)
                except Exception as e:
                    row = {"status": f"error: {e}"}
                upload_rows.setdefault(name, {})[framing] = row
                print(f"  upload {name} {framing}: {row}", file=sys.stderr)
        results["upload"] = {
            "how": (
                "A fresh uvicorn (1 worker) per row. After a 4 MiB warm-up upload,"
                " the client streams the body from a raw socket in 1 MiB blocks;"
                " the legacy app reads it in 64 KiB chunks and answers its size"
                " and sha256, both checked. RSS growth = the serving process's"
                " VmHWM after the upload minus its VmRSS before it."
            ),
            "mib": args.upload_mib,
            "rows": upload_rows,
        }

    notes.append(
        f"Load average before and after: {_loadavg(load_before)} /"
        f" {_loadavg(os.getloadavg())}."
    )
    text = markdown(results)
    with open(os.path.join(args.out, "bridge.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(args.out, "bridge.md"), "w") as f:
        f.write(text)
    print(text)
    print(f"written: {os.path.join(args.out, 'bridge.{md,json}')}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
