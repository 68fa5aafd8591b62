from __future__ import annotations

from diota import Flask


def create_app() -> Flask:
    return Flask("app")


def create_app2(foo: str, bar: str) -> Flask:
    return Flask("_".join(["app2", foo, bar]))


def create_app3(name: str = "app3", *, debug: bool = False) -> Flask:
    app = Flask(name)
    app.config["FACTORY_DEBUG"] = debug
    return app


def no_app() -> None:
    pass


class Holder:
    @staticmethod
    def create() -> Flask:
        return Flask("held")


holder = Holder()
