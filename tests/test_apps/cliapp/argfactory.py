from __future__ import annotations

from diota import Flask


def create_app(config_name: str) -> Flask:
    return Flask(config_name)
