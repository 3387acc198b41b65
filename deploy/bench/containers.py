"""Container-level cost of the calculator image beside a bare Flask baseline image.

Both images run with the same worker count (4) on a bridge network of their
own, each loaded on its container IP (no docker-proxy in the path) by wrk
(2 threads, 32 connections, GET /add?a=1&b=2, fixed duration). Printed per
contender, with the baseline beside it and the ratio:

- CPU per request: the container cgroup's CPU time across the load run
  (cgroup v2 ``cpu.stat`` ``usage_usec``, or v1 ``cpuacct.usage``) divided by
  the requests wrk completed; the contenders alternate over the rounds, so load
  from anything else on the machine weighs on all alike. Per-round figures,
  then medians; non-2xx answers and socket errors are reported.
- Memory after load: the cgroup's charge (v2 ``memory.current``, v1
  ``memory.usage_in_bytes``) and its anon / file / shmem parts.
- Start to first 200: ``docker run`` of a fresh container until ``GET /add``
  answers 200, median over several containers.

The calculator runs as compose.yaml runs it (its hardening, limits, config
mount and environment are read from ``docker compose config``) except that the
health probe is off, as in the baseline: each probe is a Python process whose
CPU would land in the same cgroup; and that it writes its own access log, as a
service reached directly does (behind the proxy, compose turns it off).
Variants of it (other environment, command or mounts) join the same rounds
with ``--variant``.

Everything created (network, containers) is removed at the end. Traffic goes
only to the containers' IPs on that bridge network, bounded in time.

Usage: python deploy/bench/containers.py --baseline-image IMAGE [--image IMAGE]
    [--variant 'LABEL=DOCKER-RUN-OPTIONS [-- COMMAND...]'] ...
Extra arguments are also read from BENCH_ARGS (split like a shell would).
"""

import argparse
import http.client
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROBE_PATH = "/add?a=1&b=2"
PORT = 8000
WORKERS = 4
WRK_THREADS = 2
WRK_CONNECTIONS = 32
WARM_UP_SECONDS = 1
START_DEADLINE_SECONDS = 30.0
MIB = 2**20


@dataclass(frozen=True)
class Contender:
    """One image run one way."""

    label: str
    image: str
    flags: tuple[str, ...] = ()
    command: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadRound:
    """What one load run of one contender showed."""

    requests: int
    cpu_usec: int
    seconds: float
    non_2xx: int
    socket_errors: int
    memory: dict[str, int]

    @property
    def cpu_per_request(self) -> float:
        """Container CPU microseconds per completed request."""
        return self.cpu_usec / self.requests if self.requests else float("nan")


@dataclass
class Figures:
    """Every measurement of one contender."""

    rounds: list[LoadRound] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)


def run(command: Sequence[str], *, check: bool = True) -> str:
    """Run a command from a fixed argument list and return its stdout."""
    result = subprocess.run(command, check=False, capture_output=True, text=True)  # noqa: S603
    if check and result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{result.stderr.strip()}")
    return result.stdout.strip()


def ensure_wrk() -> str:
    """Return the wrk executable, installing Debian's package if it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    apt_get = shutil.which("apt-get") or sys.exit("wrk is missing and apt-get is not available")
    for command in (["update", "-qq"], ["install", "-y", "-qq", "--no-install-recommends", "wrk"]):
        subprocess.run([apt_get, *command], check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    return shutil.which("wrk") or sys.exit("wrk is still missing after apt-get install")


def compose_flags(key: str, value: Any) -> list[str]:
    """docker run flags for one key of a compose service; [] for keys the bench ignores.

    Ignored on purpose: build, image, ports (the bench uses the bridge IP),
    networks (its own), healthcheck (off, see above), restart, stop_grace_period,
    command and entrypoint (the image's), environment and volumes (see deployed_flags).
    """
    match key:
        case "read_only" | "init" | "privileged" if value:
            return [f"--{key.replace('_', '-')}"]
        case "tmpfs" | "cap_drop" | "cap_add" | "security_opt":
            values = [value] if isinstance(value, str) else value
            return [f"--{key.replace('_', '-')}={item}" for item in values]
        case "mem_limit" | "memswap_limit" | "cpus" | "pids_limit" | "user" | "shm_size":
            flag = {"mem_limit": "memory", "memswap_limit": "memory-swap"}.get(key, key)
            return [f"--{flag.replace('_', '-')}={value}"]
        case "logging":
            options = value.get("options") or {}
            return [f"--log-driver={value['driver']}"] + [
                f"--log-opt={name}={option}" for name, option in options.items()
            ]
    return []


def deployed_flags() -> tuple[str, ...]:
    """docker run flags equivalent to compose.yaml's calculator service."""
    command = ("docker", "compose", "--project-directory", str(ROOT), "config", "--format", "json")
    config = json.loads(run(command))["services"]["calculator"]
    flags = [flag for key, value in config.items() for flag in compose_flags(key, value)]
    for volume in config.get("volumes", []):
        if volume["type"] != "bind":
            raise ValueError(f"compose volume {volume} is not a bind mount: teach the bench")
        read_only = ",readonly" if volume.get("read_only") else ""
        flags.append(
            f"--mount=type=bind,source={volume['source']},target={volume['target']}{read_only}"
        )
    # compose passes only the variables that are set; so does the bench.
    flags += [
        f"--env={name}={value}"
        for name, value in config.get("environment", {}).items()
        if value is not None and name not in ("WEB_CONCURRENCY", "ACCESS_LOG")
    ]
    # Measured on its own, the service keeps every feature on, its access record of each
    # request included (behind the proxy, compose leaves that record to the proxy).
    flags.append("--env=ACCESS_LOG=on")
    return tuple(flags)


def parse_variant(text: str, image: str, base_flags: tuple[str, ...]) -> Contender:
    """``LABEL=DOCKER-RUN-OPTIONS [-- COMMAND...]``: the calculator with more options."""
    label, separator, rest = text.partition("=")
    if not separator or not label:
        raise argparse.ArgumentTypeError(f"--variant {text!r}: expected LABEL=OPTIONS")
    words = shlex.split(rest)
    options, command = (
        (words[: words.index("--")], words[words.index("--") + 1 :])
        if ("--" in words)
        else (words, [])
    )
    return Contender(label, image, (*base_flags, *options), tuple(command))


class Cgroup:
    """The cgroup files of one running container, for either cgroup version and driver."""

    def __init__(self, pid: int) -> None:
        mounts = self._mounts()
        self.cpu_file: Path | None = None
        self.memory_dir: Path | None = None
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            relative = path.lstrip("/")
            if controllers == "" and "cgroup2" in mounts:
                unified = Path(mounts["cgroup2"]) / relative
                self.cpu_file = unified / "cpu.stat"
                if (unified / "memory.current").exists():
                    self.memory_dir = unified
            elif "cpuacct" in controllers.split(",") and self.cpu_file is None:
                self.cpu_file = Path(mounts["cpuacct"]) / relative / "cpuacct.usage"
            elif controllers == "memory" and self.memory_dir is None:
                self.memory_dir = Path(mounts["memory"]) / relative
        if self.cpu_file is None or self.memory_dir is None:
            raise RuntimeError(f"cannot find the CPU and memory cgroup files of process {pid}")

    @staticmethod
    def _mounts() -> dict[str, str]:
        """Mount point of the cgroup2 tree ("cgroup2") and of each v1 controller."""
        mounts: dict[str, str] = {}
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            before, _, after = line.partition(" - ")
            fstype, _, super_options = after.split(" ", 2)
            mount_point = before.split(" ")[4]
            if fstype == "cgroup2":
                mounts.setdefault("cgroup2", mount_point)
            elif fstype == "cgroup":
                for option in super_options.split(","):
                    mounts.setdefault(option, mount_point)
        return mounts

    def cpu_usec(self) -> int:
        """CPU time the container's processes used so far, in microseconds."""
        assert self.cpu_file is not None  # noqa: S101 - set in __init__
        text = self.cpu_file.read_text()
        if self.cpu_file.name == "cpuacct.usage":
            return int(text) // 1000
        return int(re.search(r"^usage_usec (\d+)$", text, re.MULTILINE)[0].split()[1])  # type: ignore[index]

    def memory(self) -> dict[str, int]:
        """Charged bytes in total and as anon / file / shmem, named as cgroup v2 names them."""
        assert self.memory_dir is not None  # noqa: S101 - set in __init__
        lines = (self.memory_dir / "memory.stat").read_text().splitlines()
        stat = {name: int(value) for name, value in (line.split() for line in lines)}
        if (self.memory_dir / "memory.current").exists():
            total = int((self.memory_dir / "memory.current").read_text())
            return {
                "total": total,
                "anon": stat["anon"],
                "file": stat["file"],
                "shmem": stat["shmem"],
            }
        total = int((self.memory_dir / "memory.usage_in_bytes").read_text())
        return {"total": total, "anon": stat["rss"], "file": stat["cache"], "shmem": stat["shmem"]}


class Bench:
    """Runs contenders on one bridge network of its own."""

    def __init__(self, wrk: str, seconds: int) -> None:
        self.wrk = wrk
        self.seconds = seconds
        self.network = f"calculator-bench-{os.getpid()}"
        self.counter = 0

    def __enter__(self) -> "Bench":
        run(("docker", "network", "create", "--driver=bridge", self.network))
        return self

    def __exit__(self, *_: object) -> None:
        names = run(("docker", "ps", "--all", "--quiet", f"--filter=network={self.network}"))
        if names:
            run(("docker", "rm", "--force", *names.split()), check=False)
        run(("docker", "network", "rm", self.network), check=False)

    def start(self, contender: Contender) -> tuple[str, str, float]:
        """Start a fresh container; return its ID, IP and seconds until the first 200."""
        self.counter += 1
        name = f"{self.network}-{self.counter}"
        started = time.perf_counter()
        container = run(
            (
                "docker",
                "run",
                "--detach",
                f"--name={name}",
                f"--network={self.network}",
                "--no-healthcheck",
                f"--env=WEB_CONCURRENCY={WORKERS}",
                *contender.flags,
                contender.image,
                *contender.command,
            )
        )
        address = run(
            (
                "docker",
                "inspect",
                "--format",
                f'{{{{(index .NetworkSettings.Networks "{self.network}").IPAddress}}}}',
                container,
            )
        )
        while not answers_200(address):
            if time.perf_counter() - started > START_DEADLINE_SECONDS:
                logs = run(("docker", "logs", "--tail=20", container), check=False)
                self.stop(container)
                raise TimeoutError(f"{contender.label} answered no 200 in time:\n{logs}")
            time.sleep(0.01)
        return container, address, time.perf_counter() - started

    @staticmethod
    def stop(container: str) -> None:
        """Remove the container (its processes are killed: nothing in it needs a graceful end)."""
        run(("docker", "rm", "--force", container), check=False)

    def measure_start(self, contender: Contender) -> float:
        """Seconds from docker run to the first 200 of one fresh container."""
        container, _, seconds = self.start(contender)
        self.stop(container)
        return seconds

    def measure_load(self, contender: Contender) -> LoadRound:
        """CPU per request and memory of one fresh container under a fixed wrk load."""
        container, address, _ = self.start(contender)
        try:
            cgroup = Cgroup(
                int(run(("docker", "inspect", "--format", "{{.State.Pid}}", container)))
            )
            url = f"http://{address}:{PORT}{PROBE_PATH}"
            self.wrk_run(url, WARM_UP_SECONDS)
            before = cgroup.cpu_usec()
            started = time.perf_counter()
            output = self.wrk_run(url, self.seconds)
            seconds = time.perf_counter() - started
            cpu = cgroup.cpu_usec() - before
            return LoadRound(
                requests=wrk_figure(output, r"(\d+) requests in"),
                cpu_usec=cpu,
                seconds=seconds,
                non_2xx=wrk_figure(output, r"Non-2xx or 3xx responses: (\d+)"),
                socket_errors=sum(
                    int(count)
                    for count in re.findall(r"(?:connect|read|write|timeout) (\d+)", output)
                ),
                memory=cgroup.memory(),
            )
        finally:
            self.stop(container)

    def wrk_run(self, url: str, seconds: int) -> str:
        """wrk's report of a load run of ``seconds``."""
        return run(
            (
                self.wrk,
                f"-t{WRK_THREADS}",
                f"-c{WRK_CONNECTIONS}",
                f"-d{seconds}s",
                "--timeout=5s",
                url,
            )
        )


def wrk_figure(output: str, pattern: str) -> int:
    """One count from wrk's report; 0 when wrk leaves the line out (it does for no errors)."""
    found = re.search(pattern, output)
    return int(found[1]) if found else 0


def answers_200(address: str) -> bool:
    """Whether the container at ``address`` answers the probe request with 200."""
    connection = http.client.HTTPConnection(address, PORT, timeout=1)
    try:
        connection.request("GET", PROBE_PATH)
        return connection.getresponse().status == http.client.OK
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def ratio(value: float, baseline: float) -> str:
    """value / baseline, as printed in the ratio column."""
    return f"{value / baseline:.2f}x" if baseline else "-"


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Print rows (the first is the header) as an aligned plain-text table."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(
                cell.rjust(width) if index else cell.ljust(width)
                for index, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
    print()


def report(figures: dict[Contender, Figures], baseline: Contender, seconds: int) -> None:
    """Per-round CPU figures, then medians beside the baseline with ratios."""
    print(
        f"GET {PROBE_PATH} on each container's bridge IP; {WORKERS} workers each; wrk "
        f"{WRK_THREADS} threads / {WRK_CONNECTIONS} connections / {seconds} s per round"
    )
    rows = [["contender", "round", "requests", "req/s", "CPU us/req", "non-2xx", "socket errors"]]
    for contender, found in figures.items():
        for number, load in enumerate(found.rounds, 1):
            rows.append(
                [
                    contender.label,
                    str(number),
                    str(load.requests),
                    f"{load.requests / load.seconds:.0f}",
                    f"{load.cpu_per_request:.0f}",
                    str(load.non_2xx),
                    str(load.socket_errors),
                ]
            )
    print_table(rows)

    def median(contender: Contender, value: str) -> float:
        found = figures[contender]
        cpu = [load.cpu_per_request for load in found.rounds]
        samples = {
            "cpu": cpu,
            # Other load on the machine only ever adds CPU per request: the least-disturbed round.
            "cpu-lowest": [min(cpu)] if cpu else [],
            "rate": [load.requests / load.seconds for load in found.rounds],
            "start": found.starts,
            **{
                key: [load.memory[key] / MIB for load in found.rounds]
                for key in ("total", "anon", "file", "shmem")
            },
        }[value]
        return statistics.median(samples) if samples else float("nan")

    measures = [
        ("CPU per request (us)", "cpu", "{:.0f}"),
        ("  lowest round", "cpu-lowest", "{:.0f}"),
        ("requests/s", "rate", "{:.0f}"),
        ("memory after load (MiB)", "total", "{:.1f}"),
        ("  anon", "anon", "{:.1f}"),
        ("  file", "file", "{:.1f}"),
        ("  shmem", "shmem", "{:.1f}"),
        ("start to first 200 (s)", "start", "{:.2f}"),
    ]
    rounds = len(figures[baseline].rounds)
    starts = len(figures[baseline].starts)
    print(
        f"medians ({rounds} load rounds, {starts} fresh starts each); ratio = contender / "
        f"{baseline.label}"
    )
    others = [contender for contender in figures if contender != baseline]
    header = ["figure", baseline.label]
    for contender in others:
        header += [contender.label, "ratio"]
    rows = [header]
    for title, key, fmt in measures:
        base_value = median(baseline, key)
        row = [title, fmt.format(base_value)]
        for contender in others:
            value = median(contender, key)
            row += [fmt.format(value), ratio(value, base_value)]
        rows.append(row)
    print_table(rows)
    trouble = [
        f"{contender.label}: {sum(load.non_2xx for load in found.rounds)} non-2xx, "
        f"{sum(load.socket_errors for load in found.rounds)} socket errors"
        for contender, found in figures.items()
        if any(load.non_2xx or load.socket_errors for load in found.rounds)
    ]
    print(
        "\n".join(["WARNING: failed requests during load:", *trouble])
        if trouble
        else "every request answered 2xx, no socket errors"
    )


def main() -> int:
    """Measure every contender, alternating, and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-image", required=True, help="the bare Flask baseline image")
    default_image = os.environ.get("BENCH_IMAGE", "calculator-service:latest")
    parser.add_argument(
        "--image", default=default_image, help="calculator image under test (BENCH_IMAGE)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=OPTIONS",
        help="also run the calculator with these docker run options "
        "(--env=..., --mount=...) and, after --, this command",
    )
    parser.add_argument(
        "--no-deployed",
        action="store_true",
        help="leave out the calculator as deployed (compare variants only)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="load rounds per contender")
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration of one round")
    parser.add_argument("--starts", type=int, default=5, help="fresh starts per contender")
    options = parser.parse_args([*shlex.split(os.environ.get("BENCH_ARGS", "")), *sys.argv[1:]])

    deployed = deployed_flags()
    baseline = Contender("baseline", options.baseline_image)
    contenders = [baseline]
    if not options.no_deployed:
        contenders.append(Contender("calculator", options.image, deployed))
    contenders += [parse_variant(text, options.image, deployed) for text in options.variant]
    figures = {contender: Figures() for contender in contenders}
    with Bench(ensure_wrk(), options.seconds) as bench:
        for _ in range(options.rounds):
            for contender in contenders:
                figures[contender].rounds.append(bench.measure_load(contender))
        for _ in range(options.starts):
            for contender in contenders:
                figures[contender].starts.append(bench.measure_start(contender))
    report(figures, baseline, options.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
