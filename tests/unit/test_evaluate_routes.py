"""GET /evaluate and POST /evaluate: one expression, or a bounded batch with one answer each."""

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient


def test_get_evaluates_one_expression(client: FlaskClient) -> None:
    """GET /evaluate answers the expression and its exact value."""
    response = client.get("/evaluate", query_string={"expr": "0.1 + 0.2 * (3 - sqrt(4))"})
    assert response.status_code == 200
    assert (
        response.get_data(as_text=True)
        == '{"expression":"0.1 + 0.2 * (3 - sqrt(4))","result":0.3}\n'
    )


@pytest.mark.parametrize(
    ("query", "status", "slug"),
    [
        ({}, 400, "missing-parameter"),
        ({"expr": "__import__('os')"}, 400, "invalid-expression"),
        ({"expr": "1 +"}, 400, "invalid-expression"),
        ({"expr": "1/0"}, 422, "division-by-zero"),
        ({"expr": "1", "x": "2"}, 400, "unexpected-parameter"),
        ({"expr": "(" * 40 + "1" + ")" * 40}, 400, "input-too-large"),
    ],
)
def test_get_refuses_bad_expressions_with_a_problem(
    client: FlaskClient, query: dict[str, str], status: int, slug: str
) -> None:
    """Missing, non-arithmetic, malformed, too deep or impossible expressions get a problem."""
    response = client.get("/evaluate", query_string=query)
    assert response.status_code == status
    assert response.get_json()["type"] == f"urn:calculator:problem:{slug}"


def test_post_answers_each_item_in_order(client: FlaskClient) -> None:
    """A batch answers 200 with one result or one problem per expression, in order."""
    response = client.post("/evaluate", json=["1 + 2", "1/0", "2 **"])
    results = response.get_json()["results"]
    assert response.status_code == 200
    assert results[0] == {"expression": "1 + 2", "result": 3}
    assert results[1]["problem"]["type"] == "urn:calculator:problem:division-by-zero"
    assert results[1]["problem"]["status"] == 422
    assert results[2]["problem"]["type"] == "urn:calculator:problem:invalid-expression"
    assert results[2]["problem"]["parameter"] == "body[2]"


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"expr": "1"}, "body"),
        ("1 + 2", "body"),
        (["1", 2], "body[1]"),
        (["1", None], "body[1]"),
        (["1"] * 4, "body"),
    ],
)
def test_post_refuses_bodies_that_are_not_a_bounded_list_of_strings(
    make_app: Callable[..., Flask], body: object, parameter: str
) -> None:
    """The body must be a JSON list of at most max_batch_size strings."""
    response = make_app(max_batch_size=3).test_client().post("/evaluate", json=body)
    assert response.status_code == 400
    assert response.get_json()["type"] == "urn:calculator:problem:invalid-body"
    assert response.get_json()["parameter"] == parameter


def test_post_refuses_malformed_json(client: FlaskClient) -> None:
    """Malformed JSON is a 400 problem, not a 500."""
    response = client.post("/evaluate", data="[1,", content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"] == "the body is not valid JSON"


def test_post_refuses_other_media_types(client: FlaskClient) -> None:
    """A body not declared as JSON gets 415."""
    response = client.post("/evaluate", data='["1"]', content_type="text/plain")
    assert response.status_code == 415
    assert response.get_json()["type"] == "urn:calculator:problem:unsupported-media-type"


def test_post_refuses_bodies_over_the_size_limit(make_app: Callable[..., Flask]) -> None:
    """A body larger than max_body_bytes is refused with a 413 problem naming the limit."""
    client = make_app(max_body_bytes=100).test_client()
    response = client.post("/evaluate", json=["1 + 1"] * 50)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert "100 bytes" in response.get_json()["detail"]


def test_post_empty_list_answers_empty_results(client: FlaskClient) -> None:
    """An empty batch is valid and answers an empty list."""
    assert client.post("/evaluate", json=[]).get_json() == {"results": []}
