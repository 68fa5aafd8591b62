"""The benchmark app on diota written for an ASGI server: ``async def``
views and hooks, as the Starlette and Quart apps are written. The ASGI rows
use it; ``diota_app`` (the Flask app verbatim, ``def`` views) is measured
too, as ``diota-asgi-def``."""

from __future__ import annotations

import diota

from .flask_api import build

app = build(diota, __name__, async_views=True)
