"""Live updates pushed to the browser with server-sent events.

Serve it with the development server::

    diota --app examples/live_updates/app.py run

with gunicorn (WSGI; threads, since every open page holds a connection)::

    gunicorn --threads 16 examples.live_updates.app:app

or with uvicorn (ASGI), from the repository root::

    uvicorn examples.live_updates.app:app

Open http://127.0.0.1:8000/ in two windows and post a message in one: it
shows up in both. Two streams feed the page:

- ``/events``: messages posted to ``/messages``, fanned out to every open
  page through an in-process :class:`Broker`. A sync generator, so it runs
  the same under WSGI and ASGI. Each event has an id: a browser that lost
  the connection reconnects with ``Last-Event-ID`` and gets what it missed.
- ``/clock``: the server's time every second, from an async generator.

The broker lives in one process. Run several worker processes and each has
its own: a message posted to one worker reaches only the pages connected to
it. Share messages across processes with a pub/sub service such as Redis.

Settings (environment variables ``LIVE_UPDATES_<NAME>``, parsed as JSON):
``KEEP_ALIVE`` (seconds between keep-alive comments on a quiet stream),
``IDLE_WAKEUP`` (how often a waiting listener checks that its client is
still there), ``CLOCK_INTERVAL`` (seconds), ``RETRY_MS`` (the browser's
reconnection delay).
"""

from __future__ import annotations

import collections
import collections.abc as cabc
import dataclasses
import itertools
import queue
import threading
from datetime import datetime

import anyio

from diota import current_app
from diota import Flask
from diota import render_template
from diota import request
from diota import Response
from diota.sse import event_stream
from diota.sse import ServerSentEvent

app = Flask(__name__)
app.config.update(KEEP_ALIVE=15.0, IDLE_WAKEUP=1.0, CLOCK_INTERVAL=1.0, RETRY_MS=2000)
app.config.from_prefixed_env("LIVE_UPDATES")


@dataclasses.dataclass(frozen=True)
class Message:
    """A posted message; ids count up from 1."""

    id: int
    text: str
    at: str

    def event(self) -> ServerSentEvent:
        return ServerSentEvent({"text": self.text, "at": self.at}, id=self.id)


class Broker:
    """Publish/subscribe within one process, keeping the last messages for
    clients that reconnect.

    Thread-safe: ``publish`` is called from request threads (or ASGI worker
    threads), and each listener waits on a queue of its own.
    """

    def __init__(self, history: int = 100) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._history: collections.deque[Message] = collections.deque(maxlen=history)
        self._listeners: set[queue.SimpleQueue[Message]] = set()
        self.last_id = 0

    def publish(self, text: str) -> Message:
        """Send ``text`` to every listener."""
        with self._lock:
            message = Message(
                next(self._ids), text, datetime.now().strftime("%H:%M:%S")
            )
            self.last_id = message.id
            self._history.append(message)
            for listener in self._listeners:
                listener.put(message)
        return message

    @property
    def listeners(self) -> int:
        """How many streams are listening."""
        with self._lock:
            return len(self._listeners)

    def listen(self, after: int, idle: float) -> cabc.Iterator[ServerSentEvent | None]:
        """Events for the messages after id ``after``, forever.

        Yields ``None`` every ``idle`` seconds without a message: a sync
        generator blocked in a wait cannot be stopped, while at a ``yield``
        the stream can close it once its client has gone.
        """
        inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        with self._lock:
            # Under the lock: every message is either in the backlog or
            # sent to the inbox, never both nor neither.
            self._listeners.add(inbox)
            backlog = [m for m in self._history if m.id > after]
        try:
            for message in backlog:
                yield message.event()
            while True:
                try:
                    yield inbox.get(timeout=idle).event()
                except queue.Empty:
                    yield None
        finally:
            with self._lock:
                self._listeners.discard(inbox)


broker = Broker()


@app.get("/")
def index() -> str:
    """The page: it opens both streams with EventSource."""
    return render_template("index.html")


@app.post("/messages")
def post_message() -> tuple[dict[str, object], int]:
    """Publish a message, from a form field or a JSON body's ``text``."""
    data = request.get_json(silent=True) if request.is_json else request.form
    text = str((data or {}).get("text", "")).strip()
    if not text:
        return {"error": "text is required"}, 400
    message = broker.publish(text[:500])
    return {"id": message.id}, 201


@app.get("/events")
def events() -> Response:
    """Posted messages as server-sent events.

    A reconnecting browser sends the id of the last event it got; without
    one, the stream starts with the next message posted.
    """
    after = request.headers.get("Last-Event-ID", type=int)
    if after is None:
        after = broker.last_id
    config = current_app.config
    return event_stream(
        broker.listen(after, idle=config["IDLE_WAKEUP"]),
        keep_alive=config["KEEP_ALIVE"],
        retry=config["RETRY_MS"],
    )


@app.get("/clock")
async def clock() -> Response:
    """The server's time, every ``CLOCK_INTERVAL`` seconds (``?limit=n``
    ends the stream after n ticks)."""
    limit = request.args.get("limit", type=int)
    interval = current_app.config["CLOCK_INTERVAL"]

    async def ticks() -> cabc.AsyncIterator[ServerSentEvent]:
        n = 0
        while limit is None or n < limit:
            if n:
                # anyio rather than asyncio: the same code runs under trio.
                await anyio.sleep(interval)
            now = datetime.now().strftime("%H:%M:%S")
            yield ServerSentEvent({"time": now, "n": n}, event="tick")
            n += 1

    return event_stream(ticks(), keep_alive=current_app.config["KEEP_ALIVE"])


@app.get("/status")
def status() -> dict[str, int]:
    """How many streams listen for messages, and the last message's id."""
    return {"listeners": broker.listeners, "last_id": broker.last_id}
