"""The before/after hook pair as pure ASGI middleware, for Starlette and
FastAPI, which have no request hooks: the documented fast way to write one."""

from __future__ import annotations

import typing as t

from . import common

_HEADER = (common.HOOK_HEADER.encode(), b"after")


class HookMiddleware:
    """Store a value the view reads (before); add a header (after)."""

    def __init__(self, app: t.Any) -> None:
        self.app = app

    async def __call__(self, scope: t.Any, receive: t.Any, send: t.Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Starlette's ``request.state`` reads scope["state"].
        scope.setdefault("state", {})["hook"] = common.HOOK_VALUE

        async def send_with_header(message: t.Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _HEADER]
            await send(message)

        await self.app(scope, receive, send_with_header)
