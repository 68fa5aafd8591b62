from __future__ import annotations

from diota import Flask

application = Flask(__name__)
