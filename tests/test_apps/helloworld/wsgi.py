from __future__ import annotations

from hello import app  # noqa: F401
