"""Image figures beside a bare baseline image built in the same run on the same base.

The baseline (deploy/bench/baseline/) is the common single-stage recipe on the
same base: Flask and gunicorn in a plain venv with pip left in, one-file app.
Printed with the ratio: bytes each image adds over the base, and the service's
code-only rebuild time against its clean build time. Both images are built from
copies of their contexts under build/bench/ (the working tree is never touched).

Run by deploy/scripts/bench.sh, which sets BENCH_BASE_IMAGE, BENCH_TAG and the
package source. The baseline image stays for the container benchmark
(deploy/bench/containers.py) and bench.sh removes it at the end; every service
image built here is removed here.
"""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "bench"
COMPOSE = ("docker", "compose", "--file", str(ROOT / "deploy" / "bench" / "compose.yaml"))
# The tags deploy/bench/compose.yaml gives its images.
TAG = os.environ.get("BENCH_TAG", "latest")
SERVICE_IMAGE = f"calculator-bench-service:{TAG}"
BASELINE_IMAGE = f"calculator-bench-baseline:{TAG}"
# Every service image built here, including those a later build leaves untagged.
BUILT: set[str] = set()


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
    """Build one of the bench compose file's images; note service image IDs for the clean-up."""
    run((*COMPOSE, "build", "--quiet", *options, service))
    if service == "service":
        BUILT.add(run(("docker", "image", "inspect", "--format", "{{.Id}}", SERVICE_IMAGE)))


def image_size(image: str) -> int:
    """The image's uncompressed size in bytes, as the engine reports it."""
    return int(run(("docker", "image", "inspect", "--format", "{{.Size}}", image)))


def change_code() -> None:
    """Make a code-only change in the copied context: one comment line more."""
    module = WORK / "service" / "service" / "__init__.py"
    module.write_text(module.read_text() + f"# code-only change {time.time_ns()}\n")


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Print rows (the first is the header) as an aligned plain-text table."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print()


def main() -> int:
    """Build both images, measure, print the table, remove the service images."""
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
    finally:
        run(("docker", "image", "rm", SERVICE_IMAGE), check=False)
        # Without --force: an ID that something else tagged meanwhile stays.
        run(("docker", "image", "rm", *BUILT), check=False)
        shutil.rmtree(WORK, ignore_errors=True)

    mib = 2**20
    print(f"images: base {base} ({base_size / mib:.1f} MiB); ratio = calculator / baseline")
    print_table([
        ("figure", "calculator", "baseline", "ratio"),
        ("bytes added over the base", f"{added / mib:.1f} MiB", f"{baseline_added / mib:.1f} MiB",
         f"{added / baseline_added:.2f}x"),
        ("code-only rebuild (vs its clean build)", f"{code_rebuild:.1f} s",
         f"{clean_build:.1f} s", f"{code_rebuild / clean_build:.2f}x"),
    ])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
