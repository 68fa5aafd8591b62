"""diota.broadcast: publish once, every subscriber gets it.

The behaviours every backend promises run against the in-process backend
on asyncio and trio and against a real redis-server (asyncio only, as the
Redis backend is). Redis-only behaviour follows: several Broadcast objects
and OS processes sharing one Redis, one pub/sub connection per broadcast,
Redis going away. Then the Flask-extension side: config, the serving
lifecycle, views.
"""

from __future__ import annotations

import collections.abc as cabc
import contextlib
import gc
import itertools
import subprocess
import sys
import typing as t

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread
import pytest
from redis_server import RedisServer
from redis_server import running_redis
from servers import free_port

import diota
from diota.broadcast import Broadcast
from diota.broadcast import BroadcastConnectionError
from diota.broadcast import Event
from diota.broadcast import SubscriberTooSlow
from diota.broadcast.memory import MemoryBackend
from diota.globals import current_app

if t.TYPE_CHECKING:
    import redis.asyncio

TaskStatus = anyio.abc.TaskStatus[None]


@pytest.fixture(scope="module")
def redis_server() -> cabc.Iterator[RedisServer]:
    """One real redis-server for the module's tests (each disconnects)."""
    with running_redis() as server:
        yield server


def local_subscribers(broadcast: Broadcast, channel: str) -> int:
    # What this process's side holds for the channel: leaving a subscribe
    # block must leave nothing behind.
    return broadcast._hub.count(channel)


async def messages(subscriber: t.Any, count: int) -> list[str | bytes]:
    with anyio.fail_after(10):
        return [(await anext(subscriber)).message for _ in range(count)]


class TestEveryBackend:
    """What subscribers and publishers rely on, whatever BROADCAST_URL is."""

    @pytest.fixture(params=["memory-asyncio", "memory-trio", "redis-asyncio"])
    def case(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    @pytest.fixture
    def anyio_backend(self, case: str) -> str:
        return case.partition("-")[2]

    @pytest.fixture
    def url(self, case: str, request: pytest.FixtureRequest) -> str:
        if case.startswith("redis"):
            server: RedisServer = request.getfixturevalue("redis_server")
            return server.url
        return "memory://"

    @pytest.mark.anyio
    async def test_every_subscriber_gets_every_message_in_order(self, url: str) -> None:
        async with Broadcast(url) as broadcast:
            async with (
                broadcast.subscribe("room") as first,
                broadcast.subscribe("room") as second,
                broadcast.subscribe("room") as third,
            ):
                for word in ["one", "two", "three"]:
                    await broadcast.publish("room", word)
                for subscriber in (first, second, third):
                    assert await messages(subscriber, 3) == ["one", "two", "three"]

    @pytest.mark.anyio
    async def test_events_carry_their_channel(self, url: str) -> None:
        async with Broadcast(url) as broadcast, broadcast.subscribe("room") as sub:
            await broadcast.publish("room", "hi")
            with anyio.fail_after(10):
                assert await anext(sub) == Event(channel="room", message="hi")

    @pytest.mark.anyio
    async def test_channels_are_isolated(self, url: str) -> None:
        async with Broadcast(url) as broadcast:
            async with (
                broadcast.subscribe("a") as a,
                broadcast.subscribe("b") as b,
            ):
                await broadcast.publish("a", "for a")
                await broadcast.publish("b", "for b")
                await broadcast.publish("c", "for nobody")
                await broadcast.publish("a", "for a again")
                assert await messages(a, 2) == ["for a", "for a again"]
                assert await messages(b, 1) == ["for b"]

    @pytest.mark.anyio
    async def test_text_stays_text_and_bytes_stay_bytes(self, url: str) -> None:
        sent: list[str | bytes] = [
            "héllo ✓",
            b"\xff\xfe binary",
            "",
            b"",
            # Text that looks like a wire-format marker is still text.
            "\x00b not bytes",
            "\x00s",
            b"\x00s not text",
        ]
        async with Broadcast(url) as broadcast, broadcast.subscribe("room") as sub:
            for message in sent:
                await broadcast.publish("room", message)
            received = await messages(sub, len(sent))
        assert received == sent
        assert [type(m) for m in received] == [type(m) for m in sent]

    @pytest.mark.anyio
    async def test_publishing_with_no_subscriber_is_fine(self, url: str) -> None:
        async with Broadcast(url) as broadcast:
            await broadcast.publish("empty room", "anyone?")
            async with broadcast.subscribe("empty room") as sub:
                await broadcast.publish("empty room", "now")
                # Only what was published after subscribing arrives.
                assert await messages(sub, 1) == ["now"]

    @pytest.mark.anyio
    async def test_leaving_the_block_unsubscribes(self, url: str) -> None:
        async with Broadcast(url) as broadcast:
            async with broadcast.subscribe("room") as sub:
                assert local_subscribers(broadcast, "room") == 1
            assert local_subscribers(broadcast, "room") == 0
            await broadcast.publish("room", "after")
            # A subscriber used after its block ends, empty.
            with pytest.raises(StopAsyncIteration):
                await anext(sub)
            # The channel can be joined again.
            async with broadcast.subscribe("room") as again:
                await broadcast.publish("room", "again")
                assert await messages(again, 1) == ["again"]

    @pytest.mark.anyio
    async def test_cancelled_subscriber_leaves_cleanly(self, url: str) -> None:
        got: list[str | bytes] = []
        async with Broadcast(url) as broadcast:
            async with broadcast.subscribe("room") as probe:
                async with anyio.create_task_group() as tg:

                    async def listen(
                        *, task_status: anyio.abc.TaskStatus[None]
                    ) -> None:
                        async with broadcast.subscribe("room") as sub:
                            task_status.started()
                            async for event in sub:
                                got.append(event.message)

                    await tg.start(listen)
                    await broadcast.publish("room", "seen")
                    # The probe got it, so the listener was handed it too.
                    assert await messages(probe, 1) == ["seen"]
                    with anyio.fail_after(10):
                        while not got:
                            await anyio.sleep(0.01)
                    tg.cancel_scope.cancel()
                assert local_subscribers(broadcast, "room") == 1  # the probe
                await broadcast.publish("room", "after")
                assert await messages(probe, 1) == ["after"]
        assert got == ["seen"]

    @pytest.mark.anyio
    async def test_slow_subscriber_is_dropped_not_waited_for(self, url: str) -> None:
        async with Broadcast(url) as broadcast:
            async with (
                broadcast.subscribe("room", max_buffer=2) as slow,
                broadcast.subscribe("room") as fast,
            ):
                # Nobody reads `slow`: publishing must still never block.
                with anyio.fail_after(10):
                    for i in range(5):
                        await broadcast.publish("room", str(i))
                assert await messages(fast, 5) == ["0", "1", "2", "3", "4"]
                # The slow one reads what it had buffered, in order, then
                # learns that it missed the rest.
                assert await messages(slow, 2) == ["0", "1"]
                with pytest.raises(SubscriberTooSlow, match="2 messages behind"):
                    await anext(slow)
                assert local_subscribers(broadcast, "room") == 1
                await broadcast.publish("room", "5")
                assert await messages(fast, 1) == ["5"]

    @pytest.mark.anyio
    async def test_default_buffer_comes_from_the_broadcast(self, url: str) -> None:
        async with Broadcast(url, max_buffer=1) as broadcast:
            async with (
                broadcast.subscribe("room") as slow,
                broadcast.subscribe("room", max_buffer=10) as probe,
            ):
                await broadcast.publish("room", "kept")
                await broadcast.publish("room", "overflow")
                assert await messages(probe, 2) == ["kept", "overflow"]
                assert await messages(slow, 1) == ["kept"]
                with pytest.raises(SubscriberTooSlow):
                    await anext(slow)

    @pytest.mark.anyio
    async def test_disconnect_ends_subscribers_after_their_buffer(
        self, url: str
    ) -> None:
        broadcast = Broadcast(url)
        await broadcast.connect()
        ended = anyio.Event()
        waiting_got: list[str | bytes] = []
        async with anyio.create_task_group() as tg:

            async def wait_forever(*, task_status: TaskStatus) -> None:
                async with broadcast.subscribe("other") as sub:
                    task_status.started()
                    async for event in sub:
                        waiting_got.append(event.message)
                ended.set()

            await tg.start(wait_forever)
            async with (
                broadcast.subscribe("room") as sub,
                broadcast.subscribe("room") as probe,
            ):
                await broadcast.publish("room", "a")
                await broadcast.publish("room", "b")
                assert await messages(probe, 2) == ["a", "b"]
                await broadcast.disconnect()
                assert not broadcast.connected
                # Buffered messages first, then a clean end, no error.
                with anyio.fail_after(10):
                    assert [event.message async for event in sub] == ["a", "b"]
                    await ended.wait()
        assert waiting_got == []

    @pytest.mark.anyio
    async def test_first_use_connects_and_disconnect_is_not_final(
        self, url: str
    ) -> None:
        broadcast = Broadcast(url)
        assert not broadcast.connected
        await broadcast.disconnect()  # harmless when not connected
        async with broadcast.subscribe("room") as sub:
            assert broadcast.connected
            await broadcast.publish("room", "lazy")
            assert await messages(sub, 1) == ["lazy"]
        await broadcast.disconnect()
        assert not broadcast.connected
        await broadcast.publish("room", "connects again")
        assert broadcast.connected
        async with broadcast:
            async with broadcast.subscribe("room") as sub:
                await broadcast.publish("room", "again")
                assert await messages(sub, 1) == ["again"]
        assert not broadcast.connected

    @pytest.mark.anyio
    async def test_concurrent_first_uses_connect_once(self, url: str) -> None:
        broadcast = Broadcast(url)
        calls = 0
        backend_connect = broadcast._backend.connect

        async def counting_connect() -> None:
            nonlocal calls
            calls += 1
            await anyio.lowlevel.checkpoint()
            await backend_connect()

        broadcast._backend.connect = counting_connect  # type: ignore[method-assign]
        try:
            async with anyio.create_task_group() as tg:
                for i in range(5):
                    tg.start_soon(broadcast.publish, "room", str(i))
            assert calls == 1
        finally:
            await broadcast.disconnect()

    @pytest.mark.anyio
    async def test_publish_takes_only_text_or_bytes(self, url: str) -> None:
        async with Broadcast(url) as broadcast:
            with pytest.raises(TypeError, match="json.dumps"):
                await broadcast.publish("room", {"not": "serialised"})  # type: ignore[arg-type]


# In-process backend only.


@pytest.mark.anyio
async def test_memory_broadcasts_are_separate(anyio_backend: str) -> None:
    async with Broadcast() as one, Broadcast("memory://") as two:
        async with one.subscribe("room") as sub_one, two.subscribe("room") as sub_two:
            await one.publish("room", "for one")
            await two.publish("room", "for two")
            assert await messages(sub_one, 1) == ["for one"]
            assert await messages(sub_two, 1) == ["for two"]


def test_memory_broadcast_outlives_event_loops() -> None:
    # Servers and test clients may run a process's requests on one loop
    # after another (even asyncio, then trio): nothing may stay bound.
    broadcast = Broadcast()

    async def roundtrip(word: str) -> str | bytes:
        async with broadcast.subscribe("room") as sub:
            await broadcast.publish("room", word)
            return (await anext(sub)).message

    assert anyio.run(roundtrip, "on asyncio", backend="asyncio") == "on asyncio"
    assert anyio.run(roundtrip, "on trio", backend="trio") == "on trio"
    assert anyio.run(roundtrip, "asyncio again", backend="asyncio") == "asyncio again"


@pytest.mark.parametrize("url", [None, "", "memory://", "MEMORY://"])
def test_memory_urls(url: str | None) -> None:
    broadcast = Broadcast(url)
    assert broadcast.url == (url or "memory://")
    assert isinstance(broadcast._backend, MemoryBackend)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="Unsupported broadcast URL 'kafka://x'"):
        Broadcast("kafka://x")
    with pytest.raises(TypeError, match=r"Broadcast\(app=app\)"):
        Broadcast(diota.Flask("x"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes no options, got retry"):
        Broadcast("memory://", retry=3)
    for size in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_buffer"):
            Broadcast(max_buffer=size)  # type: ignore[arg-type]


def test_importing_needs_no_redis() -> None:
    code = (
        "import sys\n"
        "sys.modules['redis'] = None\n"  # as if redis-py were not installed
        "import diota.broadcast\n"
        "diota.broadcast.Broadcast('memory://')\n"
        "try:\n"
        "    diota.broadcast.Broadcast('redis://localhost')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'diota[redis]'" in result.stdout


# Redis only.


class TestRedis:
    """Across Broadcast objects and processes, through a real redis-server."""

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    def url(self, redis_server: RedisServer) -> str:
        return redis_server.url

    @pytest.fixture
    async def raw_client(self, url: str) -> cabc.AsyncIterator[redis.asyncio.Redis]:
        """A plain redis-py client, to look at Redis from the outside."""
        from redis.asyncio import Redis

        client = Redis.from_url(url)
        try:
            yield client
        finally:
            await client.aclose()

    async def numsub(self, client: redis.asyncio.Redis, channel: str) -> int:
        [(_, count)] = await client.pubsub_numsub(channel)
        return int(count)

    async def wait_numsub(
        self, client: redis.asyncio.Redis, channel: str, expected: int
    ) -> None:
        # Subscriptions travel on another connection: poll, with a bound.
        with anyio.fail_after(10):
            while await self.numsub(client, channel) != expected:
                await anyio.sleep(0.01)

    @pytest.mark.anyio
    async def test_two_broadcasts_share_messages(self, url: str) -> None:
        # Two Broadcast objects stand for two worker processes.
        async with Broadcast(url) as one, Broadcast(url) as two:
            async with (
                one.subscribe("room") as sub_one,
                two.subscribe("room") as sub_two,
            ):
                await one.publish("room", "from one")
                await two.publish("room", "from two")
                assert await messages(sub_one, 2) == ["from one", "from two"]
                assert await messages(sub_two, 2) == ["from one", "from two"]

    @pytest.mark.anyio
    async def test_one_pubsub_connection_per_broadcast(
        self, url: str, raw_client: redis.asyncio.Redis
    ) -> None:
        async with Broadcast(url) as broadcast:
            assert await self.numsub(raw_client, "room") == 0
            async with broadcast.subscribe("room"):
                async with broadcast.subscribe("room"):
                    # Two local subscribers, one Redis subscription.
                    assert await self.numsub(raw_client, "room") == 1
                    async with broadcast.subscribe("other"):
                        assert await self.numsub(raw_client, "other") == 1
                    await self.wait_numsub(raw_client, "other", 0)
                await anyio.sleep(0.05)
                assert await self.numsub(raw_client, "room") == 1
            # The last local subscriber left: Redis is told.
            await self.wait_numsub(raw_client, "room", 0)

    @pytest.mark.anyio
    async def test_cancelled_subscribers_unsubscribe_in_redis(
        self, url: str, raw_client: redis.asyncio.Redis
    ) -> None:
        async with Broadcast(url) as broadcast:
            with anyio.move_on_after(0.2):
                async with broadcast.subscribe("room") as sub:
                    async for _ in sub:
                        pass
            await self.wait_numsub(raw_client, "room", 0)
            async with broadcast.subscribe("room") as sub:
                await self.wait_numsub(raw_client, "room", 1)
                await broadcast.publish("room", "still works")
                assert await messages(sub, 1) == ["still works"]

    @pytest.mark.anyio
    async def test_messages_from_other_redis_clients(
        self, url: str, raw_client: redis.asyncio.Redis
    ) -> None:
        async with Broadcast(url) as broadcast, broadcast.subscribe("room") as sub:
            await raw_client.publish("room", "plain text")
            await raw_client.publish("room", b"\xff not utf-8")
            assert await messages(sub, 2) == ["plain text", b"\xff not utf-8"]

    @pytest.mark.anyio
    async def test_text_is_plain_utf8_on_the_wire(
        self, url: str, raw_client: redis.asyncio.Redis
    ) -> None:
        # Other programs reading the channel see ordinary text.
        pubsub = raw_client.pubsub()
        try:
            await pubsub.subscribe("room")
            async with Broadcast(url) as broadcast:
                await broadcast.publish("room", "héllo")
            with anyio.fail_after(10):
                while True:
                    message = await pubsub.get_message(timeout=1)
                    if message and message["type"] == "message":
                        break
            assert message["data"] == "héllo".encode()
        finally:
            await pubsub.aclose()

    @pytest.mark.anyio
    async def test_a_message_from_another_process(self, url: str) -> None:
        script = (
            "import sys, anyio\n"
            "from diota.broadcast import Broadcast\n"
            "async def main(url, channel, message):\n"
            "    async with Broadcast(url) as broadcast:\n"
            "        await broadcast.publish(channel, message)\n"
            "anyio.run(main, *sys.argv[1:])\n"
        )
        async with Broadcast(url) as broadcast, broadcast.subscribe("ipc") as sub:
            with anyio.fail_after(60):
                await anyio.run_process(
                    [sys.executable, "-c", script, url, "ipc", "from afar"]
                )
            assert await messages(sub, 1) == ["from afar"]

    @pytest.mark.anyio
    async def test_a_dropped_connection_is_resumed(
        self, url: str, raw_client: redis.asyncio.Redis
    ) -> None:
        async with Broadcast(url) as broadcast, broadcast.subscribe("room") as sub:
            await broadcast.publish("room", "before")
            assert await messages(sub, 1) == ["before"]
            # Redis stays up but closes the pub/sub connection (as a proxy's
            # idle timeout would): the broadcast reconnects and subscribes
            # again; what was published in between may be lost.
            assert await raw_client.client_kill_filter(_type="pubsub") == 1
            received = None
            with anyio.fail_after(20):
                for i in itertools.count():
                    await broadcast.publish("room", f"after {i}")
                    with anyio.move_on_after(0.1):
                        received = await anext(sub)
                    if received is not None:
                        break
            assert received is not None
            assert str(received.message).startswith("after ")
            assert broadcast.connected

    @pytest.mark.anyio
    async def test_redis_going_away_ends_subscribers_with_an_error(self) -> None:
        with running_redis() as server:
            # The default retry policy: it gives up within seconds.
            broadcast = Broadcast(server.url)
            try:
                async with broadcast.subscribe("room") as sub:
                    await broadcast.publish("room", "before")
                    assert await messages(sub, 1) == ["before"]
                    await anyio.to_thread.run_sync(server.stop)
                    with anyio.fail_after(30):
                        with pytest.raises(BroadcastConnectionError, match="lost"):
                            await anext(sub)
                assert not broadcast.connected
                # Still down: the next use tries to connect again, and says so.
                with anyio.fail_after(30):
                    with pytest.raises(
                        BroadcastConnectionError, match="cannot connect"
                    ):
                        await broadcast.publish("room", "lost")
                # Back up (on the same port): the same broadcast recovers.
                with running_redis(server.port):
                    async with broadcast.subscribe("room") as sub:
                        await broadcast.publish("room", "after")
                        assert await messages(sub, 1) == ["after"]
            finally:
                await broadcast.disconnect()

    @pytest.mark.anyio
    async def test_unreachable_redis_fails_connect_without_the_password(
        self,
    ) -> None:
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        url = f"redis://user:s3cret@127.0.0.1:{free_port()}/0"
        broadcast = Broadcast(url, retry=Retry(NoBackoff(), 0))
        with anyio.fail_after(30):
            with pytest.raises(BroadcastConnectionError) as info:
                await broadcast.connect()
        assert "127.0.0.1" in str(info.value)
        assert "s3cret" not in str(info.value)
        assert not broadcast.connected

    @pytest.mark.anyio
    async def test_lifespan_connects_from_config(self, url: str) -> None:
        app = diota.Flask(__name__)
        app.config["BROADCAST_URL"] = url
        broadcast = Broadcast(app=app)
        assert broadcast.url == url
        async with run_lifespan(app):
            assert broadcast.connected
        assert not broadcast.connected

    def test_left_connected_when_its_loop_ends(self, url: str) -> None:
        # A loop that shuts down with the broadcast still connected (a test
        # without a disconnect, a server without lifespan): the connections
        # close with it, and the next loop connects anew.
        broadcast = Broadcast(url)

        async def roundtrip(word: str) -> str | bytes:
            async with broadcast.subscribe("room") as sub:
                await broadcast.publish("room", word)
                return (await messages(sub, 1))[0]

        assert anyio.run(roundtrip, "first loop") == "first loop"
        gc.collect()  # an unclosed socket would warn, failing the test
        assert not broadcast.connected
        assert anyio.run(roundtrip, "second loop") == "second loop"
        anyio.run(broadcast.disconnect)
        gc.collect()

    def test_options_that_would_break_it_are_refused(self, url: str) -> None:
        with pytest.raises(ValueError, match="decode_responses"):
            Broadcast(url, decode_responses=True)
        # redis-py's health check would read the reader task's connection.
        with pytest.raises(ValueError, match="health_check_interval"):
            Broadcast(url, health_check_interval=30)
        with pytest.raises(ValueError, match="health_check_interval"):
            Broadcast(url + "?health_check_interval=30")
        Broadcast(url + "?health_check_interval=0&socket_keepalive=true")


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.anyio
async def test_redis_backend_says_it_needs_asyncio(anyio_backend: str) -> None:
    broadcast = Broadcast("redis://127.0.0.1:1")
    with pytest.raises(RuntimeError, match="asyncio only"):
        await broadcast.publish("room", "x")
    with pytest.raises(RuntimeError, match="asyncio only"):
        async with broadcast.subscribe("room"):
            pass
    await broadcast.disconnect()


# Flask-extension side.


class Lifespan:
    """An app serving under ASGI lifespan, as :func:`run_lifespan` yields it."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.stop = anyio.Event()

    def shut_down(self) -> None:
        """Send ``lifespan.shutdown`` now, not at the end of the block."""
        self.stop.set()


@contextlib.asynccontextmanager
async def run_lifespan(app: diota.Flask) -> cabc.AsyncIterator[Lifespan]:
    """``async with run_lifespan(app):`` the app serves inside the block."""
    lifespan = Lifespan()
    started = anyio.Event()

    async def receive() -> dict[str, str]:
        if not lifespan.sent:
            return {"type": "lifespan.startup"}
        await lifespan.stop.wait()
        return {"type": "lifespan.shutdown"}

    async def send(message: dict[str, str]) -> None:
        lifespan.sent.append(message["type"])
        started.set()

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    async with anyio.create_task_group() as tg:
        tg.start_soon(app, scope, receive, send)
        with anyio.fail_after(10):
            await started.wait()
        assert lifespan.sent == ["lifespan.startup.complete"]
        try:
            yield lifespan
        finally:
            lifespan.shut_down()
    assert lifespan.sent[-1] == "lifespan.shutdown.complete"


def test_init_app_registers_and_fills_config() -> None:
    app = diota.Flask(__name__)
    broadcast = Broadcast()
    broadcast.init_app(app)
    assert app.extensions["broadcast"] is broadcast
    assert app.config["BROADCAST_URL"] is None
    assert app.config["BROADCAST_MAX_BUFFER"] == broadcast.max_buffer == 1000
    assert broadcast.url == "memory://"
    assert Broadcast(app=diota.Flask(__name__)).url == "memory://"


def test_config_wins_over_constructor_url() -> None:
    app = diota.Flask(__name__)
    app.config.update(BROADCAST_URL="redis://127.0.0.1:6390/0", BROADCAST_MAX_BUFFER=7)
    broadcast = Broadcast("memory://", app=app, max_buffer=3)
    assert broadcast.url == "redis://127.0.0.1:6390/0"
    assert broadcast.max_buffer == 7
    # Without a config value, the constructor's URL is the app's.
    other = diota.Flask(__name__)
    Broadcast("redis://127.0.0.1:6391/0", app=other)
    assert other.config["BROADCAST_URL"] == "redis://127.0.0.1:6391/0"
    bad = diota.Flask(__name__)
    bad.config["BROADCAST_URL"] = "nope://"
    with pytest.raises(ValueError, match="Unsupported"):
        Broadcast(app=bad)


@pytest.mark.anyio
async def test_serving_lifecycle_connects_and_disconnects(anyio_backend: str) -> None:
    app = diota.Flask(__name__)
    broadcast = Broadcast(app=app)
    assert not broadcast.connected
    async with run_lifespan(app) as lifespan:
        assert broadcast.connected
        async with broadcast.subscribe("room") as sub:
            await broadcast.publish("room", "while serving")
            lifespan.shut_down()
            # Shutdown ends the subscriber (a websocket handler's loop
            # returns) after what it had buffered.
            with anyio.fail_after(10):
                got = [event.message async for event in sub]
        assert got == ["while serving"]
        assert not broadcast.connected


def test_views_use_the_broadcast(app: diota.Flask, client: t.Any) -> None:
    Broadcast(app=app)

    @app.route("/echo/<word>")
    async def echo(word: str) -> str:
        broadcast: Broadcast = current_app.extensions["broadcast"]
        async with broadcast.subscribe("room") as sub:
            await broadcast.publish("room", word)
            event = await anext(sub)
        return f"{event.channel}: {event.message!s}"

    assert client.get("/echo/hello").data == b"room: hello"
    assert client.get("/echo/again").data == b"room: again"
