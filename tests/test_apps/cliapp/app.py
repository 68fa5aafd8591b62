from __future__ import annotations

from diota import Flask

# Not named "app", so discovery must find it as the module's only app.
testapp = Flask("testapp")
