from __future__ import annotations

from diota import Flask

app = Flask(__name__)


@app.route("/")
def hello() -> str:
    return "Hello World!"


@app.cli.command("greet")
def greet() -> None:
    import click

    click.echo("hello from the app")
