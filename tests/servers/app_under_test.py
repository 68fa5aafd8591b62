"""One diota app that every real server in ``test_real_servers`` serves.

The same object, ``app``, is handed to WSGI servers (gunicorn's sync worker,
granian's WSGI interface, werkzeug's development server) and to ASGI servers
(uvicorn, gunicorn with uvicorn's worker, hypercorn, granian's ASGI
interface). Each view exercises one thing that crosses an adapter.

``DIOTA_LIFECYCLE_FILE`` names a file to which ``before_serving`` and
``after_serving`` append one line each (``startup <pid>``, ``shutdown
<pid>``), so a test can tell whether the lifespan or first-request startup
ran.
"""

from __future__ import annotations

import asyncio
import collections.abc as cabc
import hashlib
import os
from pathlib import Path

from diota import abort
from diota import Flask
from diota import jsonify
from diota import request
from diota import Response
from diota import send_file
from diota import session
from diota import stream_with_context

HERE = Path(__file__).resolve().parent
#: The static folder is the test suite's (``tests/static``).
STATIC_DIR = HERE.parent / "static"
#: The limit the 413 test goes over.
MAX_CONTENT_LENGTH = 64 * 1024

app = Flask(__name__, root_path=str(HERE.parent))
app.config.update(
    SECRET_KEY="real servers test key",
    MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
)


def _record(event: str) -> None:
    path = os.environ.get("DIOTA_LIFECYCLE_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{event} {os.getpid()}\n")


@app.before_serving
def _startup() -> None:
    _record("startup")


@app.after_serving
async def _shutdown() -> None:
    # async on purpose: shutdown must be able to await under both interfaces.
    await asyncio.sleep(0)
    _record("shutdown")


@app.route("/")
def index() -> str:
    return "hello from diota"


@app.route("/sync")
def sync_view() -> dict[str, object]:
    # A sync view never runs on an event loop's thread while it is running.
    try:
        asyncio.get_running_loop()
        on_loop = True
    except RuntimeError:
        on_loop = False
    return {"kind": "sync", "on_loop": on_loop}


@app.route("/async")
async def async_view() -> dict[str, object]:
    await asyncio.sleep(0.01)
    # Awaited on an event loop in both modes (the server's, or the process's).
    asyncio.get_running_loop()
    return {"kind": "async"}


@app.route("/json", methods=["POST"])
def json_echo() -> Response:
    data = request.get_json()
    return jsonify(received=data, type=request.mimetype)


@app.route("/users/<int:user_id>/<name>")
def path_params(user_id: int, name: str) -> dict[str, object]:
    return {"id": user_id, "name": name, "args": request.args.to_dict(flat=False)}


@app.route("/form", methods=["POST"])
def form() -> dict[str, object]:
    return {
        "form": request.form.to_dict(flat=False),
        "content_length": request.content_length,
    }


@app.route("/upload", methods=["POST"])
async def upload() -> dict[str, object]:
    # Read with Flask's sync accessor from an async view: the body must
    # already be buffered (ASGI) or readable (WSGI), chunked or not.
    data = request.get_data()
    return {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "chunked": request.headers.get("Transfer-Encoding", "").lower() == "chunked",
    }


@app.route("/stream/sync")
def stream_sync() -> Response:
    count = request.args.get("n", 5, type=int)

    @stream_with_context
    def generate() -> cabc.Iterator[str]:
        # request is reachable while the body streams.
        for i in range(count):
            yield f"{request.path}:{i}\n"

    return Response(generate(), mimetype="text/plain")


@app.route("/stream/async")
async def stream_async() -> Response:
    count = request.args.get("n", 5, type=int)

    async def generate() -> cabc.AsyncIterator[bytes]:
        for i in range(count):
            await asyncio.sleep(0)
            yield f"async:{i}\n".encode()

    return Response(generate(), mimetype="text/plain")


@app.route("/file")
def file() -> Response:
    return send_file(STATIC_DIR / "hello.txt", mimetype="text/plain")


@app.route("/session/set/<value>")
def session_set(value: str) -> str:
    session["value"] = value
    return "set"


@app.route("/session/get")
def session_get() -> dict[str, object]:
    return {"value": session.get("value")}


@app.route("/teapot")
def teapot() -> None:
    abort(418)


@app.route("/headers")
def headers() -> Response:
    response = jsonify(
        method=request.method,
        path=request.path,
        full_path=request.full_path,
        host=request.host,
        scheme=request.scheme,
        remote_addr=request.remote_addr,
        x_custom=request.headers.getlist("X-Custom"),
    )
    response.headers.add("X-Multi", "one")
    response.headers.add("X-Multi", "two")
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    return response


@app.errorhandler(413)
def too_large(error: Exception) -> tuple[dict[str, object], int]:
    return {"error": "too large", "limit": MAX_CONTENT_LENGTH}, 413


# -- WebSockets (served by the ASGI servers; WSGI ones answer 400) -----------------


@app.websocket("/ws/echo/<name>")
async def ws_echo(name: str) -> None:
    from diota import websocket

    await websocket.accept(
        subprotocol="chat" if "chat" in websocket.subprotocols else None
    )
    await websocket.send(f"hello {name} {session.get('user', 'anonymous')}")
    try:
        async for message in websocket:
            await websocket.send(message)
    finally:
        # The client went away: what a disconnect test looks for.
        _record(f"ws-closed {name}")


@app.websocket("/ws/sync")
def ws_sync() -> None:
    from diota import websocket

    for message in websocket:
        websocket.send(str(message).upper())


@app.websocket("/ws/private")
async def ws_private() -> object:
    return "members only", 403


@app.route("/login/<user>")
def login(user: str) -> str:
    session["user"] = user
    return "ok"
