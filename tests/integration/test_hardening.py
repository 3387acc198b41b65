"""Hardening of the image and of the running service.

The image has no shell and no coreutils, so nothing here runs a command inside a
container but the image's own Python: the image's files are read from `docker export`,
a running container's from the host kernel (/proc/<pid>/status, /proc/<pid>/root).
"""

import io
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from .compose_project import ComposeProject
from .docker_cli import ROOT, container_processes, docker, inspect, read_host_status

pytestmark = pytest.mark.integration

NO_CAPABILITIES = "0000000000000000"
CONFIG_TARGET = "/config/config.json"
RUNTIME_ID = 10001
# Decimal megabytes, as `docker images` counts them.
MAX_IMAGE_BYTES = 60_000_000
SHELLS = {"sh", "bash", "dash", "ash", "zsh", "busybox", "toybox"}
PACKAGE_MANAGERS = {"apt", "apt-get", "apt-cache", "dpkg", "dpkg-query", "pip", "pip3", "pip3.11"}
COMPILERS = {"gcc", "cc", "c++", "g++", "cpp", "as", "ld", "x86_64-linux-gnu-gcc-12"}


def in_container(stack: ComposeProject, code: str) -> subprocess.CompletedProcess[str]:
    """Run Python code in the service container, as its user: the image's only program."""
    return stack.exec("python", "-c", code)


@pytest.fixture(scope="module")
def image_files(image: str) -> Iterator[list[tarfile.TarInfo]]:
    """Every entry of the image's file system, from `docker export` of a container never started."""
    created = docker("create", image).stdout.strip()
    try:
        exported = subprocess.run(
            ["docker", "export", created], capture_output=True, check=True, timeout=300
        )
    finally:
        docker("rm", created, check=False)
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as archive:
        yield archive.getmembers()


def names(members: list[tarfile.TarInfo]) -> set[str]:
    """The base names of the non-directory entries."""
    return {PurePosixPath(member.name).name for member in members if not member.isdir()}


def test_image_has_no_shell(image_files: list[tarfile.TarInfo]) -> None:
    """No shell of any kind (sh, bash, dash, busybox...) is in the image."""
    assert names(image_files) & SHELLS == set()


def test_image_has_no_package_manager_or_compiler(image_files: list[tarfile.TarInfo]) -> None:
    """Neither apt, dpkg nor pip, as programs or modules, nor a compiler is in the image."""
    assert names(image_files) & (PACKAGE_MANAGERS | COMPILERS) == set()
    packages = {member.name for member in image_files if member.name.endswith("/site-packages/pip")}
    assert packages == set()


def test_image_has_no_setuid_or_setgid_file(image_files: list[tarfile.TarInfo]) -> None:
    """No file in the image can raise privileges through a setuid or setgid bit."""
    assert [m.name for m in image_files if m.isfile() and m.mode & 0o6000] == []


def test_nothing_outside_tmp_is_the_runtime_users_to_change(
    image_files: list[tarfile.TarInfo],
) -> None:
    """No entry outside /tmp is owned by 10001, group-writable for it, or writable by all."""
    changeable = [
        member.name
        for member in image_files
        if not (member.name == "tmp" or member.name.startswith("tmp/"))
        and (
            member.uid == RUNTIME_ID
            or (member.gid == RUNTIME_ID and member.mode & 0o020)
            or (member.mode & 0o002 and not member.issym() and not member.mode & 0o1000)
        )
    ]
    assert changeable == []
    (tmp,) = [member for member in image_files if member.name == "tmp"]
    assert (tmp.uid, tmp.mode & 0o7777) == (0, 0o1777)


def test_image_is_at_most_60_megabytes(image: str) -> None:
    """The image's uncompressed size, as the engine reports it, is at most 60 MB."""
    size = int(docker("image", "inspect", "--format", "{{.Size}}", image).stdout)
    assert size <= MAX_IMAGE_BYTES


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
    processes = container_processes(stack.container_id())
    # The container's own user database, read through the kernel's view of its root.
    passwd = Path(f"/proc/{processes[0][0]}/root/etc/passwd").read_text(encoding="utf-8")
    assert f"calculator:x:{uid}:{gid}:" in passwd
    for pid, _, _ in processes:
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
    for target in ("/probe", "/usr/local/probe", "/app/probe"):
        refused = in_container(stack, f"open({target!r}, 'x')")
        assert refused.returncode != 0
        assert "Read-only file system" in refused.stderr
    assert in_container(stack, "open('/tmp/probe', 'x')").returncode == 0


def test_config_file_cannot_be_written(stack: ComposeProject) -> None:
    """/config/config.json is readable but no write to it succeeds inside the container."""
    assert in_container(stack, f"open({CONFIG_TARGET!r}).read()").returncode == 0
    refused = in_container(stack, f"open({CONFIG_TARGET!r}, 'a').write('{{}}')")
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
    read = in_container(
        stack,
        "import pathlib; v2 = pathlib.Path('/sys/fs/cgroup/memory.max'); "
        "v1 = pathlib.Path('/sys/fs/cgroup/memory/memory.limit_in_bytes'); "
        "print((v2 if v2.exists() else v1).read_text())",
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
