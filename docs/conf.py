"""Sphinx configuration for diota's documentation."""

from __future__ import annotations

import importlib.metadata

project = "diota"
author = "diota contributors"
copyright = "diota contributors"
release = importlib.metadata.version("diota")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# _generated/ holds pages included by others (the Flask-suite results).
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True
autoclass_content = "both"

html_theme = "alabaster"
html_title = f"diota {release}"
html_static_path: list[str] = []
