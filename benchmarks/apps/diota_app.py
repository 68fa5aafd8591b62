"""The benchmark app on diota: one object, served as WSGI and as ASGI."""

from __future__ import annotations

import diota

from .flask_api import build

app = build(diota, __name__)
