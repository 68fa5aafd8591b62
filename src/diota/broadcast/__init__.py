"""Broadcast channels: publish a message once, every subscriber gets it.

The building block of a chat or of live updates: each websocket (or
server-sent events stream) subscribes to a channel, and whatever is
published on that channel reaches all of them. In-process by default; set
``BROADCAST_URL`` to a Redis URL to reach the subscribers of every worker
process::

    from diota.broadcast import Broadcast

    broadcast = Broadcast(app=app)  # reads app.config["BROADCAST_URL"]

    async with broadcast.subscribe("room") as subscriber:
        async for event in subscriber:
            await websocket.send(event.message)

    await broadcast.publish("room", "hello")

.. versionadded:: 0.3
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import typing as t

import anyio

from ._base import Backend
from ._base import BroadcastConnectionError
from ._base import BroadcastError
from ._base import DEFAULT_MAX_BUFFER
from ._base import Event
from ._base import Hub
from ._base import Subscriber
from ._base import SubscriberTooSlow
from ._base import Token
from .memory import MemoryBackend

if t.TYPE_CHECKING:  # pragma: no cover
    from ..app import Flask

__all__ = [
    "Broadcast",
    "BroadcastConnectionError",
    "BroadcastError",
    "Event",
    "Subscriber",
    "SubscriberTooSlow",
]

# A subscriber leaving tells the backend, even when it leaves because it
# was cancelled; bounded so a dead Redis cannot hold the leaving task.
_UNSUBSCRIBE_TIMEOUT = 5.0


class Broadcast:
    """A set of named channels that messages are published to.

    :param url: Where messages travel: ``None``, ``""`` or ``"memory://"``
        for this process only; ``"redis://..."`` or ``"rediss://..."`` for
        every process connected to that Redis (needs ``diota[redis]`` and
        asyncio). With an app, ``BROADCAST_URL`` in its config wins.
    :param app: Call :meth:`init_app` with this application.
    :param max_buffer: How many messages a subscriber may fall behind by
        before it is dropped with :class:`SubscriberTooSlow` (also
        ``BROADCAST_MAX_BUFFER`` in the app's config).
    :param options: Passed to the backend: for Redis, keyword arguments of
        redis-py's ``Redis.from_url`` (``retry=``, ``socket_timeout=``...).

    Connect with :meth:`connect` (done in ``before_serving`` when there is
    an app), or let the first :meth:`publish` or :meth:`subscribe` do it.
    ``async with broadcast:`` connects and disconnects around a block.

    One broadcast object is used from one event loop at a time.

    .. versionadded:: 0.3
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        app: Flask | None = None,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        **options: t.Any,
    ) -> None:
        if url is not None and not isinstance(url, str):
            raise TypeError(
                f"Broadcast's first argument is a URL, not {type(url).__name__};"
                " pass an application as Broadcast(app=app)."
            )
        self._hub = Hub()
        self._options = options
        self._max_buffer = _check_max_buffer(max_buffer)
        self._backend: Backend = self._make_backend(url)
        self._url: str | None = url or None
        # Set while a connect runs, so that concurrent first uses share it.
        self._connecting: anyio.Event | None = None
        if app is not None:
            self.init_app(app)

    @property
    def url(self) -> str:
        """The URL of the backend in use (``"memory://"`` for in-process)."""
        return self._url or "memory://"

    @property
    def connected(self) -> bool:
        """Whether the backend is connected (and its connection healthy)."""
        return self._backend.connected

    @property
    def max_buffer(self) -> int:
        """The default buffer size of new subscribers."""
        return self._max_buffer

    def init_app(self, app: Flask) -> None:
        """Use this broadcast in ``app``: Flask-extension style.

        Reads ``BROADCAST_URL`` (default: the ``url`` given to the
        constructor, else in-process) and ``BROADCAST_MAX_BUFFER``, connects
        in a ``before_serving`` hook and disconnects in an
        ``after_serving`` one, and registers the broadcast as
        ``app.extensions["broadcast"]``.

        Without a serving lifecycle (a test client, a script), the first
        publish or subscribe connects instead.

        :param app: The application.
        :raises RuntimeError: If the broadcast is connected and the app's
            ``BROADCAST_URL`` names another backend.
        """
        url = app.config.setdefault("BROADCAST_URL", self._url) or None
        max_buffer = app.config.setdefault("BROADCAST_MAX_BUFFER", self._max_buffer)
        if url != self._url:
            if self.connected:
                raise RuntimeError(
                    f"This Broadcast is connected to {self.url}; it cannot"
                    f" switch to {app.name!r}'s BROADCAST_URL."
                )
            self._backend = self._make_backend(url)
            self._url = url
        self._max_buffer = _check_max_buffer(max_buffer)
        app.extensions["broadcast"] = self
        app.before_serving(self.connect)
        app.after_serving(self.disconnect)

    def _make_backend(self, url: str | None) -> Backend:
        scheme = url.partition("://")[0].lower() if url else "memory"
        if scheme == "memory":
            if self._options:
                raise TypeError(
                    "The in-process backend takes no options, got"
                    f" {', '.join(sorted(self._options))}."
                )
            return MemoryBackend(self._hub)
        if scheme in ("redis", "rediss"):
            from .redis import RedisBackend

            assert url is not None
            return RedisBackend(self._hub, url, self._options)
        raise ValueError(
            f"Unsupported broadcast URL {url!r}: use memory://, redis:// or rediss://."
        )

    async def connect(self) -> None:
        """Connect the backend, if it is not connected already.

        :raises BroadcastConnectionError: If Redis cannot be reached.
        """
        while not self._backend.connected:
            if self._connecting is not None:
                # Someone else is connecting: wait, then look again (their
                # attempt may have failed, in which case we try ourselves).
                await self._connecting.wait()
                continue
            self._connecting = done = anyio.Event()
            try:
                await self._backend.connect()
            finally:
                self._connecting = None
                done.set()
            # One attempt of our own per call, whatever its outcome: a
            # connection that drops at once must not make this spin.
            return

    async def disconnect(self) -> None:
        """End every subscriber, then close the backend's connections.

        Subscribers read what they had buffered, then their iteration
        stops. The broadcast may be connected again afterwards.
        """
        while self._connecting is not None:
            await self._connecting.wait()
        self._hub.end_all()
        await self._backend.disconnect()

    async def __aenter__(self) -> Broadcast:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    async def publish(self, channel: str, message: str | bytes) -> None:
        """Send ``message`` to every current subscriber of ``channel``.

        Never waits for subscribers: one that has fallen ``max_buffer``
        messages behind is dropped instead (see :class:`SubscriberTooSlow`).
        Nobody subscribed is not an error; the message is just gone.

        :param channel: The channel's name.
        :param message: Text or bytes; serialise anything else first, e.g.
            with ``json.dumps``. Subscribers get the same type back.
        :raises BroadcastConnectionError: If Redis cannot be reached.
        """
        if not isinstance(message, (str, bytes)):
            raise TypeError(
                f"A broadcast message is str or bytes, not {type(message).__name__};"
                " serialise it first (json.dumps, for instance)."
            )
        await self.connect()
        await self._backend.publish(channel, message)

    def subscribe(
        self, channel: str, *, max_buffer: int | None = None
    ) -> contextlib.AbstractAsyncContextManager[Subscriber]:
        """Listen to ``channel`` for the duration of an ``async with`` block.

        Yields a :class:`Subscriber`: ``async for event in subscriber``
        gives each :class:`Event` published from the moment the block is
        entered. Leaving the block unsubscribes, whether the block ended,
        raised or was cancelled.

        :param channel: The channel's name.
        :param max_buffer: This subscriber's buffer size, instead of the
            broadcast's.
        :raises BroadcastConnectionError: If Redis cannot be reached.
        """
        size = self._max_buffer if max_buffer is None else max_buffer
        return self._subscription(channel, _check_max_buffer(size))

    @contextlib.asynccontextmanager
    async def _subscription(
        self, channel: str, max_buffer: int
    ) -> cabc.AsyncIterator[Subscriber]:
        subscriber = Subscriber(channel, max_buffer)
        subscribed: tuple[Backend, Token] | None = None
        try:
            await self.connect()
            backend = self._backend
            # Into the hub before the backend subscribes: a message that
            # arrives as soon as the subscription holds has somewhere to go.
            self._hub.add(subscriber)
            subscribed = backend, await backend.subscribe(channel)
            yield subscriber
        finally:
            self._hub.remove(subscriber)
            subscriber._close()
            if subscribed is not None:
                backend, token = subscribed
                with anyio.move_on_after(_UNSUBSCRIBE_TIMEOUT, shield=True):
                    await backend.unsubscribe(channel, token)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


def _check_max_buffer(value: t.Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"max_buffer must be a positive int, not {value!r}")
    return value
