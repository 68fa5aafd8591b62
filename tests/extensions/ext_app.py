"""An app built on real Flask extensions, run on diota through the alias.

Run by tests/extensions/test_flask_extensions.py in a venv holding diota and
the extensions (installed without their Flask dependency): prints, as JSON,
what each request returned through each of diota's interfaces.
"""

from __future__ import annotations

import json
import sys

import diota.alias

diota.alias.install()

from flask import Flask  # noqa: E402
from flask import jsonify  # noqa: E402
from flask_caching import Cache  # noqa: E402
from flask_cors import CORS  # noqa: E402
from flask_login import current_user  # noqa: E402
from flask_login import login_required  # noqa: E402
from flask_login import login_user  # noqa: E402
from flask_login import LoginManager  # noqa: E402
from flask_login import UserMixin  # noqa: E402
from flask_restful import Api  # noqa: E402
from flask_restful import Resource  # noqa: E402
from flask_sqlalchemy import SQLAlchemy  # noqa: E402
from flask_wtf import FlaskForm  # noqa: E402
from wtforms import StringField  # noqa: E402
from wtforms.validators import DataRequired  # noqa: E402

app = Flask(__name__)
app.config.update(
    SECRET_KEY="extensions",
    SQLALCHEMY_DATABASE_URI="sqlite://",
    WTF_CSRF_ENABLED=False,
    CACHE_TYPE="SimpleCache",
)
CORS(app)
login_manager = LoginManager(app)
db = SQLAlchemy(app)
api = Api(app)
cache = Cache(app)
calls = {"cached": 0}


class User(UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


@login_manager.user_loader
def load_user(user_id: str) -> User:
    return User(user_id)


class Item(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String)


class NameForm(FlaskForm):
    name = StringField("name", validators=[DataRequired()])


class Hello(Resource):
    def get(self) -> dict[str, str]:
        return {"hello": "restful"}


api.add_resource(Hello, "/rest")


@app.route("/login")
def login() -> str:
    login_user(User("7"))
    return "logged in"


@app.route("/me")
@login_required
def me() -> str:
    return str(current_user.id)


@app.post("/form")
def form() -> object:
    name_form = NameForm()
    return jsonify(valid=name_form.validate_on_submit(), name=name_form.name.data)


@app.route("/items/<name>")
def add_item(name: str) -> object:
    db.session.add(Item(name=name))
    db.session.commit()
    return jsonify(names=[item.name for item in Item.query.order_by(Item.id)])


@app.route("/cached")
@cache.cached(timeout=60)
def cached() -> str:
    calls["cached"] += 1
    return f"computed {calls['cached']} time(s)"


with app.app_context():
    db.create_all()


def exercise(interface: str) -> dict[str, object]:
    client = app.test_client(interface=interface)
    rest = client.get("/rest", headers={"Origin": "http://example.com"})
    return {
        "rest": [
            rest.status_code,
            rest.json,
            rest.headers.get("Access-Control-Allow-Origin"),
        ],
        "me_anonymous": client.get("/me").status_code,
        "login": client.get("/login").get_data(as_text=True),
        "me": client.get("/me").get_data(as_text=True),
        "form": client.post("/form", data={"name": "ada"}).json,
        "form_invalid": client.post("/form", data={}).json,
        "items": client.get(f"/items/{interface}").json,
        "cached": [client.get("/cached").get_data(as_text=True) for _ in range(2)],
        "missing": client.get("/missing").status_code,
    }


if __name__ == "__main__":
    json.dump({mode: exercise(mode) for mode in sys.argv[1:]}, sys.stdout)
