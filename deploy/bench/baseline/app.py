"""The baseline's whole application: one Flask route, as a typical small service writes it."""

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

app = Flask(__name__)


@app.get("/add")
def add() -> ResponseReturnValue:
    """Add the query parameters a and b."""
    a = request.args.get("a", type=float)
    b = request.args.get("b", type=float)
    if a is None or b is None:
        return jsonify(error="a and b must be numbers"), 400
    return jsonify(result=a + b)
