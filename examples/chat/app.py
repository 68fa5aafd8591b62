"""A chat with rooms, over WebSockets and a broadcast channel.

WebSockets need an ASGI server. From the repository root::

    uvicorn examples.chat.app:app
    hypercorn asgi:examples.chat.app:app

Open http://127.0.0.1:8000/ in two browser windows, sign in with two names
and talk. A plain HTTP client can post to a room too, once signed in::

    curl -c jar -d name=bot http://127.0.0.1:8000/login
    curl -b jar -d text=hello http://127.0.0.1:8000/rooms/lobby/messages

Messages go through :class:`~diota.broadcast.Broadcast`: within this
process by default, through Redis pub/sub when ``CHAT_BROADCAST_URL`` is
set, which is what several worker processes need::

    export CHAT_SECRET_KEY=change-me CHAT_BROADCAST_URL=redis://127.0.0.1:6379/0
    uvicorn --workers 4 examples.chat.app:app

Settings are environment variables ``CHAT_<NAME>`` (read with
``from_prefixed_env``): ``CHAT_SECRET_KEY`` signs the session cookie and
must be the same in every worker; ``CHAT_BROADCAST_URL`` becomes
``BROADCAST_URL``.
"""

from __future__ import annotations

import collections

import anyio

from diota import abort
from diota import Flask
from diota import g
from diota import json
from diota import redirect
from diota import render_template
from diota import request
from diota import session
from diota import url_for
from diota import websocket
from diota import WebSocketDisconnect
from diota.broadcast import Broadcast
from diota.broadcast import BroadcastError
from diota.broadcast import Subscriber
from diota.typing import ResponseReturnValue

app = Flask(__name__)
# A development key: set CHAT_SECRET_KEY in production. Every worker must
# use the same key, or a cookie signed by one is rejected by the others.
app.config.update(SECRET_KEY="dev", BROADCAST_URL=None)
app.config.from_prefixed_env("CHAT")

# Reads BROADCAST_URL; connects when the server starts (ASGI lifespan) and
# disconnects when it stops.
broadcast = Broadcast(app=app)

#: Longest message kept, in characters; the rest is cut off.
MAX_TEXT = 500

#: WebSockets this process serves, by room. Incremented when a client
#: joins and decremented in a ``finally`` when it leaves, however it leaves.
#: Per process: with several workers each counts its own.
connections: collections.Counter[str] = collections.Counter()


def channel(room: str) -> str:
    # A prefix keeps the chat's channels apart from anything else that
    # shares the Redis server.
    return f"chat:{room}"


async def publish(room: str, user: str, text: str) -> dict[str, str]:
    """Send a message to everyone in ``room``, in every process."""
    message = {"user": user, "text": text[:MAX_TEXT]}
    # Serialised once, here: subscribers forward the string as it is.
    await broadcast.publish(channel(room), json.dumps(message))
    return message


@app.get("/")
def index() -> str:
    """The chat page, or the sign-in form."""
    # A room name fits in one URL segment of /ws/<room>, 40 characters at most.
    room = request.args.get("room", "").strip().replace("/", "-")[:40] or "lobby"
    return render_template("index.html", user=session.get("user"), room=room)


@app.post("/login")
def login() -> ResponseReturnValue:
    """Remember the visitor's name in the (signed) session cookie."""
    name = request.form.get("name", "").strip()
    if not 0 < len(name) <= 32:
        return "A name of 1 to 32 characters is required.", 400
    session["user"] = name
    return redirect(url_for("index"))


@app.post("/logout")
def logout() -> ResponseReturnValue:
    session.pop("user", None)
    return redirect(url_for("index"))


@app.before_websocket
def require_login() -> None:
    """Refuse the handshake of anyone who has not signed in.

    The handshake is an HTTP request carrying the browser's cookies, so the
    session works as in a view. Aborting (or returning a response) before
    the handler accepts refuses the connection: the client gets a 403.
    """
    user = session.get("user")
    if user is None:
        abort(403, "Sign in first.")
    g.user = user


@app.websocket("/ws/<string(maxlength=40):room>")
async def chat(room: str) -> None:
    """One client in a room: what it sends goes to the room, and what the
    room says comes back to it."""
    # Subscribe before accepting: once the client sees the handshake
    # succeed, it cannot miss a message posted to the room.
    async with broadcast.subscribe(channel(room)) as subscriber:
        await websocket.accept()
        connections[room] += 1
        try:
            # Two jobs at once, one task each: relay the room's messages to
            # the client, and read the client's messages. Whichever ends
            # first cancels the other, so neither outlives the connection.
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(relay, subscriber, tasks.cancel_scope)
                async for text in websocket:  # stops when the client leaves
                    if isinstance(text, str) and text.strip():
                        await publish(room, g.user, text.strip())
                tasks.cancel_scope.cancel()
        finally:
            # Runs on every way out: the client left, the server is shutting
            # down, or an error. Leaving the subscribe block unsubscribes.
            connections[room] -= 1
            if not connections[room]:
                del connections[room]


async def relay(subscriber: Subscriber, scope: anyio.CancelScope) -> None:
    """Send each message of the room to this client, then end the handler."""
    try:
        async for event in subscriber:
            await websocket.send(event.message)
        # The broadcast disconnected: the server is shutting down.
        await websocket.close(1001, "going away")
    except WebSocketDisconnect:
        pass  # the client left while we were sending to it
    except BroadcastError:
        # Fell too far behind, or Redis is gone: ask the client to come
        # back later rather than let it show a conversation with holes.
        await websocket.close(1013, "try again later")
    finally:
        # Handled here, not raised: an exception leaving a task group
        # arrives wrapped in an ExceptionGroup.
        scope.cancel()


@app.post("/rooms/<string(maxlength=40):room>/messages")
async def post_message(room: str) -> ResponseReturnValue:
    """Post to a room over plain HTTP (a form field or JSON ``text``), as
    the signed-in user: the message reaches the room's WebSockets."""
    user = session.get("user")
    if user is None:
        abort(403, "Sign in first.")
    data = request.get_json(silent=True) if request.is_json else request.form
    text = data.get("text") if isinstance(data, dict) else None
    if not isinstance(text, str) or not text.strip():
        return {"error": "text is required"}, 400
    return await publish(room, user, text.strip()), 201


@app.get("/status")
def status() -> dict[str, dict[str, int]]:
    """How many WebSockets this process serves, by room."""
    return {"connections": dict(connections)}
