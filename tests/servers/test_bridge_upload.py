"""A 1 GiB upload into a legacy WSGI app served by uvicorn through diota.

The legacy app (``benchmarks/apps/legacy_wsgi.py``, plain WSGI) reads the
body in 64 KiB chunks and answers its size and sha256. uvicorn (one
process) serves it two ways, both from this module:

- ``servers.test_bridge_upload:app``: a diota app with the legacy app
  mounted under ``/legacy``, the migration setup;
- ``servers.test_bridge_upload:direct``: ``diota.mounts.WSGIMiddleware``
  around the legacy app, nothing else.

The client streams 1 GiB from a raw socket, never holding more than 1 MiB
of it; the answer must match, and the serving process's peak resident
memory (``VmHWM``) may grow by less than 32 MiB over its resident memory
(``VmRSS``) before the upload: a bridge that buffered the body, or let the
client run ahead of the app, would grow by up to the whole GiB.
"""

from __future__ import annotations

import collections.abc as cabc
import json
import sys
import time

import pytest

from servers import free_port
from servers import HOST
from servers import REPO_ROOT
from servers import serve
from servers import Server

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.apps import legacy_wsgi
from benchmarks.bridge import rss_kib
from benchmarks.bridge import upload
from benchmarks.bridge import upload_digest

import diota
from diota.mounts import WSGIMiddleware

MiB = 1024 * 1024
GiB = 1024 * MiB
#: The most the server may grow while it receives the GiB.
GROWTH_BOUND_MIB = 32

# -- the apps, imported by uvicorn ----------------------------------------------

app = diota.Flask(__name__)
app.mount("/legacy", legacy_wsgi.app)


@app.get("/ping")
def ping() -> str:
    return "pong"


direct = WSGIMiddleware(legacy_wsgi.app)

# -- the test -------------------------------------------------------------------

pytestmark = [pytest.mark.servers, pytest.mark.timeout(120)]

#: (uvicorn target, path of /upload on it, ready path, framing)
CASES = {
    "mounted-chunked": ("app", "/legacy/upload", "/ping", "chunked"),
    "direct-length": ("direct", "/upload", "/hello", "length"),
}


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> cabc.Iterator[tuple[Server, str, str]]:
    target, path, ready, framing = CASES[request.param]
    port = free_port()
    argv = [
        sys.executable, "-m", "uvicorn", f"servers.test_bridge_upload:{target}",
        "--host", HOST, "--port", str(port), "--workers", "1",
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with serve(
        argv,
        port,
        cwd=REPO_ROOT / "tests",
        env={"PYTHONPATH": str(REPO_ROOT)},  # the legacy app lives in benchmarks/
        ready_path=ready,
    ) as server:
        yield server, path, framing
        assert "Traceback" not in server.output(), server.output()


def test_a_gib_upload_streams_through_in_bounded_memory(
    case: tuple[Server, str, str],
) -> None:
    server, path, framing = case
    # uvicorn with one worker serves from the process it started in.
    pid = server.process.pid
    expected = {"size": GiB, "sha256": upload_digest(GiB)}  # before the clock
    # A first upload starts the worker threads and the lazy imports.
    status, body = upload(server.port, 4 * MiB, framing, path, timeout=20)
    assert status == 200, body
    assert json.loads(body)["size"] == 4 * MiB
    rss_before, _ = rss_kib(pid)

    start = time.monotonic()
    status, body = upload(server.port, GiB, framing, path, timeout=90)
    seconds = time.monotonic() - start
    _, hwm_after = rss_kib(pid)

    assert status == 200, body
    assert json.loads(body) == expected
    growth_mib = (hwm_after - rss_before) / 1024
    print(f"1 GiB ({framing}) in {seconds:.1f} s; peak growth {growth_mib:.1f} MiB")
    assert growth_mib < GROWTH_BOUND_MIB
