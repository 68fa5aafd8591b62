"""WebSocket routes: handlers, hooks, errors, disconnects, through the test
client (which serves WebSockets through the app's ASGI side in every mode,
on the mode's async library) and raw ASGI calls."""

from __future__ import annotations

import threading
import typing as t

import anyio
import pytest

import diota
from diota import request
from diota import session
from diota import websocket
from diota import WebSocketDisconnect
from diota._websocket_testing import WebSocketRejected


def test_echo_text_bytes_and_json(app: diota.Flask, client: t.Any) -> None:
    @app.websocket("/echo")
    async def echo() -> None:
        await websocket.accept()
        async for message in websocket:
            await websocket.send(message)

    @app.websocket("/json")
    async def json_echo() -> None:
        data = await websocket.receive_json()
        await websocket.send_json({"got": data})

    with client.websocket("/echo") as ws:
        ws.send("hello")
        assert ws.receive() == "hello"
        ws.send(b"\x00\xff")
        assert ws.receive() == b"\x00\xff"

    with client.websocket("/json") as ws:
        ws.send_json({"n": [1, 2]})
        assert ws.receive_json() == {"got": {"n": [1, 2]}}
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive()
        assert closed.value.code == 1000  # the handler returned: closed normally


def test_routing_converters_query_args_and_url_for(
    app: diota.Flask, client: t.Any
) -> None:
    @app.websocket("/rooms/<int:room>")
    async def room(room: int) -> None:
        await websocket.send(
            f"{room + 1} {request.args['who']} {diota.url_for('room', room=room)}"
        )

    # werkzeug builds WebSocket URLs in full: browsers need the ws:// scheme.
    with client.websocket("/rooms/41?who=ada") as ws:
        assert ws.receive() == "42 ada ws://localhost/rooms/41"

    with app.test_request_context():
        assert diota.url_for("room", room=1, _external=True) == "ws://localhost/rooms/1"


def test_subprotocol_and_accept_headers(app: diota.Flask, client: t.Any) -> None:
    @app.websocket("/proto")
    async def proto() -> None:
        offered = websocket.subprotocols
        await websocket.accept(subprotocol=offered[-1], headers={"X-Room": "lobby"})
        await websocket.send(",".join(offered))

    with client.websocket("/proto", subprotocols=["v1", "v2"]) as ws:
        assert ws.subprotocol == "v2"
        assert ws.headers["X-Room"] == "lobby"
        assert ws.receive() == "v1,v2"


def test_blueprint_websocket_and_its_hooks(app: diota.Flask, client: t.Any) -> None:
    bp = diota.Blueprint("live", __name__, url_prefix="/live")
    events: list[str] = []

    @bp.before_websocket
    def before() -> None:
        diota.g.user = "ada"
        events.append("before")

    @bp.after_websocket
    def after(response: t.Any) -> t.Any:
        events.append(f"after {response}")
        return response

    @bp.teardown_websocket
    def teardown(exc: BaseException | None) -> None:
        events.append(f"teardown {exc}")

    @bp.websocket("/feed")
    async def feed() -> None:
        await websocket.send(f"hello {diota.g.user}")

    @app.route("/plain")
    def plain() -> str:
        return "http"

    app.register_blueprint(bp)

    with client.websocket("/live/feed") as ws:
        assert ws.receive() == "hello ada"
    assert events == ["before", "after None", "teardown None"]

    # HTTP requests run no WebSocket hooks.
    events.clear()
    assert client.get("/plain").data == b"http"
    assert events == []
    with app.test_request_context():
        assert diota.url_for("live.feed") == "ws://localhost/live/feed"


def test_sync_handler_blocks_in_a_worker_thread(
    app: diota.Flask, client: t.Any
) -> None:
    threads: list[int] = []

    @app.websocket("/upper")
    def upper() -> None:
        threads.append(threading.get_ident())
        websocket.accept()
        for message in websocket:
            websocket.send(t.cast(str, message).upper())
        websocket.send("unreachable")  # the client is gone: raises

    with client.websocket("/upper") as ws:
        ws.send("abc")
        assert ws.receive() == "ABC"
        ws.send("def")
        assert ws.receive() == "DEF"
    assert threads and threads[0] != threading.get_ident()


def test_client_disconnect_ends_handler_and_tears_down_once(
    app: diota.Flask, client: t.Any
) -> None:
    cleanup: list[str] = []
    teardowns: list[BaseException | None] = []

    @app.websocket("/forever")
    async def forever() -> None:
        try:
            await websocket.accept()
            while True:
                await websocket.receive()
        finally:
            cleanup.append("finally ran")

    @app.teardown_websocket
    def teardown(exc: BaseException | None) -> None:
        teardowns.append(exc)

    with client.websocket("/forever") as ws:
        ws.send("ping")
    assert cleanup == ["finally ran"]
    assert teardowns == [None]


def test_async_iteration_stops_at_disconnect(app: diota.Flask, client: t.Any) -> None:
    received: list[t.Any] = []
    done: list[bool] = []

    @app.websocket("/collect")
    async def collect() -> None:
        async for message in websocket:
            received.append(message)
        done.append(True)

    with client.websocket("/collect") as ws:
        ws.send("a")
        ws.send("b")
        ws.close(1001)
    assert received == ["a", "b"]
    assert done == [True]


def test_handler_closes_with_code_and_reason(app: diota.Flask, client: t.Any) -> None:
    @app.websocket("/bye")
    async def bye() -> None:
        await websocket.accept()
        await websocket.close(4000, "go away")

    with client.websocket("/bye") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive()
    assert (closed.value.code, closed.value.reason) == (4000, "go away")


def test_before_hook_rejects_the_handshake(app: diota.Flask, client: t.Any) -> None:
    calls: list[str] = []

    @app.before_websocket
    def require_token() -> t.Any:
        if request.args.get("token") != "s3cret":
            return "who are you?", 401, {"WWW-Authenticate": "Token"}
        return None

    @app.websocket("/private")
    async def private() -> None:
        calls.append("handler")
        await websocket.send("welcome")

    with pytest.raises(WebSocketRejected) as rejected:
        with client.websocket("/private"):
            pass
    assert rejected.value.status == 401
    assert rejected.value.body == b"who are you?"
    assert rejected.value.headers["WWW-Authenticate"] == "Token"
    assert calls == []

    with client.websocket("/private?token=s3cret") as ws:
        assert ws.receive() == "welcome"


def test_session_cookie_authenticates(app: diota.Flask, client: t.Any) -> None:
    @app.websocket("/me")
    async def me() -> None:
        user = session.get("user")
        if user is None:
            diota.abort(403)
        await websocket.send(f"hello {user}")

    with pytest.raises(WebSocketRejected) as rejected:
        with client.websocket("/me"):
            pass
    assert rejected.value.status == 403

    with client.session_transaction() as sess:
        sess["user"] = "grace"
    with client.websocket("/me") as ws:
        assert ws.receive() == "hello grace"


def test_error_handler_response_refuses_the_handshake(
    app: diota.Flask, client: t.Any
) -> None:
    class RoomFull(Exception):
        pass

    @app.errorhandler(RoomFull)
    def room_full(e: RoomFull) -> t.Any:
        return "the room is full", 409

    @app.websocket("/room")
    async def room() -> None:
        raise RoomFull()

    with pytest.raises(WebSocketRejected) as rejected:
        with client.websocket("/room"):
            pass
    assert (rejected.value.status, rejected.value.body) == (409, b"the room is full")


def test_unhandled_error_after_accept_closes_1011_and_is_logged(
    app: diota.Flask, client: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    teardowns: list[BaseException | None] = []

    @app.websocket("/boom")
    async def boom() -> None:
        await websocket.accept()
        await websocket.receive()
        raise ValueError("boom")

    @app.teardown_websocket
    def teardown(exc: BaseException | None) -> None:
        teardowns.append(exc)

    with client.websocket("/boom") as ws:
        ws.send("go")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive()
    assert closed.value.code == 1011
    assert "boom" in caplog.text
    assert len(teardowns) == 1 and isinstance(teardowns[0], ValueError)


def test_unhandled_error_propagates_to_the_test_when_testing(
    app: diota.Flask, client: t.Any
) -> None:
    @app.websocket("/boom")
    async def boom() -> None:
        await websocket.accept()
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        with client.websocket("/boom") as ws:
            ws.receive()


def test_unhandled_error_before_accept_answers_500(
    app: diota.Flask, client: t.Any
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.websocket("/boom")
    async def boom() -> None:
        raise ValueError("boom")

    with pytest.raises(WebSocketRejected) as rejected:
        with client.websocket("/boom"):
            pass
    assert rejected.value.status == 500


def test_unknown_and_http_urls_refuse_websockets(
    app: diota.Flask, client: t.Any
) -> None:
    @app.route("/page")
    def page() -> str:
        return "page"

    with pytest.raises(WebSocketRejected) as missing:
        with client.websocket("/nowhere"):
            pass
    assert missing.value.status == 404

    with pytest.raises(WebSocketRejected) as http_only:
        with client.websocket("/page"):
            pass
    assert http_only.value.status == 400
    assert b"not a WebSocket endpoint" in http_only.value.body


def test_http_request_to_a_websocket_route_is_a_clear_400(
    app: diota.Flask, client: t.Any
) -> None:
    @app.websocket("/ws")
    async def ws() -> None:
        pass

    response = client.get("/ws")
    assert response.status_code == 400
    assert b"WebSocket endpoint" in response.data


def test_wsgi_handshake_says_it_needs_an_asgi_server(app: diota.Flask) -> None:
    @app.websocket("/ws")
    async def ws() -> None:
        pass

    client = app.test_client(interface="wsgi")
    response = client.get(
        "/ws", headers={"Connection": "Upgrade", "Upgrade": "websocket"}
    )
    assert response.status_code == 400
    assert b"ASGI server" in response.data


def test_websocket_route_takes_no_methods(app: diota.Flask) -> None:
    with pytest.raises(TypeError):
        app.websocket("/ws", methods=["POST"])


def test_websocket_global_outside_a_connection() -> None:
    with pytest.raises(RuntimeError, match="WebSocket context"):
        websocket.accept()


# -- raw ASGI: what real servers see ---------------------------------------------


def _scope(path: str, extensions: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"example.org")],
        "subprotocols": [],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "extensions": extensions or {},
    }


async def _exchange(
    app: diota.Flask, scope: dict[str, t.Any], incoming: list[dict[str, t.Any]]
) -> list[dict[str, t.Any]]:
    inbox = [{"type": "websocket.connect"}, *incoming]
    sent: list[dict[str, t.Any]] = []

    async def receive() -> dict[str, t.Any]:
        if inbox:
            return inbox.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, t.Any]) -> None:
        sent.append(message)

    with anyio.fail_after(5):
        await app(scope, receive, send)
    return sent


@pytest.fixture
def ws_app() -> diota.Flask:
    app = diota.Flask(__name__)

    @app.websocket("/deny")
    async def deny() -> t.Any:
        return "denied", 403

    @app.websocket("/echo")
    async def echo() -> None:
        async for message in websocket:
            await websocket.send(message)

    return app


@pytest.mark.anyio
async def test_rejection_uses_the_http_response_extension(ws_app: diota.Flask) -> None:
    sent = await _exchange(ws_app, _scope("/deny", {"websocket.http.response": {}}), [])
    assert [m["type"] for m in sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert sent[0]["status"] == 403
    assert sent[1]["body"] == b"denied"


@pytest.mark.anyio
async def test_rejection_without_the_extension_closes(ws_app: diota.Flask) -> None:
    sent = await _exchange(ws_app, _scope("/deny"), [])
    assert sent == [{"type": "websocket.close", "code": 1000}]


@pytest.mark.anyio
async def test_raw_echo_until_disconnect(ws_app: diota.Flask) -> None:
    sent = await _exchange(
        ws_app,
        _scope("/echo"),
        [
            {"type": "websocket.receive", "text": "one"},
            {"type": "websocket.receive", "bytes": b"two"},
            {"type": "websocket.disconnect", "code": 1001},
        ],
    )
    assert sent == [
        {"type": "websocket.accept"},
        {"type": "websocket.send", "text": "one"},
        {"type": "websocket.send", "bytes": b"two"},
    ]


@pytest.mark.anyio
async def test_disconnect_before_the_handshake_runs_nothing(
    ws_app: diota.Flask,
) -> None:
    calls: list[str] = []
    ws_app.before_websocket(lambda: calls.append("before"))
    sent: list[dict[str, t.Any]] = []

    async def receive() -> dict[str, t.Any]:
        return {"type": "websocket.disconnect", "code": 1006}

    async def send(message: dict[str, t.Any]) -> None:
        sent.append(message)

    await ws_app(_scope("/echo"), receive, send)
    assert sent == [] and calls == []
