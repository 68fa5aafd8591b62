from __future__ import annotations

VALUE = 1
