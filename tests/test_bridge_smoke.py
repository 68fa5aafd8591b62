"""Smoke mode of the WSGI-under-ASGI benchmark (``benchmarks/bridge.py``).

The timed runs stay out of the test suite. These tests keep the harness and
the legacy app from rotting: every bridge (diota's ``WSGIMiddleware``,
asgiref's ``WsgiToAsgi``, a2wsgi's ``WSGIMiddleware`` and a diota app with
the legacy app as its fallback) answers every route of the legacy app
correctly, and ``--quick`` runs end to end, in process and under uvicorn.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import typing as t
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bridge  # noqa: E402
from benchmarks.apps import legacy_wsgi  # noqa: E402
from benchmarks.driver import Response  # noqa: E402

BRIDGES = list(bridge.BRIDGES)


def _run(coro: t.Coroutine[t.Any, t.Any, Response]) -> Response:
    return asyncio.run(coro)


def _call(name: str, method: str, target: str, *args: t.Any) -> Response:
    return _run(bridge.call(bridge.bridged(name), method, target, *args))


@pytest.mark.parametrize("name", BRIDGES)
def test_every_bridge_is_installed(name: str) -> None:
    assert bridge.BRIDGES[name].installed(), (
        f"{name} cannot run: install the test extra (pip install -e '.[test]')"
    )


@pytest.mark.parametrize("name", BRIDGES)
def test_bridge_serves_the_small_routes(name: str) -> None:
    hello = _call(name, "GET", "/hello")
    assert (hello.status, hello.body) == (200, legacy_wsgi.HELLO)

    doc = _call(name, "GET", "/json")
    assert doc.status == 200
    assert json.loads(doc.body) == legacy_wsgi.JSON_DOC

    body = bridge.ECHO_BODY
    echo = _call(
        name,
        "POST",
        "/echo",
        (body[:1000], body[1000:]),  # two messages, as a server may send it
        [("content-type", "text/plain"), ("content-length", str(len(body)))],
    )
    assert (echo.status, echo.body) == (200, body)
    assert echo.header("content-type") == "text/plain"

    assert _call(name, "GET", "/missing").status == 404
    assert _call(name, "POST", "/hello").status == 405


@pytest.mark.parametrize("name", BRIDGES)
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_bridge_streams_an_upload_in(name: str, framing: str) -> None:
    blocks = list(bridge.upload_blocks(3 * bridge.MiB + 123))
    chunks = [b[i : i + 16384] for b in blocks for i in range(0, len(b), 16384)]
    total = sum(map(len, chunks))
    headers = [("content-length", str(total))] if framing == "length" else []

    got = _call(name, "POST", "/upload", chunks, headers)

    assert got.status == 200
    assert json.loads(got.body) == {
        "size": total,
        "sha256": bridge.upload_digest(total),
    }


@pytest.mark.parametrize("name", BRIDGES)
def test_bridge_streams_a_download_out(name: str) -> None:
    size = 5 * legacy_wsgi.CHUNK + 7

    got = _call(name, "GET", f"/download?size={size}")

    assert got.status == 200
    assert got.header("content-length") == str(size)
    assert got.body == b"x" * size


def test_download_sizes_are_checked() -> None:
    assert _call("diota", "GET", "/download?size=nope").status == 400
    assert _call("diota", "GET", "/download?size=0").body == b""


def test_upload_blocks_are_all_different() -> None:
    blocks = list(bridge.upload_blocks(3 * bridge.MiB))
    assert len({hashlib.sha256(b).digest() for b in blocks}) == 3
    # A reordered body would not have the same digest.
    reordered = hashlib.sha256(b"".join(reversed(blocks))).hexdigest()
    assert reordered != bridge.upload_digest(3 * bridge.MiB)


def test_quick_run_in_process(tmp_path: Path) -> None:
    results = bridge.main(
        ["--quick", "--no-wire", "--no-upload", "--out", str(tmp_path)]
    )

    inproc = results["inprocess"]
    assert inproc["concurrency"] == [1, 8]
    for name in BRIDGES:
        for scenario in bridge.SCENARIO_NAMES:
            for level in ("1", "8"):
                assert inproc["rows"][name][scenario][level]["rps"] > 0
    # The point of the comparison: eight clients, eight /slow calls at once.
    assert inproc["rows"]["diota"]["slow"]["8"]["in_flight"] == 8
    assert inproc["rows"]["diota"]["slow"]["1"]["in_flight"] == 1
    report = (tmp_path / "bridge.md").read_text()
    assert "| hello | 8 |" in report
    assert "## Targets" in report
    saved = json.loads((tmp_path / "bridge.json").read_text())
    assert saved["inprocess"]["rows"].keys() == set(BRIDGES)


@pytest.mark.servers
@pytest.mark.timeout(180)
def test_quick_run_under_uvicorn(tmp_path: Path) -> None:
    results = bridge.main(
        [
            "--quick",
            "--no-inprocess",
            "--python-client",  # wrk may not be installed
            "--scenarios",
            "hello,echo,slow",
            "--upload-framing",
            "chunked",
            "--out",
            str(tmp_path),
        ]
    )

    for name in BRIDGES:
        row = results["wire"]["rows"][name]
        assert row["status"] == "ok", row
        assert set(row["rps"]) == {"hello", "echo", "slow"}
        upload = results["upload"]["rows"][name]["chunked"]
        assert upload["status"] == "ok", upload
    assert results["wire"]["rows"]["diota"]["in_flight"] > 1
    assert "## Upload: 8 MiB through uvicorn" in (tmp_path / "bridge.md").read_text()
