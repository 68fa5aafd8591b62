"""Flask's own test suite against diota, gated; plus tests of the harness."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from flask_suite import harness


@pytest.mark.flask_suite
@pytest.mark.parametrize("mode", ["wsgi", "asgi"])
def test_flask_suite_meets_gate(mode: str) -> None:
    """Flask 3.1.3's suite passes at least the share stored in gate.toml, with
    its test client driving diota's WSGI interface, then its ASGI one."""
    # Bounded below the per-test timeout of the outer run, so a hanging
    # Flask test is reported by the harness rather than killed with it.
    result = harness.run_suite(mode, total_timeout=100)
    summary = harness.write_summary(result)
    floor = harness.load_gate().floor(mode)
    print(f"Flask suite ({mode}): {result.headline()}; summary: {summary}")
    assert result.collected, "Flask's suite collected nothing"
    assert result.ratio >= floor, (
        f"Flask's suite fell below the gate {floor:.2%}: {result.headline()}. "
        f"See {summary}"
    )


FAKE_SUITE = """
import os
import time

import pytest

import diota
import flask


def test_alias():
    assert flask is diota
    assert os.environ["DIOTA_FLASK_ALIAS"] == "1"


def test_mode():
    assert os.environ["DIOTA_TEST_CLIENT"] == "asgi"


def test_fails():
    assert False, "boom"


@pytest.fixture
def broken():
    raise RuntimeError("setup broke")


def test_setup_error(broken):
    pass


@pytest.mark.skip(reason="not here")
def test_skipped():
    pass


@pytest.mark.xfail(reason="known")
def test_expected_failure():
    assert False


def test_hangs():
    time.sleep(60)


def test_after_the_hang():
    pass
"""


@pytest.fixture
def fake_suite(tmp_path: Path) -> Path:
    suite = tmp_path / "suite"
    (suite / "tests").mkdir(parents=True)
    (suite / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n'
    )
    (suite / "tests" / "test_fake.py").write_text(textwrap.dedent(FAKE_SUITE))
    (suite / "tests" / "test_broken_import.py").write_text("import nonexistent_mod\n")
    return suite


def test_harness_records_every_outcome(fake_suite: Path, tmp_path: Path) -> None:
    result = harness.run_suite(
        "asgi",
        suite_dir=fake_suite,
        out_dir=tmp_path / "out",
        test_timeout=3,
        total_timeout=60,
    )
    outcomes = {n.split("::")[-1]: r["outcome"] for n, r in result.results.items()}
    assert outcomes == {
        "test_alias": "passed",
        "test_mode": "passed",
        "test_fails": "failed",
        "test_setup_error": "error",
        "test_skipped": "skipped",
        "test_expected_failure": "xfailed",
        "test_hangs": "hung",
        "test_after_the_hang": "passed",
    }
    # The hang cost one restart, which skipped the tests already done.
    assert result.runs == 2
    assert list(result.collect_errors) == ["tests/test_broken_import.py"]
    assert result.passed == 4
    assert result.total == 8

    summary = harness.write_summary(result, tmp_path / "out")
    text = summary.read_text()
    assert "tests/test_fake.py::test_fails" in text
    assert "boom" in text
    assert "tests/test_broken_import.py" in text
    assert (tmp_path / "out" / "summary.json").is_file()


def test_child_that_does_not_exit_is_killed_and_reported(
    fake_suite: Path, tmp_path: Path
) -> None:
    # A thread left running keeps the interpreter alive after pytest is done.
    (fake_suite / "tests" / "conftest.py").write_text(
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(120,), daemon=False).start()\n"
    )
    result = harness.run_suite(
        "asgi",
        suite_dir=fake_suite,
        out_dir=tmp_path / "out",
        total_timeout=60,
        exit_grace=1,
        pytest_args=["-k", "alias or mode"],
    )
    assert result.exit_hang
    assert result.passed == 2
    assert "did not exit" in result.headline()


def test_unknown_mode_is_refused(fake_suite: Path) -> None:
    with pytest.raises(harness.HarnessError, match="unknown mode"):
        harness.run_suite("cgi", suite_dir=fake_suite)


def _result(mode: str, passed: int, failed: int) -> harness.SuiteResult:
    result = harness.SuiteResult(mode=mode)
    for i in range(passed + failed):
        result.collected.append(f"t::{i}")
        result.results[f"t::{i}"] = {
            "outcome": "passed" if i < passed else "failed",
            "message": "",
        }
    return result


def test_gate_only_ratchets_up_to_reached_figure(tmp_path: Path) -> None:
    gate = harness.Gate(0, {"wsgi": 0.5, "asgi": 0.0}, {"wsgi": 5, "asgi": 0})

    lower = harness.ratchet(gate, _result("wsgi", 4, 6))
    assert lower.min_ratio["wsgi"] == 0.5

    higher = harness.ratchet(gate, _result("wsgi", 2, 1))
    assert higher.min_ratio["wsgi"] == 0.6666  # rounded down, never up
    assert higher.passed["wsgi"] == 2
    assert higher.expected_total == 3

    path = tmp_path / "gate.toml"
    path.write_text(harness.dump_gate(higher))
    assert harness.load_gate(path) == higher


def test_denominator_counts_tests_of_modules_that_failed_to_import() -> None:
    result = _result("wsgi", 3, 0)
    result.expected_total = 10
    result.collect_errors["tests/test_x.py"] = "ImportError"
    assert result.ratio == 0.3


def test_committed_gate_is_readable() -> None:
    gate = harness.load_gate()
    for mode in harness.MODES:
        assert 0.0 <= gate.floor(mode) <= 1.0
