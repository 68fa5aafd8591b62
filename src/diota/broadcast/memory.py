"""The in-process backend: ``memory://``, the default.

Messages go straight from :meth:`~diota.broadcast.Broadcast.publish` to the
subscribers of the same :class:`~diota.broadcast.Broadcast` object, in this
process only. Built on anyio alone, so it serves asyncio and trio apps.
"""

from __future__ import annotations

import anyio.lowlevel

from ._base import Backend
from ._base import Event
from ._base import Token


class MemoryBackend(Backend):
    """Fan-out within one process; nothing to connect to."""

    _connected = False

    @property
    def connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        self._connected = True

    async def disconnect(self) -> None:
        self._connected = False

    async def publish(self, channel: str, message: str | bytes) -> None:
        self.hub.deliver(Event(channel, message))
        # Delivery only fills buffers; yield so a publisher in a tight loop
        # lets its subscribers run instead of filling their buffers up.
        await anyio.lowlevel.checkpoint()

    async def subscribe(self, channel: str) -> Token:
        return None

    async def unsubscribe(self, channel: str, token: Token) -> None:
        pass
