"""Check a running compose deployment of the calculator against the container checklist.

Covers items 11-27 of the hardening checklist (user, file ownership, setuid files,
config mount, PID 1, healthcheck, stop grace period, read-only root, capabilities,
no-new-privileges, limits, restart policy, publishing, network, Docker socket, log
rotation, gunicorn settings). Evidence comes from `docker inspect`, `docker exec`
and, for what the kernel enforces, the host's own /proc: a container can misreport
itself, the host cannot. Prints one table row per check; exits 0 only if all pass.

Usage: python deploy/verify.py [--project NAME] [--service NAME]
Standard library only, so it runs on any host with Docker and Python 3.11.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMMAND_TIMEOUT_SECONDS = 60
SOCKET_NAMES = ("docker.sock", "containerd.sock", "podman.sock")
# The host's /proc is the kernel's own account of the process, not the container's.
HOST_PROC = Path("/proc")
# Paths inside the container that the checks expect; nothing on the host is written.
CONTAINER_TMP = "/tmp"  # noqa: S108
WORKER_TMP_DIR = "/dev/shm"  # noqa: S108


class VerificationError(Exception):
    """Evidence could not be gathered (Docker unreachable, command failed, no container)."""


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command with a deadline and return its completed process."""
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise VerificationError(f"{' '.join(command[:3])}: {error}") from None
    if check and completed.returncode != 0:
        reason = (completed.stderr or completed.stdout).strip().splitlines()
        raise VerificationError(f"{' '.join(command[:3])}: {reason[-1] if reason else 'failed'}")
    return completed


def default_project() -> str:
    """Return the project name compose itself would use for this checkout."""
    output = run(
        "docker", "compose", "--project-directory", str(ROOT), "config", "--format", "json"
    )
    name = json.loads(output.stdout).get("name")
    if not isinstance(name, str) or not name:
        raise VerificationError("docker compose config reported no project name")
    return name


def inspect_project(project: str) -> list[dict[str, Any]]:
    """Return `docker inspect` of every container (running or not) of the project."""
    label = f"label=com.docker.compose.project={project}"
    ids = run("docker", "ps", "--all", "--quiet", "--no-trunc", "--filter", label).stdout.split()
    if not ids:
        return []
    documents: list[dict[str, Any]] = json.loads(run("docker", "inspect", *ids).stdout)
    return documents


def read_host_status(pid: int) -> dict[str, str]:
    """Return the fields of the host's /proc/<pid>/status."""
    lines = (HOST_PROC / str(pid) / "status").read_text(encoding="utf-8").splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def descendants(pid: int) -> list[int]:
    """Return pid and every host process descended from it (the whole container tree)."""
    parents: dict[int, int] = {}
    for entry in HOST_PROC.iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(read_host_status(int(entry.name))["PPid"])
            except (OSError, KeyError, ValueError):
                continue  # the process ended while the table was read
    tree, frontier = [pid], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


@dataclass
class Deployment:
    """The facts about one service container, gathered lazily and once."""

    service: dict[str, Any]
    project: list[dict[str, Any]]
    _gunicorn: dict[str, str] | None = field(default=None, repr=False)

    @property
    def cid(self) -> str:
        """The service container's id."""
        return str(self.service["Id"])

    @property
    def host(self) -> dict[str, Any]:
        """HostConfig, where compose's runtime options land."""
        return dict(self.service["HostConfig"])

    @property
    def pid(self) -> int:
        """The host pid of the container's PID 1."""
        return int(self.service["State"]["Pid"])

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run a command in the container as its own user; the caller reads the exit code.

        Exit codes 0 and 1 are answers (find and test use 1); anything else means the
        command could not run, which must never read as a passing check.
        """
        completed = run("docker", "exec", self.cid, *command, check=False)
        if completed.returncode not in {0, 1}:
            reason = completed.stderr.strip().splitlines()
            raise VerificationError(
                f"{command[0]} in the container exited {completed.returncode}: "
                f"{reason[-1] if reason else 'no output'}"
            )
        return completed

    def pid1_argv(self) -> list[str]:
        """PID 1's argv from the host, without an init process (docker-init, tini) in front."""
        raw = (HOST_PROC / str(self.pid) / "cmdline").read_bytes()
        argv = [part.decode() for part in raw.split(b"\0") if part]
        if argv and Path(argv[0]).name in {"docker-init", "tini"}:
            argv = argv[argv.index("--") + 1 :] if "--" in argv else argv[1:]
        return argv

    def gunicorn(self) -> dict[str, str]:
        """gunicorn's fully resolved settings, printed by the container's own gunicorn."""
        if self._gunicorn is None:
            argv = self.pid1_argv()
            printed = self.exec(*argv, "--print-config")
            if printed.returncode != 0:
                raise VerificationError(f"gunicorn --print-config failed: {printed.stderr.strip()}")
            pairs = (line.split(" = ", 1) for line in printed.stdout.splitlines() if " = " in line)
            self._gunicorn = {key.strip(): value.strip() for key, value in pairs}
        return self._gunicorn


@dataclass(frozen=True)
class Result:
    """One row of the report."""

    item: str
    title: str
    passed: bool
    evidence: str


Check = Callable[[Deployment], tuple[bool, str]]
CHECKS: list[tuple[str, str, Check]] = []


def check(item: str, title: str) -> Callable[[Check], Check]:
    """Register a check under its checklist item number."""

    def register(function: Check) -> Check:
        CHECKS.append((item, title, function))
        return function

    return register


@check("11", "runs as a non-root numeric UID/GID")
def check_user(deployment: Deployment) -> tuple[bool, str]:
    configured = str(deployment.service["Config"].get("User") or "")
    uids = read_host_status(deployment.pid)["Uid"].split()
    gids = read_host_status(deployment.pid)["Gid"].split()
    numeric = bool(configured) and all(part.isdigit() for part in configured.split(":"))
    identity = deployment.exec("id").stdout.strip()
    passed = numeric and "0" not in uids and "0" not in gids and "calculator" in identity
    evidence = f"User={configured or '(image default)'}; host Uid {uids[0]} Gid {gids[0]}"
    return passed, f"{evidence}; {identity}"


# Whole-filesystem search: any file the runtime user owns or anyone may write is a
# place code could be changed. /proc, /sys and /dev are kernel views, /tmp is tmpfs.
WRITABLE_SEARCH = (
    "find / -xdev ( -path /proc -o -path /sys -o -path /dev -o -path /tmp ) -prune -o "
    "( -user {uid} -o -group {gid} -perm -g=w -o -perm -o=w ! -type l ! -perm -1000 ) -print"
)


@check("12", "code and environment not owned by or writable for the runtime user")
def check_code_not_writable(deployment: Deployment) -> tuple[bool, str]:
    uid, gid = (read_host_status(deployment.pid)[key].split()[0] for key in ("Uid", "Gid"))
    found = deployment.exec(*WRITABLE_SEARCH.format(uid=uid, gid=gid).split()).stdout.split()
    if found:
        return False, f"{len(found)} writable or runtime-owned paths, e.g. {', '.join(found[:3])}"
    return True, f"no path on the root filesystem is owned by {uid}:{gid} or writable by others"


@check("13", "no setuid or setgid files")
def check_no_setuid(deployment: Deployment) -> tuple[bool, str]:
    found = deployment.exec("find", "/", "-xdev", "-perm", "/6000", "-type", "f").stdout.split()
    return not found, ", ".join(found[:5]) if found else "find / -xdev -perm /6000: none"


@check("14", "/config/config.json readable, not writable by the runtime user")
def check_config_readable(deployment: Deployment) -> tuple[bool, str]:
    readable = deployment.exec("test", "-r", "/config/config.json").returncode == 0
    writable = deployment.exec("test", "-w", "/config/config.json").returncode == 0
    return readable and not writable, f"readable={readable} writable={writable}"


@check("15", "exec-form command, gunicorn is PID 1 (or under docker-init)")
def check_pid1(deployment: Deployment) -> tuple[bool, str]:
    config = deployment.service["Config"]
    command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
    shell_form = command[:2] in (["/bin/sh", "-c"], ["sh", "-c"])
    argv = deployment.pid1_argv()
    is_gunicorn = any(Path(part).name == "gunicorn" for part in argv[:2])
    return is_gunicorn and not shell_form, f"PID 1: {' '.join(argv)[:90]}"


@check("16", "healthcheck defined without curl or wget")
def check_healthcheck(deployment: Deployment) -> tuple[bool, str]:
    test = (deployment.service["Config"].get("Healthcheck") or {}).get("Test") or []
    defined = bool(test) and test[0] != "NONE"
    uses_client = any(tool in " ".join(test) for tool in ("curl", "wget"))
    return defined and not uses_client, " ".join(test)[:90] or "no healthcheck"


@check("17", "STOPSIGNAL SIGTERM, stop grace period > gunicorn graceful_timeout")
def check_stop_grace(deployment: Deployment) -> tuple[bool, str]:
    signal = deployment.service["Config"].get("StopSignal") or "SIGTERM"
    grace = deployment.service["Config"].get("StopTimeout")
    grace_seconds = 10 if grace is None else int(grace)  # the engine's default
    graceful = float(deployment.gunicorn()["graceful_timeout"])
    passed = signal in {"SIGTERM", "15"} and grace_seconds > graceful
    return passed, f"signal {signal}; grace {grace_seconds}s vs graceful_timeout {graceful:g}s"


@check("18a", "read-only root filesystem (a write probe fails)")
def check_read_only_root(deployment: Deployment) -> tuple[bool, str]:
    flag = bool(deployment.host.get("ReadonlyRootfs"))
    probe = deployment.exec("touch", "/.verify-write-probe")
    refused = "Read-only file system" in probe.stderr
    if probe.returncode == 0:
        deployment.exec("rm", "-f", "/.verify-write-probe")  # leave no trace in the container
    reason = probe.stderr.strip() or "touch /.verify-write-probe succeeded"
    return flag and refused, f"ReadonlyRootfs={flag}; {reason}"


def tmpfs_targets(deployment: Deployment) -> list[str]:
    """Every tmpfs mount point of the container, from either way compose declares them."""
    mounts = [m["Destination"] for m in deployment.service["Mounts"] if m.get("Type") == "tmpfs"]
    return sorted(set(mounts) | set(deployment.host.get("Tmpfs") or {}))


@check("18b", "tmpfs for /tmp")
def check_tmpfs(deployment: Deployment) -> tuple[bool, str]:
    targets = tmpfs_targets(deployment)
    return CONTAINER_TMP in targets, f"tmpfs: {', '.join(targets) or 'none'}"


def tree_status(deployment: Deployment, key: str) -> set[str]:
    """The distinct values of one /proc status field across the container's processes."""
    values = set()
    for pid in descendants(deployment.pid):
        try:
            values.add(read_host_status(pid)[key].strip())
        except (OSError, KeyError):
            continue  # the process ended while it was read
    return values


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
    declared = any(opt in {"no-new-privileges", "no-new-privileges:true"} for opt in options)
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


@check("21", "config bind-mounted read-only")
def check_config_mount(deployment: Deployment) -> tuple[bool, str]:
    mounts = [m for m in deployment.service["Mounts"] if m["Destination"].startswith("/config")]
    if not mounts:
        return False, "nothing mounted under /config"
    described = "; ".join(f"{m['Destination']} RW={m['RW']}" for m in mounts)
    return all(not m["RW"] for m in mounts), described


@check("22a", "published on 127.0.0.1 only")
def check_publishing(deployment: Deployment) -> tuple[bool, str]:
    bindings = deployment.service["NetworkSettings"].get("Ports") or {}
    published = [
        f"{binding['HostIp'] or '*'}:{binding['HostPort']}->{port}"
        for port, hosts in bindings.items()
        for binding in hosts or []
    ]
    loopback = all(entry.startswith(("127.0.0.1:", "::1:")) for entry in published)
    passed = bool(published) and loopback
    return passed, ", ".join(published) or "no published port"


@check("22b", "on a named network, not the default bridge or host")
def check_network(deployment: Deployment) -> tuple[bool, str]:
    networks = sorted(deployment.service["NetworkSettings"].get("Networks") or {})
    passed = bool(networks) and not set(networks) & {"bridge", "host", "none"}
    return passed, ", ".join(networks) or "no network"


def socket_mounts(container: dict[str, Any]) -> Iterator[str]:
    """Yield each mount of a container that carries a container-engine socket."""
    for mount in container.get("Mounts") or []:
        paths = (mount.get("Source") or "", mount.get("Destination") or "")
        if any(path.endswith(SOCKET_NAMES) for path in paths):
            yield f"{container['Name'].lstrip('/')}:{mount['Destination']}"


@check("23", "no Docker socket mounted in any container of the project")
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


@check("26", "gunicorn worker_tmp_dir=/dev/shm")
def check_worker_tmp_dir(deployment: Deployment) -> tuple[bool, str]:
    value = deployment.gunicorn().get("worker_tmp_dir", "(unknown)")
    return value == WORKER_TMP_DIR, f"worker_tmp_dir = {value}"


@check("27", "gunicorn control socket off")
def check_control_socket(deployment: Deployment) -> tuple[bool, str]:
    value = deployment.gunicorn().get("control_socket_disable", "(unknown)")
    return value == "True", f"control_socket_disable = {value}"


def evaluate(deployment: Deployment) -> list[Result]:
    """Run every check; a check that cannot gather its evidence fails with the reason."""
    results = []
    for item, title, function in CHECKS:
        try:
            passed, evidence = function(deployment)
        except (VerificationError, OSError, KeyError, ValueError) as error:
            passed, evidence = False, f"could not check: {error}"
        results.append(Result(item, title, passed, evidence))
    return results


def render(results: list[Result]) -> str:
    """Format the results as an aligned text table with a summary line."""
    rows = [("ID", "CHECK", "RESULT", "EVIDENCE")] + [
        (r.item, r.title, "PASS" if r.passed else "FAIL", r.evidence) for r in results
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)


def find_service(project: str, service: str) -> Deployment:
    """Gather the project's containers and pick the running one of the service."""
    containers = inspect_project(project)
    running = [
        c
        for c in containers
        if c["Config"]["Labels"].get("com.docker.compose.service") == service
        and c["State"]["Running"]
    ]
    if not running:
        raise VerificationError(
            f"no running container of service {service!r} in project {project!r}"
        )
    return Deployment(service=running[0], project=containers)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--project",
        default=os.environ.get("COMPOSE_PROJECT_NAME"),
        help="compose project name (default: what `docker compose` uses here)",
    )
    parser.add_argument("--service", default="calculator", help="compose service to check")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Print the report; 0 if every check passed, 1 if any failed, 2 if nothing to check."""
    arguments = parse_arguments(argv)
    try:
        project = arguments.project or default_project()
        deployment = find_service(project, arguments.service)
    except VerificationError as error:
        print(f"verify: {error}", file=sys.stderr)
        return 2
    results = evaluate(deployment)
    print(f"Deployment {project}/{arguments.service} ({deployment.cid[:12]})")
    print(render(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
