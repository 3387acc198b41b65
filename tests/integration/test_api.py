"""The HTTP contract, end to end through the published port of the running container."""

import re
from decimal import Decimal

import pytest
import requests

from service import __version__

from .compose_project import ComposeProject
from .docker_cli import docker

pytestmark = pytest.mark.integration

TIMEOUT = 10
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance"}


# Each replica's own /metrics, read inside it: through the proxy a scrape reaches one replica.
SCRAPE = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/metrics').read().decode())"


def requests_counted(stack: ComposeProject, route: str) -> float:
    """Return http_requests_total for GET `route` with status 200, summed over every worker
    of every replica."""
    text = "".join(
        docker("exec", replica, "python", "-c", SCRAPE, timeout=60).stdout
        for replica in stack.container_ids()
    )
    pattern = re.compile(r"^http_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)
    wanted = {f'route="{route}"', 'method="GET"', 'status="200"'}
    return sum(
        float(match["value"])
        for match in pattern.finditer(text)
        if wanted <= set(match["labels"].split(","))
    )


def test_add_answers_the_documented_json(stack: ComposeProject, http: requests.Session) -> None:
    """GET /add?a=1&b=2 answers 200 application/json naming the operation, operands and result."""
    response = http.get(f"{stack.base_url}/add", params={"a": "1", "b": "2"}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"operation": "add", "a": 1, "b": 2, "result": 3}


def test_arithmetic_is_exact_decimal(stack: ComposeProject, http: requests.Session) -> None:
    """0.1 + 0.2 is exactly 0.3 and a 17-digit integer survives, as JSON numbers."""
    tenths = http.get(f"{stack.base_url}/add?a=0.1&b=0.2", timeout=TIMEOUT)
    large = http.get(f"{stack.base_url}/add?a=9007199254740993&b=0", timeout=TIMEOUT)
    assert tenths.json(parse_float=Decimal)["result"] == Decimal("0.3")
    assert large.json()["result"] == 9007199254740993


def test_expression_is_evaluated(stack: ComposeProject, http: requests.Session) -> None:
    """GET /evaluate computes an expression with precedence, parentheses and sqrt."""
    response = http.get(
        f"{stack.base_url}/evaluate",
        params={"expr": "(1 + 2) * sqrt(16) - 2 ** 3"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.json()["result"] == 4


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/add?a=abc&b=1", 400),
        ("GET", "/add?a=1", 400),
        ("GET", "/divide?a=1&b=0", 422),
        ("GET", "/power?a=9&b=999999999", 422),
        ("GET", "/no-such-endpoint", 404),
        ("POST", "/add?a=1&b=2", 405),
    ],
)
def test_errors_are_problem_json(
    stack: ComposeProject, http: requests.Session, method: str, path: str, status: int
) -> None:
    """Every error is application/problem+json with the RFC 9457 members; instance is the id."""
    response = http.request(method, f"{stack.base_url}{path}", timeout=TIMEOUT)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem.keys() >= PROBLEM_MEMBERS
    assert problem["status"] == status
    assert problem["instance"] == response.headers["X-Request-ID"]
    if status == 405:
        assert "GET" in response.headers["Allow"]


def test_well_formed_request_id_is_echoed(stack: ComposeProject, http: requests.Session) -> None:
    """A short well-formed X-Request-ID comes back unchanged, on success and on error."""
    for path in ("/add?a=1&b=2", "/add?a=x&b=2"):
        response = http.get(
            f"{stack.base_url}{path}", headers={"X-Request-ID": "it-trace-42"}, timeout=TIMEOUT
        )
        assert response.headers["X-Request-ID"] == "it-trace-42"


def test_malformed_request_id_is_replaced(stack: ComposeProject, http: requests.Session) -> None:
    """An over-long or unsafe X-Request-ID is replaced by a generated, well-formed one."""
    for incoming in ("x" * 200, "bad id;rm"):
        response = http.get(
            f"{stack.base_url}/add?a=1&b=2", headers={"X-Request-ID": incoming}, timeout=TIMEOUT
        )
        echoed = response.headers["X-Request-ID"]
        assert echoed != incoming
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", echoed)


@pytest.mark.parametrize("path", ["/add?a=1&b=2", "/add?a=1", "/livez", "/metrics"])
def test_security_headers_on_every_answer(
    stack: ComposeProject, http: requests.Session, path: str
) -> None:
    """nosniff, no framing and an explicit cache policy come with successes and errors alike."""
    headers = http.get(f"{stack.base_url}{path}", timeout=TIMEOUT).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "Cache-Control" in headers


def test_health_endpoints_answer(stack: ComposeProject, http: requests.Session) -> None:
    """/livez answers 200; /openapi.json is OpenAPI 3.1 of this source's version."""
    assert http.get(f"{stack.base_url}/livez", timeout=TIMEOUT).status_code == 200
    document = http.get(f"{stack.base_url}/openapi.json", timeout=TIMEOUT).json()
    assert document["openapi"].startswith("3.1")
    assert "/add" in document["paths"]
    assert document["info"]["version"] == __version__


def test_metrics_count_every_request_across_workers(
    stack: ComposeProject, http: requests.Session
) -> None:
    """http_requests_total grows by exactly the requests sent, whichever replica and worker
    served them."""
    before = requests_counted(stack, "/subtract")
    for _ in range(12):
        assert http.get(f"{stack.base_url}/subtract?a=5&b=3", timeout=TIMEOUT).status_code == 200
    assert requests_counted(stack, "/subtract") == before + 12
