"""Background tasks: work that runs after the response is sent.

:meth:`Flask.add_background_task` queues a function on the current request;
the adapters start the queue once the response is out. Under ASGI the tasks
run in the request's own task, after the last body message (the server
keeps that task alive: the client already has its response); elsewhere they
are *detached*: ``async def`` tasks on the process's event loop thread, plain
``def`` ones in a worker thread. Every task runs in a fresh application
context holding a copy of the request's ``g``; an error is logged with the
app's logger, never lost. Shutdown (ASGI lifespan, or process exit under
WSGI) waits for the tasks still running before ``after_serving`` hooks run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import typing as t

from .concurrency import Caller
from .concurrency import is_async_callable
from .concurrency import process_loop
from .globals import _cv_app

if t.TYPE_CHECKING:  # pragma: no cover
    from .app import Flask


class BackgroundTasks:
    """The background tasks of one app: queued, running, waited for."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._running = 0
        #: How many tasks were ever queued on a request (the test client
        #: uses it to see that a request queued some).
        self.queued = 0
        self._idle = threading.Condition()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def bind(
        self,
        func: t.Callable[..., t.Any],
        args: tuple[t.Any, ...],
        kwargs: dict[str, t.Any],
    ) -> Task:
        """``func`` with its arguments, and a copy of the current ``g``."""
        app_ctx = _cv_app.get(None)
        g_values = dict(app_ctx.g.__dict__) if app_ctx is not None else {}
        return Task(
            functools.partial(func, *args, **kwargs), is_async_callable(func), g_values
        )

    # -- running ------------------------------------------------------------------

    async def run_after_response(self, tasks: list[Task], call: Caller) -> None:
        """ASGI: run ``tasks`` one after the other in the request's task."""
        self._add_running(len(tasks))
        for task in tasks:
            try:
                if task.is_async:
                    await self._run_async(task)
                else:
                    await call(self._run_sync, task)
            finally:
                self._done()

    def start_detached(self, tasks: list[Task]) -> None:
        """Start ``tasks`` without waiting for them: async ones on the
        process loop's thread, sync ones in a worker thread."""
        self._add_running(len(tasks))
        for task in tasks:
            future: concurrent.futures.Future[None]
            if task.is_async:
                if not process_loop.threaded:
                    # Detached: the loop must run on its own, not only
                    # while a request runs it in place.
                    process_loop.use_thread()
                future = asyncio.run_coroutine_threadsafe(
                    self._run_async(task), process_loop.loop
                )
            else:
                future = self._worker_pool().submit(self._run_sync, task)
            future.add_done_callback(lambda _: self._done())

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no task runs; ``False`` if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)

    @property
    def running(self) -> int:
        """How many tasks are queued or running."""
        return self._running

    # -- helpers ----------------------------------------------------------------

    def _add_running(self, count: int) -> None:
        with self._idle:
            self._running += count

    def _done(self) -> None:
        with self._idle:
            self._running -= 1
            if self._running == 0:
                self._idle.notify_all()

    def _worker_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._idle:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    self.app.config["WORKER_THREAD_LIMIT"],
                    thread_name_prefix="diota-background",
                )
            return self._executor

    def _run_sync(self, task: Task) -> None:
        with self._app_context(task):
            try:
                task.func()
            except Exception:
                self._log(task)

    async def _run_async(self, task: Task) -> None:
        with self._app_context(task):
            try:
                await task.func()
            except Exception:
                self._log(task)

    def _app_context(self, task: Task) -> t.ContextManager[t.Any]:
        ctx = self.app.app_context()
        ctx.g.__dict__.update(task.g_values)
        return ctx

    def _log(self, task: Task) -> None:
        self.app.logger.exception("Error in background task %r", task.func.func)

    def shutdown(self) -> None:
        """Stop the worker threads (after :meth:`wait`)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class Task:
    """A queued task: the bound call, whether it is a coroutine function,
    and the ``g`` it was queued with."""

    __slots__ = ("func", "is_async", "g_values")

    def __init__(
        self, func: functools.partial[t.Any], is_async: bool, g_values: dict[str, t.Any]
    ) -> None:
        self.func = func
        self.is_async = is_async
        self.g_values = g_values
