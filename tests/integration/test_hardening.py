"""Hardening of the running service, read from inside the container and from the host kernel."""

from pathlib import Path
from typing import Any

import pytest

from .compose_project import ComposeProject
from .docker_cli import ROOT, container_processes, docker, inspect, read_host_status

pytestmark = pytest.mark.integration

NO_CAPABILITIES = "0000000000000000"
CONFIG_TARGET = "/config/config.json"


@pytest.fixture(scope="module")
def container(stack: ComposeProject) -> dict[str, Any]:
    """`docker inspect` of the running service container."""
    return stack.container()


def test_runs_as_calculator_with_fixed_numeric_ids(
    stack: ComposeProject, container: dict[str, Any]
) -> None:
    """The image's numeric USER is what the kernel sees: named calculator, never root."""
    uid, gid = container["Config"]["User"].split(":")
    assert uid.isdigit()
    assert gid.isdigit()
    assert "0" not in {uid, gid}
    assert stack.exec("id", "-un").stdout.strip() == "calculator"
    assert stack.exec("id", "-u").stdout.strip() == uid
    assert stack.exec("id", "-g").stdout.strip() == gid
    for pid, _, _ in container_processes(stack.container_id()):
        status = read_host_status(pid)
        assert status["Uid"].split() == [uid] * 4
        assert status["Gid"].split() == [gid] * 4


def test_kernel_grants_no_capabilities_and_no_new_privileges(stack: ComposeProject) -> None:
    """Every process of the container has empty capability sets and NoNewPrivs 1 on the host."""
    processes = container_processes(stack.container_id())
    assert len(processes) >= 2  # the master and at least one worker
    for pid, _, _ in processes:
        status = read_host_status(pid)
        for capability_set in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            assert status[capability_set] == NO_CAPABILITIES, (pid, capability_set)
        assert status["NoNewPrivs"] == "1"


def test_root_filesystem_is_read_only(stack: ComposeProject) -> None:
    """Writing to / or to the code fails inside the container, while the /tmp tmpfs takes writes."""
    for target in ("/probe", "/usr/local/probe"):
        refused = stack.exec("touch", target)
        assert refused.returncode != 0
        assert "Read-only file system" in refused.stderr
    assert stack.exec("touch", "/tmp/probe").returncode == 0  # noqa: S108 - inside the container


def test_config_file_cannot_be_written(stack: ComposeProject) -> None:
    """/config/config.json is readable but no write to it succeeds inside the container."""
    assert stack.exec("test", "-r", CONFIG_TARGET).returncode == 0
    refused = stack.exec("sh", "-c", f"echo '{{}}' >> {CONFIG_TARGET}")
    assert refused.returncode != 0
    assert "Read-only file system" in refused.stderr or "Permission denied" in refused.stderr


def test_config_is_the_repository_file_mounted_read_only(container: dict[str, Any]) -> None:
    """config/config.json of the checkout is bind-mounted read-only at /config/config.json."""
    mounts = {mount["Destination"]: mount for mount in container["Mounts"]}
    config = mounts[CONFIG_TARGET]
    assert config["Type"] == "bind"
    assert config["RW"] is False
    assert Path(config["Source"]).resolve() == (ROOT / "config/config.json").resolve()


def test_no_container_of_the_project_mounts_the_docker_socket(stack: ComposeProject) -> None:
    """No container of the project, running or not, has a Docker socket mounted."""
    ids = stack.compose("ps", "--all", "--quiet").stdout.split()
    assert ids
    for container_id in ids:
        for mount in inspect(container_id)["Mounts"]:
            assert not mount["Source"].endswith("docker.sock"), mount
            assert not mount["Destination"].endswith("docker.sock"), mount


def test_memory_cpu_and_pids_are_limited(container: dict[str, Any]) -> None:
    """The engine applies a memory, CPU and PIDs limit to the service."""
    host = container["HostConfig"]
    assert host["Memory"] > 0
    assert host["NanoCpus"] > 0 or host["CpuQuota"] > 0
    assert (host["PidsLimit"] or 0) > 0


def test_memory_limit_is_enforced_by_the_kernel(
    stack: ComposeProject, container: dict[str, Any]
) -> None:
    """The container's own cgroup reports the memory limit that compose asked for."""
    read = stack.exec(
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
    )
    assert int(read.stdout.strip()) == container["HostConfig"]["Memory"]


def test_healthcheck_reports_healthy(container: dict[str, Any]) -> None:
    """The image's healthcheck runs without curl and the engine reports the service healthy."""
    test = " ".join(container["Config"]["Healthcheck"]["Test"])
    assert "curl" not in test
    assert "wget" not in test
    health = container["State"]["Health"]
    assert health["Status"] == "healthy"
    assert health["Log"][-1]["ExitCode"] == 0


def published(container: dict[str, Any]) -> list[dict[str, str]]:
    """The host bindings of every published port of a container."""
    ports = container["NetworkSettings"]["Ports"] or {}
    return [binding for hosts in ports.values() for binding in hosts or []]


def test_only_the_proxy_is_published_and_only_on_loopback(stack: ComposeProject) -> None:
    """The proxy's port is bound to 127.0.0.1 at the configured port; no replica is published."""
    bindings = published(stack.container("proxy"))
    assert bindings
    assert {binding["HostIp"] for binding in bindings} == {"127.0.0.1"}
    assert {binding["HostPort"] for binding in bindings} == {str(stack.port)}
    replicas = stack.container_ids()
    assert len(replicas) >= 2
    for replica in replicas:
        assert published(inspect(replica)) == []


def test_replicas_network_is_internal(stack: ComposeProject) -> None:
    """The replicas sit only on an internal network; the proxy is on it and on the edge one."""
    for replica in stack.container_ids():
        networks = inspect(replica)["NetworkSettings"]["Networks"]
        assert len(networks) == 1
        (network,) = networks
        assert docker("network", "inspect", "-f", "{{.Internal}}", network).stdout.strip() == "true"
    assert len(stack.container("proxy")["NetworkSettings"]["Networks"]) == 2


def test_attached_to_a_named_network_only(stack: ComposeProject, container: dict[str, Any]) -> None:
    """The service sits on the project's own network, not the default bridge or the host's."""
    networks = set(container["NetworkSettings"]["Networks"])
    assert networks
    assert not networks & {"bridge", "host", "none"}
    for network in networks:
        labels = docker("network", "inspect", "-f", "{{json .Labels}}", network).stdout
        assert f'"com.docker.compose.project":"{stack.name}"' in labels


def test_logs_are_rotated(container: dict[str, Any]) -> None:
    """The json-file log driver has a size cap and a file count."""
    log = container["HostConfig"]["LogConfig"]
    assert log["Type"] == "json-file"
    assert int(log["Config"]["max-file"]) >= 1
    assert log["Config"]["max-size"]


def test_restarts_on_failure(container: dict[str, Any]) -> None:
    """A crashed service is restarted by the engine."""
    assert container["HostConfig"]["RestartPolicy"]["Name"] in {"on-failure", "unless-stopped"}


def test_no_setuid_or_setgid_files(stack: ComposeProject) -> None:
    """No file in the image can raise privileges through a setuid or setgid bit."""
    found = stack.exec("find", "/", "-xdev", "-perm", "/6000", "-type", "f")
    assert found.stdout.split() == []
