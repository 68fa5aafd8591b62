"""Cookie headers read and written without werkzeug's general path give
exactly werkzeug's results."""

from __future__ import annotations

import itertools
import typing as t
import warnings
from datetime import datetime
from datetime import timezone

import pytest
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.sansio.http import parse_cookie
from werkzeug.wrappers import Response as WerkzeugResponse

import diota
from diota._cookies import parse_cookie_header
from diota._cookies import set_cookie

COOKIE_HEADERS = [
    "",
    "a=1",
    "a=1; b=2",
    "a=1;b=2;;c=3",
    "  spaced  =  value with spaces  ; next=1",
    "a=1; a=2",
    "flag; other=",
    "=nameless; named=x",
    "eq=a=b=c",
    "tab=\tvalue\t;x=\x0by\x0b",
    "a b=1; ok=2; c=d e; \t ; f = g ;h=i=j",
    "a b=1; ok=2; c=d e; \t ; f = g ;h=i=j",
    "nbsp=\xa0v\xa0; latin=caf\xe9",
    'quoted="a b"; plain=1',
    'slashed="\\073\\"x"',
    "session=eyJhIjoxfQ.aBcD.x-y_z; theme=dark",
]


@pytest.mark.parametrize("header", COOKIE_HEADERS)
def test_cookie_header_parsed_as_werkzeug_parses_it(header: str) -> None:
    ours = parse_cookie_header(header, ImmutableMultiDict)
    theirs = parse_cookie(header, cls=ImmutableMultiDict)
    assert list(ours.items(multi=True)) == list(theirs.items(multi=True))


def test_request_cookies_in_both_modes(app: diota.Flask) -> None:
    @app.route("/")
    def index() -> t.Any:
        return {k: diota.request.cookies.getlist(k) for k in diota.request.cookies}

    # Without the cookie jar, which would replace the Cookie header.
    client = app.test_client(use_cookies=False)
    rv = client.get("/", headers={"Cookie": "a=1; b= two ; a=3; bad one=1"})
    assert rv.json == {"a": ["1", "3"], "b": ["two"]}
    rv = client.get("/", headers={"Cookie": 'q="x y"; r=1'})
    assert rv.json == {"q": ["x y"], "r": ["1"]}


_EXPIRES = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
_OPTIONS = list(
    itertools.product(
        ["session", "na me", "k\xe9y"],
        ["eyJhIjoxfQ.aBcD.x-y_z", "has space", 'quo"te', ""],
        [None, _EXPIRES, "Thu, 01 Jan 1970 00:00:00 GMT"],
        [None, "/", "/app path", "/a;b"],
        [None, "example.test", ".example.test:8080", "b\xfccher.test"],
        [False, True],
        [False, True],
        [None, "lax", "Strict", "none"],
        [False, True],
    )
)


@pytest.mark.parametrize("options", _OPTIONS[::37])
def test_set_cookie_header_as_werkzeug_writes_it(options: tuple[t.Any, ...]) -> None:
    key, value, expires, path, domain, secure, httponly, samesite, partitioned = options
    kwargs = dict(
        expires=expires,
        path=path,
        domain=domain,
        secure=secure,
        httponly=httponly,
        samesite=samesite,
        partitioned=partitioned,
    )
    ours, theirs = WerkzeugResponse(), WerkzeugResponse()
    set_cookie(ours, key, value, **kwargs)
    theirs.set_cookie(key, value, **kwargs)
    assert ours.headers.getlist("Set-Cookie") == theirs.headers.getlist("Set-Cookie")


def test_set_cookie_refuses_what_werkzeug_refuses() -> None:
    with pytest.raises(ValueError, match="SameSite"):
        set_cookie(
            WerkzeugResponse(),
            "k",
            "v",
            expires=None,
            path="/",
            domain=None,
            secure=False,
            httponly=False,
            samesite="sometimes",
            partitioned=False,
        )


def test_set_cookie_warns_about_a_cookie_too_large() -> None:
    response = WerkzeugResponse()
    response.max_cookie_size = 50  # type: ignore[misc]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        set_cookie(
            response,
            "k",
            "v" * 60,
            expires=None,
            path="/",
            domain=None,
            secure=False,
            httponly=True,
            samesite=None,
            partitioned=False,
        )
    assert "too large" in str(caught[0].message)
    assert response.headers["Set-Cookie"] == f"k={'v' * 60}; HttpOnly; Path=/"
