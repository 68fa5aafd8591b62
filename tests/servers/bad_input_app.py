"""The diota app that tests/servers/test_bad_input.py sends hostile HTTP to.

One object, served as WSGI by gunicorn and as ASGI by uvicorn and hypercorn.
Its limits are small so that going over them costs little traffic; its views
touch every part of the request that a client controls (body, form, files,
JSON, path, query, cookies, session) and echo what they saw, so the tests
can tell a correct answer from lost or mangled data.
"""

from __future__ import annotations

import hashlib
import typing as t

from diota import Flask
from diota import request
from diota import session

#: Bodies above this many bytes get a 413.
MAX_CONTENT_LENGTH = 256 * 1024
#: A non-file multipart field above this many bytes gets a 413. werkzeug
#: feeds its multipart parser 64 KiB reads and applies this limit to each, so
#: a smaller value would refuse any multipart body over it, files included.
MAX_FORM_MEMORY_SIZE = 100_000
#: A multipart body with more parts than this gets a 413.
MAX_FORM_PARTS = 10
#: Hosts the app answers; ".example.com" matches every subdomain.
TRUSTED_HOSTS = ["127.0.0.1", "localhost", ".example.com"]

app = Flask(__name__)
app.config.update(
    SECRET_KEY="bad-input-tests",
    MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
    MAX_FORM_MEMORY_SIZE=MAX_FORM_MEMORY_SIZE,
    MAX_FORM_PARTS=MAX_FORM_PARTS,
    TRUSTED_HOSTS=TRUSTED_HOSTS,
)


@app.get("/")
def index() -> str:
    return "ok"


@app.post("/echo")
def echo() -> dict[str, t.Any]:
    # Length and digest: enough to prove no byte was lost or added.
    data = request.get_data()
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


@app.post("/form")
def form() -> dict[str, t.Any]:
    # A missing "name" field is the client's fault: a 400 (BadRequestKeyError).
    name = request.form["name"]
    files = {key: len(f.read()) for key, f in request.files.items()}
    return {"name": name, "fields": len(request.form), "files": files}


@app.post("/json")
def json_view() -> dict[str, t.Any]:
    value = request.json
    return {"type": type(value).__name__}


@app.get("/args")
def args() -> dict[str, t.Any]:
    return {"args": request.args.to_dict(flat=False)}


@app.get("/path/<path:rest>")
def path(rest: str) -> dict[str, t.Any]:
    return {"rest": rest}


@app.get("/cookies")
def cookies() -> dict[str, t.Any]:
    return {"cookies": request.cookies.to_dict()}


@app.get("/session")
def read_session() -> dict[str, t.Any]:
    return {"user": session.get("user")}


@app.get("/session/login")
def login() -> dict[str, t.Any]:
    session["user"] = "alice"
    return {"user": "alice"}


@app.get("/stream")
def stream() -> t.Any:
    # A long streamed response, for a client that leaves while reading it.
    def generate() -> t.Iterator[bytes]:
        for _ in range(2000):
            yield b"x" * 4096

    return app.response_class(generate(), mimetype="application/octet-stream")
