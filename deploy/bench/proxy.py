"""What the front proxy costs: the calculator reached directly beside the same replica
reached through the proxy, in one run.

One compose project (calculator-bench-proxy) with one replica, published directly as well
as behind the proxy, so both paths end in the same gunicorn. Rounds alternate between the
two paths under three loads of wrk (2 threads, 32 connections, 127.0.0.1 only):

- saturated: each connection sends its next request as soon as it has the answer, so the
  machine runs flat out; this gives each path's greatest throughput. On a small machine
  wrk, the proxy and the replica share the CPUs, so the proxy's own CPU comes out of the
  replica's share;
- steady: each connection waits STEADY_MS between an answer and its next request, a rate
  (about 1,400 requests/s here) that both paths carry, so CPU per request is compared at
  the same rate. A process's CPU per request falls as its load rises (more work per
  wake-up), so comparing the paths at their saturated rates would charge the proxy for
  the replica's lower load;
- paced: each connection waits PACE_MS (about 320 requests/s in all), so there is CPU to
  spare and the p99 shows the latency the proxy's hop adds rather than queueing for CPU.

CPU per request is read from each container's cgroup before and after each round. Printed:
requests/s, p99 and CPU per request for each path and load, and the proxy's figures
against its targets: throughput at least 0.9x, CPU per request at most 1.2x, added p99
under 1 ms; then its memory after the load. Everything it starts is removed at the end.

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
from typing import NamedTuple

from containers import MIB, Cgroup, ensure_wrk

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "calculator-bench-proxy"
LOOPBACK = "127.0.0.1"
PATH = "/add?a=1&b=2"
CONNECTIONS = 32
THROUGHPUT_TARGET = 0.9
"""Saturated requests/s through the proxy over directly: at least this."""
CPU_TARGET = 1.2
"""CPU per request (proxy and replica) through the proxy over the replica's directly: at most."""
P99_BUDGET_MS = 1.0
"""The proxy's added p99 at the paced load: under this."""
SECONDS = int(os.environ.get("BENCH_PROXY_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_PROXY_ROUNDS", "5"))
PACE_MS = (60, 140)
"""Paced load: each connection waits a uniformly drawn number of ms in this range."""
STEADY_MS = 20
"""Steady load: each connection waits this many ms after each answer."""
PACING_SCRIPTS = {
    "paced": f"function delay()\n  return math.random({PACE_MS[0]}, {PACE_MS[1]})\nend\n",
    "steady": f"function delay()\n  return {STEADY_MS}\nend\n",
}
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


class Medians(NamedTuple):
    """The medians of one path's rounds under one load."""

    throughput: float
    p99_ms: float
    cpu_us: float
    """CPU per request of the path's containers."""


def medians(rounds: list[Round], *containers: str) -> Medians:
    """Requests/s, p99 ms and CPU us per request of the given containers: round medians."""
    return Medians(
        median([r.throughput for r in rounds]),
        median([r.p99_ms for r in rounds]),
        median([r.cpu_us_per_request(*containers) for r in rounds]),
    )


@dataclass(frozen=True)
class Load:
    """The rounds of one load shape, on both paths."""

    direct: list[Round]
    proxied: list[Round]

    def paths(self) -> tuple[Medians, Medians]:
        """The replica's medians directly, then the proxy's and the replica's through it."""
        return medians(self.direct, "replica"), medians(self.proxied, "replica", "proxy")

    def ratios(self) -> Medians:
        """Each median through the proxy over the same median directly."""
        direct, proxied = self.paths()
        return Medians(*(p / d for p, d in zip(proxied, direct, strict=True)))

    def added_p99_ms(self) -> float:
        """The proxy's p99 over the direct path's (medians of the rounds)."""
        direct, proxied = self.paths()
        return proxied.p99_ms - direct.p99_ms


def report(loads: dict[str, Load], memory: dict[str, int]) -> str:
    """The side-by-side table and the proxy's figures against its targets."""
    shapes = {
        "saturated": "saturated (next request on each answer)",
        "steady": f"steady (a pause of {STEADY_MS} ms after each answer)",
        "paced": f"paced (a pause of {PACE_MS[0]}-{PACE_MS[1]} ms after each answer)",
    }
    lines = [
        f"GET {PATH}, one replica, wrk 2 threads / {CONNECTIONS} connections, "
        f"{ROUNDS} alternating round(s) of {SECONDS} s per path and load; medians",
        f"{'':44}{'requests/s':>12}{'p99 ms':>9}{'CPU us/request':>16}{'of it proxy':>13}",
    ]
    for name, load in loads.items():
        lines.append(shapes[name])
        direct, proxied = load.paths()
        own = medians(load.proxied, "proxy").cpu_us
        lines.append(
            f"{'  calculator directly':44}{direct.throughput:>12.0f}{direct.p99_ms:>9.2f}"
            f"{direct.cpu_us:>16.1f}"
        )
        lines.append(
            f"{'  through the proxy':44}{proxied.throughput:>12.0f}{proxied.p99_ms:>9.2f}"
            f"{proxied.cpu_us:>16.1f}{own:>13.1f}"
        )

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    throughput = loads["saturated"].ratios().throughput
    cpu = loads["steady"].ratios().cpu_us
    rates = loads["steady"].ratios().throughput
    added = loads["paced"].added_p99_ms()
    lines += [
        f"proxy: throughput {throughput:.2f}x saturated (target >= {THROUGHPUT_TARGET}x: "
        f"{verdict(throughput >= THROUGHPUT_TARGET)})",
        f"proxy: CPU per request {cpu:.2f}x steady (target <= {CPU_TARGET}x: "
        f"{verdict(cpu <= CPU_TARGET)}); {loads['saturated'].ratios().cpu_us:.2f}x saturated, "
        f"{loads['paced'].ratios().cpu_us:.2f}x paced",
        f"proxy: p99 {added:+.2f} ms paced (target < {P99_BUDGET_MS:g} ms: "
        f"{verdict(added < P99_BUDGET_MS)}), {loads['saturated'].added_p99_ms():+.2f} ms "
        f"saturated",
        f"proxy memory after the load: {memory['total'] / MIB:.1f} MiB charged to its cgroup, "
        f"{memory['anon'] / MIB:.1f} MiB of it anonymous",
    ]
    if abs(rates - 1) > 0.05:
        lines.append(
            f"note: the steady load ran at {rates:.2f}x the direct rate through the proxy, "
            "not the same rate: its CPU comparison is off by the difference"
        )
    return "\n".join(lines)


def main() -> int:
    """Bring the bench project up, measure both paths under every load, print, tear down."""
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
        loads = {name: Load([], []) for name in ("saturated", "steady", "paced")}
        with tempfile.TemporaryDirectory() as scratch:
            scripts: dict[str, Path | None] = {"saturated": None}
            for name, text in PACING_SCRIPTS.items():
                script = scripts[name] = Path(scratch, f"{name}.lua")
                script.write_text(text, encoding="utf-8")
            for _ in range(ROUNDS):
                for name, load in loads.items():
                    load.direct.append(measure(direct_url, cgroups, SECONDS, scripts[name]))
                    load.proxied.append(measure(proxied_url, cgroups, SECONDS, scripts[name]))
        print(report(loads, cgroups["proxy"].memory()))
    finally:
        subprocess.run(  # noqa: S603 - fixed argv
            [*compose, "down", "--volumes", "--remove-orphans", "--timeout", "30"],
            capture_output=True, timeout=120, check=False, env=env, cwd=ROOT,
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
