from __future__ import annotations

from diota import Flask

app = Flask(__name__)
