"""examples/chat: the test client in every mode, real uvicorn and hypercorn,
and two uvicorn processes sharing messages through a real Redis."""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import json
import sys
import time
import types
import typing as t

import pytest
from redis_server import running_redis
from servers import free_port
from servers import HOST
from servers import REPO_ROOT
from servers import serve
from servers import Server
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect

from diota import WebSocketDisconnect
from diota._asgi_testing import _Runner
from diota._websocket_testing import WebSocketRejected
from diota.testing import FlaskClient

# Seconds to wait for anything a server or a client should do.
PATIENCE = 10.0


# -- in-process, with the test client ------------------------------------------


@pytest.fixture
def chat(mode: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The example's module; ``mode`` makes its test clients drive HTTP
    through each interface in turn (WebSockets always go through ASGI, on
    the mode's async library)."""
    # As uvicorn does, import the example from the repository root.
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    from examples.chat import app as module

    assert module.broadcast.url == "memory://", (
        "unset CHAT_BROADCAST_URL to run the in-process tests"
    )
    monkeypatch.setitem(module.app.config, "TESTING", True)
    return module


def signed_in(chat: types.ModuleType, name: str) -> FlaskClient:
    """A test client with ``name`` in its session cookie."""
    client: FlaskClient = chat.app.test_client()
    rv = client.post("/login", data={"name": name})
    assert rv.status_code == 302
    return client


def message(user: str, text: str) -> dict[str, str]:
    return {"user": user, "text": text}


def test_page_and_sign_in(chat: types.ModuleType) -> None:
    client = chat.app.test_client()
    page = client.get("/")
    assert page.status_code == 200
    assert 'action="/login"' in page.text
    assert "new WebSocket" not in page.text

    assert client.post("/login", data={"name": "  "}).status_code == 400
    assert client.post("/login", data={"name": "x" * 33}).status_code == 400
    rv = client.post("/login", data={"name": "<ada>"})
    assert rv.status_code == 302
    assert rv.headers["Location"] == "/"

    page = client.get("/?room=kitchen")
    assert "Signed in as <b>&lt;ada&gt;</b>" in page.text  # autoescaped
    # The page connects to the room's WebSocket URL, as url_for builds it.
    assert 'new URL("ws://localhost/ws/kitchen")' in page.text
    # A room name the WebSocket route could not match is made to fit.
    page = client.get("/?room=a/" + "b" * 50)
    assert f'new URL("ws://localhost/ws/a-{"b" * 38}")' in page.text

    assert client.post("/logout").status_code == 302
    assert 'action="/login"' in client.get("/").text


def test_everyone_in_the_room_gets_each_message(chat: types.ModuleType) -> None:
    ada, bob = signed_in(chat, "ada"), signed_in(chat, "bob")
    with ada.websocket("/ws/lobby") as ws_ada, bob.websocket("/ws/lobby") as ws_bob:
        ws_ada.send("hello")
        # The sender's own message comes back through the room, like all others.
        assert ws_ada.receive_json() == message("ada", "hello")
        assert ws_bob.receive_json() == message("ada", "hello")

        ws_bob.send("  hi ada  ")
        ws_bob.send("   ")  # blank: not posted
        ws_bob.send(b"binary")  # not text: not posted
        ws_bob.send("bye")
        for ws in (ws_ada, ws_bob):
            # Exactly these two, in order: nothing in between.
            assert ws.receive_json() == message("bob", "hi ada")
            assert ws.receive_json() == message("bob", "bye")


def test_other_rooms_hear_nothing(chat: types.ModuleType) -> None:
    ada, bob, eve = (signed_in(chat, n) for n in ("ada", "bob", "eve"))
    with (
        ada.websocket("/ws/lobby") as ws_ada,
        bob.websocket("/ws/lobby") as ws_bob,
        eve.websocket("/ws/kitchen") as ws_eve,
    ):
        ws_ada.send("secret")
        assert ws_bob.receive_json() == message("ada", "secret")
        # Delivered to the lobby by now. A room's messages reach a client in
        # order, so had the kitchen got the lobby's message, eve would read
        # it before her own.
        ws_eve.send("anyone?")
        assert ws_eve.receive_json() == message("eve", "anyone?")
        assert ws_ada.receive_json() == message("ada", "secret")


def test_handshake_needs_a_session(chat: types.ModuleType) -> None:
    anonymous = chat.app.test_client()
    with pytest.raises(WebSocketRejected) as refused:
        with anonymous.websocket("/ws/lobby"):
            pass
    assert refused.value.status == 403
    assert b"Sign in first." in refused.value.body

    # A forged cookie is no better: the session is signed.
    anonymous.set_cookie("session", "eyJ1c2VyIjoibWFsbG9yeSJ9.forged.sig")
    with pytest.raises(WebSocketRejected) as refused:
        with anonymous.websocket("/ws/lobby"):
            pass
    assert refused.value.status == 403
    assert anonymous.get("/status").json == {"connections": {}}


def test_http_post_reaches_the_websockets(chat: types.ModuleType) -> None:
    ada, bot = signed_in(chat, "ada"), signed_in(chat, "bot")
    with ada.websocket("/ws/lobby") as ws:
        rv = bot.post("/rooms/lobby/messages", data={"text": " from a form "})
        assert rv.status_code == 201
        assert rv.json == message("bot", "from a form")
        rv = bot.post("/rooms/lobby/messages", json={"text": "from JSON"})
        assert rv.status_code == 201
        assert bot.post("/rooms/kitchen/messages", json={"text": "elsewhere"}).json

        assert ws.receive_json() == message("bot", "from a form")
        assert ws.receive_json() == message("bot", "from JSON")

        for bad in ({"text": ""}, {"text": 3}, ["text"], {}):
            assert bot.post("/rooms/lobby/messages", json=bad).status_code == 400
        anonymous = chat.app.test_client()
        rv = anonymous.post("/rooms/lobby/messages", data={"text": "spam"})
        assert rv.status_code == 403

        # Long messages are cut, from either side.
        bot.post("/rooms/lobby/messages", data={"text": "x" * 600})
        assert ws.receive_json() == message("bot", "x" * chat.MAX_TEXT)


def test_disconnect_cleans_up(chat: types.ModuleType) -> None:
    ada, bob = signed_in(chat, "ada"), signed_in(chat, "bob")

    def connections() -> dict[str, int]:
        status = ada.get("/status").json
        assert status is not None
        return t.cast(dict[str, int], status["connections"])

    with ada.websocket("/ws/lobby") as ws_ada:
        with bob.websocket("/ws/lobby"), bob.websocket("/ws/kitchen"):
            assert connections() == {"lobby": 2, "kitchen": 1}
        # Leaving the block closed bob's sockets and waited for their
        # handlers: the finally blocks ran, the relay tasks were cancelled.
        assert connections() == {"lobby": 1}
        # The room still works for whoever stayed.
        ws_ada.send("still here")
        assert ws_ada.receive_json() == message("ada", "still here")
    assert connections() == {}

    # A connection dropped without a close frame ends the same way.
    with ada.websocket("/ws/lobby") as ws:
        assert connections() == {"lobby": 1}
        ws.close(1006)
        assert connections() == {}


def test_broadcast_ending_ends_the_handler(chat: types.ModuleType) -> None:
    """At shutdown the broadcast disconnects: the relay task ends, closes
    the socket with 1001 and cancels the receive loop."""
    ada = signed_in(chat, "ada")
    with ada.websocket("/ws/lobby") as ws:
        # On the loop the test client runs the app on, as the server's
        # after_serving hook would.
        _Runner(ada.asgi_backend).call(chat.broadcast.disconnect)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive()
        assert closed.value.code == 1001
    assert ada.get("/status").json == {"connections": {}}

    # The next use connects the broadcast again.
    with ada.websocket("/ws/lobby") as ws:
        ws.send("back")
        assert ws.receive_json() == message("ada", "back")


# -- real servers ----------------------------------------------------------------

APP = "examples.chat.app:app"


def uvicorn_command(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", APP, "--host", HOST, "--port", str(port)]


def hypercorn_command(port: int) -> list[str]:
    # hypercorn needs to be told the app is ASGI (see docs/deploying.md).
    return [
        sys.executable, "-m", "hypercorn", "--bind", f"{HOST}:{port}", f"asgi:{APP}",
    ]  # fmt: skip


COMMANDS: dict[str, t.Callable[[int], list[str]]] = {
    "uvicorn": uvicorn_command,
    "hypercorn": hypercorn_command,
}


def sign_in(server: Server, name: str) -> str:
    """Sign in over HTTP; the ``Cookie`` header value to send with a handshake."""
    with server.client() as http:
        rv = http.post("/login", data={"name": name})
        assert rv.status_code == 302, server.output()
        return f"session={rv.cookies['session']}"


@contextlib.contextmanager
def join(server: Server, room: str, cookie: str) -> cabc.Iterator[ClientConnection]:
    url = f"ws://{HOST}:{server.port}/ws/{room}"
    with connect(
        url, additional_headers={"Cookie": cookie}, open_timeout=PATIENCE
    ) as ws:
        yield ws


def receive(ws: ClientConnection) -> t.Any:
    return json.loads(ws.recv(timeout=PATIENCE))


def wait_for(condition: t.Callable[[], bool], server: Server) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)


@pytest.fixture(scope="module", params=sorted(COMMANDS))
def server(request: pytest.FixtureRequest) -> cabc.Iterator[Server]:
    port = free_port()
    env = {"CHAT_BROADCAST_URL": "", "CHAT_SECRET_KEY": "test"}
    with serve(COMMANDS[request.param](port), port, env=env) as srv:
        yield srv


@pytest.mark.servers
@pytest.mark.timeout(60)
def test_chat_on_real_server(server: Server) -> None:
    ada, bob = sign_in(server, "ada"), sign_in(server, "bob")
    with join(server, "lobby", ada) as ws_ada, join(server, "lobby", bob) as ws_bob:
        ws_ada.send("hello bob")
        assert receive(ws_bob) == message("ada", "hello bob")
        assert receive(ws_ada) == message("ada", "hello bob")
        ws_bob.send("hello ada")
        assert receive(ws_ada) == message("bob", "hello ada")
        assert receive(ws_bob) == message("bob", "hello ada")

        with server.client() as http:
            http.cookies.set("session", bob.partition("=")[2])
            rv = http.post("/rooms/lobby/messages", data={"text": "via HTTP"})
            assert rv.status_code == 201, server.output()
        assert receive(ws_ada) == message("bob", "via HTTP")
        assert receive(ws_bob) == message("bob", "via HTTP")


@pytest.mark.servers
@pytest.mark.timeout(60)
def test_real_server_refuses_anonymous_and_cleans_up(server: Server) -> None:
    with pytest.raises(InvalidStatus) as refused:
        with join(server, "lobby", cookie=""):
            pass
    assert refused.value.response.status_code == 403

    def connections() -> dict[str, int]:
        with server.client() as http:
            return t.cast(dict[str, int], http.get("/status").json()["connections"])

    with join(server, "cleanup", sign_in(server, "ada")):
        assert connections().get("cleanup") == 1
    # The client closed: the handler's finally block ran on the server.
    wait_for(lambda: "cleanup" not in connections(), server)


@pytest.mark.servers
@pytest.mark.timeout(90)
def test_two_uvicorn_processes_share_rooms_through_redis() -> None:
    """Production runs several workers: a message sent to one process reaches
    the clients of another, through Redis pub/sub."""
    with running_redis() as redis, contextlib.ExitStack() as stack:
        # The same secret in every process, so one sign-in works on all.
        env = {"CHAT_BROADCAST_URL": redis.url, "CHAT_SECRET_KEY": "shared"}
        servers: list[Server] = []
        for _ in range(2):
            port = free_port()  # after the first server bound its port
            started = serve(uvicorn_command(port), port, env=env)
            servers.append(stack.enter_context(started))
        one, two = servers
        cookie = sign_in(one, "ada")
        with join(one, "lobby", cookie) as ws_one, join(two, "lobby", cookie) as ws_two:
            ws_one.send("across processes")
            assert receive(ws_two) == message("ada", "across processes")
            assert receive(ws_one) == message("ada", "across processes")

            ws_two.send("and back")
            assert receive(ws_one) == message("ada", "and back")
            assert receive(ws_two) == message("ada", "and back")

            with two.client() as http:
                http.cookies.set("session", cookie.partition("=")[2])
                rv = http.post("/rooms/lobby/messages", json={"text": "by HTTP"})
                assert rv.status_code == 201, two.output()
            assert receive(ws_one) == message("ada", "by HTTP")
            assert receive(ws_two) == message("ada", "by HTTP")

            # Each process counts only its own clients.
            for srv in servers:
                with srv.client() as http:
                    assert http.get("/status").json() == {"connections": {"lobby": 1}}
