from __future__ import annotations

import os

from diota import Flask


def make_app() -> Flask:
    app = Flask("made")
    # Lets tests see FLASK_DEBUG as it was while the factory ran.
    app.config["DEBUG_AT_CREATE"] = os.environ.get("FLASK_DEBUG")
    return app
