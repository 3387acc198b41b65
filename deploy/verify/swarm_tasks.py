"""The running tasks of a Swarm stack, and the checklist items whose evidence differs there.

Swarm keeps the stop grace period, the restart policy, configs and published ports
in the service spec, not in the container, so those items read the spec (and the
host's /proc where the kernel can confirm it). Swarm cannot set no-new-privileges
(moby issue 41371): item 19b checks what holds instead, from the host's /proc.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import container_root
from checklist import Entry, registrar
from container_root import mount_options
from deployment_facts import (
    Deployment,
    VerificationError,
    read_host_status,
    run,
    tree_status,
)

STACK_LABEL = "com.docker.stack.namespace"
SERVICE_LABEL = "com.docker.swarm.service.name"
CONFIG_PATH = "/config/config.json"
# The config's owner and mode inside a task: the service's user and group may read it.
CONFIG_OWNER = ("10001", "10001")
CONFIG_MODE = 0o440
NANOSECONDS = 1e9

SWARM_CHECKS: list[Entry] = []
check = registrar(SWARM_CHECKS)


@dataclass
class SwarmTask(Deployment):
    """One running task's container, with its service's spec and the stack's services."""

    spec: dict[str, Any] = field(default_factory=dict)
    stack_services: list[dict[str, Any]] = field(default_factory=list)

    @property
    def container_spec(self) -> dict[str, Any]:
        """The service's ContainerSpec: what Swarm asks of every task."""
        return dict(self.spec["Spec"]["TaskTemplate"]["ContainerSpec"])


def inspect_all(kind: str, ids: list[str]) -> list[dict[str, Any]]:
    """`docker KIND inspect` of every id (none: an empty list)."""
    if not ids:
        return []
    documents: list[dict[str, Any]] = json.loads(run("docker", kind, "inspect", *ids).stdout)
    return documents


def find_tasks(stack: str, service: str) -> list[SwarmTask]:
    """Every running container of the stack's service, each with the facts to check it."""
    services = run("docker", "stack", "services", "--quiet", stack, check=False).stdout.split()
    stack_services = inspect_all("service", services)
    full_name = f"{stack}_{service}"
    spec = next((s for s in stack_services if s["Spec"]["Name"] == full_name), None)
    if spec is None:
        raise VerificationError(f"no service {full_name!r} in Swarm stack {stack!r}")
    label = f"label={STACK_LABEL}={stack}"
    ids = run("docker", "ps", "--all", "--quiet", "--no-trunc", "--filter", label).stdout.split()
    containers = inspect_all("container", ids)
    running = [
        c
        for c in containers
        if c["Config"]["Labels"].get(SERVICE_LABEL) == full_name and c["State"]["Running"]
    ]
    if not running:
        raise VerificationError(f"no running task of {full_name!r}")
    return [
        SwarmTask(service=c, project=containers, spec=spec, stack_services=stack_services)
        for c in running
    ]


def for_swarm(checks: list[Entry]) -> list[Entry]:
    """The checklist with the Swarm form of every item that has one."""
    replaced = {item: entry for entry in SWARM_CHECKS for item in [entry[0]]}
    return [replaced.get(entry[0], entry) for entry in checks]


def as_task(deployment: Deployment) -> SwarmTask:
    """The deployment as a Swarm task (the Swarm checks run on nothing else)."""
    if not isinstance(deployment, SwarmTask):
        raise VerificationError("a Swarm check ran on a container that is not a Swarm task")
    return deployment


@check("12", "code and environment not owned by or writable for the runtime user")
def check_code_not_writable(deployment: Deployment) -> tuple[bool, str]:
    uid, gid = (int(read_host_status(deployment.pid)[key].split()[0]) for key in ("Uid", "Gid"))
    found = container_root.owned_or_writable(deployment.pid, uid, gid)
    # The swarm config is the user's by design (uid/gid 10001), on a read-only mount:
    # owning it gives no way to change it. Item 21 checks both.
    read_only_config = "ro" in mount_options(deployment.pid, CONFIG_PATH)
    found = [path for path in found if not (path == CONFIG_PATH and read_only_config)]
    if found:
        return False, f"{len(found)} writable or runtime-owned paths, e.g. {', '.join(found[:3])}"
    return True, (
        f"no path on the root filesystem is owned by {uid}:{gid} or writable by others, "
        f"but the read-only swarm config {CONFIG_PATH}"
    )


@check("17", "STOPSIGNAL SIGTERM, stop grace period > gunicorn graceful_timeout")
def check_stop_grace(deployment: Deployment) -> tuple[bool, str]:
    task = as_task(deployment)
    signal = task.container_spec.get("StopSignal") or task.service["Config"].get("StopSignal")
    signal = signal or "SIGTERM"
    grace = int(task.container_spec.get("StopGracePeriod") or 10 * NANOSECONDS) / NANOSECONDS
    graceful = float(task.gunicorn()["graceful_timeout"])
    passed = signal in {"SIGTERM", "15"} and grace > graceful
    return passed, f"signal {signal}; spec grace {grace:g}s vs graceful_timeout {graceful:g}s"


@check("19b", "no-new-privileges: not expressible in Swarm; CapBnd 0 and no setuid file instead")
def check_no_privilege_gain(deployment: Deployment) -> tuple[bool, str]:
    flags = tree_status(deployment, "NoNewPrivs")
    bounding = tree_status(deployment, "CapBnd")
    setuid = container_root.setuid_files(deployment.pid)
    # With an empty bounding set no process can gain a capability, not even by
    # executing a setuid-root file, and there is no such file to execute.
    passed = bounding == {"0000000000000000"} and not setuid
    return passed, (
        f"host NoNewPrivs {sorted(flags)} (Swarm cannot set it); host CapBnd {sorted(bounding)}; "
        f"setuid/setgid files: {', '.join(setuid[:3]) or 'none'}"
    )


@check("20b", "restart policy (the service's)")
def check_restart(deployment: Deployment) -> tuple[bool, str]:
    policy = as_task(deployment).spec["Spec"]["TaskTemplate"].get("RestartPolicy") or {}
    condition = policy.get("Condition", "any")  # Swarm's default
    return condition in {"any", "on-failure"}, f"condition {condition}, {json.dumps(policy)}"


@check("21", "config a swarm config: 10001:10001 0440, mounted read-only")
def check_config_mount(deployment: Deployment) -> tuple[bool, str]:
    task = as_task(deployment)
    configs = [
        c for c in task.container_spec.get("Configs") or [] if c["File"]["Name"] == CONFIG_PATH
    ]
    if not configs:
        return False, f"no swarm config at {CONFIG_PATH}"
    file = configs[0]["File"]
    owner, mode = (file["UID"], file["GID"]), int(file["Mode"])
    options = mount_options(deployment.pid, CONFIG_PATH)
    passed = owner == CONFIG_OWNER and mode == CONFIG_MODE and "ro" in options
    return passed, (
        f"{configs[0]['ConfigName']} uid:gid {':'.join(owner)} mode {mode:04o}; "
        f"kernel mount {','.join(options) or 'none'}"
    )


def published(service: dict[str, Any]) -> list[str]:
    """The service's published ports as PORT/MODE."""
    ports = (service["Spec"].get("EndpointSpec") or {}).get("Ports") or []
    return [f"{p['PublishedPort']}/{p.get('PublishMode', 'ingress')}" for p in ports]


@check("22a", "not published; the stack publishes one service (Swarm binds every address)")
def check_publishing(deployment: Deployment) -> tuple[bool, str]:
    task = as_task(deployment)
    publishing = {s["Spec"]["Name"]: published(s) for s in task.stack_services if published(s)}
    own = published(task.spec)
    passed = not own and len(publishing) == 1
    listed = "; ".join(f"{name} {', '.join(ports)}" for name, ports in publishing.items())
    return passed, f"this service: {', '.join(own) or 'none'}; published: {listed or 'none'}"
