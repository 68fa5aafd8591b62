from __future__ import annotations

import diota_module_that_does_not_exist  # noqa: F401

from diota import Flask

testapp = Flask("testapp")
