"""Form bodies: ``request.form`` and ``request.files`` as werkzeug parses
them, in every mode (urlencoded bodies take a shorter path of diota's)."""

from __future__ import annotations

import io
import typing as t

import pytest
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.datastructures import MultiDict
from werkzeug.formparser import FormDataParser

import diota
from diota import request

URLENCODED = "application/x-www-form-urlencoded"


def _echo_form(app: diota.Flask) -> None:
    @app.post("/form")
    def form() -> dict[str, t.Any]:
        return {
            "form": list(request.form.items(multi=True)),
            "form_type": type(request.form).__name__,
            "files": len(request.files),
            "rest": request.get_data(as_text=True),
        }


def test_urlencoded_values_repeated_blank_and_escaped(
    app: diota.Flask, client: t.Any
) -> None:
    _echo_form(app)
    body = "a=1&a=2&blank=&bare&text=caf%C3%A9+au+lait&plus=1%2B1&amp=%26"

    data = client.post("/form", data=body, content_type=URLENCODED).get_json()

    assert data["form"] == [
        ["a", "1"],
        ["a", "2"],
        ["blank", ""],
        ["bare", ""],
        ["text", "café au lait"],
        ["plus", "1+1"],
        ["amp", "&"],
    ]
    assert data["form_type"] == "ImmutableMultiDict"
    assert data["files"] == 0
    assert data["rest"] == ""  # the body was read to parse it


def test_urlencoded_escapes_that_are_not_utf8_are_kept_as_written(
    app: diota.Flask, client: t.Any
) -> None:
    _echo_form(app)

    data = client.post("/form", data="a=%FF%41&b=ok", content_type=URLENCODED)

    assert data.get_json()["form"] == [["a", "%FFA"], ["b", "ok"]]


def test_urlencoded_body_that_is_not_utf8_is_an_empty_form(
    app: diota.Flask, client: t.Any
) -> None:
    _echo_form(app)

    rv = client.post("/form", data=b"name=\xff\xfe", content_type=URLENCODED)

    assert rv.status_code == 200
    assert rv.get_json()["form"] == []


def test_form_after_get_data_parses_the_cached_body(
    app: diota.Flask, client: t.Any
) -> None:
    @app.post("/both")
    def both() -> dict[str, t.Any]:
        raw = request.get_data()
        return {"raw": raw.decode(), "form": request.form.to_dict()}

    rv = client.post("/both", data="x=1&y=2", content_type=URLENCODED)

    assert rv.get_json() == {"raw": "x=1&y=2", "form": {"x": "1", "y": "2"}}


def test_urlencoded_body_over_max_content_length_is_413(
    app: diota.Flask, client: t.Any
) -> None:
    _echo_form(app)
    app.config["MAX_CONTENT_LENGTH"] = 10

    rv = client.post("/form", data="name=" + "x" * 50, content_type=URLENCODED)

    assert rv.status_code == 413


def test_request_class_storage_and_parser_are_honoured(
    app: diota.Flask, client: t.Any
) -> None:
    parsed: list[str] = []

    class RecordingParser(FormDataParser):
        def parse(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
            parsed.append("custom parser")
            return super().parse(*args, **kwargs)

    class MutableFormRequest(diota.Request):
        parameter_storage_class = MultiDict  # type: ignore[assignment]

    class OwnParserRequest(diota.Request):
        form_data_parser_class = RecordingParser

    _echo_form(app)

    app.request_class = MutableFormRequest
    data = client.post("/form", data="a=1", content_type=URLENCODED).get_json()
    assert data["form_type"] == "MultiDict"
    assert data["form"] == [["a", "1"]]

    app.request_class = OwnParserRequest
    data = client.post("/form", data="a=2", content_type=URLENCODED).get_json()
    assert data["form"] == [["a", "2"]]
    assert parsed == ["custom parser"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/json", "application/x-url-encoded"]
)
def test_other_bodies_leave_the_form_empty_and_the_body_unread(
    app: diota.Flask, client: t.Any, content_type: str
) -> None:
    _echo_form(app)

    data = client.post("/form", data="a=1", content_type=content_type).get_json()

    assert data["form"] == []
    assert data["rest"] == "a=1"


def test_multipart_fields_and_files(app: diota.Flask, client: t.Any) -> None:
    @app.post("/upload")
    def upload() -> dict[str, t.Any]:
        file = request.files["doc"]
        return {
            "form": request.form.to_dict(),
            "file": [file.filename, file.read().decode()],
            "form_type": type(request.form).__name__,
        }

    rv = client.post(
        "/upload",
        data={"title": "notes", "doc": (io.BytesIO(b"hello"), "notes.txt")},
    )

    assert rv.get_json() == {
        "form": {"title": "notes"},
        "file": ["notes.txt", "hello"],
        "form_type": ImmutableMultiDict.__name__,
    }
