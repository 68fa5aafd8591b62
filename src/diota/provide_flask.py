"""diota as the ``flask`` distribution of an environment.

Flask extensions require ``flask``, so ``pip install flask-cors`` brings real
Flask into a diota environment: its ``flask`` script replaces diota's, and
without the import alias ``import flask`` is another framework than the one
the app runs on. diota's wheel cannot say that it provides Flask (installers
have no such notion), so :func:`provide` registers it in the environment:

- ``flask-<API version>.dist-info``, whose metadata names diota as what
  provides it: pip sees Flask installed at the API version diota implements
  and installs extensions without fetching Flask;
- a start-up hook (``diota_provides_flask.pth``) that installs the ``flask``
  alias lazily in every process of the environment: what was installed as
  Flask is what ``import flask`` finds;
- the ``flask`` script, running diota's command line.

``pip uninstall flask`` removes all three (they are listed in the
distribution's ``RECORD``). :func:`check` explains an environment where
real Flask sits next to diota. The command line is ``diota provide-flask``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib.metadata
import os
import sys
import sysconfig
from pathlib import Path

import click

from ._flask_api import FLASK_API_VERSION
from ._flask_api import real_flask_location

#: Written into the distribution's ``INSTALLER`` file and its summary.
_INSTALLER = "diota"
_HOOK = "diota_provides_flask.pth"
_HOOK_LINE = "import diota_flask_alias; diota_flask_alias.install()\n"
_SCRIPT = """#!{python}
# The flask command of this environment, provided by diota (diota provide-flask).
import sys

from diota.alias import flask_command

if __name__ == "__main__":
    sys.exit(flask_command())
"""


@dataclasses.dataclass(frozen=True)
class FlaskStatus:
    """What provides ``flask`` in an environment.

    :param provided_by_diota: The ``flask`` distribution is diota's.
    :param real_flask: Where a real Flask package was found on the path, if
        anywhere.
    :param distribution_version: The ``flask`` distribution's version, if
        one is installed (diota's or Flask's).
    """

    provided_by_diota: bool
    real_flask: str | None
    distribution_version: str | None


def _installed_distribution(
    site_packages: Path,
) -> importlib.metadata.Distribution | None:
    for dist in importlib.metadata.distributions(path=[str(site_packages)]):
        name = dist.metadata["Name"] or ""
        if name.lower() == "flask":
            return dist
    return None


def check(site_packages: Path | None = None) -> FlaskStatus:
    """Tell what provides ``flask`` in the environment of ``site_packages``
    (this interpreter's purelib by default)."""
    site_packages = site_packages or Path(sysconfig.get_paths()["purelib"])
    dist = _installed_distribution(site_packages)
    provided = dist is not None and (dist.read_text("INSTALLER") or "").strip() == (
        _INSTALLER
    )
    return FlaskStatus(
        provided_by_diota=provided,
        real_flask=real_flask_location([str(site_packages)]),
        distribution_version=dist.version if dist is not None else None,
    )


def _record_line(path: Path, base: Path) -> str:
    data = path.read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    relative = os.path.relpath(path, base).replace(os.sep, "/")
    return f"{relative},sha256={digest.decode()},{len(data)}"


def provide(
    site_packages: Path | None = None,
    scripts: Path | None = None,
    python: str | None = None,
) -> Path:
    """Register diota as the ``flask`` distribution of an environment.

    :param site_packages: The environment's purelib; this interpreter's by
        default.
    :param scripts: Where its console scripts go; this interpreter's by
        default.
    :param python: The interpreter the ``flask`` script runs.
    :return: The ``dist-info`` directory written.
    :raises RuntimeError: Real Flask is installed there: uninstall it first.
    """
    paths = sysconfig.get_paths()
    site_packages = site_packages or Path(paths["purelib"])
    scripts = scripts or Path(paths["scripts"])
    status = check(site_packages)
    if status.real_flask is not None or (
        status.distribution_version is not None and not status.provided_by_diota
    ):
        raise RuntimeError(
            f"Flask {status.distribution_version or ''} is installed in this"
            f" environment ({status.real_flask or site_packages}). Remove it"
            " first: pip uninstall flask"
        )
    existing = _installed_distribution(site_packages)
    if existing is not None:  # ours, from an earlier call: made again
        for file in existing.files or ():
            Path(str(file.locate())).unlink(missing_ok=True)

    info = site_packages / f"flask-{FLASK_API_VERSION}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    diota_version = _version("diota")
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\n"
        "Name: flask\n"
        f"Version: {FLASK_API_VERSION}\n"
        f"Summary: Flask's API, provided by diota {diota_version}"
        " (diota provide-flask)\n"
        "Requires-Dist: diota\n",
        encoding="utf-8",
    )
    (info / "INSTALLER").write_text(f"{_INSTALLER}\n", encoding="utf-8")
    hook = site_packages / _HOOK
    hook.write_text(_HOOK_LINE, encoding="utf-8")
    scripts.mkdir(parents=True, exist_ok=True)
    script = scripts / "flask"
    script.write_text(_SCRIPT.format(python=python or sys.executable), encoding="utf-8")
    script.chmod(0o755)

    files = [info / "METADATA", info / "INSTALLER", hook, script]
    record = info / "RECORD"
    lines = [_record_line(path, site_packages) for path in files]
    lines.append(f"{os.path.relpath(record, site_packages)},,")
    record.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return info


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def describe(status: FlaskStatus) -> str:
    """What ``status`` means for a diota app, and what to do about it."""
    if status.real_flask is not None:
        return (
            f"Real Flask ({status.distribution_version or 'unknown version'}) is"
            f" installed at {status.real_flask}. An extension imports it instead"
            " of diota unless the flask alias is on, and its `flask` command"
            " replaced diota's. Fix: pip uninstall -y flask && diota provide-flask"
        )
    if status.provided_by_diota:
        return (
            f"flask {status.distribution_version} is provided by diota: extensions"
            " install without real Flask, and `import flask` is diota in every"
            " process of this environment."
        )
    return (
        "No flask distribution is installed. Installing an extension would bring"
        " real Flask; run `diota provide-flask` first."
    )


@click.command(
    "provide-flask",
    short_help="Make diota this environment's flask distribution.",
)
@click.option(
    "--check",
    "only_check",
    is_flag=True,
    help="Only tell what provides flask here, and what to do.",
)
def provide_flask_command(only_check: bool) -> None:
    """Register diota as the `flask` distribution of this environment, so that
    `pip install <extension>` does not bring real Flask, `import flask` is
    diota in every process, and `flask` runs diota's command line.
    `pip uninstall flask` undoes it."""
    status = check()
    if only_check:
        click.echo(describe(status))
        if status.real_flask is not None:
            raise SystemExit(1)
        return
    try:
        info = provide()
    except RuntimeError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"diota now provides flask {FLASK_API_VERSION} here ({info}).")
