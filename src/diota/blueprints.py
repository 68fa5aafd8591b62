"""Blueprints, and the file-serving methods apps and blueprints share."""

from __future__ import annotations

import os
import typing as t
from datetime import timedelta

from .cli import AppGroup as AppGroup
from .globals import current_app
from .helpers import send_from_directory
from .sansio.blueprints import Blueprint as SansioBlueprint
from .sansio.blueprints import BlueprintSetupState as BlueprintSetupState
from .sansio.scaffold import _sentinel

if t.TYPE_CHECKING:  # pragma: no cover
    from .wrappers import Response


class _FileServing:
    """Static files and package resources, for :class:`~diota.Flask` and
    :class:`Blueprint` alike."""

    root_path: str
    has_static_folder: bool
    static_folder: str | None

    def get_send_file_max_age(self, filename: str | None) -> int | None:
        """``max_age`` for a file served by :func:`send_file`:
        ``SEND_FILE_MAX_AGE_DEFAULT``, ``None`` (conditional requests only)
        by default."""
        value = current_app.config["SEND_FILE_MAX_AGE_DEFAULT"]
        if value is None:
            return None
        if isinstance(value, timedelta):
            return int(value.total_seconds())
        return value  # type: ignore[no-any-return]

    def send_static_file(self, filename: str) -> Response:
        """The view of the ``static`` route: serve ``filename`` from the
        static folder."""
        if not self.has_static_folder:
            raise RuntimeError("'static_folder' must be set to serve static_files.")
        max_age = self.get_send_file_max_age(filename)
        return send_from_directory(
            t.cast(str, self.static_folder), filename, max_age=max_age
        )

    def open_resource(
        self, resource: str, mode: str = "rb", encoding: str | None = None
    ) -> t.IO[t.AnyStr]:
        """Open a file relative to :attr:`root_path`, for reading.

        :param mode: ``"rb"`` (default), ``"r"`` or ``"rt"``.
        :param encoding: text encoding, for text modes.
        """
        if mode not in {"r", "rt", "rb"}:
            raise ValueError("Resources can only be opened for reading.")
        path = os.path.join(self.root_path, resource)
        if mode == "rb":
            return open(path, mode)
        return open(path, mode, encoding=encoding)


class Blueprint(_FileServing, SansioBlueprint):
    """A group of routes, hooks, templates and static files; see
    :class:`diota.sansio.blueprints.Blueprint` for the parameters."""

    def __init__(
        self,
        name: str,
        import_name: str,
        static_folder: str | os.PathLike[str] | None = None,
        static_url_path: str | None = None,
        template_folder: str | os.PathLike[str] | None = None,
        url_prefix: str | None = None,
        subdomain: str | None = None,
        url_defaults: dict[str, t.Any] | None = None,
        root_path: str | None = None,
        cli_group: str | None = _sentinel,  # type: ignore[assignment]
    ) -> None:
        super().__init__(
            name,
            import_name,
            static_folder,
            static_url_path,
            template_folder,
            url_prefix,
            subdomain,
            url_defaults,
            root_path,
            cli_group,
        )
        # The blueprint's commands show under its name unless cli_group says.
        self.cli.name = self.name
