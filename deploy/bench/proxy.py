"""What the front proxy costs: the calculator reached directly beside the same replica
reached through the proxy, in one run.

One compose project (calculator-bench-proxy) with one replica, published directly as well
as behind the proxy, so both paths end in the same gunicorn. Rounds alternate between the
two paths under two loads of wrk (2 threads, 32 connections, 127.0.0.1 only):

- saturated: each connection sends its next request as soon as it has the answer, so the
  machine runs flat out; this gives throughput and CPU per request, read from each
  container's cgroup before and after the round;
- paced: each connection waits PACE_MS between an answer and its next request (about 320
  requests/s in all), so there is CPU to spare and the p99 shows the latency the proxy's
  hop adds rather than queueing for CPU. The p99 budget (under 2 ms added) is judged here.

Printed: requests/s, p99 and CPU per request for each path and load, the proxy's added p99
and CPU per request, and its memory after the load. Everything it starts is removed at the
end.

Usage: python deploy/bench/proxy.py   (after `make build`; `make bench` runs it)
Settings: BENCH_PROXY_SECONDS (per round, 10), BENCH_PROXY_ROUNDS (5).
Standard library only; the cgroup files are read as containers.py reads them.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from statistics import median

from containers import MIB, Cgroup, ensure_wrk

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "calculator-bench-proxy"
LOOPBACK = "127.0.0.1"
PATH = "/add?a=1&b=2"
CONNECTIONS = 32
P99_BUDGET_MS = 2.0
SECONDS = int(os.environ.get("BENCH_PROXY_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_PROXY_ROUNDS", "5"))
PACE_MS = (60, 140)
"""Paced load: each connection waits a uniformly drawn number of ms in this range."""
PACING_SCRIPT = f"function delay()\n  return math.random({PACE_MS[0]}, {PACE_MS[1]})\nend\n"
"""wrk calls delay() after every answer; its latency counts from the request's write."""
PUBLISH_THE_REPLICA = ROOT / "deploy/proxy/compose.publish-replica.yaml"
WRK = cache(ensure_wrk)
"""wrk's path, looked up (or installed) once, at the first round."""
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Round:
    """One wrk run on one path, with the CPU each container used meanwhile."""

    requests: int
    seconds: float
    p99_ms: float
    cpu_usec: dict[str, int]

    @property
    def throughput(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds

    def cpu_us_per_request(self, *containers: str) -> float:
        """CPU time of the given containers per request, in microseconds."""
        return sum(self.cpu_usec[c] for c in containers) / max(self.requests, 1)


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


def wrk(url: str, seconds: int, script: Path | None = None) -> tuple[int, float, float]:
    """Load `url` with wrk (paced by `script` if given); return requests, seconds and p99 ms."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"refusing to load {url}: 127.0.0.1 only")
    pacing = ("--script", str(script)) if script else ()
    output = run(
        WRK(), "--threads", "2", "--connections", str(CONNECTIONS),
        "--duration", f"{seconds}s", "--timeout", "5s", "--latency", *pacing, url,
        timeout=seconds + 60,
    )  # fmt: skip
    served = re.search(r"(\d+) requests in ([\d.]+)(\w+),", output)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)$", output, re.MULTILINE)
    if served is None or p99 is None:
        raise RuntimeError(f"could not read wrk's summary:\n{output}")
    taken = float(served[2]) * (60 if served[3] == "m" else 1)
    return int(served[1]), taken, float(p99[1]) * UNITS_MS[p99[2]]


def measure(url: str, cgroups: dict[str, Cgroup], seconds: int, script: Path | None) -> Round:
    """One round: wrk on `url`, the CPU of every container before and after."""
    before = {name: cgroup.cpu_usec() for name, cgroup in cgroups.items()}
    requests, taken, p99 = wrk(url, seconds, script)
    used = {name: cgroup.cpu_usec() - before[name] for name, cgroup in cgroups.items()}
    return Round(requests, taken, p99, used)


@dataclass(frozen=True)
class Load:
    """The rounds of one load shape, on both paths."""

    direct: list[Round]
    proxied: list[Round]

    def added_p99_ms(self) -> float:
        """The proxy's p99 over the direct path's (medians of the rounds)."""
        return median([r.p99_ms for r in self.proxied]) - median([r.p99_ms for r in self.direct])


def report(saturated: Load, paced: Load, memory: dict[str, int]) -> str:
    """The side-by-side tables and the proxy's cost."""
    lines = [
        f"GET {PATH}, one replica, wrk 2 threads / {CONNECTIONS} connections, "
        f"{ROUNDS} alternating round(s) of {SECONDS} s per path and load; medians",
    ]
    lines.append(
        f"{'saturated (next request on each answer)':48}{'requests/s':>12}{'p99 ms':>9}"
        f"{'CPU us/request':>16}"
    )
    for name, rounds, containers in (
        ("  calculator directly", saturated.direct, ["replica"]),
        ("  through the proxy", saturated.proxied, ["replica", "proxy"]),
    ):
        lines.append(
            f"{name:48}{median([r.throughput for r in rounds]):>12.0f}"
            f"{median([r.p99_ms for r in rounds]):>9.2f}"
            f"{median([r.cpu_us_per_request(*containers) for r in rounds]):>16.1f}"
        )
    pace = f"paced (a pause of {PACE_MS[0]}-{PACE_MS[1]} ms after each answer)"
    lines.append(f"{pace:48}{'requests/s':>12}{'p99 ms':>9}")
    for name, rounds in (
        ("  calculator directly", paced.direct),
        ("  through the proxy", paced.proxied),
    ):
        lines.append(
            f"{name:48}{median([r.throughput for r in rounds]):>12.0f}"
            f"{median([r.p99_ms for r in rounds]):>9.2f}"
        )
    added_cpu = median(
        [r.cpu_us_per_request("replica", "proxy") for r in saturated.proxied]
    ) - median([r.cpu_us_per_request("replica") for r in saturated.direct])
    own_cpu = median([r.cpu_us_per_request("proxy") for r in saturated.proxied])
    verdict = "within budget" if paced.added_p99_ms() < P99_BUDGET_MS else "OVER BUDGET"
    lines += [
        f"proxy adds p99 {paced.added_p99_ms():+.2f} ms paced (budget < {P99_BUDGET_MS:g} ms: "
        f"{verdict}), {saturated.added_p99_ms():+.2f} ms saturated",
        f"proxy adds CPU {added_cpu:+.1f} us/request saturated "
        f"(its own cgroup: {own_cpu:.1f} us/request)",
        f"proxy memory after the load: {memory['total'] / MIB:.1f} MiB charged to its cgroup, "
        f"{memory['anon'] / MIB:.1f} MiB of it anonymous",
    ]
    return "\n".join(lines)


def main() -> int:
    """Bring the bench project up, measure both paths under both loads, print, tear down."""
    proxy_port, replica_port = free_port(), free_port()
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": PROJECT,
        "CALCULATOR_PORT": str(proxy_port),
        "CALCULATOR_REPLICAS": "1",
        "CALCULATOR_REPLICA_PORT": str(replica_port),
    }
    compose = ("docker", "compose", "-f", "compose.yaml", "-f", str(PUBLISH_THE_REPLICA))
    try:
        run(*compose, "up", "--detach", "--wait", "--no-build", "proxy", "calculator", env=env)
        cgroups = {
            name: Cgroup(int(run("docker", "inspect", "-f", "{{.State.Pid}}", container)))
            for name, service in (("replica", "calculator"), ("proxy", "proxy"))
            for container in run(*compose, "ps", "--quiet", service, env=env).split()[:1]
        }
        direct_url = f"http://{LOOPBACK}:{replica_port}{PATH}"
        proxied_url = f"http://{LOOPBACK}:{proxy_port}{PATH}"
        for url in (direct_url, proxied_url):
            wrk(url, 2)  # warm-up: workers forked, code paths hot
        saturated, paced = Load([], []), Load([], [])
        with tempfile.TemporaryDirectory() as scratch:
            pacing = Path(scratch, "pace.lua")
            pacing.write_text(PACING_SCRIPT, encoding="utf-8")
            for _ in range(ROUNDS):
                for load, script in ((saturated, None), (paced, pacing)):
                    load.direct.append(measure(direct_url, cgroups, SECONDS, script))
                    load.proxied.append(measure(proxied_url, cgroups, SECONDS, script))
        print(report(saturated, paced, cgroups["proxy"].memory()))
    finally:
        subprocess.run(  # noqa: S603 - fixed argv
            [*compose, "down", "--volumes", "--remove-orphans", "--timeout", "30"],
            capture_output=True, timeout=120, check=False, env=env, cwd=ROOT,
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
