"""The Swarm stack file keeps the service's guarantees in a form `docker stack deploy` honours.

Read as written (before variable substitution): the keys Swarm rejects or silently drops
must not appear, and what replaces them must. tests/integration/test_swarm.py deploys it.
"""

import re
from pathlib import Path
from typing import Any

import pytest

# PyYAML ships no type hints and its stub package is not among the locked dependencies.
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[3]
STACK_FILES = (ROOT / "deploy/swarm/stack.yaml", ROOT / "deploy/swarm/stack.api-keys.yaml")
# Rejected by `docker stack deploy`, or dropped by it without a word (moby issue 41371).
UNSUPPORTED_SERVICE_KEYS = {
    "build", "cpus", "mem_limit", "memswap_limit", "pids_limit", "tmpfs", "security_opt",
    "restart", "container_name", "depends_on",
}  # fmt: skip
UNSUPPORTED_TOP_KEYS = {"name", "include"}
DURATION = re.compile(r"^(\d+)s$")
# A path inside the containers; nothing on the host is touched.
CONTAINER_TMP = "/tmp"  # noqa: S108


def load(path: Path) -> dict[str, Any]:
    """One stack file, parsed."""
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return document


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    """deploy/swarm/stack.yaml."""
    return load(STACK_FILES[0])


def default(value: object) -> str:
    """The default of a `${VARIABLE:-default}` value, or the value itself."""
    written = str(value)
    match = re.fullmatch(r"\$\{[A-Z_]+:-([^}]+)\}", written)
    return match[1] if match else written


def seconds(value: str) -> int:
    """Seconds of a duration written as `Ns` or `${VARIABLE:-Ns}` (its default)."""
    match = DURATION.match(default(value))
    assert match is not None, f"not a duration in seconds: {value!r}"
    return int(match[1])


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda path: path.name)
def test_no_key_swarm_rejects_or_drops(path: Path) -> None:
    """No top-level or service key that `docker stack deploy` rejects or ignores."""
    document = load(path)
    assert not UNSUPPORTED_TOP_KEYS & set(document)
    for name, service in document["services"].items():
        assert not UNSUPPORTED_SERVICE_KEYS & set(service), name


@pytest.mark.parametrize("service", ["calculator", "proxy"])
def test_hardened_without_compose_only_keys(stack: dict[str, Any], service: str) -> None:
    """Read-only root, no capabilities, a tmpfs /tmp, limits and reservations, log rotation."""
    spec = stack["services"][service]
    assert spec["read_only"] is True
    assert spec["cap_drop"] == ["ALL"]
    assert "cap_add" not in spec
    assert {"type": "tmpfs", "target": CONTAINER_TMP}.items() <= spec["volumes"][0].items()
    resources = spec["deploy"]["resources"]
    assert set(resources["limits"]) == {"cpus", "memory", "pids"}
    assert set(resources["reservations"]) == {"cpus", "memory"}
    assert spec["deploy"]["restart_policy"]["condition"] in {"any", "on-failure"}
    assert set(spec["logging"]["options"]) == {"max-size", "max-file"}
    # Longer than gunicorn's graceful timeout (20 s) and HAProxy's hard-stop-after (25 s).
    assert seconds(spec["stop_grace_period"]) > 25


def test_calculator_updates_are_health_gated_and_roll_back(stack: dict[str, Any]) -> None:
    """One task at a time, the new one first; a failure rolls back; the monitor outlasts the
    time a replica takes to be declared unhealthy."""
    calculator = stack["services"]["calculator"]
    update = calculator["deploy"]["update_config"]
    assert update["order"] == "start-first"
    assert update["parallelism"] == 1
    assert update["failure_action"] == "rollback"
    assert "rollback_config" in calculator["deploy"]
    health = calculator["healthcheck"]
    unhealthy_after = health["retries"] * seconds(health["interval"]) + seconds(health["timeout"])
    assert seconds(update["monitor"]) > unhealthy_after


def test_replicas_and_placement_ready_for_several_nodes(stack: dict[str, Any]) -> None:
    """At least two replicas by default, capped per node; DNS round robin behind the proxy."""
    deploy = stack["services"]["calculator"]["deploy"]
    assert int(re.sub(r"\$\{[A-Z_]+:-(\d+)\}", r"\1", str(deploy["replicas"]))) >= 2
    assert "max_replicas_per_node" in deploy["placement"]
    assert deploy["endpoint_mode"] == "dnsrr"


def test_only_the_proxy_is_published(stack: dict[str, Any]) -> None:
    """The proxy publishes one port; no other service publishes any."""
    published = {name for name, service in stack["services"].items() if service.get("ports")}
    assert published == {"proxy"}
    assert "calculator" in stack["networks"]
    assert stack["networks"]["calculator"]["internal"] is True


def test_config_and_secret_are_content_named_files_for_the_service(stack: dict[str, Any]) -> None:
    """The config at /config/config.json (10001:10001, 0440), the keys a secret (group 10001,
    0440); both named after a content hash, so a change is a new object and a rollout."""
    config = stack["services"]["calculator"]["configs"][0]
    assert (config["target"], config["uid"], config["gid"], config["mode"]) == (
        "/config/config.json", "10001", "10001", 0o440,
    )  # fmt: skip
    assert "${CALCULATOR_CONFIG_HASH" in stack["configs"][config["source"]]["name"]
    keys = load(STACK_FILES[1])
    secret = keys["services"]["calculator"]["secrets"][0]
    assert (secret["gid"], secret["mode"]) == ("10001", 0o440)
    assert "${CALCULATOR_API_KEYS_HASH" in keys["secrets"][secret["source"]]["name"]
    environment = keys["services"]["calculator"]["environment"]
    assert environment["CALCULATOR_API_KEYS_FILE"] == f"/run/secrets/{secret['target']}"


def image_variable(image: str) -> str:
    """The variable an `image:` value is read from (`${NAME:-...}` or `${NAME:?...}`)."""
    match = re.fullmatch(r"\$\{([A-Z_]+)[:?-].*\}", image)
    assert match is not None, f"the image is not read from a variable: {image!r}"
    return match[1]


def test_the_edge_is_compose_s_edge(stack: dict[str, Any]) -> None:
    """The Swarm stack runs the edge compose.yaml runs: the same image variable and command,
    the same PROXY_* settings and defaults, port, descriptors, limits, stop grace, health
    schedule and log rotation."""
    compose = load(ROOT / "compose.yaml")["services"]["proxy"]
    swarm = stack["services"]["proxy"]
    assert image_variable(swarm["image"]) == image_variable(compose["image"])
    assert image_variable(compose["image"]) == "CALCULATOR_PROXY_IMAGE"
    for service in (compose, swarm):
        assert not {"command", "entrypoint"} & set(service)  # the image's own: proxy-start
    assert swarm["environment"] == compose["environment"]
    assert swarm["ports"][0]["target"] == int(compose["ports"][0].rsplit(":", 1)[1])
    assert swarm["ulimits"] == compose["ulimits"]
    limits = swarm["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) == float(default(compose["cpus"]))
    assert limits["memory"].lower() == default(compose["mem_limit"]).lower()
    assert limits["pids"] == compose["pids_limit"]
    assert swarm["stop_grace_period"] == compose["stop_grace_period"]
    assert swarm["healthcheck"] == compose["healthcheck"]
    assert swarm["logging"] == compose["logging"]
