"""Serving lifecycle hooks: ``before_serving``, ``after_serving``, ``while_serving``.

Under ASGI they run on the lifespan protocol's startup and shutdown; under
WSGI once per process, before the first request and at interpreter exit.
The startup and shutdown sequences are written once, as coroutines behind
the call seam, and each adapter drives them in its own mode.
"""

from __future__ import annotations

import collections.abc as cabc
import threading
import typing as t

from .concurrency import Caller
from .concurrency import drive
from .concurrency import process_loop
from .sansio.scaffold import setupmethod

if t.TYPE_CHECKING:  # pragma: no cover
    from .app import Flask

ServingCallable = t.Callable[[], cabc.Awaitable[None] | None]
WhileServingCallable = t.Callable[
    [], "cabc.Generator[None, None, None] | cabc.AsyncGenerator[None, None]"
]
F = t.TypeVar("F", bound=ServingCallable)
G = t.TypeVar("G", bound=WhileServingCallable)


class ServingHooks:
    """The serving lifecycle part of :class:`diota.Flask`."""

    def _init_serving(self) -> None:
        #: Functions run once before the app serves its first request.
        self.before_serving_funcs: list[ServingCallable] = []
        #: Functions run once when the server shuts down.
        self.after_serving_funcs: list[ServingCallable] = []
        #: Generator functions run up to their ``yield`` at startup and
        #: finished at shutdown.
        self.while_serving_gens: list[WhileServingCallable] = []
        #: Values that ``before_serving`` hooks store for requests to read
        #: as :attr:`Request.state` (under ASGI, through the lifespan state).
        self.serving_state: dict[str, t.Any] = {}
        self._serving_state: list[t.Any] = []
        self._serving_lock = threading.Lock()
        self._serving_started = False
        self._serving_stopped = False

    @setupmethod
    def before_serving(self, func: F) -> F:
        """Run ``func`` (``def`` or ``async def``) once, before serving.

        Open shared resources here (a connection pool, an
        ``httpx.AsyncClient``): under WSGI, async ones live on the process's
        one event loop, where async views run too.

        .. versionadded:: 0.2
        """
        self.before_serving_funcs.append(func)
        return func

    @setupmethod
    def after_serving(self, func: F) -> F:
        """Run ``func`` once, when the server shuts down (ASGI lifespan
        shutdown, or interpreter exit under WSGI).

        .. versionadded:: 0.2
        """
        self.after_serving_funcs.append(func)
        return func

    @setupmethod
    def while_serving(self, func: G) -> G:
        """Register a generator function that runs up to its ``yield`` at
        startup and resumes after it at shutdown::

            @app.while_serving
            async def pool():
                app.pool = await create_pool()
                yield
                await app.pool.close()

        .. versionadded:: 0.2
        """
        self.while_serving_gens.append(func)
        return func

    async def _startup(self: Flask, call: Caller) -> None:  # type: ignore[misc]
        """Run the startup side of the lifecycle hooks (once)."""
        self._serving_started = True
        for func in self.before_serving_funcs:
            await call(func)
        for gen_func in self.while_serving_gens:
            # Creating a generator runs none of its code: no seam needed.
            gen = gen_func()
            if isinstance(gen, cabc.AsyncGenerator):
                await _async_step(gen, call)
            else:
                await call(next, gen)
            self._serving_state.append(gen)

    async def _shutdown(self: Flask, call: Caller) -> None:  # type: ignore[misc]
        """Run the shutdown side of the lifecycle hooks (once)."""
        if self._serving_stopped or not self._serving_started:
            return
        self._serving_stopped = True
        background = self.__dict__.get("_background")
        if background is not None and background.running:
            await call(background.wait)
        for func in self.after_serving_funcs:
            await call(func)
        while self._serving_state:
            gen = self._serving_state.pop()
            if isinstance(gen, cabc.AsyncGenerator):
                finished = await _async_finish(gen, call)
            else:
                finished = await call(_sync_finish, gen)
            if not finished:
                raise RuntimeError(f"While-serving generator {gen!r} did not stop.")

    def _ensure_serving_sync(self: Flask) -> None:  # type: ignore[misc]
        """Under a sync driver: run startup once per process, and register
        shutdown for interpreter exit."""
        if self._serving_started:
            return
        with self._serving_lock:
            if self._serving_started:
                return
            drive(self._startup(self._sync_call))
            # Shut down while the process loop still runs (async hooks).
            process_loop.call_before_close(self._shutdown_sync)

    def _shutdown_sync(self: Flask) -> None:  # type: ignore[misc]
        drive(self._shutdown(self._sync_call))


async def _async_step(gen: t.Any, call: Caller) -> None:
    # Advanced through the seam so that, under the sync driver, the step
    # runs on the process loop like any other coroutine.
    async def step() -> None:
        await gen.__anext__()

    await call(step)


async def _async_finish(gen: t.Any, call: Caller) -> bool:
    async def finish() -> bool:
        try:
            await gen.__anext__()
        except StopAsyncIteration:
            return True
        return False

    return await call(finish)  # type: ignore[no-any-return]


def _sync_finish(gen: cabc.Generator[None, None, None]) -> bool:
    try:
        next(gen)
    except StopIteration:
        return True
    return False
