"""The rendered production overlay keeps the service's Kubernetes guarantees.

The overlay is rendered by the same pinned kubectl that `make k8s-check` installs; each rule
is a function listing the problems it finds, run on the real output (no problem expected)
and on copies broken on purpose (the problem must be found).
"""

import ast
import copy
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# PyYAML ships no type hints and its stub package is not among the locked dependencies.
import yaml  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "deploy" / "k8s"))

# deploy/k8s/manifests.py is a plain script, found through sys.path.
from manifests import KUBECTL, ROOT, ToolMissingError, render_overlay

Manifest = dict[str, Any]
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}
DIGEST_PINNED = re.compile(r"@sha256:[0-9a-f]{64}$")
# ingress-nginx size suffixes (nginx's own): none, k, m, g.
NGINX_SIZE = re.compile(r"^(\d+)([kKmMgG]?)$")
NGINX_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def dockerfile_fact(pattern: str) -> int:
    """A number the Dockerfile states once (the service's port, its user id)."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    found = re.findall(pattern, text, re.MULTILINE)
    assert len(found) == 1, f"Dockerfile: expected one match for {pattern!r}, found {found}"
    return int(found[0])


SERVICE_PORT = dockerfile_fact(r"^EXPOSE (\d+)$")
SERVICE_UID = dockerfile_fact(r"^USER (\d+):\d+$")
SERVICE_GID = dockerfile_fact(r"^USER \d+:(\d+)$")


def gunicorn_graceful_timeout() -> int:
    """gunicorn's graceful_timeout, read from the one gunicorn config module under service/."""
    configs = sorted(ROOT.glob("service/**/gunicorn_conf.py"))
    assert len(configs) == 1, f"expected one gunicorn_conf.py under service/, found {configs}"
    for node in ast.parse(configs[0].read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(target, "id", None) for target in node.targets] == ["graceful_timeout"]
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, int)
        ):
            return node.value.value
    raise AssertionError(f"{configs[0]}: no `graceful_timeout = <int>` at module level")


@pytest.fixture(scope="module")
def rendered() -> list[Manifest]:
    """The production overlay's objects (skip without the pinned kubectl; in CI, fail)."""
    try:
        text = render_overlay()
    except ToolMissingError as error:
        message = f"{error} (the Kubernetes manifest tools, from {KUBECTL.parent.parent.name})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return [document for document in yaml.safe_load_all(text) if document]


@pytest.fixture
def manifests(rendered: list[Manifest]) -> list[Manifest]:
    """A copy of the rendered objects that a test may break."""
    return copy.deepcopy(rendered)


def objects_of(manifests: list[Manifest], kind: str) -> list[Manifest]:
    """The objects of one kind."""
    return [manifest for manifest in manifests if manifest["kind"] == kind]


def the_deployment(manifests: list[Manifest]) -> Manifest:
    """The service's one Deployment."""
    (deployment,) = objects_of(manifests, "Deployment")
    return deployment


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """Every pod template's spec, named by its workload."""
    for manifest in manifests:
        if manifest["kind"] in WORKLOAD_KINDS:
            yield (
                f"{manifest['kind']}/{manifest['metadata']['name']}",
                manifest["spec"]["template"]["spec"],
            )


def containers(pod: Manifest) -> list[Manifest]:
    """All containers of a pod, init containers included."""
    return [*pod.get("initContainers", []), *pod["containers"]]


def container_port(container: Manifest, port: int | str) -> int | None:
    """Resolve a port given by number or by name against the container's declared ports."""
    if isinstance(port, int):
        return port
    names = {declared.get("name"): declared["containerPort"] for declared in container["ports"]}
    return names.get(port)


def volume_at(pod: Manifest, container: Manifest, path: str) -> tuple[Manifest, Manifest]:
    """The mount at ``path`` in the container and the pod volume it mounts."""
    (mount,) = [mount for mount in container["volumeMounts"] if mount["mountPath"] == path]
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == mount["name"]]
    return mount, volume


# The rules. Each returns the problems it finds; an empty list means the rule holds.


def restricted_profile_problems(manifests: list[Manifest]) -> list[str]:
    """What breaks the restricted Pod Security Standard (and the image's user) in any pod."""
    expected = {
        "runAsNonRoot": True,
        "runAsUser": SERVICE_UID,
        "runAsGroup": SERVICE_GID,
        "fsGroup": SERVICE_GID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    problems = []
    for name, pod in pod_specs(manifests):
        context = pod.get("securityContext", {})
        problems += [
            f"{name}: securityContext.{key} is {context.get(key)!r}"
            for key, value in expected.items()
            if context.get(key) != value
        ]
        problems += [
            f"{name}: {key}" for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)
        ]
        problems += [
            f"{name}: hostPath volume {volume['name']}"
            for volume in pod.get("volumes", [])
            if "hostPath" in volume
        ]
        for container in containers(pod):
            problems += [
                f"{name} container {container['name']}: {problem}"
                for problem in container_context_problems(
                    container.get("securityContext", {}), expected
                )
            ]
    return problems


def container_context_problems(context: Manifest, pod_expected: Manifest) -> list[str]:
    """What a container's securityContext lacks or overrides, as the restricted profile sees it."""
    capabilities = context.get("capabilities", {})
    checks = {
        "allowPrivilegeEscalation is not false": context.get("allowPrivilegeEscalation") is False,
        "privileged": not context.get("privileged"),
        "readOnlyRootFilesystem is not true": context.get("readOnlyRootFilesystem") is True,
        "capabilities.drop is not [ALL]": capabilities.get("drop") == ["ALL"],
        "capabilities.add": not capabilities.get("add"),
    }
    problems = [problem for problem, holds in checks.items() if not holds]
    problems += [
        f"securityContext.{key} overrides the pod's"
        for key in ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile")
        if key in context and context[key] != pod_expected[key]
    ]
    return problems


def tmp_problems(manifests: list[Manifest]) -> list[str]:
    """What keeps /tmp from being a bounded, memory-backed scratch space in every container."""
    problems = []
    for name, pod in pod_specs(manifests):
        for container in pod["containers"]:
            try:
                _, volume = volume_at(pod, container, "/tmp")  # noqa: S108 - the mount point
            except ValueError:
                problems.append(f"{name} container {container['name']}: nothing mounted at /tmp")
                continue
            scratch = volume.get("emptyDir", {})
            if scratch.get("medium") != "Memory" or not scratch.get("sizeLimit"):
                problems.append(f"{name}: /tmp is not an emptyDir in memory with a sizeLimit")
    return problems


def probe_problems(manifests: list[Manifest]) -> list[str]:
    """Which of the three probes is missing or asks anything but GET /livez on the port."""
    problems = []
    for name, pod in pod_specs(manifests):
        for container in pod["containers"]:
            for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
                request = container.get(probe_name, {}).get("httpGet")
                if request is None:
                    problems.append(f"{name}: no httpGet {probe_name}")
                    continue
                port = container_port(container, request["port"])
                if request.get("path") != "/livez" or port != SERVICE_PORT:
                    problems.append(f"{name}: {probe_name} asks {request} (port {port})")
    return problems


def shutdown_problems(manifests: list[Manifest]) -> list[str]:
    """Whether a pod may be killed before its preStop sleep and gunicorn's drain are over."""
    problems = []
    for name, pod in pod_specs(manifests):
        grace = pod.get("terminationGracePeriodSeconds", 30)
        for container in pod["containers"]:
            sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {})
            if "seconds" not in sleep:
                problems.append(f"{name}: no preStop sleep")
                continue
            needed = sleep["seconds"] + gunicorn_graceful_timeout()
            if not grace > needed:
                problems.append(f"{name}: grace period {grace} s <= preStop + drain {needed} s")
    return problems


def config_problems(manifests: list[Manifest]) -> list[str]:
    """Whether /config is a read-only, content-named ConfigMap made from config/config.json."""
    source = (ROOT / "config/config.json").read_text(encoding="utf-8")
    config_maps = {item["metadata"]["name"]: item for item in objects_of(manifests, "ConfigMap")}
    problems = []
    for name, pod in pod_specs(manifests):
        for container in pod["containers"]:
            mount, volume = volume_at(pod, container, "/config")
            if mount.get("readOnly") is not True:
                problems.append(f"{name}: /config is not mounted read-only")
            referenced = volume.get("configMap", {}).get("name", "")
            # kustomize appends a hash of the content: a config change renames it, rolling pods.
            if not re.fullmatch(r"calculator-config-[a-z0-9]{10}", referenced):
                problems.append(f"{name}: /config is {referenced!r}, not a generated ConfigMap")
            elif config_maps[referenced]["data"] != {"config.json": source}:
                problems.append(f"{name}: ConfigMap {referenced} differs from config/config.json")
    return problems


def secret_problems(manifests: list[Manifest]) -> list[str]:
    """Whether the API keys reach the service other than as a read-only secret file."""
    problems = []
    for name, pod in pod_specs(manifests):
        for container in pod["containers"]:
            environment = {item["name"]: item for item in container.get("env", [])}
            for item in environment.values():
                if "secretKeyRef" in item.get("valueFrom", {}):
                    problems.append(f"{name}: secret in environment variable {item['name']}")
            if any("secretRef" in source for source in container.get("envFrom", [])):
                problems.append(f"{name}: envFrom a Secret")
            if "CALCULATOR_API_KEYS_FILE" not in environment:
                problems.append(f"{name}: CALCULATOR_API_KEYS_FILE is not set")
                continue
            keys_file = Path(environment["CALCULATOR_API_KEYS_FILE"]["value"])
            mount, volume = volume_at(pod, container, str(keys_file.parent))
            items = {item["path"] for item in volume.get("secret", {}).get("items", [])}
            if "secret" not in volume or keys_file.name not in items:
                problems.append(f"{name}: CALCULATOR_API_KEYS_FILE is not a file of a Secret")
            if mount.get("readOnly") is not True:
                problems.append(f"{name}: the Secret is not mounted read-only")
    return problems


def pod_settings_problems(manifests: list[Manifest]) -> list[str]:
    """Token, service links, resources and spreading that every pod needs."""
    problems = []
    for name, pod in pod_specs(manifests):
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: the service account token is mounted")
        # Service links would set CALCULATOR_SERVICE_HOST and the like, which the service
        # refuses as unknown settings at start-up.
        if pod.get("enableServiceLinks") is not False:
            problems.append(f"{name}: service links put variables in the environment")
        if not pod.get("topologySpreadConstraints") and not pod.get("affinity", {}).get(
            "podAntiAffinity"
        ):
            problems.append(f"{name}: replicas are not spread")
        for container in pod["containers"]:
            for bound in ("requests", "limits"):
                held = container.get("resources", {}).get(bound, {})
                if not {"cpu", "memory"} <= held.keys():
                    problems.append(f"{name}: {bound} lack cpu or memory")
    return problems


def image_problems(manifests: list[Manifest]) -> list[str]:
    """Images not pinned by digest."""
    return [
        f"{name}: {container['image']}"
        for name, pod in pod_specs(manifests)
        for container in containers(pod)
        if not DIGEST_PINNED.search(container["image"])
    ]


def network_policy_problems(manifests: list[Manifest]) -> list[str]:
    """Whether the namespace denies by default and the service admits only its port, no egress."""
    policies = objects_of(manifests, "NetworkPolicy")
    both = {"Ingress", "Egress"}
    problems = []
    if not any(
        policy["spec"]["podSelector"] == {}
        and set(policy["spec"].get("policyTypes", [])) == both
        and not policy["spec"].get("ingress")
        and not policy["spec"].get("egress")
        for policy in policies
    ):
        problems.append("no policy denies all traffic to and from every pod")
    deployment = the_deployment(manifests)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    selecting = [
        policy
        for policy in policies
        if policy["spec"]["podSelector"]
        and policy["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
    ]
    if not selecting:
        problems.append("no policy selects the service's pods")
    for policy in selecting:
        spec = policy["spec"]
        name = policy["metadata"]["name"]
        if set(spec.get("policyTypes", [])) != both or spec.get("egress"):
            problems.append(f"{name}: allows egress")
        for rule in spec.get("ingress", []):
            ports = [
                (port.get("protocol", "TCP"), container_port(container, port.get("port", "")))
                for port in rule.get("ports", [])
            ]
            if ports != [("TCP", SERVICE_PORT)]:
                problems.append(f"{name}: admits {ports or 'every port'}")
    return problems


def selector_problems(manifests: list[Manifest]) -> list[str]:
    """Which of Service, PodDisruptionBudget and autoscaler miss the service's pods."""
    deployment = the_deployment(manifests)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = {
        f"Service/{item['metadata']['name']}": item["spec"]["selector"]
        for item in objects_of(manifests, "Service")
    } | {
        f"PodDisruptionBudget/{item['metadata']['name']}": item["spec"]["selector"]["matchLabels"]
        for item in objects_of(manifests, "PodDisruptionBudget")
    }
    problems = [
        f"{name} selects {selector}, the pods are {labels}"
        for name, selector in selectors.items()
        if not selector or not selector.items() <= labels.items()
    ]
    if len(selectors) < 2:
        problems.append("a Service or the PodDisruptionBudget is missing")
    autoscalers = objects_of(manifests, "HorizontalPodAutoscaler")
    if [item["spec"]["scaleTargetRef"]["name"] for item in autoscalers] != [
        deployment["metadata"]["name"]
    ]:
        problems.append("no autoscaler scales the Deployment")
    if "replicas" in deployment["spec"]:
        problems.append("the Deployment sets replicas, which the autoscaler owns")
    return problems


RULES: dict[str, Callable[[list[Manifest]], list[str]]] = {
    "restricted profile": restricted_profile_problems,
    "scratch space": tmp_problems,
    "probes": probe_problems,
    "shutdown": shutdown_problems,
    "config": config_problems,
    "secret": secret_problems,
    "pod settings": pod_settings_problems,
    "image": image_problems,
    "network policy": network_policy_problems,
    "selectors": selector_problems,
}


@pytest.mark.parametrize("rule", RULES)
def test_rendered_overlay_follows_rule(rule: str, rendered: list[Manifest]) -> None:
    """The production overlay, as kustomize renders it, breaks none of the rules."""
    assert RULES[rule](rendered) == []


def container_of(manifests: list[Manifest]) -> Manifest:
    """The service container of the Deployment."""
    container: Manifest
    (container,) = the_deployment(manifests)["spec"]["template"]["spec"]["containers"]
    return container


def pod_of(manifests: list[Manifest]) -> Manifest:
    """The Deployment's pod spec."""
    pod: Manifest = the_deployment(manifests)["spec"]["template"]["spec"]
    return pod


def drop_readonly_root(manifests: list[Manifest]) -> None:
    """A writable root file system."""
    container_of(manifests)["securityContext"]["readOnlyRootFilesystem"] = False


def run_as_root(manifests: list[Manifest]) -> None:
    """A pod that runs as root."""
    pod_of(manifests)["securityContext"]["runAsUser"] = 0


def add_capability(manifests: list[Manifest]) -> None:
    """A container that adds a capability back."""
    container_of(manifests)["securityContext"]["capabilities"]["add"] = ["NET_RAW"]


def tmp_on_disk(manifests: list[Manifest]) -> None:
    """Scratch space on the node's disk."""
    for volume in pod_of(manifests)["volumes"]:
        volume.get("emptyDir", {}).pop("medium", None)


def probe_other_port(manifests: list[Manifest]) -> None:
    """A readiness probe aimed at a port nothing listens on."""
    container_of(manifests)["readinessProbe"]["httpGet"]["port"] = SERVICE_PORT + 1


def short_grace(manifests: list[Manifest]) -> None:
    """A grace period that ends in the middle of gunicorn's drain."""
    pod_of(manifests)["terminationGracePeriodSeconds"] = gunicorn_graceful_timeout()


def writable_config(manifests: list[Manifest]) -> None:
    """A /config mount that the service could write to."""
    for mount in container_of(manifests)["volumeMounts"]:
        if mount["mountPath"] == "/config":
            mount["readOnly"] = False


def keys_in_environment(manifests: list[Manifest]) -> None:
    """An API key handed over as an environment variable."""
    secret_ref = {"secretKeyRef": {"name": "calculator-api-keys", "key": "api-keys"}}
    container_of(manifests)["env"].append({"name": "API_KEY", "valueFrom": secret_ref})


def service_links_on(manifests: list[Manifest]) -> None:
    """Service links left at their default."""
    del pod_of(manifests)["enableServiceLinks"]


def image_by_tag(manifests: list[Manifest]) -> None:
    """An image named by a tag."""
    container_of(manifests)["image"] = "registry.example.com/calculator-service:1.0"


def egress_allowed(manifests: list[Manifest]) -> None:
    """A policy for the service that lets it call out."""
    for policy in objects_of(manifests, "NetworkPolicy"):
        if policy["spec"]["podSelector"]:
            policy["spec"]["egress"] = [{}]


def no_default_deny(manifests: list[Manifest]) -> None:
    """A namespace without the deny-all policy."""
    manifests[:] = [item for item in manifests if item["metadata"]["name"] != "default-deny-all"]


def service_misses_pods(manifests: list[Manifest]) -> None:
    """A Service whose selector matches no pod of the Deployment."""
    (service,) = objects_of(manifests, "Service")
    service["spec"]["selector"] = {"app.kubernetes.io/name": "something-else"}


@pytest.mark.parametrize(
    ("rule", "breakage"),
    [
        ("restricted profile", drop_readonly_root),
        ("restricted profile", run_as_root),
        ("restricted profile", add_capability),
        ("scratch space", tmp_on_disk),
        ("probes", probe_other_port),
        ("shutdown", short_grace),
        ("config", writable_config),
        ("secret", keys_in_environment),
        ("pod settings", service_links_on),
        ("image", image_by_tag),
        ("network policy", egress_allowed),
        ("network policy", no_default_deny),
        ("selectors", service_misses_pods),
    ],
)
def test_rule_finds_a_regression(
    rule: str, breakage: Callable[[list[Manifest]], None], manifests: list[Manifest]
) -> None:
    """Each rule reports the overlay broken in the way it guards against."""
    breakage(manifests)
    assert RULES[rule](manifests) != []


def nginx_size_bytes(text: str) -> int:
    """Bytes in an nginx size such as 128k."""
    match = NGINX_SIZE.fullmatch(text)
    assert match, f"not an nginx size: {text!r}"
    return int(match.group(1)) * NGINX_SIZE_UNITS[match.group(2).lower()]


def test_ingress_limits_body_size_and_time(rendered: list[Manifest]) -> None:
    """The edge caps bodies at no less than the service's own limit, and bounds each request."""
    (ingress,) = objects_of(rendered, "Ingress")
    annotations = ingress["metadata"]["annotations"]
    config = json.loads((ROOT / "config/config.json").read_text(encoding="utf-8"))
    service_limit = config["max_body_bytes"]
    assert nginx_size_bytes(annotations["nginx.ingress.kubernetes.io/proxy-body-size"]) >= (
        service_limit
    )
    for timeout in ("connect", "send", "read"):
        assert 0 < int(annotations[f"nginx.ingress.kubernetes.io/proxy-{timeout}-timeout"]) <= 60


def test_everything_lives_in_a_restricted_namespace(rendered: list[Manifest]) -> None:
    """Every namespaced object is in the overlay's namespace, which enforces the restricted PSS."""
    (namespace,) = objects_of(rendered, "Namespace")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {
        item["metadata"].get("namespace") for item in rendered if item["kind"] != "Namespace"
    } == {namespace["metadata"]["name"]}
