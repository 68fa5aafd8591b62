"""What every broadcast backend shares: events, subscribers, local fan-out.

A backend only moves messages between processes (or not at all, for the
in-process one). Delivering a message to the subscribers of *this* process,
with a bounded buffer per subscriber, is the :class:`Hub`'s job, written
once here on anyio so it runs on asyncio and trio alike.
"""

from __future__ import annotations

import abc
import dataclasses
import typing as t

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream
from anyio.streams.memory import MemoryObjectSendStream

#: Messages a subscriber may fall behind by before it is dropped.
DEFAULT_MAX_BUFFER = 1000


class BroadcastError(Exception):
    """Base class of the errors a broadcast channel raises."""


class BroadcastConnectionError(BroadcastError):
    """The backend could not be reached, or its connection was lost.

    Raised by :meth:`Broadcast.connect`, :meth:`Broadcast.publish` and
    :meth:`Broadcast.subscribe`, and by a subscriber's iteration when the
    connection it listened on went away.
    """


class SubscriberTooSlow(BroadcastError):
    """The subscriber's buffer filled up, so it was unsubscribed.

    Raised by the subscriber's iteration once the messages it had buffered
    before it fell behind have been read: everything read before this
    error is complete and in order; what was published afterwards is lost
    to this subscriber.
    """


@dataclasses.dataclass(frozen=True)
class Event:
    """One message received on a channel.

    :param channel: The channel it was published on.
    :param message: What was published: a ``str`` stays a ``str`` and
        ``bytes`` stay ``bytes``, whatever the backend.
    """

    channel: str
    message: str | bytes


class Subscriber:
    """The messages of one channel, for one listener, in publication order.

    Made by :meth:`Broadcast.subscribe`; iterate over it with ``async for``
    to get :class:`Event` objects. Iteration ends when the ``subscribe``
    block exits or the broadcast disconnects, and raises
    :class:`SubscriberTooSlow` or :class:`BroadcastConnectionError` if the
    subscription was cut short.
    """

    def __init__(self, channel: str, max_buffer: int) -> None:
        #: The channel this subscriber listens to.
        self.channel = channel
        self._send: MemoryObjectSendStream[Event]
        self._receive: MemoryObjectReceiveStream[Event]
        self._send, self._receive = anyio.create_memory_object_stream[Event](max_buffer)
        self._max_buffer = max_buffer
        self._error: BroadcastError | None = None

    def __aiter__(self) -> Subscriber:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            # The publishing side ended this subscription; the buffer is
            # drained now, so report why it ended, if it did not end cleanly.
            if self._error is not None:
                raise _fresh(self._error) from self._error.__cause__
            raise StopAsyncIteration from None
        except anyio.ClosedResourceError:
            # Iterated after its subscribe block exited.
            raise StopAsyncIteration from None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.channel!r}>"

    def _put(self, event: Event) -> bool:
        """Buffer ``event``; return False if this subscriber is now ended."""
        try:
            self._send.send_nowait(event)
        except anyio.WouldBlock:
            # Never let one stalled listener block the publisher (and every
            # other listener with it): cut it off, and say so.
            self._end(
                SubscriberTooSlow(
                    f"subscriber to {self.channel!r} fell more than"
                    f" {self._max_buffer} messages behind"
                )
            )
            return False
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def _end(self, error: BroadcastError | None = None) -> None:
        """Stop feeding this subscriber; it reads what it has, then stops."""
        if error is not None and self._error is None:
            self._error = error
        self._send.close()

    def _close(self) -> None:
        self._send.close()
        self._receive.close()


def _fresh(error: BroadcastError) -> BroadcastError:
    # One error may end many subscribers, each raising it in its own task:
    # a new instance each time keeps their tracebacks apart.
    return type(error)(*error.args)


class Hub:
    """The subscribers of one :class:`Broadcast` in this process, by channel.

    Holds no event-loop objects of its own (each subscriber's buffer
    belongs to the loop the subscriber runs on), so a broadcast outlives
    the loops that use it one after another.
    """

    def __init__(self) -> None:
        self._channels: dict[str, set[Subscriber]] = {}

    def add(self, subscriber: Subscriber) -> None:
        self._channels.setdefault(subscriber.channel, set()).add(subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        listeners = self._channels.get(subscriber.channel)
        if listeners is not None:
            listeners.discard(subscriber)
            if not listeners:
                del self._channels[subscriber.channel]

    def count(self, channel: str) -> int:
        """How many subscribers of this process listen to ``channel``."""
        return len(self._channels.get(channel, ()))

    def deliver(self, event: Event) -> None:
        """Buffer ``event`` for every local subscriber of its channel."""
        listeners = self._channels.get(event.channel)
        if not listeners:
            return
        for subscriber in list(listeners):
            if not subscriber._put(event):
                self.remove(subscriber)

    def end_all(self, error: BroadcastError | None = None) -> None:
        """End every subscriber, with ``error`` or cleanly."""
        channels, self._channels = self._channels, {}
        for listeners in channels.values():
            for subscriber in listeners:
                subscriber._end(error)


#: What a backend's :meth:`Backend.subscribe` hands back, to be given to
#: :meth:`Backend.unsubscribe` when that subscriber leaves.
Token = t.Any


class Backend(abc.ABC):
    """Carries published messages to the :class:`Hub` of every process.

    A backend is built with no I/O and no event-loop objects; it opens its
    connections in :meth:`connect`, on the loop that will use them.
    """

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    @property
    @abc.abstractmethod
    def connected(self) -> bool:
        """Whether publishing and subscribing work without a new connect."""

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open connections (called again after a failure, to recover)."""

    @abc.abstractmethod
    async def disconnect(self) -> None:
        """Close connections; safe to call when not connected."""

    @abc.abstractmethod
    async def publish(self, channel: str, message: str | bytes) -> None:
        """Send ``message`` to every subscriber of ``channel``, everywhere."""

    @abc.abstractmethod
    async def subscribe(self, channel: str) -> Token:
        """Make sure this process receives ``channel``'s messages.

        Called for each local subscriber, after it was added to the hub;
        returns once messages published from now on will reach it.
        """

    @abc.abstractmethod
    async def unsubscribe(self, channel: str, token: Token) -> None:
        """The subscriber that got ``token`` left; must not raise."""
