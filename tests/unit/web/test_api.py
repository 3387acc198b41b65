"""The API Blueprint: GET /add ... /sqrt and GET/POST /evaluate, with strict input and problems."""

import io
import json
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient

JSON = "application/json"


def get_json(client: FlaskClient, url: str) -> tuple[int, dict[str, object]]:
    response = client.get(url)
    # parse_float keeps the exact digits the service wrote, so results can be compared exactly.
    return response.status_code, json.loads(response.get_data(as_text=True), parse_float=Decimal)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/add?a=1&b=2", {"operation": "add", "a": 1, "b": 2, "result": 3}),
        (
            "/add?a=0.1&b=0.2",
            {
                "operation": "add",
                "a": Decimal("0.1"),
                "b": Decimal("0.2"),
                "result": Decimal("0.3"),
            },
        ),
        (
            "/add?a=9007199254740993&b=0",
            {"operation": "add", "a": 9007199254740993, "b": 0, "result": 9007199254740993},
        ),
        ("/subtract?a=1&b=3", {"operation": "subtract", "a": 1, "b": 3, "result": -2}),
        (
            "/multiply?a=-1.5&b=4",
            {"operation": "multiply", "a": Decimal("-1.5"), "b": 4, "result": -6},
        ),
        ("/divide?a=1&b=4", {"operation": "divide", "a": 1, "b": 4, "result": Decimal("0.25")}),
        ("/power?a=2&b=10", {"operation": "power", "a": 2, "b": 10, "result": 1024}),
        ("/mod?a=-7&b=3", {"operation": "mod", "a": -7, "b": 3, "result": 2}),
        ("/sqrt?a=16", {"operation": "sqrt", "a": 16, "result": 4}),
        ("/add?a=%2B1&b=1e2", {"operation": "add", "a": 1, "b": 100, "result": 101}),
    ],
)
def test_operation_answers_exact_result_and_echoes_operands(
    client: FlaskClient, url: str, expected: dict[str, object]
) -> None:
    """Each operation answers 200 with its name, the parsed operands and the exact result."""
    assert get_json(client, url) == (200, expected)


def test_result_is_rounded_to_configured_precision(make_app: Callable[..., Flask]) -> None:
    """Precision and rounding settings reach the arithmetic."""
    client = make_app(precision=5, rounding="ROUND_DOWN").test_client()
    assert get_json(client, "/divide?a=2&b=3")[1]["result"] == Decimal("0.66666")


@pytest.mark.parametrize(
    ("query", "parameter", "slug"),
    [
        ("a=1", "b", "missing-parameter"),
        ("b=1", "a", "missing-parameter"),
        ("a=nan&b=1", "a", "invalid-number"),
        ("a=inf&b=1", "a", "invalid-number"),
        ("a=Infinity&b=1", "a", "invalid-number"),
        ("a=1_000&b=1", "a", "invalid-number"),
        ("a=0x10&b=1", "a", "invalid-number"),
        ("a=1,5&b=1", "a", "invalid-number"),
        ("a=%D9%A1&b=1", "a", "invalid-number"),  # Arabic-Indic digit one
        ("a=%EF%BC%91&b=1", "a", "invalid-number"),  # full-width digit one
        ("a=1+2&b=1", "a", "invalid-number"),  # '+' in a query is a space: "1 2"
        ("a=&b=1", "a", "invalid-number"),
        ("a=1&b=%201", "b", "invalid-number"),
        ("a=1&b=2&c=3", "c", "unexpected-parameter"),
        ("a=1&B=2", "B", "unexpected-parameter"),
        ("a=1&a=2&b=1", "a", "repeated-parameter"),
        (f"a={'1' * 101}&b=1", "a", "input-too-large"),
    ],
)
def test_bad_input_is_a_400_problem_naming_the_parameter(
    client: FlaskClient, query: str, parameter: str, slug: str
) -> None:
    """Missing, malformed, unknown, repeated and oversized inputs are refused, never coerced."""
    response = client.get(f"/add?{query}")
    problem = response.get_json()
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert problem["type"] == f"urn:calculator:problem:{slug}"
    assert problem["parameter"] == parameter
    assert problem["status"] == 400


@pytest.mark.parametrize(
    ("url", "slug"),
    [
        ("/divide?a=1&b=0", "division-by-zero"),
        ("/mod?a=1&b=0", "division-by-zero"),
        ("/divide?a=0&b=0", "undefined-result"),
        ("/sqrt?a=-1", "negative-square-root"),
        ("/power?a=9&b=999999999", "result-too-large"),
        ("/multiply?a=1e200&b=1e200", "result-too-large"),
        ("/add?a=1e999&b=1", "operand-out-of-range"),
    ],
)
def test_impossible_operation_is_a_422_problem(client: FlaskClient, url: str, slug: str) -> None:
    """Well-formed input without a result answers 422 with the matching problem type."""
    response = client.get(url)
    assert response.status_code == 422
    assert response.get_json()["type"] == f"urn:calculator:problem:{slug}"


def test_max_number_length_setting_bounds_operands(make_app: Callable[..., Flask]) -> None:
    """The operand length bound is the max_number_length setting."""
    client = make_app(max_number_length=3).test_client()
    assert client.get("/add?a=123&b=1").status_code == 200
    assert client.get("/add?a=1234&b=1").get_json()["type"].endswith("input-too-large")


def test_sqrt_takes_only_a(client: FlaskClient) -> None:
    """The unary operation refuses a second operand instead of ignoring it."""
    response = client.get("/sqrt?a=4&b=1")
    assert response.status_code == 400
    assert response.get_json()["parameter"] == "b"


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [("ROUND_HALF_EVEN", "2"), ("ROUND_HALF_UP", "3"), ("ROUND_DOWN", "2"), ("ROUND_CEILING", "3")],
)
def test_rounding_setting_decides_ties(
    make_app: Callable[..., Flask], rounding: str, expected: str
) -> None:
    """2 + 0.5 at one digit is a tie: the rounding setting, not Python's round(), decides it."""
    client = make_app(precision=1, rounding=rounding).test_client()
    assert get_json(client, "/add?a=2&b=0.5")[1]["result"] == Decimal(expected)


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


def test_post_refuses_deeply_nested_json_with_a_400(client: FlaskClient) -> None:
    """JSON nested deeper than the parser can go is a 400 problem, not a 500."""
    response = client.post("/evaluate", data="[" * 1000 + "]" * 1000, content_type=JSON)
    assert response.status_code == 400
    assert response.get_json()["type"] == "urn:calculator:problem:invalid-body"
    assert "nests too deeply" in response.get_json()["detail"]


def test_post_refuses_an_unframed_body_over_the_limit(make_app: Callable[..., Flask]) -> None:
    """A body without Content-Length (as chunked arrives) is measured too: 413, not cut short."""
    client = make_app(max_body_bytes=100).test_client()
    body = b'["1+1"]' + b" " * 200
    response = client.post(
        "/evaluate",
        input_stream=io.BytesIO(body),
        content_type=JSON,
        headers={"Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 413
    assert "100 bytes" in response.get_json()["detail"]
    small = client.post(
        "/evaluate",
        input_stream=io.BytesIO(b'["1+1"]'),
        content_type=JSON,
        headers={"Transfer-Encoding": "chunked"},
    )
    assert small.get_json() == {"results": [{"expression": "1+1", "result": 2}]}


def test_post_refuses_a_lone_surrogate(client: FlaskClient) -> None:
    """An item with an unpaired surrogate escape is refused, never echoed as broken text."""
    response = client.post("/evaluate", data='["1", "\\ud800"]', content_type=JSON)
    assert response.status_code == 400
    assert response.get_json()["parameter"] == "body[1]"
    assert "surrogate" in response.get_json()["detail"]


def test_literals_are_taken_exactly(client: FlaskClient) -> None:
    """35-digit literals are not rounded to 34 digits before they are subtracted."""
    a, b = "1" + "0" * 33 + "1", "1" + "0" * 34
    _, expression = get_json(client, f"/evaluate?expr={a}-{b}")
    _, operation = get_json(client, f"/subtract?a={a}&b={b}")
    assert expression["result"] == operation["result"] == 1


def test_work_past_the_compute_budget_is_a_422(make_app: Callable[..., Flask]) -> None:
    """At the highest precision a costly batch stops at max_compute_ms with a problem."""
    client = make_app(precision=1000, max_compute_ms=50).test_client()
    costly = "2**0.5 + 3**0.5 + 5**0.5 + 7**0.5 + 11**0.5"
    started = time.thread_time()
    response = client.post("/evaluate", json=[costly] * 100)
    spent = time.thread_time() - started
    results = response.get_json()["results"]
    assert response.status_code == 200
    assert results[-1]["problem"]["type"] == "urn:calculator:problem:too-much-work"
    assert results[-1]["problem"]["status"] == 422
    # One costly operation past the budget at most, far from the 100 items' whole cost.
    assert spent < 2


def test_get_past_the_compute_budget_is_a_422(make_app: Callable[..., Flask]) -> None:
    """One expression whose work exceeds the budget is answered 422, not computed to the end."""
    client = make_app(precision=1000, max_compute_ms=10).test_client()
    expression = "+".join(["2**0.5"] * 40)
    status, body = get_json(client, f"/evaluate?expr={expression.replace('+', '%2B')}")
    assert status == 422
    assert body["type"] == "urn:calculator:problem:too-much-work"


def test_options_is_a_405_problem(client: FlaskClient) -> None:
    """OPTIONS gets the same problem answer as any other method the route does not take."""
    response = client.options("/add?a=1&b=2")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert response.headers["Allow"] == "GET, HEAD"
