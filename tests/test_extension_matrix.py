"""The extension matrix: Flask extensions' own suites against diota, gated.

The matrix (every suite of ``tests/extensions/suites.toml``, in WSGI and in
ASGI mode) runs once per session; each suite and mode then has a test that
checks it against ``tests/extensions/gate.toml``. The tests after those check
the harness itself and need no network.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
from extensions import matrix

SPECS = matrix.load_specs()
#: The whole matrix's budget, under the outer per-test timeout of the first
#: matrix test (which runs the session fixture), so the harness reports a
#: suite that runs late instead of being killed with it.
MATRIX_TIMEOUT = 600


@pytest.fixture(scope="session")
def matrix_run() -> matrix.MatrixResult:
    return matrix.run_matrix(SPECS, matrix.MODES, budget=MATRIX_TIMEOUT)


def _failure_report(sc: matrix.Score, gate: matrix.Gate) -> str:
    exceptions = gate.asgi_exceptions.get(sc.suite, {}) if sc.mode == "asgi" else {}
    lines = [f"{sc.suite} [{sc.mode}]: {sc.passed}/{sc.total} ({sc.ratio:.1%})"]
    if sc.error:
        lines.append(f"the suite did not run: {sc.error[-2000:]}")
    for nodeid, r in sorted(sc.not_passed.items()):
        known = " (known ASGI exception)" if nodeid in exceptions else ""
        lines.append(f"  {r['outcome']}{known}: {nodeid}: {r['message'][:300]}")
    return "\n".join(lines)


@pytest.mark.extensions
@pytest.mark.timeout(MATRIX_TIMEOUT + 60)
@pytest.mark.parametrize("mode", matrix.MODES)
@pytest.mark.parametrize("suite", [s.name for s in SPECS])
def test_extension_suite_meets_gate(
    matrix_run: matrix.MatrixResult, suite: str, mode: str
) -> None:
    """The suite passes at least as many of its Flask-passing tests on diota
    as the gate records."""
    sc = matrix_run.get(suite, mode)
    assert sc is not None, f"{suite} [{mode}] was not run"
    gate = matrix.load_gate()
    floor = gate.floor(suite, mode)
    print(_failure_report(sc, gate))
    assert sc.passed >= floor, f"below the gate ({floor}):\n{_failure_report(sc, gate)}"


@pytest.mark.extensions
@pytest.mark.timeout(MATRIX_TIMEOUT + 60)
@pytest.mark.parametrize("mode", matrix.MODES)
def test_extension_matrix_aggregate_meets_gate(
    matrix_run: matrix.MatrixResult, mode: str
) -> None:
    """Over all suites, the share of Flask-passing tests that pass on diota
    is at least the gate's aggregate ratio."""
    passed, total = matrix.aggregate(matrix_run.scores, mode)
    floor = matrix.load_gate().min_ratio.get(mode, 0.0)
    assert total, "no suite was scored"
    assert passed / total >= floor, f"{passed}/{total} < {floor:.2%}"


# -- the harness itself ---------------------------------------------------

SPEC_TEXT = """
[[suite]]
name = "flask-demo"
version = "1.0"
category = "demo"
tests = "tests"
requires = ["pytest==8.4.2"]
env = { DEMO_URL = "{redis_url}/1" }
services = ["redis"]
seconds = 5
[suite.counts]
flask = { passed = 2 }
"""


def test_specs_parse() -> None:
    (spec,) = matrix.parse_specs(SPEC_TEXT)
    assert spec.key == "flask-demo-1.0"
    assert spec.requires == ("pytest==8.4.2",)
    assert spec.services == ("redis",)
    assert spec.env == {"DEMO_URL": "{redis_url}/1"}
    assert spec.counts == {"flask": {"passed": 2}}
    assert spec.files is None


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("seconds = 5\n", 'seconds = 5\ntets = "tests"\n', "unknown keys"),
        ('services = ["redis"]', 'services = ["mongodb"]', "unknown services"),
        ('version = "1.0"\n', "", "missing"),
    ],
)
def test_specs_with_mistakes_are_refused(old: str, new: str, message: str) -> None:
    with pytest.raises(matrix.MatrixError, match=message):
        matrix.parse_specs(SPEC_TEXT.replace(old, new))


def test_duplicate_specs_are_refused() -> None:
    head = SPEC_TEXT.split("[suite.counts]")[0]
    with pytest.raises(matrix.MatrixError, match="twice"):
        matrix.parse_specs(head + head)


def test_committed_specs_have_baselines() -> None:
    for spec in SPECS:
        baseline = matrix.load_baseline(spec)
        assert baseline.flask == matrix.FLASK_VERSION
        assert baseline.passed == sorted(set(baseline.passed))
        # The diota venv installs the baseline's packages minus Flask.
        assert any(p.lower().startswith("flask==") for p in baseline.packages)


def _baseline(passed: list[str]) -> matrix.Baseline:
    return matrix.Baseline("flask-demo", "1.0", "3.1.3", passed, {}, [])


def _run(mode: str, outcomes: dict[str, str]) -> matrix.harness.SuiteResult:
    result = matrix.harness.SuiteResult(mode=mode)
    for nodeid, outcome in outcomes.items():
        result.collected.append(nodeid)
        result.results[nodeid] = {"outcome": outcome, "message": f"{outcome}!"}
    return result


def test_score_counts_only_tests_passing_on_flask() -> None:
    baseline = _baseline(["t.py::a", "t.py::b", "t.py::c", "u.py::d"])
    result = _run(
        "asgi",
        {"t.py::a": "passed", "t.py::b": "failed", "t.py::c": "xfailed",
         "t.py::extra": "passed"},
    )  # fmt: skip
    result.collect_errors["u.py"] = "ImportError: boom"
    sc = matrix.score(baseline, result)
    # Passing on diota only (t.py::extra) does not count; xfailed does (the
    # suite's own expectation, as on Flask).
    assert (sc.passed, sc.total) == (2, 4)
    assert sc.not_passed == {
        "t.py::b": {"outcome": "failed", "message": "failed!"},
        "u.py::d": {"outcome": "collection error", "message": "ImportError: boom"},
    }
    assert sc.ratio == 0.5


def test_score_of_a_suite_that_did_not_run() -> None:
    sc = matrix.score(_baseline(["t.py::a"]), None, "pip failed\nx", mode="wsgi")
    assert (sc.passed, sc.total, sc.mode) == (0, 1, "wsgi")
    assert sc.not_passed["t.py::a"]["outcome"] == "suite error"


def _score(suite: str, mode: str, passed: int, total: int) -> matrix.Score:
    return matrix.Score(suite, mode, passed, total)


def test_gate_ratchets_up_only_to_figures_reached(tmp_path: Path) -> None:
    gate = matrix.Gate(
        passed={"a": {"wsgi": 10, "asgi": 9}},
        min_ratio={"wsgi": 0.5},
        asgi_exceptions={"a": {"t.py::x": "reads request after the request"}},
        aggregate_suites=["a"],
    )
    scores = [_score("a", "wsgi", 8, 20), _score("a", "asgi", 12, 20)]
    scores += [_score("b", "wsgi", 3, 4)]
    raised = matrix.ratchet(gate, scores, full=False)
    assert raised.passed == {"a": {"wsgi": 10, "asgi": 12}, "b": {"wsgi": 3}}
    assert raised.min_ratio == {"wsgi": 0.5}  # a partial run leaves it alone

    full = matrix.ratchet(gate, scores[:2], full=True)
    assert full.min_ratio["wsgi"] == 0.5  # 8/20 is below: kept
    assert full.min_ratio["asgi"] == 0.6
    # A suite new to the gate: the aggregate starts again from the figure
    # reached over the new set of suites.
    grown = matrix.ratchet(full, scores, full=True)
    assert grown.min_ratio["wsgi"] == 0.4583
    assert grown.aggregate_suites == ["a", "b"]

    path = tmp_path / "gate.toml"
    path.write_text(matrix.dump_gate(full))
    assert matrix.load_gate(path) == full

    result = matrix.MatrixResult([_score("a", "wsgi", 9, 20)], [])
    assert matrix.check_gate(result, full, full=False) == ["a [wsgi]: 9 < gate 10"]


def test_aggregate_rounds_down() -> None:
    gate = matrix.ratchet(matrix.Gate(), [_score("a", "wsgi", 2, 3)], full=True)
    assert gate.min_ratio["wsgi"] == 0.6666


def test_committed_gate_covers_every_suite() -> None:
    gate = matrix.load_gate()
    for spec in SPECS:
        baseline = matrix.load_baseline(spec)
        # A suite added without `--update-gate` would be gated at zero.
        assert set(gate.passed.get(spec.name, {})) == set(matrix.MODES), spec.name
        for mode in matrix.MODES:
            assert 0 < gate.floor(spec.name, mode) <= len(baseline.passed)
    assert sorted(gate.aggregate_suites) == sorted(s.name for s in SPECS)
    for suite, exceptions in gate.asgi_exceptions.items():
        assert suite in gate.passed
        assert all(reason.strip() for reason in exceptions.values()), suite


def test_unpack_keeps_tests_and_config_but_not_the_package(tmp_path: Path) -> None:
    source = tmp_path / "flask_demo-1.0"
    for rel, text in {
        "flask_demo/__init__.py": "raise ImportError('the sdist copy')",
        "tests/test_demo.py": "def test_ok():\n    pass\n",
        "setup.cfg": "[metadata]\nname = flask-demo\n",
        "docs/index.rst": "",
    }.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_text(text)
    archive = tmp_path / "flask_demo-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=source.name)

    (spec,) = matrix.parse_specs(SPEC_TEXT)
    suite = matrix.unpack_suite(spec, archive, tmp_path / "cache")
    files = sorted(str(p.relative_to(suite)) for p in suite.rglob("*") if p.is_file())
    # setup.cfg has no pytest section: an empty pytest.ini stops pytest from
    # finding diota's pyproject.toml above the cache.
    assert files == [".complete", "pytest.ini", "setup.cfg", "tests/test_demo.py"]
    assert matrix.pytest_config_file(suite) == suite / "pytest.ini"
    assert matrix._find_sdist(tmp_path, spec) == archive


def test_reports_list_failures_and_exceptions() -> None:
    (spec,) = matrix.parse_specs(SPEC_TEXT)
    wsgi = _score("flask-demo", "wsgi", 2, 2)
    asgi = _score("flask-demo", "asgi", 1, 2)
    asgi.not_passed = {"t.py::x": {"outcome": "failed", "message": "RuntimeError"}}
    gate = matrix.Gate(asgi_exceptions={"flask-demo": {"t.py::x": "reads g late"}})
    text = matrix.render_markdown(matrix.MatrixResult([wsgi, asgi], [spec]), gate)
    assert "| flask-demo | 1.0 | demo | 2 | 2 (100.0%) | 1 (50.0%) |" in text
    assert "known ASGI exception: reads g late" in text
    json.dumps([dataclasses.asdict(wsgi)])  # the summary is JSON


def test_harness_runs_a_suite_and_records_hangs(tmp_path: Path) -> None:
    """A fake suite in the project's own venv, where diota is installed."""
    suite = tmp_path / "suite"
    (suite / "tests").mkdir(parents=True)
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "tests" / "test_fake.py").write_text(
        textwrap.dedent(
            """
            import os, time
            import flask, diota

            def test_alias():
                assert flask is diota
                assert os.environ["DIOTA_TEST_CLIENT"] == "asgi"

            def test_hangs():
                time.sleep(60)

            def test_after():
                pass
            """
        )
    )
    spec = matrix.Spec("fake", "1", "demo", test_timeout=3)
    result = matrix.run_suite(
        spec, "asgi", Path(sys.executable), suite, tmp_path / "out", run_timeout=60
    )
    outcomes = {n.split("::")[-1]: r["outcome"] for n, r in result.results.items()}
    assert outcomes == {
        "test_alias": "passed",
        "test_hangs": "hung",
        "test_after": "passed",
    }
    assert result.runs == 2
