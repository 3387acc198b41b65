"""The OpenAPI 3.1 document describes the running app, and the app keeps to it."""

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from service import __version__
from service.core.calculator import OPERATIONS
from service.web.problems import problem_kinds


@pytest.fixture
def document(make_app: Callable[..., Flask]) -> dict[str, object]:
    response = make_app().test_client().get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, object] = response.get_json()
    return body


def test_document_is_openapi_3_1(document: dict[str, object]) -> None:
    """The document declares OpenAPI 3.1."""
    assert str(document["openapi"]).startswith("3.1")


def test_document_carries_the_package_version(document: dict[str, Any]) -> None:
    """info.version is the package's own version, the same one pyproject.toml declares."""
    assert document["info"]["version"] == __version__
    assert __version__[0].isdigit()


def test_every_route_is_documented(
    make_app: Callable[..., Flask], document: dict[str, object]
) -> None:
    """Every URL rule of the app, with each of its methods, appears in the document."""
    app = make_app()
    paths = document["paths"]
    assert isinstance(paths, dict)
    for rule in app.url_map.iter_rules():
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in paths[rule.rule], f"{method} {rule.rule}"


def test_operations_and_bounds_come_from_code_and_settings(make_app: Callable[..., Flask]) -> None:
    """Operations come from OPERATIONS and parameter bounds from the settings."""
    paths = make_app(max_number_length=42).test_client().get("/openapi.json").get_json()["paths"]
    for name, operation in OPERATIONS.items():
        parameters = paths[f"/{name}"]["get"]["parameters"]
        assert [parameter["name"] for parameter in parameters] == list(operation.parameters)
        assert {parameter["schema"]["maxLength"] for parameter in parameters} == {42}


@pytest.fixture
def api_schema(make_app: Callable[..., Flask]) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_wsgi("/openapi.json", make_app())


schema = schemathesis.pytest.from_fixture("api_schema")
# The refusals of schema-valid requests the service makes by design, by status and problem
# type: numbers and expressions may follow the schema and still have no result (422); an
# expression may match no grammar rule or exceed the node or depth bound (400), and a batch
# within maxItems may still exceed max_body_bytes (413). A number that follows the schema is
# never refused as malformed: the number pattern is the service's own grammar.
DOMAIN_REFUSALS = {
    f"urn:calculator:problem:{kind.slug}" for kind in problem_kinds() if kind.status == 422
}
EXPRESSION_REFUSALS = {
    400: {"urn:calculator:problem:invalid-expression", "urn:calculator:problem:input-too-large"},
    413: {"about:blank"},
    422: DOMAIN_REFUSALS,
}


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_app_conforms_to_its_document(case: schemathesis.Case[Any]) -> None:
    """Every check passes, except refusals of schema-valid requests that are designed ones."""
    response = case.call()
    case.validate_response(response, excluded_checks=[positive_data_acceptance])
    if (
        response.status_code >= 400
        and case.meta is not None
        and case.meta.generation.mode.is_positive
    ):
        designed = EXPRESSION_REFUSALS if case.path == "/evaluate" else {422: DOMAIN_REFUSALS}
        assert response.json()["type"] in designed.get(response.status_code, set())


def test_calculations_declare_the_optional_bearer_key(document: dict[str, object]) -> None:
    """Calculation endpoints declare the bearer scheme as optional; operations endpoints none."""
    paths = document["paths"]
    assert isinstance(paths, dict)
    assert paths["/add"]["get"]["security"] == [{"apiKey": []}, {}]
    assert paths["/evaluate"]["post"]["security"] == [{"apiKey": []}, {}]
    assert "security" not in paths["/livez"]["get"]
