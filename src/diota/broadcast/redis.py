"""The Redis backend: ``redis://`` and ``rediss://``, across processes.

Needs redis-py 6 or later (``pip install 'diota[redis]'``), imported only
when a Redis URL is used, and asyncio: redis-py's asyncio client does not
run on trio. (redis-py 5 works, except that its pub/sub connection is not
reconnected: a dropped connection ends every subscriber at once.)

Each :class:`~diota.broadcast.Broadcast` opens one pub/sub connection,
shared by all its subscribers: a channel is subscribed to in Redis when its
first local subscriber arrives and unsubscribed from when its last one
leaves. One reader task reads that connection and fans the messages out to
the local subscribers. Publishing goes through a separate client (a
connection in pub/sub mode cannot publish).

Lost connections: redis-py reconnects a broken pub/sub connection
(:data:`RETRIES` attempts over a few seconds, or the ``retry=`` policy
given) and subscribes again to every channel on the new one; messages
published in between are lost. When it gives up, every subscriber of the
broadcast ends with :class:`~diota.broadcast.BroadcastConnectionError`, and
the next publish or subscribe connects again.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import types
import typing as t
import urllib.parse

import anyio

from ._base import Backend
from ._base import BroadcastConnectionError
from ._base import Event
from ._base import Hub
from ._base import Token

if t.TYPE_CHECKING:  # pragma: no cover
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

#: Seconds to wait for Redis to confirm a new subscription.
SUBSCRIBE_TIMEOUT = 10.0

#: Reconnection attempts after a lost connection, unless ``retry=`` is
#: given: waits of 0.2, 0.4, 0.8, 1 and 1 s, about 3.4 s in all, enough to
#: ride out a restart of Redis.
RETRIES = 5

# Wire format. Redis carries bytes; so that a subscriber gets a ``str``
# when a ``str`` was published, text goes as its UTF-8 bytes (what any
# other Redis client sends and expects) and bytes get a two-byte marker.
# Text that itself begins with NUL gets a text marker, so it is never
# mistaken for one of the markers.
_BYTES = b"\x00b"
_TEXT = b"\x00s"


def encode_message(message: str | bytes) -> bytes:
    """The payload published to Redis for ``message``."""
    if isinstance(message, bytes):
        return _BYTES + message
    data = message.encode()
    return _TEXT + data if data.startswith(b"\x00") else data


def decode_message(data: bytes) -> str | bytes:
    """The message a payload received from Redis stands for.

    Unmarked payloads from other Redis clients are text when they are valid
    UTF-8, bytes otherwise.
    """
    if data.startswith(_BYTES):
        return data[2:]
    if data.startswith(_TEXT):
        return data[2:].decode()
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data


def import_redis() -> types.ModuleType:
    """``redis.asyncio``, or an error saying how to install it."""
    try:
        import redis.asyncio
    except ImportError as exc:
        raise ImportError(
            "A redis:// broadcast URL needs redis-py: install diota's redis"
            " extra with  pip install 'diota[redis]'"
        ) from exc
    return redis.asyncio


def _running_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "The Redis broadcast backend runs on asyncio only (redis-py's"
            " asyncio client), and no asyncio event loop is running here"
            " (trio?). Serve the app on asyncio, or use the in-process"
            " backend (BROADCAST_URL unset or 'memory://')."
        ) from None


def _redacted(url: str) -> str:
    # Error messages name the server, never its password.
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class RedisBackend(Backend):
    """Messages travel through Redis pub/sub, to every connected process.

    :param url: A ``redis://`` or ``rediss://`` URL, as redis-py's
        ``Redis.from_url`` takes it (query arguments included).
    :param options: More keyword arguments for ``Redis.from_url``.
    """

    def __init__(self, hub: Hub, url: str, options: t.Mapping[str, t.Any]) -> None:
        super().__init__(hub)
        redis = import_redis()
        if options.get("decode_responses"):
            raise ValueError(
                "decode_responses would turn published bytes into str;"
                " the broadcast decodes messages itself"
            )
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        if options.get("health_check_interval") or any(
            value != "0" for value in query.get("health_check_interval", [])
        ):
            # redis-py's health check reads the PONG itself, on the pub/sub
            # connection that the reader task is already reading: asyncio
            # refuses two readers ("readuntil() called while another
            # coroutine is already waiting").
            raise ValueError(
                "health_check_interval is not supported by the Redis broadcast"
                " backend: its reader task owns the pub/sub connection's reads"
            )
        self.url = url
        self._options = dict(options)
        self._redis_errors: tuple[type[BaseException], ...] = (
            redis.RedisError,
            OSError,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._failure: BroadcastConnectionError | None = None
        # Tells a subscriber's token from an earlier connection's.
        self._generation = 0
        # Local subscribers per channel subscribed to in Redis.
        self._refs: dict[str, int] = {}
        # Set once Redis confirmed the channel's current subscription.
        self._ready: dict[str, anyio.Event] = {}
        # One event per SUBSCRIBE sent and not yet confirmed: Redis answers
        # the commands of one connection in order.
        self._confirmations: dict[str, collections.deque[anyio.Event]] = {}

    @property
    def connected(self) -> bool:
        return (
            self._reader is not None
            and self._failure is None
            and self._loop is not None
            # A closed loop took its connections with it: connect anew.
            and not self._loop.is_closed()
        )

    async def connect(self) -> None:
        loop = _running_loop()
        await self._close()
        from redis.asyncio import Redis

        options = dict(self._options)
        if "retry" not in options:
            # redis-py's pooled connections do not retry by default: one
            # dropped connection would end every subscriber.
            from redis.asyncio.retry import Retry
            from redis.backoff import ExponentialBackoff

            options["retry"] = Retry(ExponentialBackoff(cap=1.0, base=0.1), RETRIES)
        client = Redis.from_url(self.url, **options)
        pubsub = client.pubsub()
        try:
            # Open the pub/sub connection now, so that an unreachable or
            # misconfigured Redis fails at startup, not at the first chat.
            await pubsub.connect()  # type: ignore[no-untyped-call,unused-ignore]
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
                await client.aclose()
            if isinstance(exc, self._redis_errors):
                raise BroadcastConnectionError(
                    f"cannot connect to Redis at {_redacted(self.url)}: {exc}"
                ) from exc
            raise
        self._loop, self._client, self._pubsub = loop, client, pubsub
        # An empty context: a connect made lazily inside a request must not
        # keep that request's context alive in a task that outlives it.
        self._reader = contextvars.Context().run(
            loop.create_task, self._read(pubsub), name="diota-broadcast-redis"
        )

    async def disconnect(self) -> None:
        await self._close()

    async def _close(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed() and loop is not _running_loop():
            raise RuntimeError(
                "This Broadcast is connected to Redis on another event loop;"
                " disconnect it there first (one Broadcast per loop)."
            )
        reader, pubsub, client = self._reader, self._pubsub, self._client
        self._loop = self._reader = self._pubsub = self._client = None
        self._failure = None
        self._generation += 1
        self._forget_subscriptions()
        if loop is None or loop.is_closed():
            # Nothing to close, or nothing left that could close it.
            return
        with anyio.CancelScope(shield=True):
            if reader is not None:
                reader.cancel()
                await asyncio.wait([reader])
            if pubsub is not None:
                await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
            if client is not None:
                await client.aclose()

    def _forget_subscriptions(self) -> None:
        self._refs.clear()
        self._ready.clear()
        # Whoever still waits for a confirmation learns the outcome from
        # its subscriber, which the hub ends.
        for pending in self._confirmations.values():
            for event in pending:
                event.set()
        self._confirmations.clear()

    def _use(self) -> tuple[Redis, PubSub]:
        if self._loop is not _running_loop():
            raise RuntimeError(
                "This Broadcast is connected to Redis on another event loop;"
                " use it from the loop it connected on."
            )
        if self._client is None or self._pubsub is None or self._failure is not None:
            raise BroadcastConnectionError("not connected to Redis")
        return self._client, self._pubsub

    async def publish(self, channel: str, message: str | bytes) -> None:
        client, _ = self._use()
        try:
            await client.publish(channel, encode_message(message))
        except self._redis_errors as exc:
            raise BroadcastConnectionError(
                f"publishing to Redis at {_redacted(self.url)} failed: {exc}"
            ) from exc

    async def subscribe(self, channel: str) -> Token:
        _, pubsub = self._use()
        token = self._generation
        count = self._refs.get(channel, 0)
        self._refs[channel] = count + 1
        try:
            if count == 0:
                ready = self._ready[channel] = anyio.Event()
                self._confirmations.setdefault(channel, collections.deque()).append(
                    ready
                )
                await pubsub.subscribe(channel)
            else:
                ready = self._ready[channel]
            with anyio.fail_after(SUBSCRIBE_TIMEOUT):
                await ready.wait()
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await self.unsubscribe(channel, token)
            if isinstance(exc, TimeoutError):
                raise BroadcastConnectionError(
                    f"Redis did not confirm the subscription to {channel!r}"
                    f" within {SUBSCRIBE_TIMEOUT:g}s"
                ) from None
            if isinstance(exc, self._redis_errors):
                raise BroadcastConnectionError(
                    f"subscribing through Redis at {_redacted(self.url)} failed: {exc}"
                ) from exc
            raise
        # If the connection failed or closed meanwhile, the hub has ended
        # the subscriber already: its iteration reports it.
        return token

    async def unsubscribe(self, channel: str, token: Token) -> None:
        if token != self._generation or self._failure is not None:
            return  # that connection is gone, and its subscriptions with it
        count = self._refs.get(channel, 0) - 1
        if count > 0:
            self._refs[channel] = count
            return
        self._refs.pop(channel, None)
        self._ready.pop(channel, None)
        if self._pubsub is None:
            return
        try:
            await self._pubsub.unsubscribe(channel)
        except self._redis_errors:
            pass  # a lost connection is the reader's to report

    async def _read(self, pubsub: PubSub) -> None:
        """Fan messages out until cancelled or the connection is lost."""
        try:
            while True:
                # Blocks until something arrives; redis-py reconnects and
                # subscribes again under the hood, within its retry policy.
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                kind = message["type"]
                if kind == "message":
                    channel = message["channel"].decode()
                    self.hub.deliver(Event(channel, decode_message(message["data"])))
                elif kind == "subscribe":
                    channel = message["channel"].decode()
                    pending = self._confirmations.get(channel)
                    if pending:
                        pending.popleft().set()
                        if not pending:
                            del self._confirmations[channel]
        except asyncio.CancelledError:
            if self._reader is asyncio.current_task():
                # Cancelled by someone other than _close(): the loop is
                # shutting down with the broadcast still connected. Close
                # the connections while the loop can still do it.
                await self._abandon()
            raise
        except Exception as exc:
            self._fail(exc)

    async def _abandon(self) -> None:
        client, pubsub = self._client, self._pubsub
        self._client = self._pubsub = None
        self._fail(RuntimeError("the event loop shut down"))
        with anyio.CancelScope(shield=True):
            if pubsub is not None:
                await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
            if client is not None:
                await client.aclose()

    def _fail(self, exc: Exception) -> None:
        error = BroadcastConnectionError(
            f"lost the connection to Redis at {_redacted(self.url)}: {exc}"
        )
        error.__cause__ = exc
        self._failure = error
        self._forget_subscriptions()
        self.hub.end_all(error)
