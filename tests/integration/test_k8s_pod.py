"""The image runs under the rendered Deployment's pod settings, as far as Docker reproduces them.

No cluster runs here, so this is the nearest check that the Kubernetes manifests fit the
image: the container gets the pod's user and groups, read-only root, dropped capabilities,
no privilege escalation, the memory-backed /tmp, CPU and memory limits and environment, and
the ConfigMap and Secret as files laid out the way the kubelet writes them (symlinks into a
timestamped directory, the Secret's mode and group). What it cannot show: scheduling, the
probes as the kubelet runs them, the preStop sleep, NetworkPolicy, the Ingress.
"""

import os
import re
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

# PyYAML ships no type hints and its stub package is not among the locked dependencies.
import yaml  # type: ignore[import-untyped]

from .docker_cli import LOOPBACK, PREFIX, ROOT, docker, free_port, wait_for

sys.path.insert(0, str(ROOT / "deploy" / "k8s"))

# deploy/k8s/manifests.py is a plain script, found through sys.path.
from manifests import ToolMissingError, render_overlay

pytestmark = pytest.mark.integration

TIMEOUT = 10
QUANTITY = re.compile(r"^(\d+)(m|Ki|Mi|Gi)?$")
QUANTITY_FACTORS = {None: 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
# The kubelet's atomic writer: files are symlinks through ..data into a timestamped directory.
KUBELET_PAYLOAD_DIRECTORY = "..2026_01_01_00_00_00.000000001"


def quantity_bytes(text: str) -> int:
    """Bytes in a Kubernetes memory quantity such as 64Mi."""
    match = QUANTITY.fullmatch(text)
    assert match, f"not a Kubernetes quantity: {text!r}"
    assert match.group(2) != "m", f"millibytes of memory: {text!r}"
    return int(match.group(1)) * QUANTITY_FACTORS[match.group(2)]


def quantity_cpus(text: str) -> str:
    """A Kubernetes CPU quantity (1, 500m) as docker's --cpus value."""
    match = QUANTITY.fullmatch(text)
    assert match, f"not a Kubernetes quantity: {text!r}"
    assert match.group(2) in {None, "m"}, f"not a CPU quantity: {text!r}"
    return str(int(match.group(1)) / (1000 if match.group(2) else 1))


def write_like_kubelet(directory: Path, files: dict[str, str], *, mode: int, gid: int) -> None:
    """Lay out a ConfigMap or Secret volume as the kubelet does, owned by root and ``gid``."""
    payload = directory / KUBELET_PAYLOAD_DIRECTORY
    payload.mkdir(parents=True)
    for name, content in files.items():
        (payload / name).write_text(content, encoding="utf-8")
        os.chown(payload / name, 0, gid)
        (payload / name).chmod(mode)
        (directory / name).symlink_to(Path("..data") / name)
    (directory / "..data").symlink_to(KUBELET_PAYLOAD_DIRECTORY)
    for path in (directory, payload):
        os.chown(path, 0, gid)
        path.chmod(0o755)


@dataclass(frozen=True)
class Pod:
    """The Deployment's pod, run as a container: its URL and the API key it was given."""

    name: str
    base_url: str
    api_key: str


def rendered_objects() -> list[dict[str, Any]]:
    """The production overlay's objects (skip without the pinned kubectl; in CI, fail)."""
    try:
        text = render_overlay()
    except ToolMissingError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(error))
        pytest.skip(str(error))
    return [document for document in yaml.safe_load_all(text) if document]


def run_arguments(
    pod: dict[str, Any],
    container: dict[str, Any],
    *,
    volumes_dir: Path,
    config_maps: dict[str, dict[str, str]],
    api_key: str,
    port: int,
) -> list[str]:
    """The `docker run` arguments that reproduce the pod spec for ``container``."""
    pod_context, context = pod["securityContext"], container["securityContext"]
    limits = container["resources"]["limits"]
    arguments = [
        f"--user={context.get('runAsUser', pod_context['runAsUser'])}:"
        f"{context.get('runAsGroup', pod_context['runAsGroup'])}",
        f"--group-add={pod_context['fsGroup']}",
        f"--memory={quantity_bytes(limits['memory'])}",
        f"--cpus={quantity_cpus(limits['cpu'])}",
    ]
    if context["readOnlyRootFilesystem"]:
        arguments.append("--read-only")
    if context["allowPrivilegeEscalation"] is False:
        arguments.append("--security-opt=no-new-privileges")
    arguments += [f"--cap-drop={capability}" for capability in context["capabilities"]["drop"]]
    arguments += [f"--env={item['name']}={item['value']}" for item in container.get("env", [])]
    (http_port,) = [item for item in container["ports"] if item["name"] == "http"]
    arguments.append(f"--publish={LOOPBACK}:{port}:{http_port['containerPort']}")
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        read_only = ":ro" if mount.get("readOnly") else ""
        if "emptyDir" in volume:
            size = quantity_bytes(volume["emptyDir"]["sizeLimit"])
            arguments.append(f"--tmpfs={mount['mountPath']}:size={size}")
            continue
        host_dir = volumes_dir / mount["name"]
        if "configMap" in volume:
            files = config_maps[volume["configMap"]["name"]]
            write_like_kubelet(host_dir, files, mode=0o644, gid=pod_context["fsGroup"])
        else:
            secret = volume["secret"]
            files = {item["path"]: api_key + "\n" for item in secret["items"]}
            write_like_kubelet(
                host_dir, files, mode=secret["defaultMode"], gid=pod_context["fsGroup"]
            )
        arguments.append(f"--volume={host_dir}:{mount['mountPath']}{read_only}")
    return arguments


@pytest.fixture(scope="module")
def pod(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pod]:
    """The image started with the rendered Deployment's pod settings, answering /livez."""
    objects = rendered_objects()
    (deployment,) = [item for item in objects if item["kind"] == "Deployment"]
    config_maps = {
        item["metadata"]["name"]: item["data"] for item in objects if item["kind"] == "ConfigMap"
    }
    pod_spec = deployment["spec"]["template"]["spec"]
    (container,) = pod_spec["containers"]
    api_key = secrets.token_urlsafe(32)
    port = free_port()
    arguments = run_arguments(
        pod_spec,
        container,
        volumes_dir=tmp_path_factory.mktemp("pod"),
        config_maps=config_maps,
        api_key=api_key,
        port=port,
    )
    name = f"{PREFIX}-k8s-pod-{uuid.uuid4().hex[:8]}"
    docker("run", "--detach", f"--name={name}", *arguments, image)
    base_url = f"http://{LOOPBACK}:{port}"
    startup = container["startupProbe"]
    try:
        # Until /livez answers, or the container has stopped (a refused start ends it).
        wait_for(
            lambda: not running(name) or livez(base_url) == 200,
            seconds=startup["periodSeconds"] * startup["failureThreshold"],
            what=f"/livez of {name} answering 200",
        )
        if livez(base_url) != 200:
            logs = docker("logs", name, check=False)
            pytest.fail(f"{name} stopped before answering; its logs:\n{logs.stdout}{logs.stderr}")
        yield Pod(name, base_url, api_key)
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


def running(name: str) -> bool:
    """Whether the container is still running."""
    state = docker("inspect", "--format={{.State.Running}}", name, check=False)
    return state.stdout.strip() == "true"


def livez(base_url: str) -> int:
    """The status of GET /livez, or 0 while nothing answers."""
    try:
        return requests.get(f"{base_url}/livez", timeout=TIMEOUT).status_code
    except requests.ConnectionError:
        return 0


def test_pod_requires_the_key_from_the_mounted_secret(pod: Pod) -> None:
    """A request without a key is refused; the key in the Secret's file is accepted."""
    refused = requests.get(f"{pod.base_url}/add?a=1&b=2", timeout=TIMEOUT)
    accepted = requests.get(
        f"{pod.base_url}/add?a=1&b=2",
        headers={"Authorization": f"Bearer {pod.api_key}"},
        timeout=TIMEOUT,
    )
    assert refused.status_code == 401
    assert accepted.status_code == 200
    assert accepted.json()["result"] == 3


def test_pod_reads_its_config_from_the_configmap_mount(pod: Pod) -> None:
    """The service says it read its settings from the ConfigMap's file under /config."""
    logs = docker("logs", pod.name)
    assert "settings read from /config/config.json" in logs.stdout + logs.stderr


# Last in this module: it stops the module's container.
def test_pod_stops_cleanly_within_its_grace_period(pod: Pod) -> None:
    """SIGTERM ends the service with status 0 inside the pod's grace period."""
    objects = rendered_objects()
    (deployment,) = [item for item in objects if item["kind"] == "Deployment"]
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    started = time.monotonic()
    docker("stop", f"--time={grace}", pod.name)
    elapsed = time.monotonic() - started
    state = docker("inspect", "--format={{.State.ExitCode}}", pod.name).stdout.strip()
    assert state == "0"
    assert elapsed < grace
