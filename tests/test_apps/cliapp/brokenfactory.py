from __future__ import annotations

from diota import Flask


def create_app() -> Flask:
    # A TypeError raised inside the factory is a bug in the app and must
    # not be mistaken for "the factory needs arguments".
    raise TypeError("bad factory")
