"""cProfile of diota serving one scenario in-process, under both interfaces.

Run from the repository root::

    .venv-bench/bin/python -m benchmarks.profile_diota

Writes ``profile-diota-{wsgi,asgi}-<scenario>.{prof,txt}`` to the results
directory: the raw profile (for ``snakeviz``/``pstats``) and the top entries
by cumulative time. Under ASGI, diota runs a sync route in a worker thread,
which cProfile does not follow: each worker thread gets its own profiler and
the text file shows the event loop's thread and the worker threads apart.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import threading
import typing as t

from .apps import FRAMEWORKS
from .apps.common import BY_NAME
from .apps.common import SCENARIO_NAMES
from .driver import ASGIDriver
from .driver import WSGIDriver
from .inprocess import DEFAULT_OUT


def _top(stats: pstats.Stats, limit: int) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


def profile_wsgi(scenario: str, requests: int) -> list[tuple[str, pstats.Stats]]:
    app = FRAMEWORKS["diota-wsgi"].load()
    run = WSGIDriver(app, "diota-wsgi").prepare(BY_NAME[scenario])
    run(200)  # warm caches outside the profile
    profiler = cProfile.Profile()
    profiler.enable()
    run(requests)
    profiler.disable()
    return [("WSGI (the calling thread)", pstats.Stats(profiler))]


def profile_asgi(scenario: str, requests: int) -> list[tuple[str, pstats.Stats]]:
    app = FRAMEWORKS["diota-asgi"].load()
    thread_profilers: list[cProfile.Profile] = []
    lock = threading.Lock()
    active = threading.Event()

    def start_in_thread(frame: t.Any, event: str, arg: t.Any) -> None:
        # Called once in each new thread: swap in a profiler of its own.
        sys.setprofile(None)
        if active.is_set():
            profiler = cProfile.Profile()
            with lock:
                thread_profilers.append(profiler)
            profiler.enable()

    loop_profiler = cProfile.Profile()

    async def main() -> None:
        async with ASGIDriver(app, "diota-asgi") as driver:
            run = await driver.prepare(BY_NAME[scenario])
            await run(200)
            loop_profiler.enable()
            await run(requests)
            loop_profiler.disable()

    # Worker threads are started lazily by the first requests, so the hook
    # must be in place before the loop starts.
    active.set()
    threading.setprofile(start_in_thread)
    try:
        asyncio.run(main())
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    sections = [("ASGI, the event loop's thread", pstats.Stats(loop_profiler))]
    if thread_profilers:
        stats = pstats.Stats(thread_profilers[0])
        for profiler in thread_profilers[1:]:
            stats.add(profiler)
        sections.append((f"ASGI, {len(thread_profilers)} worker thread(s)", stats))
    return sections


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.profile_diota", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--scenario", default="plaintext", choices=SCENARIO_NAMES)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--limit", type=int, default=40, help="entries per listing")
    parser.add_argument("--interface", choices=("wsgi", "asgi", "both"), default="both")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for interface, profile in (("wsgi", profile_wsgi), ("asgi", profile_asgi)):
        if args.interface not in (interface, "both"):
            continue
        sections = profile(args.scenario, args.requests)
        stem = os.path.join(args.out, f"profile-diota-{interface}-{args.scenario}")
        sections[0][1].dump_stats(stem + ".prof")
        text = [f"diota {interface}, {args.scenario}, {args.requests} requests\n"]
        for title, stats in sections:
            text.append(f"==== {title} ====\n{_top(stats, args.limit)}")
        with open(stem + ".txt", "w") as f:
            f.write("\n".join(text))
        print("\n".join(text))
        print(f"written: {stem}.txt and .prof", file=sys.stderr)


if __name__ == "__main__":
    main()
