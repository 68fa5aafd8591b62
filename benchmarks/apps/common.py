"""What every benchmark app serves: the scenarios and their shared data.

Each framework's module builds the same routes from these constants, so the
apps differ only in how the framework is used, never in what they answer.
"""

from __future__ import annotations

import dataclasses
import os

#: Where every app finds ``page.html``.
TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
TEMPLATE_NAME = "page.html"
#: Signing key for the frameworks whose sessions are signed cookies.
SECRET_KEY = "benchmark-secret-key"

PLAINTEXT = b"Hello, World!"
JSON_BODY = {"message": "Hello, World!"}
TEMPLATE_TITLE = "Benchmark"
TEMPLATE_ITEMS = [f"item {i}" for i in range(10)]
#: The value the before hook stores and the view returns.
HOOK_VALUE = "before"
#: The header the after hook adds.
HOOK_HEADER = "x-hook"
#: The cookie the bare floors use for the session scenario (unsigned).
BARE_SESSION_COOKIE = "count"


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One request the benchmark sends, and what a correct answer looks like."""

    name: str
    method: str
    path: str
    #: A substring the response body must contain (checked outside the timing).
    expect: bytes
    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    #: The request carries the cookie a first request got back.
    session: bool = False
    #: A header name (lower case) the response must have.
    header: str | None = None


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("plaintext", "GET", "/plaintext", expect=PLAINTEXT),
    Scenario("json", "GET", "/json", expect=b'"message"'),
    Scenario("path", "GET", "/users/ada", expect=b"user ada"),
    Scenario("async", "GET", "/async", expect=b"async ok"),
    Scenario(
        "form",
        "POST",
        "/form",
        expect=b"ada likes python",
        body=b"name=ada&lang=python",
        content_type="application/x-www-form-urlencoded",
    ),
    Scenario("hooks", "GET", "/hooks/", expect=b"hooks before", header=HOOK_HEADER),
    Scenario("session", "GET", "/session/", expect=b"count=", session=True),
    Scenario("template", "GET", "/template", expect=b"<li>item 9</li>"),
    Scenario("404", "GET", "/missing", expect=b"", status=404),
)

SCENARIO_NAMES: tuple[str, ...] = tuple(s.name for s in SCENARIOS)
BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}
