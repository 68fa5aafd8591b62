"""The benchmark app on real Flask (WSGI). Its ``async def`` view runs
through asgiref, as Flask does it."""

from __future__ import annotations

import flask

from .flask_api import build

if flask.__name__ != "flask":  # pragma: no cover - DIOTA_FLASK_ALIAS is set
    raise ImportError("`flask` resolves to diota here: unset DIOTA_FLASK_ALIAS.")

app = build(flask, __name__)
