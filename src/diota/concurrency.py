"""The call seam between the core pipeline and the two drivers.

The core pipeline is ``async def`` code whose only awaits are ``await
call(func, *args)``. A *caller* decides how a user callable runs:

- :func:`sync_caller` (WSGI, or a fully sync route): ``def`` callables are
  called directly and ``async def`` ones are run to completion on the
  process's one event loop, so the pipeline coroutine never suspends and
  :func:`drive` finishes it with a single ``send(None)``.
- the async caller (ASGI) awaits ``async def`` callables on the server's loop
  and runs ``def`` ones in a worker thread.

The process loop (:class:`ProcessLoop`) is created lazily, once: a sync app
served over WSGI never creates it.
"""

from __future__ import annotations

import asyncio
import atexit
import collections.abc as cabc
import concurrent.futures
import contextvars
import functools
import inspect
import queue
import threading
import types
import typing as t
import weakref

if t.TYPE_CHECKING:  # pragma: no cover
    from .app import Flask

T = t.TypeVar("T")

#: How a request can be run (what ``Flask._route_kind`` tells the ASGI
#: driver): no user code at all, only sync callables, or some async ones.
ROUTE_NO_USER_CODE = 0
ROUTE_SYNC = 1
ROUTE_ASYNC = 2

#: The seam's signature: ``await call(func, *args, **kwargs)``.
Caller = t.Callable[..., cabc.Awaitable[t.Any]]


# asyncio's "this returns a coroutine" marker (Python 3.11); a fresh object
# where it does not exist, so nothing matches it.
_ASYNCIO_MARKER: object = getattr(asyncio.coroutines, "_is_coroutine", object())


_CO_COROUTINE = inspect.CO_COROUTINE


def is_async_callable(obj: t.Any) -> bool:
    """Whether calling ``obj`` returns an awaitable that must be awaited.

    Sees through :func:`functools.partial` and callable objects whose
    ``__call__`` is ``async def``, and honours asyncio's coroutine marker.
    """
    # PERF: plain functions (nearly every view and hook) answer from their
    # code flags without going through inspect.
    if type(obj) is types.FunctionType:
        if obj.__code__.co_flags & inspect.CO_COROUTINE:
            return True
        return getattr(obj, "_is_coroutine", None) is _ASYNCIO_MARKER
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.iscoroutinefunction(obj):
        return True
    if getattr(obj, "_is_coroutine", None) is _ASYNCIO_MARKER:
        return True
    call = getattr(obj, "__call__", None)  # noqa: B004
    return call is not None and inspect.iscoroutinefunction(call)


class PipelineSuspended(RuntimeError):
    """The pipeline awaited something that really suspends under the sync driver.

    Under WSGI every await in the pipeline goes through the sync caller,
    which never suspends; reaching this is a bug in diota, reported instead
    of hanging the worker.
    """


def drive(coro: cabc.Coroutine[t.Any, t.Any, T]) -> T:
    """Run a coroutine that never suspends to completion, without a loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise PipelineSuspended(
        "The request pipeline suspended while driven synchronously. An"
        " awaitable was awaited outside the call seam; please report this."
    )


def sync_caller(app: Flask) -> Caller:
    """The seam used by the sync driver.

    ``async def`` callables go through :meth:`Flask.ensure_sync`, so an app
    that overrides it keeps control of how coroutines are run.
    """

    async def call(
        func: t.Callable[..., t.Any], /, *args: t.Any, **kwargs: t.Any
    ) -> t.Any:
        # PERF: a plain ``def`` function answers from its code flags (and
        # the absence of asyncio's marker) without is_async_callable.
        if not (
            type(func) is types.FunctionType
            and not func.__code__.co_flags & _CO_COROUTINE
            and "_is_coroutine" not in func.__dict__
        ) and is_async_callable(func):
            return app.ensure_sync(func)(*args, **kwargs)
        rv = func(*args, **kwargs)
        # A sync wrapper around an async function (a decorator that did not
        # keep the coroutine marker) hands back a coroutine: finish it too.
        if type(rv) is types.CoroutineType:
            return run_coroutine_sync(rv)
        return rv

    return call


class ProcessLoop:
    """The process's one event loop for running ``async def`` code from sync code.

    Single-threaded servers run it in place: the calling thread runs the loop
    until the coroutine is done (no cross-thread wake-ups). Once a threaded
    server is seen, :meth:`use_thread` moves it, for good, to a thread of its
    own, and callers hand coroutines to that thread. Either way it is the
    same loop, so async resources opened on it stay usable.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._before_close: list[t.Callable[[], None]] = []
        self._close_registered = False

    def call_before_close(self, func: t.Callable[[], None]) -> None:
        """Run ``func`` at interpreter exit while the loop still works.

        The serving shutdown hooks go here: run from a plain ``atexit``
        handler they would find the loop already closed.
        """
        with self._lock:
            self._before_close.append(func)
            self._register_close()

    def _register_close(self) -> None:
        if not self._close_registered:
            self._close_registered = True
            _at_thread_shutdown(self.close)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, created on first use."""
        loop = self._loop
        if loop is None:
            with self._lock:
                if self._loop is None:
                    self._loop = asyncio.new_event_loop()
                    self._register_close()
                loop = self._loop
        return loop

    @property
    def threaded(self) -> bool:
        """Whether the loop runs in a thread of its own."""
        return self._thread is not None

    def use_thread(self) -> None:
        """Move the loop to its own thread (threaded servers). Idempotent."""
        if self._thread is not None:
            return
        loop = self.loop
        with self._lock:
            if self._thread is not None:
                return
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=run, name="diota-event-loop", daemon=True)
            thread.start()
            ready.wait()
            self._thread = thread

    def run(self, coro: cabc.Coroutine[t.Any, t.Any, T]) -> T:
        """Run ``coro`` on the process loop and return its result.

        The coroutine runs in a copy of the caller's context, so ``request``,
        ``g`` and the other globals work inside it.
        """
        value, error = self._run(_outcome(coro))
        if error is not None:
            try:
                raise error
            finally:
                # The traceback holds this frame: no cycle through the error.
                del error
        return value  # type: ignore[return-value]  # None only with an error

    def _run(self, coro: cabc.Coroutine[t.Any, t.Any, T]) -> T:
        if self._thread is not None:
            if threading.current_thread() is self._thread:
                return _run_in_helper_thread(coro)
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
            return future.result()
        loop = self.loop
        if _running_loop() is not None or _other_library_running():
            # Called from code that already runs on a loop in this thread
            # (an async view calling sync code calling ensure_sync): blocking
            # here would deadlock, so finish it beside, on a loop of its own.
            return _run_in_helper_thread(coro)
        with self._lock:
            if self._thread is not None:  # moved while we waited
                return asyncio.run_coroutine_threadsafe(coro, loop).result()
            return loop.run_until_complete(coro)

    def close(self) -> None:
        """Run the before-close callbacks, then stop and close the loop (at
        interpreter exit)."""
        while self._before_close:
            func = self._before_close.pop()
            try:
                func()
            except Exception:  # one failing hook must not stop the rest
                import logging

                logging.getLogger("diota").exception("Error while shutting down")
        loop, thread = self._loop, self._thread
        if loop is None or loop.is_closed():
            return
        if thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
        if not loop.is_running():
            _cancel_remaining_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
        _stop_anyio_workers(loop)


def _cancel_remaining_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks still pending on ``loop`` and let them finish (for a
    while), as :func:`asyncio.run` does: a response the in-process test client
    never read waits at its start until the process ends."""
    pending = asyncio.all_tasks(loop)
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.wait(pending, timeout=5))


def _stop_anyio_workers(loop: asyncio.AbstractEventLoop) -> None:
    """Stop anyio's idle worker threads of ``loop``.

    anyio stops a worker when the task it counts as the loop's root task
    finishes. A loop run in place (``run_until_complete`` per call) stops
    before such callbacks always run, which can leave an idle worker, a
    non-daemon thread the interpreter would wait for at exit forever.
    """
    for thread in threading.enumerate():
        stop = getattr(thread, "stop", None)
        if getattr(thread, "loop", None) is loop and callable(stop):
            stop()


def _at_thread_shutdown(func: t.Callable[[], None]) -> None:
    """Call ``func`` at interpreter exit, before non-daemon threads are joined.

    The loop must close first, stopping anyio's worker threads (not
    daemons), or the interpreter would wait for them forever.
    """
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        try:
            register(func)
            return
        except RuntimeError:  # pragma: no cover - already shutting down
            pass
    atexit.register(func)  # pragma: no cover


async def _outcome(
    coro: cabc.Coroutine[t.Any, t.Any, T],
) -> tuple[T | None, BaseException | None]:
    """``coro``'s value or error, as a value: an error raised through
    asyncio's own frames would stay referenced by the future they hold, a
    reference cycle per error that only the garbage collector frees."""
    try:
        return await coro, None
    except BaseException as e:
        return None, e


def _running_loop() -> asyncio.AbstractEventLoop | None:
    return asyncio._get_running_loop()


def _other_library_running() -> bool:
    """Whether a task of another async library (trio) runs in this thread:
    asyncio code run in place there would be taken for that library's."""
    try:
        from sniffio import thread_local
    except ImportError:  # pragma: no cover - anyio brings sniffio
        return False
    return thread_local.name is not None


def _run_in_helper_thread(coro: cabc.Coroutine[t.Any, t.Any, T]) -> T:
    context = contextvars.copy_context()
    try:
        from sniffio import current_async_library_cvar
    except ImportError:  # pragma: no cover - anyio brings sniffio
        pass
    else:
        # The caller's library (trio, on its loop thread) is not the one
        # this coroutine runs on.
        context.run(current_async_library_cvar.set, None)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(context.run, asyncio.run, coro).result()


#: The process's one loop for sync drivers.
process_loop = ProcessLoop()

# Set, to the server loop's anyio token, in the context of code the ASGI
# driver runs in a worker thread: coroutines started from sync code there
# belong on the server's loop, reached through anyio, not on the process loop.
_in_asgi_worker: contextvars.ContextVar[t.Any] = contextvars.ContextVar(
    "diota.in_asgi_worker", default=None
)


def run_coroutine_sync(coro: cabc.Coroutine[t.Any, t.Any, T]) -> T:
    """Run ``coro`` to completion from sync code.

    In a worker thread of the ASGI driver it runs on the server's loop;
    elsewhere on the process loop.
    """
    token = _in_asgi_worker.get()
    if token is not None:
        import anyio.from_thread

        return anyio.from_thread.run(_await, coro, token=token)
    return process_loop.run(coro)


async def _await(awaitable: cabc.Awaitable[T]) -> T:
    return await awaitable


class CallerThread:
    """Runs the sync work of requests in the thread that waits for them.

    diota's in-process ASGI test client sets one (:data:`caller_thread`) for
    the requests it drives: their ``def`` views, hooks and sync bodies run in
    the test's own thread, as with Flask's test client, while the async
    side runs on the client's loop thread. So what a test made bound to its
    thread (an in-memory SQLite database, a ``threading.local``) is there in
    the view. The test thread serves the work while it waits for a response
    (:meth:`wait`).
    """

    def __init__(self) -> None:
        self._work: queue.SimpleQueue[t.Callable[[], None] | None] = queue.SimpleQueue()

    async def run(self, func: t.Callable[..., T], *args: t.Any) -> T:
        """Run ``func(*args)`` in the waiting thread and return its result."""
        import anyio.to_thread

        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(func(*args))
            except BaseException as e:
                future.set_exception(e)

        self._work.put(work)
        # Waited for off the loop, on either async library.
        return await anyio.to_thread.run_sync(future.result)

    def wait(self, future: concurrent.futures.Future[T]) -> T:
        """Serve work until ``future`` (a request's step) is done."""
        future.add_done_callback(lambda _: self._work.put(None))
        while not future.done():
            work = self._work.get()
            if work is not None:
                work()
        return future.result()


#: Set by the in-process ASGI test client: where a request's sync work runs
#: instead of a worker thread.
caller_thread: contextvars.ContextVar[CallerThread | None] = contextvars.ContextVar(
    "diota.caller_thread", default=None
)


async def run_in_worker_thread(
    limiter: t.Any, func: t.Callable[..., T], /, *args: t.Any, **kwargs: t.Any
) -> T:
    """Run sync ``func`` in a worker thread, at most ``limiter.total_tokens``
    at once, in a copy of the current context (so ``request``, ``g`` ...
    work there); wait for it even if cancelled (a thread cannot be stopped).

    On asyncio the threads are a ``ThreadPoolExecutor`` per limiter (PERF: a
    third cheaper per hop than anyio's worker threads); on trio anyio's.
    """
    context = _worker_context()
    if kwargs:
        func = functools.partial(func, **kwargs)
    loop = asyncio._get_running_loop()
    if loop is None or limiter is None:  # trio, or anyio's default limiter
        import anyio.to_thread

        return await anyio.to_thread.run_sync(context.run, func, *args, limiter=limiter)
    future = loop.run_in_executor(_executor_for(limiter), context.run, func, *args)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        # As anyio does by default: the caller goes on only once the thread
        # is done with what it shares (the request's context).
        while not future.done():
            try:
                await asyncio.shield(future)
            except asyncio.CancelledError:
                pass
        raise


async def run_request_work(
    limiter: t.Any, func: t.Callable[..., T], /, *args: t.Any
) -> T:
    """Run a request's own sync work (its ``def`` views, hooks, handlers):
    in a worker thread (:func:`run_in_worker_thread`), or in the waiting
    test's thread under the in-process ASGI test client
    (:class:`CallerThread`)."""
    caller = caller_thread.get()
    if caller is not None:
        return await caller.run(_worker_context().run, func, *args)
    return await run_in_worker_thread(limiter, func, *args)


def _worker_context() -> contextvars.Context:
    """A copy of the current context for sync work off the loop: coroutines
    it starts from sync code belong on this loop (see :data:`_in_asgi_worker`)."""
    import anyio.lowlevel

    context = contextvars.copy_context()
    context.run(_in_asgi_worker.set, anyio.lowlevel.current_token())
    return context


# CapacityLimiter -> the thread pool standing for it on asyncio.
_executors: weakref.WeakKeyDictionary[t.Any, concurrent.futures.ThreadPoolExecutor] = (
    weakref.WeakKeyDictionary()
)
_executors_lock = threading.Lock()


def _executor_for(limiter: t.Any) -> concurrent.futures.ThreadPoolExecutor:
    executor = _executors.get(limiter)
    if executor is None:
        with _executors_lock:
            executor = _executors.get(limiter)
            if executor is None:
                executor = _executors[limiter] = concurrent.futures.ThreadPoolExecutor(
                    int(limiter.total_tokens), thread_name_prefix="diota-worker"
                )
    return executor


def async_caller(limiter: t.Any) -> Caller:
    """The seam used by the async (ASGI) driver.

    ``async def`` callables are awaited on the server's loop; ``def`` ones
    run in a worker thread, at most ``limiter``'s tokens at a time.
    """

    def call(
        func: t.Callable[..., t.Any], /, *args: t.Any, **kwargs: t.Any
    ) -> cabc.Awaitable[t.Any]:
        # PERF: not a coroutine itself: an ``async def`` callable's own
        # awaitable is handed back, so a call costs no extra frame. (Its
        # code flags answer for a plain function.)
        if (
            type(func) is types.FunctionType and func.__code__.co_flags & _CO_COROUTINE
        ) or is_async_callable(func):
            return func(*args, **kwargs)  # type: ignore[no-any-return]
        return _in_worker_thread(limiter, func, args, kwargs)

    return call


async def _in_worker_thread(
    limiter: t.Any,
    func: t.Callable[..., t.Any],
    args: tuple[t.Any, ...],
    kwargs: dict[str, t.Any],
) -> t.Any:
    """The async seam's call of a ``def`` callable: in a worker thread, and
    a coroutine it returns awaited here."""
    if kwargs:
        func = functools.partial(func, **kwargs)
    rv = await run_request_work(limiter, func, *args)
    if type(rv) is types.CoroutineType:
        return await rv
    return rv
