"""Checklist items 11-17, 26 and 27: what the image and its server make of the container."""

from __future__ import annotations

import re
from pathlib import Path

import container_root
from checklist import Entry, registrar
from container_root import READ, WRITE, Identity
from deployment_facts import Deployment, read_host_status

# What each role runs: its user, its server program (PID 1), its configuration file, and
# the stop signal that makes that server finish requests in progress.
USER = {"app": "calculator", "proxy": "haproxy"}
SERVER = {"app": "gunicorn", "proxy": "haproxy"}
CONFIG = {"app": "/config/config.json", "proxy": "/etc/haproxy/haproxy.cfg"}
STOP_SIGNAL = {"app": {"SIGTERM", "15"}, "proxy": {"SIGUSR1", "10"}}
APP_ONLY = frozenset({"app"})
PROXY_ONLY = frozenset({"proxy"})

# A path inside the container; nothing on the host is touched.
WORKER_TMP_DIR = "/dev/shm"  # noqa: S108

CHECKS: list[Entry] = []
check = registrar(CHECKS)


@check("11", "runs as a non-root numeric UID/GID")
def check_user(deployment: Deployment) -> tuple[bool, str]:
    configured = str(deployment.service["Config"].get("User") or "")
    uids = read_host_status(deployment.pid)["Uid"].split()
    gids = read_host_status(deployment.pid)["Gid"].split()
    numeric = bool(configured) and all(part.isdigit() for part in configured.split(":"))
    # The names the container's own /etc/passwd and /etc/group give them, as `id` would.
    user = container_root.user_name(deployment.pid, int(uids[0]))
    group = container_root.group_name(deployment.pid, int(gids[0]))
    identity = f"uid={uids[0]}({user}) gid={gids[0]}({group})"
    passed = numeric and "0" not in uids and "0" not in gids and user == USER[deployment.role]
    evidence = f"User={configured or '(image default)'}; host Uid {uids[0]} Gid {gids[0]}"
    return passed, f"{evidence}; {identity}"


@check("12", "code and environment not owned by or writable for the runtime user")
def check_code_not_writable(deployment: Deployment) -> tuple[bool, str]:
    who = Identity.of(read_host_status(deployment.pid))
    found = container_root.owned_or_writable(deployment.pid, who.uid, who.gid)
    if found:
        return False, f"{len(found)} writable or runtime-owned paths, e.g. {', '.join(found[:3])}"
    return True, (
        f"no path on the root filesystem is owned by {who.uid}:{who.gid} or writable by others"
    )


@check("13", "no setuid or setgid files")
def check_no_setuid(deployment: Deployment) -> tuple[bool, str]:
    found = container_root.setuid_files(deployment.pid)
    return not found, ", ".join(found[:5]) if found else "root filesystem: no file with mode /6000"


@check("14", "config file readable, not writable by the runtime user")
def check_config_readable(deployment: Deployment) -> tuple[bool, str]:
    path = CONFIG[deployment.role]
    who = Identity.of(read_host_status(deployment.pid))
    readable = container_root.may_access(deployment.pid, path, who, READ)
    writable = container_root.may_access(deployment.pid, path, who, WRITE)
    return readable and not writable, f"{path} readable={readable} writable={writable}"


@check("15", "exec-form command, the server (gunicorn, haproxy) is PID 1 (or under docker-init)")
def check_pid1(deployment: Deployment) -> tuple[bool, str]:
    config = deployment.service["Config"]
    command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
    shell_form = command[:2] in (["/bin/sh", "-c"], ["sh", "-c"])
    argv = deployment.pid1_argv()
    words = " ".join(argv).split()[:2]
    is_server = any(Path(word).name.rstrip(":") == SERVER[deployment.role] for word in words)
    return is_server and not shell_form, f"PID 1: {' '.join(argv)[:90]}"


@check("16", "healthcheck defined without curl or wget")
def check_healthcheck(deployment: Deployment) -> tuple[bool, str]:
    test = (deployment.service["Config"].get("Healthcheck") or {}).get("Test") or []
    defined = bool(test) and test[0] != "NONE"
    uses_client = any(tool in " ".join(test) for tool in ("curl", "wget"))
    return defined and not uses_client, " ".join(test)[:90] or "no healthcheck"


def proxy_stop_timeout(deployment: Deployment) -> float:
    """HAProxy's hard-stop-after in seconds, read from the container's haproxy.cfg."""
    text = container_root.read_text(deployment.pid, CONFIG["proxy"])
    match = re.search(r"^\s*hard-stop-after\s+(\d+)s?\s*$", text, re.MULTILINE)
    if match is None:
        raise ValueError("haproxy.cfg sets no hard-stop-after: a stop could wait forever")
    return float(match[1])


@check("17", "graceful stop signal, stop grace period > the server's own stop timeout")
def check_stop_grace(deployment: Deployment) -> tuple[bool, str]:
    signal = deployment.service["Config"].get("StopSignal") or "SIGTERM"
    grace = deployment.service["Config"].get("StopTimeout")
    grace_seconds = 10 if grace is None else int(grace)  # the engine's default
    if deployment.role == "proxy":
        name, graceful = "hard-stop-after", proxy_stop_timeout(deployment)
    else:
        name, graceful = "graceful_timeout", float(deployment.gunicorn()["graceful_timeout"])
    passed = signal in STOP_SIGNAL[deployment.role] and grace_seconds > graceful
    return passed, f"signal {signal}; grace {grace_seconds}s vs {name} {graceful:g}s"


@check("26", "gunicorn worker_tmp_dir=/dev/shm", APP_ONLY)
def check_worker_tmp_dir(deployment: Deployment) -> tuple[bool, str]:
    value = deployment.gunicorn().get("worker_tmp_dir", "(unknown)")
    return value == WORKER_TMP_DIR, f"worker_tmp_dir = {value}"


@check("27", "gunicorn control socket off", APP_ONLY)
def check_control_socket(deployment: Deployment) -> tuple[bool, str]:
    value = deployment.gunicorn().get("control_socket_disable", "(unknown)")
    return value == "True", f"control_socket_disable = {value}"
