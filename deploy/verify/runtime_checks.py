"""Checklist items 18-25: what compose asked of the engine, and what the kernel enforces."""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Iterator
from typing import Any

import container_root
from checklist import Entry, registrar
from deployment_facts import Deployment, tree_status
from image_checks import APP_ONLY, PROXY_ONLY

# Engine sockets (Docker's, containerd's, Podman's, ...) all end so; a host socket under
# any other name is caught by its file type instead.
SOCKET_SUFFIX = ".sock"
# A path inside the container; nothing on the host is touched.
CONTAINER_TMP = "/tmp"  # noqa: S108

CHECKS: list[Entry] = []
check = registrar(CHECKS)


@check("18a", "read-only root filesystem (a write probe fails)")
def check_read_only_root(deployment: Deployment) -> tuple[bool, str]:
    flag = bool(deployment.host.get("ReadonlyRootfs"))
    options = container_root.mount_options(deployment.pid, "/")
    # Through the container's own root mount: a read-only mount refuses even the host's root.
    refusal = container_root.write_probe(deployment.pid, "/.verify-write-probe")
    refused = "Read-only file system" in refusal
    reason = refusal or "creating /.verify-write-probe succeeded"
    return flag and refused, f"ReadonlyRootfs={flag}; root mount {options[0]}; {reason}"


def tmpfs_targets(deployment: Deployment) -> list[str]:
    """Every tmpfs mount point of the container, from either way compose declares them."""
    mounts = [m["Destination"] for m in deployment.service["Mounts"] if m.get("Type") == "tmpfs"]
    return sorted(set(mounts) | set(deployment.host.get("Tmpfs") or {}))


@check("18b", "tmpfs for /tmp")
def check_tmpfs(deployment: Deployment) -> tuple[bool, str]:
    targets = tmpfs_targets(deployment)
    return CONTAINER_TMP in targets, f"tmpfs: {', '.join(targets) or 'none'}"


@check("19a", "cap_drop ALL, no cap_add; host CapEff 0 for every process")
def check_capabilities(deployment: Deployment) -> tuple[bool, str]:
    dropped = [cap.upper() for cap in deployment.host.get("CapDrop") or []]
    added = deployment.host.get("CapAdd") or []
    effective = tree_status(deployment, "CapEff")
    passed = "ALL" in dropped and not added and effective == {"0000000000000000"}
    return passed, f"CapDrop={dropped} CapAdd={added}; host CapEff {sorted(effective)}"


@check("19b", "no-new-privileges; host NoNewPrivs 1 for every process")
def check_no_new_privileges(deployment: Deployment) -> tuple[bool, str]:
    options = deployment.host.get("SecurityOpt") or []
    # The engine takes ":" and "=" as separators, and the bare flag as true.
    spellings = {"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"}
    declared = bool(spellings & set(options))
    flags = tree_status(deployment, "NoNewPrivs")
    return declared and flags == {"1"}, f"SecurityOpt={options}; host NoNewPrivs {sorted(flags)}"


@check("20a", "memory, CPU and PIDs limits")
def check_limits(deployment: Deployment) -> tuple[bool, str]:
    memory = int(deployment.host.get("Memory") or 0)
    cpus = int(deployment.host.get("NanoCpus") or 0) / 1e9
    if not cpus and deployment.host.get("CpuQuota"):
        cpus = int(deployment.host["CpuQuota"]) / int(deployment.host.get("CpuPeriod") or 100_000)
    pids = int(deployment.host.get("PidsLimit") or 0)
    passed = memory > 0 and cpus > 0 and pids > 0
    return passed, f"memory {memory // 2**20} MiB, cpus {cpus:g}, pids {pids}"


@check("20b", "restart policy")
def check_restart(deployment: Deployment) -> tuple[bool, str]:
    policy = deployment.host.get("RestartPolicy") or {}
    name = policy.get("Name") or "no"
    passed = name in {"on-failure", "unless-stopped", "always"}
    return passed, f"{name} (max retries {policy.get('MaximumRetryCount', 0)})"


@check("21", "config bind-mounted read-only", APP_ONLY)
def check_config_mount(deployment: Deployment) -> tuple[bool, str]:
    mounts = [m for m in deployment.service["Mounts"] if m["Destination"].startswith("/config")]
    if not mounts:
        return False, "nothing mounted under /config"
    described = "; ".join(f"{m['Destination']} RW={m['RW']}" for m in mounts)
    return all(not m["RW"] for m in mounts), described


@check("21", "no writable bind mount (its config is in the image)", PROXY_ONLY)
def check_no_writable_mount(deployment: Deployment) -> tuple[bool, str]:
    binds = [m for m in deployment.service["Mounts"] if m.get("Type") == "bind"]
    writable = [m["Destination"] for m in binds if m["RW"]]
    if writable:
        return False, f"writable bind mounts: {', '.join(writable)}"
    return True, f"{len(binds)} bind mounts, none writable"


def published_ports(deployment: Deployment) -> list[str]:
    """Each published port as HOST_IP:HOST_PORT->CONTAINER_PORT."""
    bindings = deployment.service["NetworkSettings"].get("Ports") or {}
    return [
        f"{binding['HostIp'] or '*'}:{binding['HostPort']}->{port}"
        for port, hosts in bindings.items()
        for binding in hosts or []
    ]


@check("22a", "published on 127.0.0.1 only", PROXY_ONLY)
def check_publishing(deployment: Deployment) -> tuple[bool, str]:
    published = published_ports(deployment)
    loopback = all(entry.startswith(("127.0.0.1:", "::1:")) for entry in published)
    passed = bool(published) and loopback
    return passed, ", ".join(published) or "no published port"


@check("22c", "the published port answers from the host", PROXY_ONLY)
def check_published_port_answers(deployment: Deployment) -> tuple[bool, str]:
    answered = []
    for entry in published_ports(deployment):
        address, _, _ = entry.partition("->")
        host, _, port = address.rpartition(":")
        # An unbound address ("*" or the any-address) is asked on the loopback.
        host = "127.0.0.1" if host in {"*", "0.0.0.0"} else host.strip("[]")  # noqa: S104
        try:
            with socket.create_connection((host, int(port)), timeout=3) as connection:
                connection.sendall(b"GET /livez HTTP/1.0\r\n\r\n")
                status = connection.recv(64).split(b"\r\n", 1)[0].decode("latin-1")
        except OSError as error:
            return False, f"{address}: {error}"
        if " 200 " not in f"{status} ":
            return False, f"{address}: {status or 'no answer'}"
        answered.append(address)
    return bool(answered), ", ".join(answered) or "no published port"


@check("22a", "not published: reached through the proxy only", APP_ONLY)
def check_not_published(deployment: Deployment) -> tuple[bool, str]:
    published = published_ports(deployment)
    return not published, ", ".join(published) or "no published port"


@check("22b", "on a named network, not the default bridge or host")
def check_network(deployment: Deployment) -> tuple[bool, str]:
    networks = sorted(deployment.service["NetworkSettings"].get("Networks") or {})
    passed = bool(networks) and not set(networks) & {"bridge", "host", "none"}
    return passed, ", ".join(networks) or "no network"


def is_host_socket(path: str) -> bool:
    """Whether ``path`` on the host is a Unix socket (a missing path is not)."""
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def socket_mounts(container: dict[str, Any]) -> Iterator[str]:
    """Yield each mount of a container that carries a host socket, an engine's above all."""
    for mount in container.get("Mounts") or []:
        source, destination = mount.get("Source") or "", mount.get("Destination") or ""
        named_like_one = source.endswith(SOCKET_SUFFIX) or destination.endswith(SOCKET_SUFFIX)
        if named_like_one or is_host_socket(source):
            yield f"{container['Name'].lstrip('/')}:{destination}"


@check("23", "no Docker (or other host) socket mounted in any container of the project")
def check_no_socket(deployment: Deployment) -> tuple[bool, str]:
    found = [mount for container in deployment.project for mount in socket_mounts(container)]
    names = ", ".join(sorted(c["Name"].lstrip("/") for c in deployment.project))
    return not found, ", ".join(found) if found else f"none in {names}"


@check("24", "log rotation")
def check_log_rotation(deployment: Deployment) -> tuple[bool, str]:
    log = deployment.host.get("LogConfig") or {}
    driver, options = log.get("Type", ""), log.get("Config") or {}
    rotated = driver == "local" or (
        driver == "json-file" and "max-size" in options and "max-file" in options
    )
    return rotated, f"{driver} {json.dumps(options, sort_keys=True)}"


@check("25", "health status healthy")
def check_healthy(deployment: Deployment) -> tuple[bool, str]:
    health = deployment.service["State"].get("Health") or {}
    status = health.get("Status", "no healthcheck")
    streak = health.get("FailingStreak", 0)
    return status == "healthy", f"{status} (failing streak {streak})"
