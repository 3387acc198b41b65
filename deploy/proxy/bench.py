"""What the front proxy costs: the calculator reached directly beside the same replica
reached through the proxy, in one run.

One compose project (calculator-bench-proxy) with one replica, published directly as well
as behind the proxy, so both paths end in the same gunicorn. Rounds alternate between the
two paths (wrk, 2 threads, 32 connections, 127.0.0.1 only); each round reads the CPU time
the kernel charged to each container's cgroup before and after. Printed: requests/s, p99
latency and CPU per request for each path, the proxy's added p99 (budget: under 2 ms) and
its added CPU per request, and the proxy's memory after the load. Everything it starts is
removed at the end.

Usage: python deploy/proxy/bench.py   (after `make build`; `make bench` runs it)
Settings: BENCH_PROXY_SECONDS (per round, 10), BENCH_PROXY_ROUNDS (2).
Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "calculator-bench-proxy"
LOOPBACK = "127.0.0.1"
PATH = "/add?a=1&b=2"
CONNECTIONS = 32
P99_BUDGET_MS = 2.0
SECONDS = int(os.environ.get("BENCH_PROXY_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_PROXY_ROUNDS", "2"))
PUBLISH_THE_REPLICA = ROOT / "deploy/proxy/compose.publish-replica.yaml"
# cgroup v2 (cpu.stat, microseconds) or v1 (cpuacct.usage, nanoseconds), either driver.
CPU_FILES = (
    ("/sys/fs/cgroup/system.slice/docker-{id}.scope/cpu.stat", "usage_usec", 1_000),
    ("/sys/fs/cgroup/docker/{id}/cpu.stat", "usage_usec", 1_000),
    ("/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage", "", 1),
    ("/sys/fs/cgroup/cpuacct/system.slice/docker-{id}.scope/cpuacct.usage", "", 1),
)
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Round:
    """One wrk run on one path, with the CPU each container used meanwhile."""

    requests: int
    seconds: float
    p99_ms: float
    cpu_ns: dict[str, int]

    @property
    def throughput(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds

    def cpu_us_per_request(self, *containers: str) -> float:
        """CPU time of the given containers per request, in microseconds."""
        return sum(self.cpu_ns[c] for c in containers) / 1000 / max(self.requests, 1)


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def run(*command: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run a command, fail loudly, return its stdout."""
    done = subprocess.run(  # noqa: S603 - fixed argv, no shell
        command, capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=ROOT
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def cpu_ns(container: str) -> int:
    """CPU time charged to the container's cgroup so far, in nanoseconds."""
    for pattern, key, scale in CPU_FILES:
        path = Path(pattern.format(id=container))
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            if not key:
                return int(text.strip()) * scale
            fields = dict(line.split() for line in text.splitlines())
            return int(fields[key]) * scale
    raise RuntimeError(f"no cgroup CPU accounting found for container {container[:12]}")


def wrk(url: str, seconds: int) -> tuple[int, float, float]:
    """Load `url` with wrk; return requests served, seconds taken and p99 in ms."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"refusing to load {url}: 127.0.0.1 only")
    output = run(
        "wrk", "--threads", "2", "--connections", str(CONNECTIONS), "--duration", f"{seconds}s",
        "--timeout", "5s", "--latency", url, timeout=seconds + 60,
    )  # fmt: skip
    served = re.search(r"(\d+) requests in ([\d.]+)(\w+),", output)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)$", output, re.MULTILINE)
    if served is None or p99 is None:
        raise RuntimeError(f"could not read wrk's summary:\n{output}")
    taken = float(served[2]) * (60 if served[3] == "m" else 1)
    return int(served[1]), taken, float(p99[1]) * UNITS_MS[p99[2]]


def measure(url: str, containers: list[str], seconds: int) -> Round:
    """One round: wrk on `url`, CPU of every container before and after."""
    before = {c: cpu_ns(c) for c in containers}
    requests, taken, p99 = wrk(url, seconds)
    used = {c: cpu_ns(c) - before[c] for c in containers}
    return Round(requests, taken, p99, used)


def memory_mib(container: str) -> float:
    """The container's memory as `docker stats` reports it (usage less page cache), in MiB."""
    shown = run("docker", "stats", "--no-stream", "--format", "{{json .}}", container)
    usage = json.loads(shown)["MemUsage"].split("/")[0].strip()
    number, unit = re.fullmatch(r"([\d.]+)\s*([KMG]i?B|B)", usage).groups()  # type: ignore[union-attr]
    factor = {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024}.get(unit, 1)
    return float(number) * factor


def median(values: list[float]) -> float:
    """The middle value (mean of the two middle ones for an even count)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def report(
    direct: list[Round], proxied: list[Round], replica: str, proxy: str, memory: float
) -> str:
    """The side-by-side table and the proxy's cost."""
    rows = [
        ("calculator directly", direct, [replica]),
        ("through the proxy", proxied, [replica, proxy]),
    ]
    lines = [
        f"GET {PATH}, wrk 2 threads / {CONNECTIONS} connections / {SECONDS} s, "
        f"{ROUNDS} alternating round(s), one replica; medians",
        f"{'':24}{'requests/s':>12}{'p99 ms':>9}{'CPU us/request':>16}",
    ]
    for name, rounds, containers in rows:
        lines.append(
            f"{name:24}{median([r.throughput for r in rounds]):>12.0f}"
            f"{median([r.p99_ms for r in rounds]):>9.2f}"
            f"{median([r.cpu_us_per_request(*containers) for r in rounds]):>16.1f}"
        )
    added_p99 = median([r.p99_ms for r in proxied]) - median([r.p99_ms for r in direct])
    added_cpu = median([r.cpu_us_per_request(replica, proxy) for r in proxied]) - median(
        [r.cpu_us_per_request(replica) for r in direct]
    )
    own_cpu = median([r.cpu_us_per_request(proxy) for r in proxied])
    verdict = "within budget" if added_p99 < P99_BUDGET_MS else "OVER BUDGET"
    lines += [
        f"proxy adds p99 {added_p99:+.2f} ms (budget < {P99_BUDGET_MS:g} ms: {verdict})",
        f"proxy adds CPU {added_cpu:+.1f} us/request (its own cgroup: {own_cpu:.1f} us/request)",
        f"proxy memory after the load: {memory:.1f} MiB",
    ]
    return "\n".join(lines)


def main() -> int:
    """Bring the bench project up, measure both paths, print, always tear down."""
    proxy_port, replica_port = free_port(), free_port()
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": PROJECT,
        "CALCULATOR_PORT": str(proxy_port),
        "CALCULATOR_REPLICAS": "1",
        "CALCULATOR_REPLICA_PORT": str(replica_port),
        "CALCULATOR_HEALTH_INTERVAL": "1s",
    }
    compose = ("docker", "compose", "-f", "compose.yaml", "-f", str(PUBLISH_THE_REPLICA))
    try:
        run(*compose, "up", "--detach", "--wait", "--no-build", "proxy", "calculator", env=env)
        replica = run(*compose, "ps", "--quiet", "calculator", env=env).split()[0]
        proxy = run(*compose, "ps", "--quiet", "proxy", env=env).split()[0]
        replica, proxy = (
            run("docker", "inspect", "-f", "{{.Id}}", c).strip() for c in (replica, proxy)
        )
        direct_url = f"http://{LOOPBACK}:{replica_port}{PATH}"
        proxied_url = f"http://{LOOPBACK}:{proxy_port}{PATH}"
        for url in (direct_url, proxied_url):
            wrk(url, 2)  # warm-up: workers forked, code paths hot
        direct, proxied = [], []
        for _ in range(ROUNDS):
            direct.append(measure(direct_url, [replica, proxy], SECONDS))
            proxied.append(measure(proxied_url, [replica, proxy], SECONDS))
        memory = memory_mib(proxy)
        print(report(direct, proxied, replica, proxy, memory))
    finally:
        subprocess.run(  # noqa: S603 - fixed argv
            [*compose, "down", "--volumes", "--remove-orphans", "--timeout", "30"],
            capture_output=True, timeout=120, check=False, env=env, cwd=ROOT,
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
