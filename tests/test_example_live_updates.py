"""examples/live_updates: the test client in every mode, and a real uvicorn."""

from __future__ import annotations

import collections.abc as cabc
import json
import time
import types
import typing as t

import pytest
from servers import free_port
from servers import REPO_ROOT
from servers import serve

PATIENCE = 5.0


@pytest.fixture
def live(mode: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The example's module, with short intervals and a fresh broker;
    ``mode`` makes its test client use each interface in turn."""
    # As gunicorn and uvicorn do, import the example from the repository root.
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    from examples.live_updates import app as module

    monkeypatch.setitem(module.app.config, "IDLE_WAKEUP", 0.02)
    monkeypatch.setitem(module.app.config, "CLOCK_INTERVAL", 0.01)
    monkeypatch.setattr(module, "broker", module.Broker())
    return module


def blocks(chunks: cabc.Iterable[bytes], count: int) -> list[str]:
    """The first ``count`` blank-line-ended blocks of an event stream."""
    found: list[str] = []
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while b"\n\n" in buffer and len(found) < count:
            block, buffer = buffer.split(b"\n\n", 1)
            found.append(block.decode())
        if len(found) >= count:
            return found
    raise AssertionError(f"the stream ended after {found!r}")


def fields(block: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in block.splitlines())


def wait_for(condition: t.Callable[[], bool]) -> bool:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_page(live: types.ModuleType) -> None:
    rv = live.app.test_client().get("/")
    assert rv.status_code == 200
    assert 'new EventSource("/events")' in rv.text
    assert 'new EventSource("/clock")' in rv.text


def test_post_needs_text(live: types.ModuleType) -> None:
    client = live.app.test_client()
    assert client.post("/messages", data={"text": "  "}).status_code == 400
    assert client.post("/messages", json={}).status_code == 400
    rv = client.post("/messages", json={"text": "hi"})
    assert rv.status_code == 201
    assert rv.json == {"id": 1}


def test_messages_stream(live: types.ModuleType) -> None:
    client = live.app.test_client()
    client.post("/messages", data={"text": "missed"})

    # A browser reconnecting after event 0 gets the message it missed, then
    # what is posted while it listens.
    rv = client.get("/events", headers={"Last-Event-ID": "0"}, buffered=False)
    assert rv.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    client.post("/messages", data={"text": "live ☃"})
    retry, missed, posted = blocks(t.cast(cabc.Iterable[bytes], rv.response), 3)
    assert retry == "retry: 2000"
    assert fields(missed)["id"] == "1"
    assert json.loads(fields(missed)["data"])["text"] == "missed"
    assert fields(posted)["id"] == "2"
    assert json.loads(fields(posted)["data"])["text"] == "live ☃"
    assert client.get("/status").json == {"listeners": 1, "last_id": 2}

    rv.close()
    # The listener's generator was closed: it left the broker.
    assert wait_for(lambda: live.broker.listeners == 0)


def test_new_listener_starts_with_the_next_message(live: types.ModuleType) -> None:
    client = live.app.test_client()
    client.post("/messages", data={"text": "old"})
    rv = client.get("/events", buffered=False)
    client.post("/messages", data={"text": "new"})
    _, first = blocks(t.cast(cabc.Iterable[bytes], rv.response), 2)
    assert json.loads(fields(first)["data"])["text"] == "new"
    rv.close()
    assert wait_for(lambda: live.broker.listeners == 0)


def test_clock(live: types.ModuleType) -> None:
    rv = live.app.test_client().get("/clock?limit=3")
    ticks = [fields(block) for block in rv.text.split("\n\n") if block]
    assert [tick["event"] for tick in ticks] == ["tick"] * 3
    assert [json.loads(tick["data"])["n"] for tick in ticks] == [0, 1, 2]


@pytest.mark.servers
@pytest.mark.timeout(60)
def test_on_uvicorn() -> None:
    port = free_port()
    argv = [
        *("uvicorn", "examples.live_updates.app:app"),
        *("--host", "127.0.0.1", "--port", str(port)),
    ]
    env = {"LIVE_UPDATES_IDLE_WAKEUP": "0.05", "LIVE_UPDATES_CLOCK_INTERVAL": "0.05"}
    argv[0] = str(REPO_ROOT / ".venv" / "bin" / "uvicorn")
    with serve(argv, port, env=env, ready_path="/status") as server:
        with server.client() as client, server.client() as listener:
            assert client.get("/").status_code == 200
            with listener.stream("GET", "/events") as stream:
                assert stream.headers["x-accel-buffering"] == "no"
                assert (
                    client.post("/messages", json={"text": "hello"}).status_code == 201
                )
                _, message = blocks(stream.iter_raw(), 2)
                assert json.loads(fields(message)["data"])["text"] == "hello"
                assert client.get("/status").json()["listeners"] == 1
            # The stream's connection is closed: the server closes the listener.
            assert wait_for(lambda: client.get("/status").json()["listeners"] == 0)

            with client.stream("GET", "/clock?limit=2") as stream:
                body = b"".join(stream.iter_raw()).decode()
            assert body.count("event: tick") == 2
