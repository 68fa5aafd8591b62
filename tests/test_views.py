from __future__ import annotations

import functools
import inspect
import typing as t

import diota
from diota.views import MethodView
from diota.views import View


def test_view_basics(app: diota.Flask, client: t.Any) -> None:
    class Greet(View):
        """Says hello."""

        methods = ["GET", "POST"]

        def dispatch_request(self, name: str) -> str:  # type: ignore[override]
            return f"{diota.request.method} {name}"

    view = Greet.as_view("greet")
    assert view.__name__ == "greet"
    assert view.__doc__ == "Says hello."
    assert view.__module__ == __name__
    assert view.view_class is Greet  # type: ignore[union-attr]
    assert view.methods == ["GET", "POST"]  # type: ignore[union-attr]
    assert view.provide_automatic_options is None  # type: ignore[union-attr]
    assert not inspect.iscoroutinefunction(view)

    app.add_url_rule("/hello/<name>", view_func=view)

    assert client.get("/hello/ada").text == "GET ada"
    assert client.post("/hello/bob").text == "POST bob"
    assert client.put("/hello/bob").status_code == 405
    assert sorted(client.open("/hello/x", method="OPTIONS").allow) == [
        "GET",
        "HEAD",
        "OPTIONS",
        "POST",
    ]


def test_view_default_methods(app: diota.Flask, client: t.Any) -> None:
    class Index(View):
        def dispatch_request(self) -> str:
            return "index"

    app.add_url_rule("/", view_func=Index.as_view("index"))
    assert client.get("/").text == "index"
    assert client.post("/").status_code == 405


def test_view_class_args_and_instances(app: diota.Flask, client: t.Any) -> None:
    created: list[int] = []

    class Counter(View):
        def __init__(self, start: int) -> None:
            created.append(start)
            self.count = start

        def dispatch_request(self) -> str:
            self.count += 1
            return str(self.count)

    class SharedCounter(Counter):
        init_every_request = False

    app.add_url_rule("/fresh", view_func=Counter.as_view("fresh", 10))
    app.add_url_rule("/shared", view_func=SharedCounter.as_view("shared", start=0))
    # The shared instance is created by as_view.
    assert created == [0]

    assert [client.get("/fresh").text for _ in range(2)] == ["11", "11"]
    assert [client.get("/shared").text for _ in range(2)] == ["1", "2"]
    assert created == [0, 10, 10]


def test_view_decorators_applied_in_order(app: diota.Flask, client: t.Any) -> None:
    def tag(label: str) -> t.Callable[..., t.Any]:
        def decorator(func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
            @functools.wraps(func)
            def wrapper(**kwargs: t.Any) -> str:
                return f"{label}({func(**kwargs)})"

            return wrapper

        return decorator

    class Wrapped(View):
        decorators = [tag("inner"), tag("outer")]

        def dispatch_request(self) -> str:
            return "view"

    view = Wrapped.as_view("wrapped")
    assert view.__name__ == "wrapped"
    assert view.view_class is Wrapped  # type: ignore[union-attr]

    app.add_url_rule("/", view_func=view)
    assert client.get("/").text == "outer(inner(view))"


def test_view_class_can_be_replaced(app: diota.Flask, client: t.Any) -> None:
    class Real(View):
        decorators = [lambda f: f]

        def dispatch_request(self) -> str:
            return "real"

    class Fake(View):
        def dispatch_request(self) -> str:
            return "fake"

    view = Real.as_view("thing")
    app.add_url_rule("/", view_func=view)
    assert client.get("/").text == "real"

    view.view_class = Fake  # type: ignore[union-attr]
    assert client.get("/").text == "fake"


def test_provide_automatic_options(app: diota.Flask, client: t.Any) -> None:
    class NoOptions(View):
        methods = ["GET"]
        provide_automatic_options = False

        def dispatch_request(self) -> str:
            return "get"

    view = NoOptions.as_view("no_options")
    assert view.provide_automatic_options is False  # type: ignore[union-attr]
    app.add_url_rule("/", view_func=view)
    assert client.open("/", method="OPTIONS").status_code == 405


def test_method_view_dispatch(app: diota.Flask, client: t.Any) -> None:
    class Item(MethodView):
        def get(self, id: int) -> str:
            return f"get {id}"

        def put(self, id: int) -> str:
            return f"put {id}"

    assert Item.methods == {"GET", "PUT"}
    app.add_url_rule("/item/<int:id>", view_func=Item.as_view("item"))

    assert client.get("/item/1").text == "get 1"
    assert client.put("/item/2").text == "put 2"
    assert client.post("/item/3").status_code == 405
    assert client.delete("/item/3").status_code == 405


def test_method_view_head_falls_back_to_get(app: diota.Flask, client: t.Any) -> None:
    calls: list[str] = []

    class Page(MethodView):
        def get(self) -> str:
            calls.append(diota.request.method)
            return "body"

    app.add_url_rule("/", view_func=Page.as_view("page"))
    rv = client.head("/")
    assert rv.status_code == 200
    assert rv.data == b""
    assert rv.headers["Content-Length"] == "4"
    assert calls == ["HEAD"]


def test_method_view_explicit_head(app: diota.Flask, client: t.Any) -> None:
    class Page(MethodView):
        def get(self) -> str:
            return "body"

        def head(self) -> diota.Response:
            return diota.Response("", headers={"X-Head": "yes"})

    app.add_url_rule("/", view_func=Page.as_view("page"))
    assert client.head("/").headers["X-Head"] == "yes"
    assert client.get("/").text == "body"


def test_method_view_methods_inherited(app: diota.Flask, client: t.Any) -> None:
    class Base(MethodView):
        def get(self) -> str:
            return "base get"

    class Child(Base):
        def post(self) -> str:
            return "child post"

    class ExplicitBase(MethodView):
        methods = ["PATCH"]

        def patch(self) -> str:
            return "patched"

    class Mixed(ExplicitBase, Base):
        def delete(self) -> str:
            return "deleted"

    class OnlyGet(Child):
        methods = ["GET"]

    assert Child.methods == {"GET", "POST"}
    assert set(Mixed.methods or ()) == {"PATCH", "GET", "DELETE"}
    assert OnlyGet.methods == ["GET"]

    app.add_url_rule("/child", view_func=Child.as_view("child"))
    app.add_url_rule("/mixed", view_func=Mixed.as_view("mixed"))
    app.add_url_rule("/only", view_func=OnlyGet.as_view("only"))

    assert client.get("/child").text == "base get"
    assert client.post("/child").text == "child post"
    assert client.patch("/mixed").text == "patched"
    assert client.delete("/mixed").text == "deleted"
    assert client.get("/mixed").text == "base get"
    assert client.post("/only").status_code == 405


def test_endpoint_override(app: diota.Flask, client: t.Any) -> None:
    class Index(View):
        def dispatch_request(self) -> str:
            return diota.request.endpoint or ""

    app.add_url_rule("/", endpoint="home", view_func=Index.as_view("index"))

    assert client.get("/").text == "home"
    with app.test_request_context():
        assert diota.url_for("home") == "/"


def test_async_dispatch_request_gives_async_view(
    app: diota.Flask, client: t.Any
) -> None:
    class AsyncView(View):
        async def dispatch_request(self, name: str) -> str:  # type: ignore[override]
            return f"async {name}"

    class SharedAsync(AsyncView):
        init_every_request = False

    view = AsyncView.as_view("async_view")
    shared = SharedAsync.as_view("shared_async")
    assert inspect.iscoroutinefunction(view)
    assert inspect.iscoroutinefunction(shared)

    app.add_url_rule("/a/<name>", view_func=view)
    app.add_url_rule("/s/<name>", view_func=shared)
    assert client.get("/a/x").text == "async x"
    assert client.get("/s/y").text == "async y"


def test_async_method_view(app: diota.Flask, client: t.Any) -> None:
    class Resource(MethodView):
        async def get(self) -> str:
            return "async get"

        async def post(self) -> str:
            return "async post"

    view = Resource.as_view("resource")
    assert inspect.iscoroutinefunction(view)
    app.add_url_rule("/", view_func=view)

    assert client.get("/").text == "async get"
    assert client.post("/").text == "async post"
    # HEAD falls back to the async GET handler.
    assert client.head("/").headers["Content-Length"] == "9"


def test_mixed_method_view_is_sync(app: diota.Flask, client: t.Any) -> None:
    class Mixed(MethodView):
        async def get(self) -> str:
            return "async get"

        def post(self) -> str:
            return "sync post"

    view = Mixed.as_view("mixed")
    assert not inspect.iscoroutinefunction(view)
    app.add_url_rule("/", view_func=view)

    assert client.get("/").text == "async get"
    assert client.post("/").text == "sync post"


def test_method_view_overriding_dispatch_stays_sync(
    app: diota.Flask, client: t.Any
) -> None:
    class Audited(MethodView):
        async def get(self) -> str:
            return "async get"

        def dispatch_request(self, **kwargs: t.Any) -> t.Any:
            rv: t.Any = super().dispatch_request(**kwargs)
            return f"audited {rv}"

    view = Audited.as_view("audited")
    assert not inspect.iscoroutinefunction(view)
    app.add_url_rule("/", view_func=view)
    assert client.get("/").text == "audited async get"
