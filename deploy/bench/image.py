"""Image budgets, measured beside a bare baseline image in the same run.

The baseline (deploy/bench/baseline/) is the common single-stage recipe on the
same base: Flask and gunicorn in a plain venv with pip left in, one-file app.
Printed side by side: bytes each image adds over the base, container start to
first 200 (median of several fresh containers), memory of the running service
after a warm-up (both with the same worker count), and the service's code-only
rebuild time against its clean build time. Run by deploy/scripts/bench.sh,
which sets BENCH_BASE_IMAGE and the package source; everything it creates is
removed at the end. Only 127.0.0.1 is contacted, with a bounded request count.
"""

import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "bench"
COMPOSE = ("docker", "compose", "--file", str(ROOT / "deploy" / "bench" / "compose.yaml"))
SERVICE_IMAGE = "calculator-bench-service:latest"
BASELINE_IMAGE = "calculator-bench-baseline:latest"
STARTS = 5
WARM_UP_REQUESTS = 200
WORKERS = "2"
START_DEADLINE_SECONDS = 30.0
PROBE_PATH = "/add?a=1&b=2"
# Every image the bench builds, including those a later build leaves untagged.
BUILT: set[str] = set()
# The service runs as compose runs it; the baseline as its recipe intends.
SERVICE_RUN_FLAGS = (
    "--read-only",
    "--tmpfs=/tmp",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges:true",
)


@dataclass(frozen=True)
class RunFigures:
    """What one image showed over its fresh starts."""

    start_seconds: float
    memory_bytes: float


def run(command: Sequence[str], *, check: bool = True) -> str:
    """Run a command (docker, always from a fixed argument list) and return its stdout."""
    result = subprocess.run(command, check=False, capture_output=True, text=True)  # noqa: S603
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr.strip()}")
    return result.stdout.strip()


def timed(action: Callable[[], object]) -> float:
    """Seconds that ``action`` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def prepare_contexts() -> None:
    """Copy both build contexts under build/bench, where the code may be changed freely."""
    shutil.rmtree(WORK, ignore_errors=True)
    # The whole tree minus what is large or generated; .dockerignore picks from it as usual.
    skipped = shutil.ignore_patterns(".git", ".venv", "build", "reports", "__pycache__", ".*cache")
    shutil.copytree(ROOT, WORK / "service", ignore=skipped)
    shutil.copytree(ROOT / "build" / "wheelhouse", WORK / "service" / "build" / "wheelhouse")
    shutil.copytree(ROOT / "deploy" / "bench" / "baseline", WORK / "baseline")
    shutil.copytree(ROOT / "build" / "wheelhouse", WORK / "baseline" / "wheelhouse")


def build(service: str, *options: str) -> None:
    """Build one of the bench compose file's images and note its ID for the clean-up."""
    run((*COMPOSE, "build", "--quiet", *options, service))
    image = SERVICE_IMAGE if service == "service" else BASELINE_IMAGE
    BUILT.add(run(("docker", "image", "inspect", "--format", "{{.Id}}", image)))


def image_size(image: str) -> int:
    """The image's uncompressed size in bytes, as the engine reports it."""
    return int(run(("docker", "image", "inspect", "--format", "{{.Size}}", image)))


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers_200(port: int) -> bool:
    """Whether the container behind ``port`` answers the probe request with 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", PROBE_PATH)
        return connection.getresponse().status == http.client.OK
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def memory_bytes(container: str) -> float:
    """The container's memory use as `docker stats` reports it (cgroup usage less page cache)."""
    usage = run(("docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", container))
    amount = usage.split("/")[0].strip()
    units = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "B": 1}
    for suffix, factor in units.items():
        if amount.endswith(suffix):
            return float(amount.removesuffix(suffix)) * factor
    raise ValueError(f"unexpected docker stats memory figure {usage!r}")


def start_once(image: str, flags: Sequence[str], name: str) -> tuple[float, float]:
    """Start a fresh container; return seconds to its first 200 and its warmed-up memory."""
    port = free_port()
    started = time.perf_counter()
    run(("docker", "run", "--detach", f"--name={name}", f"--publish=127.0.0.1:{port}:8000",
         f"--env=WEB_CONCURRENCY={WORKERS}", *flags, image))  # fmt: skip
    try:
        while not answers_200(port):
            if time.perf_counter() - started > START_DEADLINE_SECONDS:
                raise TimeoutError(f"{image} did not answer 200 within {START_DEADLINE_SECONDS} s")
            time.sleep(0.01)
        start_seconds = time.perf_counter() - started
        for _ in range(WARM_UP_REQUESTS):
            answers_200(port)
        return start_seconds, memory_bytes(name)
    finally:
        run(("docker", "rm", "--force", name))


def measure_interleaved(
    service: tuple[str, Sequence[str]], baseline: tuple[str, Sequence[str]]
) -> tuple[RunFigures, RunFigures]:
    """Medians over several fresh starts of each image, alternating so that load
    from anything else on the machine weighs on both alike."""
    samples: tuple[list[tuple[float, float]], list[tuple[float, float]]] = ([], [])
    for _ in range(STARTS):
        for role, (image, flags), runs in zip(
            ("service", "baseline"), (service, baseline), samples, strict=True
        ):
            runs.append(start_once(image, flags, f"calculator-bench-{role}-{os.getpid()}"))
    service_figures, baseline_figures = (
        RunFigures(
            start_seconds=statistics.median(start for start, _ in runs),
            memory_bytes=statistics.median(memory for _, memory in runs),
        )
        for runs in samples
    )
    return service_figures, baseline_figures


def change_code() -> None:
    """Make a code-only change in the copied context: one comment line more."""
    module = WORK / "service" / "service" / "__init__.py"
    module.write_text(module.read_text() + f"# code-only change {time.time_ns()}\n")


def verdict(within: bool) -> str:
    """The table's last column."""
    return "within budget" if within else "OVER BUDGET"


def print_table(rows: Sequence[tuple[str, str, str, str, str]]) -> None:
    """Print rows as an aligned plain-text table."""
    header = ("figure", "service", "baseline", "budget", "verdict")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> int:
    """Build, measure, print the table, clean up."""
    base = os.environ["BENCH_BASE_IMAGE"]
    prepare_contexts()
    try:
        build("baseline")
        clean_build = timed(lambda: build("service", "--no-cache"))
        change_code()
        code_rebuild = timed(lambda: build("service"))
        base_size = image_size(base)
        added = image_size(SERVICE_IMAGE) - base_size
        baseline_added = image_size(BASELINE_IMAGE) - base_size
        service, baseline = measure_interleaved(
            (SERVICE_IMAGE, SERVICE_RUN_FLAGS), (BASELINE_IMAGE, ())
        )
    finally:
        run(("docker", "image", "rm", SERVICE_IMAGE, BASELINE_IMAGE), check=False)
        # Without --force: an ID that something else tagged meanwhile stays.
        run(("docker", "image", "rm", *BUILT), check=False)
        shutil.rmtree(WORK, ignore_errors=True)

    mib = 2**20
    print(f"base image {base}: {base_size / mib:.1f} MiB; {WORKERS} workers each; "
          f"medians of {STARTS} fresh containers")  # fmt: skip
    print_table([
        ("bytes added over the base", f"{added / mib:.1f} MiB", f"{baseline_added / mib:.1f} MiB",
         f"<= 0.75x baseline ({0.75 * baseline_added / mib:.1f} MiB)",
         verdict(added <= 0.75 * baseline_added)),
        ("start to first 200", f"{service.start_seconds:.2f} s",
         f"{baseline.start_seconds:.2f} s", "<= baseline",
         verdict(service.start_seconds <= baseline.start_seconds)),
        ("memory after warm-up", f"{service.memory_bytes / mib:.1f} MiB",
         f"{baseline.memory_bytes / mib:.1f} MiB", "<= baseline",
         verdict(service.memory_bytes <= baseline.memory_bytes)),
        ("code-only rebuild", f"{code_rebuild:.1f} s", f"(clean build {clean_build:.1f} s)",
         f"<= 1/4 clean ({clean_build / 4:.1f} s)", verdict(code_rebuild <= clean_build / 4)),
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
